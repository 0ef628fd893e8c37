"""HealthNode: one detection loop per node, for as long as it exists (and not a round longer)."""

from __future__ import annotations

from typing import Any

import kopf

from grace.runtime.app import Runtime
from grace.runtime.detection import NodeWatch


async def watch_health(body: kopf.Body, stopped: kopf.DaemonStopped, memo: Any, **_: Any) -> None:
    runtime: Runtime = memo
    await NodeWatch(runtime, body).run(stopped)


def is_deletion(type: str, **_: Any) -> bool:
    """Only DELETED events reach `node_deleted` (kopf would log every other one)."""
    return type == "DELETED"


async def node_deleted(body: kopf.Body, memo: Any, **_: Any) -> None:
    """Stop the node's loop at once: kopf does not stop a daemon of an object without a
    finalizer when it is deleted (and GRACE puts no finalizer on users' objects)."""
    runtime: Runtime = memo
    meta = body.get("metadata", {})
    watch = runtime.watches.get(meta.get("namespace", ""), meta.get("name", ""))
    if watch is not None and watch.uid == meta.get("uid", ""):
        watch.wake(deleted=True)
    # its running Missions abort and restore their targets now, not when their waits end
    runtime.alarms.ring_dependents("HealthNode", meta.get("namespace", ""), meta.get("name", ""))
