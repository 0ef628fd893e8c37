"""The Notifier: every few seconds, gather what is stored, decide what is due, deliver, record.

Decoupled from the Mission runner: it reads ApprovalRequests and Missions as stored and writes
only `status.notified`, so a slow or dead receiver never blocks or slows a Mission. It runs in
the operator's event loop, so only the leader sends. A delivery that fails is retried on the
next rounds with a growing pause (up to `max_backoff`), counted in
grace_notification_failures_total, and shown by grace_notification_receiver_up = 0.

Exactly-once: a notification is recorded in the object's status after the receiver took it; a
crash in between re-posts the same alert, which Alertmanager merges by its labels.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Protocol

from pydantic import ValidationError

from grace.api.approval import ApprovalRequest
from grace.api.mission import Mission
from grace.notify import DeliveryError, Notification, approval_notifications, mission_notifications
from grace.runtime import metrics
from grace.runtime.app import Runtime

log = logging.getLogger("grace.notify")
MAX_PER_ROUND = 100
"""Alerts posted in one round at most: a burst (a storm of Missions) is spread over rounds."""


class Receiver(Protocol):
    name: str

    def deliver(self, notifications: list[Notification]) -> None: ...


Due = tuple[str, dict[str, Any], list[str], list[Notification]]
"""(kind, the stored object, its status.notified, what it owes now)."""


def due(kind: str, raw: dict[str, Any], now: dt.datetime) -> Due | None:
    try:
        if kind == "ApprovalRequest":
            request = ApprovalRequest.model_validate(raw)
            return kind, raw, request.status.notified, approval_notifications(request, now)
        mission = Mission.model_validate(raw)
        return kind, raw, mission.status.notified, mission_notifications(mission, now)
    except ValidationError:
        return None  # its own handler reports an object it cannot read


class Notifier:
    def __init__(
        self, rt: Runtime, receiver: Receiver, interval: float, max_backoff: float = 60.0
    ) -> None:
        self.rt = rt
        self.receiver = receiver
        self.interval = interval
        self.max_backoff = max_backoff
        self.pause = interval

    async def run(self) -> None:
        failing = False
        while True:
            try:
                await self.round(dt.datetime.now(dt.UTC))
                metrics.NOTIFICATION_RECEIVER_UP.labels(self.receiver.name).set(1)
                if failing:
                    log.info("notifications: %s delivers again", self.receiver.name)
                failing, self.pause = False, self.interval
            except DeliveryError as e:
                metrics.NOTIFICATION_FAILURES.labels(self.receiver.name).inc()
                metrics.NOTIFICATION_RECEIVER_UP.labels(self.receiver.name).set(0)
                if not failing:
                    log.warning("notifications: %s (retrying with backoff)", e)
                failing, self.pause = True, min(self.pause * 2, self.max_backoff)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep notifying: one bad round must not end the loop
                log.exception("notifications: a round failed")
            await asyncio.sleep(self.pause)

    async def round(self, now: dt.datetime) -> int:
        owed = [d for d in await self.gather(now) if d[3]]
        batch: list[Due] = []
        count = 0
        for d in owed:
            if count + len(d[3]) > MAX_PER_ROUND and batch:
                break
            batch.append(d)
            count += len(d[3])
        if not batch:
            return 0
        await asyncio.to_thread(self.receiver.deliver, [n for d in batch for n in d[3]])
        for kind, raw, notified, notifications in batch:
            for n in notifications:
                metrics.NOTIFICATIONS.labels(self.receiver.name, n.key).inc()
            await self.record(kind, raw, [*notified, *(n.key for n in notifications)])
        return count

    async def gather(self, now: dt.datetime) -> list[Due]:
        out: list[Due] = []
        for kind in ("ApprovalRequest", "Mission"):
            namespaces: list[str | None] = [*self.rt.config.namespaces] or [None]
            for namespace in namespaces:
                for raw in await asyncio.to_thread(self.rt.kube.list, kind, namespace):
                    found = due(kind, raw, now)
                    if found is not None:
                        out.append(found)
        return out

    async def record(self, kind: str, raw: dict[str, Any], notified: list[str]) -> None:
        meta = raw["metadata"]
        try:
            await asyncio.to_thread(
                self.rt.kube.patch_status,
                kind,
                meta["namespace"],
                meta["name"],
                {"notified": notified},
            )
        except Exception as e:  # gone, or the API server is busy: the next round posts again,
            if getattr(e, "status", None) != 404:  # and Alertmanager merges the repeat
                log.warning(
                    "notifications: recording on %s %s/%s failed: %s",
                    kind,
                    meta["namespace"],
                    meta["name"],
                    e,
                )
