"""Asking policy about a Mission: gather the facts, ask the Governor, and keep the budget slots.

The facts themselves (counts, duplicates, learning confidence) are pure functions elsewhere;
this module only reads the cluster and the Learner, and shows on the Mission why it holds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from grace.api.common import Condition, set_condition
from grace.api.healthnode import HealthNode
from grace.api.mission import Decision, Mission, MissionStatus
from grace.api.playbook import Playbook
from grace.govern.engines import UNAVAILABLE, unavailable
from grace.govern.facts import counts, guard
from grace.govern.inputs import build_policy_input, learning_for
from grace.govern.model import LearningFacts
from grace.runtime import metrics
from grace.runtime.app import Runtime

ENGINE_CONDITION = "PolicyEngineAvailable"


async def decide(
    rt: Runtime,
    mission: Mission,
    pb_raw: dict[str, Any] | None,
    node_raw: dict[str, Any] | None,
    now: dt.datetime,
) -> Decision:
    """The policy's answer for this Mission (an engine error is a deny, fail closed)."""
    if pb_raw is None or node_raw is None:
        d = unavailable(rt.governor.engine, rt.governor.digest, "playbook or node missing")
        return Decision.model_validate({**d.wire(), "decidedAt": now.isoformat()})
    playbook = Playbook.model_validate(pb_raw)
    node = HealthNode.model_validate(node_raw)
    missions = [
        Mission.model_validate(m) for m in await asyncio.to_thread(rt.kube.list, "Mission", None)
    ]
    node_key = f"{mission.metadata.namespace}/{node.metadata.name}"
    name = playbook.metadata.name
    base = node.spec.remediation.mode
    ceiling = node.spec.remediation.autonomy_ceiling or base
    mode, _why = rt.book.learner.autonomy(node_key, name, now, base, ceiling)
    learning = learning_for(node, name)
    if learning.confidence is None and rt.book.learner.outcomes(node_key, name):
        learning = LearningFacts(confidence=rt.book.learner.confidence(node_key, name))
    policy_input = build_policy_input(
        mission,
        playbook,
        node,
        now=now,
        counts=counts(mission, missions, now),
        mode=mode.value,
        gitops_owner=(mission.status.gitops.tool if mission.status.gitops else "none"),
        learning=learning,
        facts=guard(mission, missions),
    )
    decision = await asyncio.to_thread(rt.governor.decide, policy_input)
    metrics.POLICY_DECISIONS.labels(result=decision.result, engine=decision.engine).inc()
    if decision.result == "deny":
        reason = metrics.guard_reason(list(decision.reasons))
        metrics.SCHEDULER.labels(outcome="skip", reason=reason).inc()
    return Decision.model_validate({**decision.wire(), "decidedAt": now.isoformat()})


def engine_unavailable(decision: Decision) -> bool:
    return decision.result == "deny" and any(r.startswith(UNAVAILABLE) for r in decision.reasons)


async def take_slot(rt: Runtime, mission: Mission) -> bool:
    """Take a budget slot, or show why this Mission waits (and count the backoff)."""
    why = await rt.budgets.take(
        mission, lambda: [Mission.model_validate(m) for m in rt.kube.list("Mission", None)]
    )
    if why is None:
        return True
    metrics.SCHEDULER.labels(outcome="backoff", reason="budget").inc()
    if mission.status.message != why:
        await asyncio.to_thread(
            rt.kube.patch_status,
            "Mission",
            mission.metadata.namespace,
            mission.metadata.name,
            {"message": why},
        )
        mission.status.message = why
    return False


async def show_engine(
    rt: Runtime,
    mission: Mission,
    status: MissionStatus,
    decision: Decision | None,
    now: dt.datetime,
) -> None:
    """PolicyEngineAvailable on the Mission: False with the reason while the engine does not
    answer (`decision` is its deny), True again once it does (`decision` None)."""
    held = next((c for c in status.conditions if c.type == ENGINE_CONDITION), None)
    patch: dict[str, Any] = {}
    if decision is not None:
        reason = decision.reasons[0] if decision.reasons else UNAVAILABLE
        if status.message == f"{reason} (asking again)":
            return
        shown = Condition(
            type=ENGINE_CONDITION, status="False", reason="PolicyEngineUnavailable", message=reason
        )
        patch["message"] = f"{reason} (asking again)"
    elif held is None or held.status == "True":
        return
    else:
        shown = Condition(
            type=ENGINE_CONDITION,
            status="True",
            reason="Answered",
            message="the policy engine answered",
        )
    conditions = set_condition(status.conditions, shown, now)
    patch["conditions"] = [c.model_dump(mode="json", by_alias=True) for c in conditions]
    await asyncio.to_thread(
        rt.kube.patch_status, "Mission", mission.metadata.namespace, mission.metadata.name, patch
    )
