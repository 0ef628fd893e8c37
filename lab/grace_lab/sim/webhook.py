"""A tiny Alertmanager webhook receiver that records when each alert arrived.

The detection benchmark compares GRACE's detection latency with the classic path (a Prometheus
alerting rule, Alertmanager grouping, a webhook): this receiver is the end of that path, and
the arrival times it records are the figures the benchmark reports.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class ReceivedAlert:
    """One alert of one webhook notification, as it arrived."""

    received_at: float
    """Wall-clock time (time.time()) of arrival."""
    received_monotonic: float
    """time.monotonic() of arrival: compare with monotonic times taken in the same process."""
    status: str
    """firing | resolved"""
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: str = ""
    fingerprint: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class AlertWebhook:
    """Receives Alertmanager webhook notifications on 127.0.0.1 and keeps every alert."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, path: str = "/alerts") -> None:
        self.host = host
        self.path = path
        self._requested_port = port
        self._alerts: list[ReceivedAlert] = []
        self._notifications: list[dict[str, Any]] = []
        self._arrived = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            return self._requested_port
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """What to put in Alertmanager's webhook_configs[].url."""
        return f"http://{self.host}:{self.port}{self.path}"

    def start(self) -> AlertWebhook:
        if self._server is not None:
            return self
        self._server = _Server((self.host, self._requested_port), self._handler())
        self._requested_port = self.port  # a restart keeps the URL Alertmanager knows
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="alert-webhook", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> AlertWebhook:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ---- what arrived ------------------------------------------------------------------------

    def alerts(self) -> list[ReceivedAlert]:
        with self._arrived:
            return list(self._alerts)

    def notifications(self) -> list[dict[str, Any]]:
        """The raw webhook bodies, in arrival order."""
        with self._arrived:
            return list(self._notifications)

    def clear(self) -> None:
        with self._arrived:
            self._alerts.clear()
            self._notifications.clear()

    def first(
        self,
        alertname: str | None = None,
        status: str = "firing",
        labels: Mapping[str, str] | None = None,
    ) -> ReceivedAlert | None:
        """The earliest alert that matches, or None."""
        with self._arrived:
            for alert in self._alerts:
                if _matches(alert, alertname, status, labels):
                    return alert
        return None

    def wait_for(
        self,
        alertname: str | None = None,
        status: str = "firing",
        labels: Mapping[str, str] | None = None,
        timeout: float = 120.0,
    ) -> ReceivedAlert:
        """Block until a matching alert has arrived; TimeoutError if none did in time."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for alert in self._alerts:
                    if _matches(alert, alertname, status, labels):
                        return alert
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"no {status} alert {alertname or '(any)'} within {timeout:.0f}s "
                        f"({len(self._alerts)} alerts received)"
                    )
                self._arrived.wait(left)

    def _record(self, body: dict[str, Any]) -> None:
        wall, mono = time.time(), time.monotonic()
        with self._arrived:
            self._notifications.append(body)
            for raw in body.get("alerts") or []:
                self._alerts.append(
                    ReceivedAlert(
                        received_at=wall,
                        received_monotonic=mono,
                        status=str(raw.get("status", body.get("status", ""))),
                        labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
                        annotations={
                            str(k): str(v) for k, v in (raw.get("annotations") or {}).items()
                        },
                        starts_at=str(raw.get("startsAt", "")),
                        fingerprint=str(raw.get("fingerprint", "")),
                    )
                )
            self._arrived.notify_all()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    self.send_error(400, "not JSON")
                    return
                if not isinstance(body, dict):
                    self.send_error(400, "not a webhook notification")
                    return
                webhook._record(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def _matches(
    alert: ReceivedAlert,
    alertname: str | None,
    status: str | None,
    labels: Mapping[str, str] | None,
) -> bool:
    if alertname is not None and alert.name != alertname:
        return False
    if status is not None and alert.status != status:
        return False
    return all(alert.labels.get(k) == v for k, v in (labels or {}).items())
