"""Mission: one runner per Mission, automatic or created with kubectl / GitOps.

No `when=` filter on the daemon on purpose: kopf would cancel it the moment the terminal phase
is written, before its wrap-up (lease release, node status, learning, the final Event). The
runner returns by itself once a Mission is finished and wrapped up, so finished Missions cost
one short pass at operator start.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from grace.runtime.alarms import interrupts
from grace.runtime.app import Runtime
from grace.runtime.missions import MissionRunner

log = logging.getLogger("grace.missions")


async def run_mission(
    name: str, namespace: str | None, stopped: kopf.DaemonStopped, memo: Any, **_: Any
) -> None:
    runtime: Runtime = memo
    await MissionRunner(runtime, namespace or "", name).run(stopped)


def is_interrupting(body: kopf.Body, type: str | None, **_: Any) -> bool:
    """Only a Mission asking to be aborted reaches `mission_interrupted`."""
    return type != "DELETED" and interrupts(dict(body))


async def mission_interrupted(name: str, namespace: str | None, memo: Any, **_: Any) -> None:
    """grace.dev/abort=true: wake the runner now, not when its current wait ends."""
    runtime: Runtime = memo
    runtime.alarms.ring(namespace or "", name)


def is_deletion(type: str | None, **_: Any) -> bool:
    """Only DELETED events reach the deletion handlers (kopf would log every other one)."""
    return type == "DELETED"


async def playbook_deleted(name: str, namespace: str | None, memo: Any, **_: Any) -> None:
    """A Mission running this Playbook aborts and restores its target: wake it now."""
    runtime: Runtime = memo
    rung = runtime.alarms.ring_dependents("Playbook", namespace or "", name)
    if rung:
        log.info("Playbook %s/%s was deleted: waking Missions %s", namespace, name, rung)
