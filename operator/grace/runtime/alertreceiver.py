"""The Alertmanager webhook receiver: a post only wakes the HealthNodes its alerts name.

Push for speed, pull for truth: a received alert makes the matching nodes' detection loops
evaluate now (`NodeWatch.wake`), and their value still comes from Prometheus' `ALERTS` series.
So a forged, replayed or stale post can make GRACE look sooner, never act. Every refused post
(no or wrong bearer token, too large, not a version-4 payload) gets a 4xx, is counted in
grace_alert_webhook_posts_total{outcome}, and touches nothing.

Served from the kopf event loop, so only the replica holding the leader Lease listens.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from grace.api.healthnode import HealthNode
from grace.detect.alerts import WebhookPayload, nodes_to_wake
from grace.runtime import metrics

log = logging.getLogger("grace.alerts")
PATH = "/alerts"


@dataclass
class TokenFile:
    """The bearer token, re-read when its file changes (a rotated Secret is picked up)."""

    path: Path
    _mtime: float | None = None
    _token: str = ""

    def current(self) -> str:
        try:
            mtime = self.path.stat().st_mtime
            if mtime != self._mtime:
                self._token, self._mtime = self.path.read_text().strip(), mtime
        except OSError as e:
            if self._mtime != -1.0:  # one line per outage, not one per post
                log.error(
                    "webhook token file %s unreadable (%s): every post is refused",
                    self.path,
                    e.strerror,
                )
            self._token, self._mtime = "", -1.0
        return self._token


class AlertReceiver:
    """POST /alerts: authenticate, bound, parse, wake. Nothing else."""

    def __init__(
        self,
        token: TokenFile,
        max_bytes: int,
        watches: Callable[[], Iterable[Any]],
    ) -> None:
        self.token = token
        self.max_bytes = max_bytes
        self.watches = watches

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_bytes)
        app.router.add_post(PATH, self.receive)
        return app

    async def receive(self, request: web.Request) -> web.Response:
        expected = self.token.current()
        if not expected:
            return _refuse(503, "no-token", "the receiver has no token configured")
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return _refuse(401, "unauthorized", "a valid bearer token is required")
        if request.content_length is not None and request.content_length > self.max_bytes:
            return _refuse(413, "too-large", f"the body exceeds {self.max_bytes} bytes")
        body = await request.content.read(self.max_bytes + 1)
        if len(body) > self.max_bytes:
            return _refuse(413, "too-large", f"the body exceeds {self.max_bytes} bytes")
        try:
            payload = WebhookPayload.model_validate_json(body)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            return _refuse(
                400, "malformed", f"not an Alertmanager v4 payload: {where}: {first['msg']}"
            )
        woken = self.wake(payload)
        metrics.ALERT_WEBHOOK_POSTS.labels(outcome="accepted").inc()
        return web.json_response({"alerts": len(payload.alerts), "woken": woken})

    def wake(self, payload: WebhookPayload) -> int:
        watches = {(w.namespace, w.name): w for w in self.watches()}
        nodes = []
        for watch in watches.values():
            try:
                nodes.append(HealthNode.model_validate(dict(watch.body)))
            except ValidationError:
                continue  # its own loop reports a node it cannot read
        keys = nodes_to_wake(nodes, payload.alerts)
        for key in keys:
            watches[key].wake()
        metrics.ALERT_WEBHOOK_WAKES.inc(len(keys))
        if keys:
            log.info(
                "webhook: %d alert(s) woke %s",
                len(payload.alerts),
                ", ".join("/".join(k) for k in keys),
            )
        return len(keys)


def _refuse(status: int, outcome: str, message: str) -> web.Response:
    metrics.ALERT_WEBHOOK_POSTS.labels(outcome=outcome).inc()
    return web.json_response({"error": message}, status=status)


async def serve(receiver: AlertReceiver, address: str, port: int) -> None:
    """Listen until cancelled (the operator's cleanup cancels its background tasks)."""
    runner = web.AppRunner(receiver.app(), access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, address, port).start()
        except OSError as e:
            log.error(
                "Alertmanager webhook receiver cannot listen on %s:%d (%s): alerts are only "
                "pulled from Prometheus",
                address,
                port,
                e.strerror,
            )
            return
        log.info("Alertmanager webhook receiver on http://%s:%d%s", address, port, PATH)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
