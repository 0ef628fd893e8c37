"""Mission: one runner per Mission, automatic or created with kubectl / GitOps.

No `when=` filter on purpose: kopf would cancel the daemon the moment the terminal phase is
written, before its wrap-up (lease release, node status, learning, the final Event). The runner
returns by itself once a Mission is finished and wrapped up, so finished Missions cost one
short pass at operator start.
"""

from __future__ import annotations

from typing import Any

import kopf

from grace.runtime.app import Runtime
from grace.runtime.missions import MissionRunner


async def run_mission(
    name: str, namespace: str | None, stopped: kopf.DaemonStopped, memo: Any, **_: Any
) -> None:
    runtime: Runtime = memo
    await MissionRunner(runtime, namespace or "", name).run(stopped)
