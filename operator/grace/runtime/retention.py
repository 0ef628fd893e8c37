"""The clean-up loop: finished automatic Missions are deleted once their TTL has passed."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from grace.api.mission import Mission
from grace.run.retention import expired
from grace.runtime.app import Runtime

log = logging.getLogger("grace.retention")


def sweep_period(ttl_seconds: float) -> float:
    """How often to look: a tenth of the TTL, between 1 s and 5 min."""
    return min(max(ttl_seconds / 10, 1.0), 300.0)


async def sweep_once(rt: Runtime) -> int:
    """Delete what has expired now; returns how many were deleted."""
    namespaces: list[str | None] = [*rt.config.namespaces] or [None]
    raw = []
    for ns in namespaces:
        raw.extend(await asyncio.to_thread(rt.kube.list, "Mission", ns))
    missions = [Mission.model_validate(m) for m in raw]
    done = 0
    for m in expired(missions, dt.datetime.now(dt.UTC), rt.config.mission_ttl):
        meta = m.metadata
        if await asyncio.to_thread(rt.kube.delete, "Mission", meta.namespace, meta.name, meta.uid):
            done += 1
            log.info(
                "deleted Mission %s/%s: finished more than its TTL ago", meta.namespace, meta.name
            )
    return done


async def keep_sweeping(rt: Runtime) -> None:
    """Forever (until cancelled at shutdown); an error skips one round, never the loop."""
    if rt.config.mission_ttl <= 0:
        return
    while True:
        try:
            await sweep_once(rt)
        except Exception:
            log.exception("Mission clean-up failed; trying again next round")
        await asyncio.sleep(sweep_period(rt.config.mission_ttl))
