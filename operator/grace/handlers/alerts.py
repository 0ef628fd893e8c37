"""The Alertmanager webhook receiver runs beside the handlers while this replica leads."""

from __future__ import annotations

from typing import Any

from grace.runtime.alertreceiver import AlertReceiver, TokenFile, serve
from grace.runtime.app import Runtime


async def start_alert_receiver(memo: Any, **_: Any) -> None:
    runtime: Runtime = memo
    config = runtime.config
    if not config.webhook_port or config.webhook_token_file is None:
        return
    receiver = AlertReceiver(
        TokenFile(config.webhook_token_file),
        config.webhook_max_bytes,
        runtime.watches.loops,
    )
    task = serve(receiver, config.webhook_address, config.webhook_port)
    runtime.watches.spawn(task)
