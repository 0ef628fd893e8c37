"""The I/O edge to Alertmanager's API: `POST /api/v2/alerts`, nothing else.

Alertmanager identifies an alert by its labels, so posting the same notification twice updates
one alert: a retry can never page twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import requests

from grace.notify.events import Notification


class DeliveryError(Exception):
    """The receiver did not take the alerts; the message is safe to log (no credentials)."""


class AlertmanagerReceiver:
    name = "alertmanager"

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def record_key(self, event: str) -> str:
        return event

    def wants(self, notification: Notification) -> bool:
        return True

    def deliver(self, notifications: Sequence[Notification]) -> None:
        if not notifications:
            return
        body = [n.alert() for n in notifications]
        try:
            resp = self._session.post(f"{self.url}/api/v2/alerts", json=body, timeout=self.timeout)
        except requests.RequestException as e:
            raise DeliveryError(
                f"cannot reach Alertmanager at {self.url}: {type(e).__name__}"
            ) from e
        if resp.status_code != 200:
            raise DeliveryError(
                f"Alertmanager at {self.url} refused the alerts: HTTP {resp.status_code} "
                f"{resp.text[:200]}"
            )
