"""Notifications out: the Notifier runs beside the handlers while this replica leads."""

from __future__ import annotations

import logging
from typing import Any

from grace.notify import AlertmanagerReceiver
from grace.notify.channels import (
    AppriseChannel,
    ConfigError,
    Subscription,
    load_channels,
    load_subscriptions,
)
from grace.runtime.app import Runtime
from grace.runtime.notifier import Notifier, Receiver

log = logging.getLogger("grace.notify")


def channels(runtime: Runtime) -> list[Receiver]:
    """The direct channels, or none (said in one line) when their files are unusable."""
    config = runtime.config
    if config.notify_channels_file is None:
        return []
    try:
        urls = load_channels(config.notify_channels_file)
        subscriptions = (
            load_subscriptions(config.notify_subscriptions_file, list(urls))
            if config.notify_subscriptions_file
            else [Subscription(channels=list(urls))]  # no file: every event to every channel
        )
        return [AppriseChannel(name, url, subscriptions) for name, url in sorted(urls.items())]
    except ConfigError as e:
        log.error("notifications: no direct channel: %s", e)
        return []


async def start_notifier(memo: Any, **_: Any) -> None:
    runtime: Runtime = memo
    config = runtime.config
    receivers: list[Receiver] = []
    if config.alertmanager_url:
        receivers.append(AlertmanagerReceiver(config.alertmanager_url, timeout=5.0))
    receivers += channels(runtime)
    if receivers:
        notifier = Notifier(runtime, receivers, config.notify_interval)
        runtime.watches.spawn(notifier.run())
