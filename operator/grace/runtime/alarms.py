"""Mission alarms: what cuts a running Mission's sleep short.

A Mission sleeps in three places: between rounds (the tick), before a step that asked to wait
(a `wait` step until its deadline, a step that said "Waiting"), and before verification samples.
Without an alarm, an abort, the deletion of its HealthNode or Playbook, or the operator stopping
would be noticed only when that sleep ends (a `wait: 60s` step: a minute of a half-changed
target nobody owns any more). The handlers that see those events ring the Mission's alarm;
the runner then gathers again at once and the pure machine decides (abort, roll back, ...).

An alarm is a wake-up call, never a decision: a spurious ring costs one extra round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol

from grace.api.approval import ABORT_ANNOTATION
from grace.api.mission import TERMINAL_PHASES, MissionPhase


class StopFlag(Protocol):
    """kopf's DaemonStopped, as far as a sleep needs it."""

    def __bool__(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> Awaitable[Any]: ...


def interrupts(body: dict[str, Any]) -> bool:
    """Whether a Mission as stored asks its runner to stop sleeping: an abort was requested
    while the Mission can still act. Not once it is rolling back or finished (nothing left to
    abort there), so the runner's own status writes during a rollback never cut its sleeps."""
    meta = body.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if str(annotations.get(ABORT_ANNOTATION, "")).lower() != "true":
        return False
    phase = (body.get("status") or {}).get("phase") or MissionPhase.PENDING.value
    stopped = {p.value for p in TERMINAL_PHASES} | {MissionPhase.ROLLING_BACK.value}
    return str(phase) not in stopped


@dataclass
class Alarm:
    """One running Mission's wake-up call, and what it depends on (known after its first read)."""

    health_node: str = ""
    playbook: str = ""
    rung: asyncio.Event = field(default_factory=asyncio.Event)

    def ring(self) -> None:
        self.rung.set()

    def reset(self) -> None:
        """Called before each gather: only what happens after it may cut the next sleep."""
        self.rung.clear()

    async def sleep(self, stopped: StopFlag, seconds: float) -> bool:
        """Sleep `seconds`; True when it ran to the end, False when the alarm rang or the
        operator is stopping (then the caller must not act on a world it has not re-read)."""
        if self.rung.is_set() or stopped:
            return False
        waits = [
            asyncio.ensure_future(stopped.wait(seconds)),
            asyncio.ensure_future(self.rung.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        return not (self.rung.is_set() or stopped)


class MissionAlarms:
    """(namespace, Mission name) -> the alarm of its running loop. Owned by the runners (one
    registers while it runs); rung by the handlers that see aborts and deletions."""

    def __init__(self) -> None:
        self._alarms: dict[tuple[str, str], Alarm] = {}

    def register(self, namespace: str, name: str) -> Alarm:
        alarm = self._alarms[(namespace, name)] = Alarm()
        return alarm

    def forget(self, namespace: str, name: str, alarm: Alarm) -> None:
        if self._alarms.get((namespace, name)) is alarm:
            del self._alarms[(namespace, name)]

    def ring(self, namespace: str, name: str) -> bool:
        """Ring one Mission's alarm; False when no loop of it runs here."""
        alarm = self._alarms.get((namespace, name))
        if alarm is not None:
            alarm.ring()
        return alarm is not None

    def ring_dependents(self, kind: str, namespace: str, name: str) -> list[str]:
        """Ring every Mission of `namespace` running against the HealthNode or Playbook `name`
        (just deleted); the Missions rung."""
        rung = []
        for (ns, mission), alarm in self._alarms.items():
            on = alarm.health_node if kind == "HealthNode" else alarm.playbook
            if ns == namespace and on == name:
                alarm.ring()
                rung.append(mission)
        return sorted(rung)
