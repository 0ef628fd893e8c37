"""Which finished Missions have been kept long enough: the pure half of TTL clean-up.

A Mission is a record: it is never garbage-collected while it acts (no ownerReference to its
HealthNode), and is deleted by age once finished, like a Job's `ttlSecondsAfterFinished`.
Only automatic Missions: a manual one belongs to whoever created it (a GitOps tool would
create it again, and it would run again). The ledger keeps every record either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from grace.api.mission import TERMINAL_PHASES, Mission, Trigger


def expired(missions: Iterable[Mission], now: datetime, ttl_seconds: float) -> list[Mission]:
    """The finished automatic Missions whose `finishedAt` is at least `ttl_seconds` ago."""
    if ttl_seconds <= 0:
        return []
    cutoff = now - timedelta(seconds=ttl_seconds)
    return [
        m
        for m in missions
        if m.spec.trigger is Trigger.AUTOMATIC
        and m.status.phase in TERMINAL_PHASES
        and m.status.finished_at is not None
        and m.status.finished_at <= cutoff
    ]
