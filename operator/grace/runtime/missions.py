"""MissionRunner: drives one Mission through the state machine, performing its effects.

The loop reads everything from the cluster each round (Mission, Playbook, HealthNode,
ApprovalRequest), asks the pure machine for the next status and effect, writes the status and
its ledger entries first, and only then performs the effect. A crash anywhere repeats at most
one idempotent effect.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from grace.api.approval import (
    ABORT_ANNOTATION,
    ApprovalRequest,
    ApprovalRequestStatus,
    ApprovalState,
)
from grace.api.common import Condition, set_condition
from grace.api.healthnode import HealthNode
from grace.api.mission import TERMINAL_PHASES, Decision, LedgerRef, Mission, MissionPhase
from grace.api.playbook import Playbook
from grace.detect import sample as samples
from grace.govern.approvals import settle
from grace.govern.engines import UNAVAILABLE
from grace.govern.inputs import build_policy_input, learning_for
from grace.govern.model import GuardFacts, MissionCounts
from grace.learn import Outcome
from grace.ledger import Subject
from grace.run import journal, verify
from grace.run.actions import ActionRefusedError
from grace.run.effects import (
    AskPolicy,
    Executed,
    ExecuteStep,
    Facts,
    Finish,
    Inspect,
    Inspected,
    OpenApproval,
    Prepared,
    PrepareStep,
    Refuse,
    Restore,
    Restored,
    Sampled,
    SampleMetrics,
    Snapshotted,
    TakeSnapshot,
)
from grace.run.kstatus import approval_conditions, mission_conditions
from grace.run.machine import advance
from grace.runtime import budget, leases, metrics
from grace.runtime.app import Runtime

log = logging.getLogger("grace.missions")
T = TypeVar("T")
TOUCHES_TARGET = (TakeSnapshot, PrepareStep, ExecuteStep, Restore)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def io(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(fn, *args)


def reading(sample: samples.Sample) -> verify.Reading:
    if isinstance(sample, samples.Value):
        return sample.value
    if isinstance(sample, samples.NoData):
        return verify.NoData()
    return verify.QueryError(getattr(sample, "message", str(sample)))


class MissionRunner:
    """One Mission's loop; `stopped` is kopf's daemon stop flag."""

    def __init__(self, rt: Runtime, namespace: str, name: str) -> None:
        self.rt = rt
        self.namespace = namespace
        self.name = name
        self.decision: Decision | None = None

    async def run(self, stopped: Any) -> None:
        answer: Any = None
        idle = False
        while not stopped:
            if idle:
                await stopped.wait(self.rt.config.mission_tick)
                if stopped:
                    return
            raw = await io(self.rt.kube.get, "Mission", self.namespace, self.name)
            if raw is None:
                return
            mission = Mission.model_validate(raw)
            if mission.status.phase in TERMINAL_PHASES:
                await self._finish(mission)
                return
            pb_raw = await io(self.rt.kube.get, "Playbook", self.namespace, mission.spec.playbook)
            node_raw = await io(
                self.rt.kube.get, "HealthNode", self.namespace, mission.spec.health_node
            )
            now = utcnow()
            approval = await self._approval(mission, now)
            if (
                approval is not None
                and approval.purpose == "run"
                and approval.state == "Approved"
                and not mission.spec.dry_run
                and not await self._slot(mission, now)
            ):
                approval = approval.model_copy(update={"state": "Pending"})  # approved, not yet
            facts = Facts(
                now=now,
                abort=mission.metadata.annotations.get(ABORT_ANNOTATION, "").lower() == "true",
                decision=self.decision,
                approval=approval,
                outcome=answer,
            )
            transition = advance(
                mission,
                pb_raw["spec"] if pb_raw else None,
                node_raw["spec"] if node_raw else None,
                facts,
            )
            answer = None
            status = transition.status
            refs = await self._journal(mission, status)
            if transition.changed or refs:
                status = status.model_copy(update={"ledger": [*status.ledger, *refs]})
                status.conditions = mission_conditions(status, now)
                await io(
                    self.rt.kube.patch_status,
                    "Mission",
                    self.namespace,
                    self.name,
                    status.model_dump(mode="json", by_alias=True),
                )
                if status.phase is not mission.status.phase:
                    last = status.timeline[-1].message if status.timeline else status.phase.value
                    kind = "Warning" if status.phase in _BAD else "Normal"
                    await io(self.rt.kube.event, raw, f"Mission{status.phase.value}", last, kind)
                if mission.status.phase is MissionPhase.PENDING and node_raw:
                    await self._mark_node(mission.spec.health_node, active=self.name)
            effect = transition.effect
            idle = not transition.changed
            if isinstance(effect, (Refuse, Finish)):
                continue  # the next round sees a terminal phase with finishedAt and wraps up
            if isinstance(effect, AskPolicy):
                decision = await self._decide(mission, pb_raw, node_raw, now)
                if _engine_unavailable(decision):
                    metrics.SCHEDULER.labels(
                        outcome="backoff", reason="policy-engine-unavailable"
                    ).inc()
                    # Fail closed without ending the Mission: nothing runs, the reason is shown,
                    # and the question is asked again until the engine answers.
                    await self._hold(status, decision, now)
                    idle = True
                    continue
                await self._engine_back(status, now)
                if (
                    decision.result == "allow"
                    and not mission.spec.dry_run
                    and not await self._slot(mission, now)
                ):
                    idle = True  # allowed, but the budget is full: ask again when a slot frees
                    continue
                self.decision = decision
                idle = False
                continue
            if isinstance(effect, OpenApproval):
                await self._open_approval(mission, pb_raw, effect, now)
                continue
            if isinstance(effect, TOUCHES_TARGET) and not mission.spec.dry_run:
                holder = await io(
                    leases.acquire,
                    self.rt.kube.coordination,
                    self.namespace,
                    effect.target.kind,
                    effect.target.name,
                    self.name,
                )
                if holder is not None:
                    metrics.SCHEDULER.labels(outcome="backoff", reason="target-busy").inc()
                    log.info(
                        "%s/%s waits: target lease held by %s", self.namespace, self.name, holder
                    )
                    idle = True
                    continue
            answer = await self._perform(effect, node_raw, stopped)
            idle = False

    async def _slot(self, mission: Mission, now: dt.datetime) -> bool:
        """Take a budget slot, or show why this Mission waits (and count the backoff)."""
        data = self.rt.policy_data
        why = await budget.take(
            self.rt.slots,
            mission,
            data.max_concurrent_cluster,
            data.max_concurrent_per_namespace,
            lambda: [Mission.model_validate(m) for m in self.rt.kube.list("Mission", None)],
        )
        if why is None:
            return True
        metrics.SCHEDULER.labels(outcome="backoff", reason="budget").inc()
        if mission.status.message != why:
            await io(
                self.rt.kube.patch_status, "Mission", self.namespace, self.name, {"message": why}
            )
            mission.status.message = why
        return False

    async def _hold(self, status: Any, decision: Decision, now: dt.datetime) -> None:
        reason = decision.reasons[0] if decision.reasons else UNAVAILABLE
        if status.message == f"{reason} (asking again)":
            return
        conditions = set_condition(
            status.conditions,
            Condition(
                type="PolicyEngineAvailable",
                status="False",
                reason="PolicyEngineUnavailable",
                message=reason,
            ),
            now,
        )
        await io(
            self.rt.kube.patch_status,
            "Mission",
            self.namespace,
            self.name,
            {
                "message": f"{reason} (asking again)",
                "conditions": [c.model_dump(mode="json", by_alias=True) for c in conditions],
            },
        )

    async def _engine_back(self, status: Any, now: dt.datetime) -> None:
        held = next((c for c in status.conditions if c.type == "PolicyEngineAvailable"), None)
        if held is None or held.status == "True":
            return
        conditions = set_condition(
            status.conditions,
            Condition(
                type="PolicyEngineAvailable",
                status="True",
                reason="Answered",
                message="the policy engine answered",
            ),
            now,
        )
        await io(
            self.rt.kube.patch_status,
            "Mission",
            self.namespace,
            self.name,
            {"conditions": [c.model_dump(mode="json", by_alias=True) for c in conditions]},
        )

    # ---- effects ---------------------------------------------------------------------------

    async def _perform(self, effect: Any, node_raw: dict[str, Any] | None, stopped: Any) -> Any:
        ex = self.rt.executor
        if isinstance(effect, Inspect):
            return Inspected(await io(ex.read, effect.target, effect.namespace))
        if isinstance(effect, TakeSnapshot):
            obj, held = await io(ex.hold, effect.target, effect.namespace, effect.actions)
            baseline = await self._sample(node_raw, effect.signals)
            return Snapshotted(obj, baseline, held)
        if isinstance(effect, PrepareStep):
            try:
                intent = await io(ex.prepare, effect.step, effect.target, effect.namespace)
                return Prepared(effect.index, intent)
            except ActionRefusedError as e:
                return Prepared(effect.index, error=str(e))
        if isinstance(effect, ExecuteStep):
            if effect.delay > 0:
                await stopped.wait(effect.delay)
            result = await io(ex.execute, effect.intent, effect.target, effect.namespace)
            return Executed(effect.index, result)
        if isinstance(effect, SampleMetrics):
            if effect.delay > 0:
                await stopped.wait(effect.delay)
            return Sampled(await self._sample(node_raw, effect.signals))
        if isinstance(effect, Restore):
            try:
                live = await io(
                    ex.restore, effect.snapshot, effect.target, effect.namespace, effect.undo
                )
                return Restored(live)
            except ActionRefusedError as e:
                return Restored(None, error=str(e))
        raise TypeError(f"unknown effect {effect!r}")

    async def _sample(
        self, node_raw: dict[str, Any] | None, names: tuple[str, ...]
    ) -> dict[str, verify.Reading]:
        if node_raw is None:
            return {}
        node = HealthNode.model_validate(node_raw)
        wanted = [s for s in node.spec.signals if s.name in names]
        got = await io(self.rt.prometheus.sample, wanted)
        return {name: reading(s) for name, s in got.items()}

    async def _decide(
        self,
        mission: Mission,
        pb_raw: dict[str, Any] | None,
        node_raw: dict[str, Any] | None,
        now: dt.datetime,
    ) -> Decision:
        from grace.govern.engines import unavailable

        if pb_raw is None or node_raw is None:
            d = unavailable(
                self.rt.governor.engine, self.rt.governor.digest, "playbook or node missing"
            )
            return Decision.model_validate({**d.wire(), "decidedAt": now.isoformat()})
        playbook = Playbook.model_validate(pb_raw)
        node = HealthNode.model_validate(node_raw)
        missions = [Mission.model_validate(m) for m in await io(self.rt.kube.list, "Mission", None)]
        others = [m for m in missions if m.metadata.uid != mission.metadata.uid]
        active = [m for m in others if _running(m)]
        hour_ago = now - dt.timedelta(hours=1)
        counts = MissionCounts(
            active_in_namespace=sum(m.metadata.namespace == self.namespace for m in active),
            active_in_cluster=len(active),
            recent_in_namespace=sum(
                m.metadata.namespace == self.namespace
                and not m.spec.dry_run
                and m.metadata.creation_timestamp is not None
                and m.metadata.creation_timestamp >= hour_ago
                for m in others
            ),
        )
        duplicate = next(
            (
                m.metadata.name
                for m in active
                if m.metadata.namespace == self.namespace
                and m.spec.health_node == mission.spec.health_node
            ),
            None,
        )
        node_key = f"{self.namespace}/{node.metadata.name}"
        base = node.spec.remediation.mode
        ceiling = node.spec.remediation.autonomy_ceiling or base
        mode, _why = self.rt.learner.autonomy(node_key, playbook.metadata.name, now, base, ceiling)
        learning = learning_for(node, playbook.metadata.name)
        if learning.confidence is None and self.rt.learner.outcomes(
            node_key, playbook.metadata.name
        ):
            from grace.govern.model import LearningFacts

            learning = LearningFacts(
                confidence=self.rt.learner.confidence(node_key, playbook.metadata.name)
            )
        policy_input = build_policy_input(
            mission,
            playbook,
            node,
            now=now,
            counts=counts,
            mode=mode.value,
            gitops_owner=(mission.status.gitops.tool if mission.status.gitops else "none"),
            learning=learning,
            facts=GuardFacts(duplicate_of=duplicate),
        )
        decision = await io(self.rt.governor.decide, policy_input)
        metrics.POLICY_DECISIONS.labels(result=decision.result, engine=decision.engine).inc()
        if decision.result == "deny":
            reason = metrics.guard_reason(list(decision.reasons))
            metrics.SCHEDULER.labels(outcome="skip", reason=reason).inc()
        return Decision.model_validate({**decision.wire(), "decidedAt": now.isoformat()})

    async def _approval(self, mission: Mission, now: dt.datetime) -> Any:
        if mission.status.approval is None:
            return None
        raw = await io(
            self.rt.kube.get, "ApprovalRequest", self.namespace, mission.status.approval.request
        )
        if raw is None:
            return None
        request = ApprovalRequest.model_validate(raw)
        settled = settle(request, now)
        if settled is not None:
            settled.conditions = approval_conditions(settled, now)
            await io(
                self.rt.kube.patch_status,
                "ApprovalRequest",
                self.namespace,
                request.metadata.name,
                settled.model_dump(mode="json", by_alias=True, exclude_none=True),
            )
            request.status = settled
            metrics.APPROVALS.labels(state=settled.state.value).inc()
            await io(
                self.rt.kube.event,
                raw,
                f"Approval{settled.state.value}",
                f"{settled.state.value} by {settled.decided_by or 'the clock'}",
            )
        state = request.status.state
        if state is ApprovalState.PENDING:
            self.rt.pending_approvals.add(raw["metadata"]["uid"])
        else:
            self.rt.pending_approvals.discard(raw["metadata"]["uid"])
        return mission.status.approval.model_copy(
            update={
                "state": state.value,
                "decided_by": request.status.decided_by,
                "decided_at": request.status.decided_at,
                "reason": request.status.reason,
            }
        )

    async def _open_approval(
        self,
        mission: Mission,
        pb_raw: dict[str, Any] | None,
        effect: OpenApproval,
        now: dt.datetime,
    ) -> None:
        risk = (pb_raw or {}).get("spec", {}).get("risk", "medium")
        body: dict[str, Any] = {
            "apiVersion": "grace.dev/v1alpha1",
            "kind": "ApprovalRequest",
            "metadata": {
                "name": effect.request,
                "labels": {"grace.dev/mission": mission.metadata.name},
                "ownerReferences": [
                    {
                        "apiVersion": "grace.dev/v1alpha1",
                        "kind": "Mission",
                        "name": mission.metadata.name,
                        "uid": mission.metadata.uid,
                        "controller": True,
                    }
                ],
            },
            "spec": {
                "mission": mission.metadata.name,
                "missionUid": mission.metadata.uid,
                "healthNode": mission.spec.health_node,
                "playbook": mission.spec.playbook,
                "purpose": effect.purpose,
                "risk": risk,
                "requestedBy": mission.spec.requested_by,
                "reasons": [r[:1024] for r in effect.reasons][:32],
                "question": effect.question[:2048],
                "expiresAt": (now + dt.timedelta(seconds=self.rt.config.approval_ttl))
                .isoformat()
                .replace("+00:00", "Z"),
            },
        }
        if body["spec"]["requestedBy"] is None:
            del body["spec"]["requestedBy"]
        created = await io(self.rt.kube.create, "ApprovalRequest", self.namespace, body)
        if created is not None:
            pending = ApprovalRequestStatus()
            pending.conditions = approval_conditions(pending, now)
            await io(
                self.rt.kube.patch_status,
                "ApprovalRequest",
                self.namespace,
                effect.request,
                pending.model_dump(mode="json", by_alias=True, exclude_none=True),
            )
            self.rt.pending_approvals.add(created["metadata"]["uid"])
            await io(self.rt.kube.event, created, "ApprovalRequested", effect.question[:1024])

    # ---- ledger, learning, wrap-up ---------------------------------------------------------

    async def _journal(self, mission: Mission, status: Any) -> list[LedgerRef]:
        known = {r.seq for r in status.ledger}
        subject = Subject(
            kind="Mission",
            namespace=self.namespace,
            name=self.name,
            uid=mission.metadata.uid,
        )
        refs: list[LedgerRef] = []
        async with self.rt.ledger_lock:
            for ev in journal.events(mission, mission.status, status):
                entry = await io(self.rt.ledger.append, ev.type, subject, ev.data, ev.key)
                if entry.seq not in known:
                    known.add(entry.seq)
                    refs.append(LedgerRef(seq=entry.seq, type=entry.type, hash=entry.entry_hash()))
            metrics.LEDGER_SIZE.set(self.rt.ledger.size)
        return refs

    async def _finish(self, mission: Mission) -> None:
        """Idempotent wrap-up of a terminal Mission: lease, node status, learning, metrics."""
        target = mission.status.target
        if target.get("kind") and target.get("name"):
            await io(
                leases.release,
                self.rt.kube.coordination,
                self.namespace,
                target["kind"],
                target["name"],
                self.name,
            )
        self.rt.slots.release(mission.metadata.uid)
        await self._mark_node(mission.spec.health_node, active=None, last=self.name)
        if mission.metadata.uid in self.rt.learned:
            return
        self.rt.learned.add(mission.metadata.uid)
        phase = mission.status.phase
        metrics.MISSIONS.labels(phase=phase.value).inc()
        outcome = mission.status.verification.outcome if mission.status.verification else None
        verified = (
            phase is MissionPhase.SUCCEEDED and outcome is not None and outcome.value == "Passed"
        )
        failed = phase in (MissionPhase.FAILED, MissionPhase.ROLLED_BACK, MissionPhase.TIMED_OUT)
        if verified or failed:
            self.rt.learner.record(
                Outcome(
                    node=f"{self.namespace}/{mission.spec.health_node}",
                    playbook=mission.spec.playbook,
                    success=verified,
                    at=mission.status.finished_at or utcnow(),
                    dry_run=mission.spec.dry_run,
                )
            )
        if verified and mission.metadata.creation_timestamp and mission.status.finished_at:
            metrics.TIME_TO_RECOVERY.observe(
                (mission.status.finished_at - mission.metadata.creation_timestamp).total_seconds()
            )

    async def _mark_node(self, name: str, active: str | None, last: str | None = None) -> None:
        patch: dict[str, Any] = {"activeMission": active}
        if last:
            patch["lastMission"] = last
        current = await io(self.rt.kube.get, "HealthNode", self.namespace, name)
        if current is None:
            return
        status = current.get("status") or {}
        if active is None and status.get("activeMission") not in (None, self.name):
            patch.pop("activeMission")  # another Mission took over: not ours to clear
        if all(status.get(k) == v for k, v in patch.items()):
            return
        await io(self.rt.kube.patch_status, "HealthNode", self.namespace, name, patch)


_BAD = {
    MissionPhase.FAILED,
    MissionPhase.ROLLING_BACK,
    MissionPhase.ROLLED_BACK,
    MissionPhase.DENIED,
    MissionPhase.EXPIRED,
    MissionPhase.TIMED_OUT,
    MissionPhase.ABORTED,
}


def _engine_unavailable(decision: Decision) -> bool:
    return decision.result == "deny" and any(r.startswith(UNAVAILABLE) for r in decision.reasons)


def _running(m: Mission) -> bool:
    """A Mission that counts against the blast-radius budget: decided to act and not done."""
    if m.spec.dry_run or m.status.phase in TERMINAL_PHASES:
        return False
    return m.status.phase in (
        MissionPhase.RUNNING,
        MissionPhase.VERIFYING,
        MissionPhase.ROLLING_BACK,
    ) or (m.status.decision is not None and m.status.decision.result == "allow")
