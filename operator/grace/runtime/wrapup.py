"""The end of a Mission's run: let go of the target, tell the HealthNode, teach the Learner.

Idempotent: the runner of a finished Mission passes here once after every operator start.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from pydantic import JsonValue

from grace.api.mission import TERMINAL_PHASES, Mission, MissionPhase
from grace.learn import Outcome
from grace.ledger import Subject
from grace.runtime import leases, metrics
from grace.runtime.app import Runtime

log = logging.getLogger("grace.missions")


async def release_target(rt: Runtime, mission: Mission) -> None:
    target = mission.status.target
    if target.get("kind") and target.get("name"):
        await asyncio.to_thread(
            leases.release,
            rt.kube.coordination,
            mission.metadata.namespace,
            target["kind"],
            target["name"],
            mission.metadata.name,
        )
    rt.budgets.release(mission.metadata.uid)


async def mark_node(
    rt: Runtime, mission: Mission, active: str | None, last: str | None = None
) -> None:
    """The HealthNode's activeMission/lastMission, written only when they change."""
    ns, name = mission.metadata.namespace, mission.spec.health_node
    patch: dict[str, Any] = {"activeMission": active}
    if last:
        patch["lastMission"] = last
    current = await asyncio.to_thread(rt.kube.get, "HealthNode", ns, name)
    if current is None:
        return
    status = current.get("status") or {}
    if active is None and status.get("activeMission") not in (None, mission.metadata.name):
        patch.pop("activeMission")  # another Mission took over: not ours to clear
    if all(status.get(k) == v for k, v in patch.items()):
        return
    await asyncio.to_thread(rt.kube.patch_status, "HealthNode", ns, name, patch)


async def finish(rt: Runtime, mission: Mission) -> None:
    """Idempotent wrap-up of a terminal Mission: lease, node status, learning, metrics."""
    await release_target(rt, mission)
    await mark_node(rt, mission, active=None, last=mission.metadata.name)
    if not rt.book.first_pass(mission.metadata.uid):
        return
    phase = mission.status.phase
    metrics.MISSIONS.labels(phase=phase.value).inc()
    outcome = mission.status.verification.outcome if mission.status.verification else None
    verified = phase is MissionPhase.SUCCEEDED and outcome is not None and outcome.value == "Passed"
    failed = phase in (MissionPhase.FAILED, MissionPhase.ROLLED_BACK, MissionPhase.TIMED_OUT)
    finished = mission.status.finished_at or dt.datetime.now(dt.UTC)
    if verified or failed:
        rt.book.learn(
            Outcome(
                node=f"{mission.metadata.namespace}/{mission.spec.health_node}",
                playbook=mission.spec.playbook,
                success=verified,
                at=finished,
                dry_run=mission.spec.dry_run,
            )
        )
    created = mission.metadata.creation_timestamp
    if verified and created and mission.status.finished_at:
        metrics.TIME_TO_RECOVERY.observe((mission.status.finished_at - created).total_seconds())


async def vanished(rt: Runtime, seen: Mission | None) -> None:
    """The Mission was deleted (by a user, or with its namespace) while its loop ran it.

    Its status, snapshot included, went with it: nothing is restored from memory. The
    target's Lease and the budget slot are released, the ledger records what was known,
    and the HealthNode says so.
    """
    if seen is None or seen.status.phase in TERMINAL_PHASES:
        return
    await release_target(rt, seen)
    meta, target = seen.metadata, seen.status.target
    started = sum(s.started_at is not None for s in seen.status.steps)
    message = f"Mission {meta.name} was deleted while {seen.status.phase.value}" + (
        f"; {target.get('kind')}/{target.get('name')} may be half-changed: its safe-hold "
        "was in the deleted status (annotate grace.dev/abort=true to roll back instead)"
        if started
        else "; nothing had been changed"
    )
    subject = Subject(kind="Mission", namespace=meta.namespace, name=meta.name, uid=meta.uid)
    data: dict[str, JsonValue] = {
        "mission": meta.name,
        "healthNode": seen.spec.health_node,
        "playbook": seen.spec.playbook,
        "phase": seen.status.phase.value,
        "target": {k: str(v) for k, v in target.items()},
        "stepsStarted": started,
        "message": message,
    }
    try:
        await asyncio.to_thread(
            rt.ledger.append, "mission.deleted", subject, data, f"{meta.uid}/deleted"
        )
        rt.ledger_health.recorded()
    except Exception as e:
        rt.ledger_health.failed(e)
        metrics.LEDGER_APPEND_FAILURES.inc()
        log.error("%s/%s: cannot record the deletion: %s", meta.namespace, meta.name, e)
    log.warning("%s/%s: %s", meta.namespace, meta.name, message)
    node = await asyncio.to_thread(rt.kube.get, "HealthNode", meta.namespace, seen.spec.health_node)
    if node is not None:
        await asyncio.to_thread(rt.kube.event, node, "MissionDeleted", message, "Warning")
        await mark_node(rt, seen, active=None)
