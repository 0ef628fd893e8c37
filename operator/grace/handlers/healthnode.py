"""HealthNode: one detection loop per node, for as long as it exists."""

from __future__ import annotations

from typing import Any

import kopf

from grace.runtime.app import Runtime
from grace.runtime.detection import NodeWatch


async def watch_health(body: kopf.Body, stopped: kopf.DaemonStopped, memo: Any, **_: Any) -> None:
    runtime: Runtime = memo
    await NodeWatch(runtime, body).run(stopped)
