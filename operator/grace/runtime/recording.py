"""A Mission's ledger entries and status writes: what each transition leaves behind.

Status first, then the effect: an entry is appended (idempotently) before the status naming it
is written, and nothing acts when the ledger refuses the entry (fail closed, said on the
Mission, its HealthNode and /metrics).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from grace.api.common import Condition, set_condition
from grace.api.mission import LedgerRef, Mission, MissionPhase, MissionStatus
from grace.ledger import Subject
from grace.run import journal
from grace.run.kstatus import mission_conditions
from grace.runtime import metrics
from grace.runtime.app import Runtime

log = logging.getLogger("grace.missions")

LEDGER_CONDITION = "LedgerRecorded"
"""False while the ledger refuses this Mission's entries (it holds until they are recorded)."""

WARNING_PHASES = {
    MissionPhase.FAILED,
    MissionPhase.ROLLING_BACK,
    MissionPhase.ROLLED_BACK,
    MissionPhase.DENIED,
    MissionPhase.EXPIRED,
    MissionPhase.TIMED_OUT,
    MissionPhase.ABORTED,
}


def ledger_was_down(mission: Mission) -> bool:
    held = next((c for c in mission.status.conditions if c.type == LEDGER_CONDITION), None)
    return held is not None and held.status == "False"


async def journal_entries(rt: Runtime, mission: Mission, status: MissionStatus) -> list[LedgerRef]:
    """Append the entries the step to `status` produces; the refs not yet on the Mission."""
    known = {r.seq for r in status.ledger}
    meta = mission.metadata
    subject = Subject(kind="Mission", namespace=meta.namespace, name=meta.name, uid=meta.uid)
    refs: list[LedgerRef] = []
    # No lock of our own: appends are thread-safe and idempotent, and Missions finishing at
    # once share one group commit (one fsync, or one ConfigMap update) instead of queueing.
    for ev in journal.events(mission, mission.status, status):
        entry = await asyncio.to_thread(rt.ledger.append, ev.type, subject, ev.data, ev.key)
        rt.ledger_health.recorded()
        if entry.seq not in known:
            known.add(entry.seq)
            refs.append(LedgerRef(seq=entry.seq, type=entry.type, hash=entry.entry_hash()))
    metrics.LEDGER_SIZE.set(rt.ledger.size)
    return refs


async def record(
    rt: Runtime,
    raw: dict[str, Any],
    mission: Mission,
    status: MissionStatus,
    changed: bool,
    node_raw: dict[str, Any] | None,
    now: dt.datetime,
) -> bool:
    """Ledger, then status, then the Event of a new phase. False when the ledger refused:
    the Mission holds, and nothing may act this round."""
    try:
        refs = await journal_entries(rt, mission, status)
    except Exception as e:  # fail closed: nothing acts without its ledger record
        rt.ledger_health.failed(e, now)
        await ledger_down(rt, raw, node_raw, mission, e, now)
        return False
    if ledger_was_down(mission):
        status.conditions = set_condition(
            status.conditions,
            Condition(
                type=LEDGER_CONDITION,
                status="True",
                reason="Recorded",
                message="the ledger takes this Mission's entries again",
            ),
            now,
        )
    if not (changed or refs or status.conditions != mission.status.conditions):
        return True
    status = status.model_copy(update={"ledger": [*status.ledger, *refs]})
    status.conditions = mission_conditions(status, now)
    meta = mission.metadata
    await asyncio.to_thread(
        rt.kube.patch_status,
        "Mission",
        meta.namespace,
        meta.name,
        status.model_dump(mode="json", by_alias=True),
    )
    if status.phase is not mission.status.phase:
        last = status.timeline[-1].message if status.timeline else status.phase.value
        kind = "Warning" if status.phase in WARNING_PHASES else "Normal"
        await asyncio.to_thread(rt.kube.event, raw, f"Mission{status.phase.value}", last, kind)
    return True


async def ledger_down(
    rt: Runtime,
    raw: dict[str, Any],
    node_raw: dict[str, Any] | None,
    mission: Mission,
    error: Exception,
    now: dt.datetime,
) -> None:
    """Say on the Mission and its HealthNode (condition, Event, metric) why it holds."""
    metrics.LEDGER_APPEND_FAILURES.inc()
    meta = mission.metadata
    why = f"the ledger cannot be extended, so nothing acts: {error}"[:1024]
    log.error("%s/%s holds: %s", meta.namespace, meta.name, why)
    if ledger_was_down(mission):
        return  # said once; the condition stays until an append succeeds
    conditions = set_condition(
        mission.status.conditions,
        Condition(type=LEDGER_CONDITION, status="False", reason="LedgerUnavailable", message=why),
        now,
    )
    await asyncio.to_thread(
        rt.kube.patch_status,
        "Mission",
        meta.namespace,
        meta.name,
        {
            "message": why,
            "conditions": [c.model_dump(mode="json", by_alias=True) for c in conditions],
        },
    )
    await asyncio.to_thread(rt.kube.event, raw, "LedgerUnavailable", why, "Warning")
    if node_raw is not None:
        await asyncio.to_thread(
            rt.kube.event,
            node_raw,
            "LedgerUnavailable",
            f"Mission {meta.name} holds: {why}",
            "Warning",
        )
