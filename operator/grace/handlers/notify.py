"""Notifications out: the Notifier runs beside the handlers while this replica leads."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from grace.notify import AlertmanagerReceiver
from grace.runtime.app import Runtime
from grace.runtime.notifier import Notifier


@kopf.on.startup()
async def start_notifier(memo: Any, **_: Any) -> None:
    runtime: Runtime = memo
    config = runtime.config
    if not config.alertmanager_url:
        return
    receiver = AlertmanagerReceiver(config.alertmanager_url, timeout=5.0)
    notifier = Notifier(runtime, receiver, config.notify_interval)
    runtime.background.append(asyncio.create_task(notifier.run()))
