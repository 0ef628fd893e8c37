"""Mission: one runner per unfinished Mission, automatic or created with kubectl / GitOps."""

from __future__ import annotations

from typing import Any

import kopf

from grace.api.mission import TERMINAL_PHASES
from grace.runtime.app import Runtime
from grace.runtime.missions import MissionRunner

TERMINAL = {p.value for p in TERMINAL_PHASES}


def unfinished(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") not in TERMINAL


@kopf.daemon("grace.dev", "v1alpha1", "missions", when=unfinished, cancellation_timeout=10.0)
async def run_mission(
    name: str, namespace: str | None, stopped: kopf.DaemonStopped, memo: Any, **_: Any
) -> None:
    runtime: Runtime = memo
    await MissionRunner(runtime, namespace or "", name).run(stopped)
