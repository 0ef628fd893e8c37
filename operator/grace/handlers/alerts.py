"""The Alertmanager webhook receiver's life: started with the operator (the leader), stopped with it."""

from __future__ import annotations

from typing import Any

import kopf

from grace.runtime.alertreceiver import AlertReceiver, TokenFile, serve
from grace.runtime.app import Runtime

_RUNNERS: list[Any] = []


@kopf.on.startup()
async def start_alert_receiver(memo: Any, **_: Any) -> None:
    runtime: Runtime = memo
    config = runtime.config
    if not config.webhook_port or config.webhook_token_file is None:
        return
    receiver = AlertReceiver(
        TokenFile(config.webhook_token_file),
        config.webhook_max_bytes,
        lambda: list(runtime.watches.values()),
    )
    _RUNNERS.append(await serve(receiver, config.webhook_address, config.webhook_port))


@kopf.on.cleanup()
async def stop_alert_receiver(**_: Any) -> None:
    while _RUNNERS:
        await _RUNNERS.pop().cleanup()
