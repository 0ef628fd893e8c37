"""The approval desk: opens a Mission's ApprovalRequests and reads (and settles) their answers.

It owns the set of requests known to be waiting (the grace_approvals_pending gauge).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from grace.api.approval import (
    ApprovalPurpose,
    ApprovalRequest,
    ApprovalRequestSpec,
    ApprovalRequestStatus,
    ApprovalState,
)
from grace.api.common import ObjectMeta, OwnerReference, new_object
from grace.api.mission import ApprovalStatus, Mission
from grace.api.playbook import Risk
from grace.govern.approvals import settle
from grace.run.effects import OpenApproval
from grace.run.kstatus import approval_conditions
from grace.runtime import metrics
from grace.runtime.kube import Kube


class ApprovalDesk:
    def __init__(self, kube: Kube, ttl_seconds: float) -> None:
        self.kube = kube
        self.ttl = dt.timedelta(seconds=ttl_seconds)
        self.pending: set[str] = set()
        """uids of the ApprovalRequests known to be waiting for a human."""

    async def answer(self, mission: Mission, now: dt.datetime) -> ApprovalStatus | None:
        """The Mission's request as it stands now, settled first if a human (or the clock) has
        decided it since: the decision is written to the request, counted and announced."""
        asked = mission.status.approval
        if asked is None:
            return None
        ns = mission.metadata.namespace
        raw = await asyncio.to_thread(self.kube.get, "ApprovalRequest", ns, asked.request)
        if raw is None:
            return None
        request = ApprovalRequest.model_validate(raw)
        settled = settle(request, now)
        if settled is not None:
            settled.conditions = approval_conditions(settled, now)
            await asyncio.to_thread(
                self.kube.patch_status,
                "ApprovalRequest",
                ns,
                request.metadata.name,
                settled.model_dump(mode="json", by_alias=True, exclude_none=True),
            )
            request.status = settled
            metrics.APPROVALS.labels(state=settled.state.value).inc()
            await asyncio.to_thread(
                self.kube.event,
                raw,
                f"Approval{settled.state.value}",
                f"{settled.state.value} by {settled.decided_by or 'the clock'}",
            )
        state = request.status.state
        if state is ApprovalState.PENDING:
            self.pending.add(request.metadata.uid)
        else:
            self.pending.discard(request.metadata.uid)
        return asked.model_copy(
            update={
                "state": state.value,
                "decided_by": request.status.decided_by,
                "decided_at": request.status.decided_at,
                "reason": request.status.reason,
            }
        )

    async def open(self, mission: Mission, risk: Risk, ask: OpenApproval, now: dt.datetime) -> None:
        """Create the request the machine asked for (idempotent: one name per purpose)."""
        request = ApprovalRequest(
            metadata=ObjectMeta(
                name=ask.request,
                labels={"grace.dev/mission": mission.metadata.name},
                owner_references=[
                    OwnerReference(
                        api_version=mission.api_version,
                        kind="Mission",
                        name=mission.metadata.name,
                        uid=mission.metadata.uid,
                        controller=True,
                    )
                ],
            ),
            spec=ApprovalRequestSpec(
                mission=mission.metadata.name,
                mission_uid=mission.metadata.uid,
                health_node=mission.spec.health_node,
                playbook=mission.spec.playbook,
                purpose=ApprovalPurpose(ask.purpose),
                risk=risk,
                requested_by=mission.spec.requested_by,
                reasons=[r[:1024] for r in ask.reasons][:32],
                question=ask.question[:2048],
                expires_at=now + self.ttl,
            ),
        )
        ns = mission.metadata.namespace
        created = await asyncio.to_thread(
            self.kube.create, "ApprovalRequest", ns, new_object(request)
        )
        if created is None:
            return
        pending = ApprovalRequestStatus()
        pending.conditions = approval_conditions(pending, now)
        await asyncio.to_thread(
            self.kube.patch_status,
            "ApprovalRequest",
            ns,
            ask.request,
            pending.model_dump(mode="json", by_alias=True, exclude_none=True),
        )
        self.pending.add(created["metadata"]["uid"])
        await asyncio.to_thread(self.kube.event, created, "ApprovalRequested", ask.question[:1024])


def risk_of(playbook_raw: dict[str, Any] | None) -> Risk:
    """The Playbook's declared risk (medium when it is gone or says something unknown)."""
    value = (playbook_raw or {}).get("spec", {}).get("risk", "medium")
    return Risk(value) if value in Risk._value2member_map_ else Risk.MEDIUM
