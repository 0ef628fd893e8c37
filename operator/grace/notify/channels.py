"""Direct channels (Slack, Teams, PagerDuty, Discord, JSON webhooks... through apprise) and
who subscribes to what. Pure except `AppriseChannel.deliver`.

Two files, both mounted: the channels (name -> apprise URL; a Secret, since URLs carry tokens)
and the subscriptions (which events of which namespaces and HealthNodes go to which channels; a
ConfigMap). Modelled on Argo CD notifications' trigger/subscription split. A channel's URL
never leaves this module: logs, status and metrics name the channel, never its URL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grace.notify.alertmanager import DeliveryError
from grace.notify.events import (
    APPROVAL_OPENED,
    AUTONOMY_CHANGED,
    LEDGER_UNAVAILABLE,
    Notification,
)

Event = Literal[
    "approval.opened",
    "approval.settled",
    "mission.finished",
    "autonomy.changed",
    "ledger.unavailable",
    "ledger.restored",
]
EVENTS: tuple[Event, ...] = (
    "approval.opened",
    "approval.settled",
    "mission.finished",
    "autonomy.changed",
    "ledger.unavailable",
    "ledger.restored",
)
"""Every event a subscription may name (grace.notify.events' keys)."""
CHANNEL_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class ConfigError(Exception):
    """A channels or subscriptions file GRACE cannot use; one line, no URL in it."""


class Subscription(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    channels: list[str] = Field(min_length=1)
    events: list[Event] = Field(default_factory=lambda: list(EVENTS))
    namespaces: list[str] = Field(default_factory=list, description="empty: every namespace")
    health_nodes: list[str] = Field(
        default_factory=list, alias="healthNodes", description="empty: every HealthNode"
    )

    def wants(self, channel: str, n: Notification) -> bool:
        return (
            channel in self.channels
            and n.key in self.events
            # the ledger's notifications belong to no namespace: a namespace filter drops them
            and (not self.namespaces or n.labels.get("namespace") in self.namespaces)
            and (not self.health_nodes or n.labels.get("healthnode") in self.health_nodes)
        )


class Subscriptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subscriptions: list[Subscription] = Field(default_factory=list)


def load_channels(path: Path) -> dict[str, str]:
    """name -> apprise URL, from a YAML mapping (a Secret's file)."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read the channels file {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"the channels file {path} is not YAML") from e
    if not isinstance(data, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ConfigError(f"the channels file {path} must map channel names to apprise URLs")
    bad = sorted(k for k in data if not re.match(CHANNEL_NAME, k))
    if bad:
        raise ConfigError(f"channel names must be DNS labels: {', '.join(bad)}")
    return dict(data)


def load_subscriptions(path: Path, channels: Sequence[str]) -> list[Subscription]:
    try:
        parsed = Subscriptions.model_validate(yaml.safe_load(path.read_text()) or {})
    except OSError as e:
        raise ConfigError(f"cannot read the subscriptions file {path}: {e.strerror}") from e
    except (yaml.YAMLError, ValidationError) as e:
        first = e.errors()[0] if isinstance(e, ValidationError) else None
        where = (
            ".".join(str(p) for p in first["loc"]) + ": " + first["msg"] if first else "not YAML"
        )
        raise ConfigError(f"the subscriptions file {path}: {where}") from e
    unknown = sorted({c for s in parsed.subscriptions for c in s.channels} - set(channels))
    if unknown:
        raise ConfigError(
            f"subscriptions name channels that are not configured: {', '.join(unknown)}"
        )
    return parsed.subscriptions


def message(n: Notification) -> tuple[str, str]:
    """(title, body) for a human reading a chat message."""
    notes = n.annotations
    lines = [notes.get("description", "")]
    if n.key == APPROVAL_OPENED:
        lines += [
            f"Risk {notes.get('risk', '?')}; expires {notes.get('expires', '?')}.",
            f"Approve: {notes.get('approve', '')}",
            f"Deny: {notes.get('deny', '')}",
        ]
    if notes.get("outcome"):
        lines.append(f"Outcome: {notes['outcome']}")
    if n.key in (AUTONOMY_CHANGED, LEDGER_UNAVAILABLE) and notes.get("details"):
        lines.append(f"See: {notes['details']}")
    return notes.get("summary", n.labels.get("alertname", "GRACE")), "\n".join(
        x for x in lines if x
    )


class AppriseChannel:
    """One named channel; `deliver` raises DeliveryError naming the channel, never its URL."""

    def __init__(self, name: str, url: str, subscriptions: Sequence[Subscription]) -> None:
        import apprise

        self.name = name
        self.subscriptions = list(subscriptions)
        self._apprise = apprise.Apprise()
        if not self._apprise.add(url):
            raise ConfigError(f"channel {name}: apprise does not understand its URL")
        logging.getLogger("apprise").setLevel(logging.ERROR)  # its messages may quote URLs

    def record_key(self, event: str) -> str:
        return f"{event}@{self.name}"

    def wants(self, n: Notification) -> bool:
        return any(s.wants(self.name, n) for s in self.subscriptions)

    def deliver(self, notifications: Sequence[Notification]) -> None:
        for n in notifications:
            title, body = message(n)
            kind = "success" if n.labels.get("severity") == "info" else "warning"
            if not self._apprise.notify(body=body, title=title, notify_type=kind):
                raise DeliveryError(f"channel {self.name} did not take the notification")
