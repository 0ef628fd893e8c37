"""The Notifier: every few seconds, gather what is stored, decide what is due, deliver, record.

Decoupled from the Mission runner: it reads ApprovalRequests and Missions as stored and writes
only `status.notified`, so a slow or dead receiver never blocks or slows a Mission. It runs in
the operator's event loop, so only the leader sends. Each receiver (Alertmanager, each apprise
channel) has its own record keys and its own backoff: a failing one is retried on later rounds
with a growing pause (up to `max_backoff`), counted in grace_notification_failures_total and
shown by grace_notification_receiver_up = 0, while the others go on.

Exactly-once: a notification is recorded in the object's status right after its receiver took
it, by this loop alone (one writer of `notified`). A crash in between re-sends it after the
restart: Alertmanager merges the repeat by its labels; a chat channel would show it twice.

Autonomy changes (the ledger's `autonomy.changed` entries, kept by the runtime) and ledger
episodes (a ledger that refuses entries) have no object of their own: their record is the
`grace-notifications` ConfigMap in the operator's namespace (grace.notify.record), read and
written once per round. That ConfigMap also carries each failing receiver's condition
(`receiver.<name>: failing since ...`), and the start and end of a failure streak are
Kubernetes Events on it (NotificationReceiverFailing / NotificationReceiverRecovered).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from grace.api.approval import ApprovalRequest
from grace.api.mission import Mission
from grace.notify import DeliveryError, Notification, approval_notifications, mission_notifications
from grace.notify.channels import EVENTS
from grace.notify.events import ledger_due
from grace.notify.record import news_due
from grace.runtime import metrics
from grace.runtime.app import Runtime
from grace.runtime.newsrecord import NewsRecordStore
from grace.runtime.newsrecord import Stored as News

log = logging.getLogger("grace.notify")
MAX_PER_ROUND = 100
"""Objects served per receiver in one round at most: a storm of Missions is spread out."""


class Receiver(Protocol):
    name: str

    def record_key(self, event: str) -> str: ...

    def wants(self, notification: Notification) -> bool: ...

    def deliver(self, notifications: Sequence[Notification]) -> None: ...


@dataclass
class Stored:
    """One ApprovalRequest or Mission as stored, and what it has been told so far."""

    kind: str
    raw: dict[str, Any]
    model: ApprovalRequest | Mission
    notified: list[str]
    added: list[str] = field(default_factory=list)

    def owed(self, receiver: Receiver, now: dt.datetime) -> list[Notification]:
        """What this receiver still owes it (the pure rules, with the receiver's own record)."""
        told = {e for e in EVENTS if receiver.record_key(e) in self.notified}
        if isinstance(self.model, ApprovalRequest):
            due = approval_notifications(self.model, now, told)
        else:
            due = mission_notifications(self.model, now, told)
        return [n for n in due if receiver.wants(n)]


def stored(kind: str, raw: dict[str, Any]) -> Stored | None:
    try:
        model: ApprovalRequest | Mission = (
            ApprovalRequest.model_validate(raw)
            if kind == "ApprovalRequest"
            else Mission.model_validate(raw)
        )
    except ValidationError:
        return None  # its own handler reports an object it cannot read
    return Stored(kind, raw, model, list(model.status.notified))


@dataclass
class Backoff:
    interval: float
    maximum: float
    pause: float = 0.0
    retry_at: float = 0.0

    def failed(self) -> bool:
        """Record a failure; True when it starts a streak (worth one log line)."""
        first = self.pause == 0.0
        self.pause = min(max(self.pause * 2, self.interval * 2), self.maximum)
        self.retry_at = time.monotonic() + self.pause
        return first

    def succeeded(self) -> bool:
        """True when it ends a streak."""
        was = self.pause > 0.0
        self.pause, self.retry_at = 0.0, 0.0
        return was


class Notifier:
    def __init__(
        self,
        rt: Runtime,
        receivers: Sequence[Receiver],
        interval: float,
        max_backoff: float = 60.0,
    ) -> None:
        self.rt = rt
        self.receivers = list(receivers)
        self.interval = interval
        self.backoff = {r.name: Backoff(interval, max_backoff) for r in self.receivers}
        self.news = NewsRecordStore(rt.kube.core, rt.config.operator_namespace)

    async def run(self) -> None:
        while True:
            try:
                await self.round(dt.datetime.now(dt.UTC))
            except asyncio.CancelledError:
                raise
            except Exception:  # keep notifying: one bad round must not end the loop
                log.exception("notifications: a round failed")
            await asyncio.sleep(self.interval)

    async def round(self, now: dt.datetime) -> None:
        """Gather; for each receiver not pausing, deliver what it owes; record once per object
        (and once in the news record)."""
        objects = await self.gather()
        news = await self.read_news(now)
        for receiver in self.receivers:
            if time.monotonic() < self.backoff[receiver.name].retry_at:
                continue
            await self.serve(receiver, objects, news, now)
        for obj in objects:
            if obj.added:
                await self.record(obj)
        if news is not None:
            news.record.close_episode(r.name for r in self.receivers)
            news.record.prune(now)
            try:
                await asyncio.to_thread(self.news.write, news)
            except Exception as e:  # the next round reads it again (and may send again)
                log.warning("notifications: recording in %s failed: %s", self.news.name, e)

    async def read_news(self, now: dt.datetime) -> News | None:
        """The news record, its ledger episode brought up to date; None when unreadable."""
        try:
            news = await asyncio.to_thread(self.news.read)
        except Exception as e:
            log.warning("notifications: cannot read %s: %s", self.news.name, e)
            return None
        record = news.record
        record.episode = ledger_due(self.rt.ledger_health.failing, record.episode, now)
        return news

    async def serve(
        self, receiver: Receiver, objects: list[Stored], news: News | None, now: dt.datetime
    ) -> None:
        backoff = self.backoff[receiver.name]
        owed = [(obj, due) for obj in objects if (due := obj.owed(receiver, now))][:MAX_PER_ROUND]
        headlines = (
            news_due(news.record, self.rt.book.news(), receiver.name, receiver.wants, now)
            if news is not None
            else []
        )
        try:
            for obj, due in owed:
                await asyncio.to_thread(receiver.deliver, due)
                obj.added += [receiver.record_key(n.key) for n in due]
                for n in due:
                    metrics.NOTIFICATIONS.labels(receiver.name, n.key).inc()
            for record_id, n in headlines:
                assert news is not None
                await asyncio.to_thread(receiver.deliver, [n])
                news.record.tell(record_id, n.key, receiver.name, now)
                metrics.NOTIFICATIONS.labels(receiver.name, n.key).inc()
        except DeliveryError as e:
            metrics.NOTIFICATION_FAILURES.labels(receiver.name).inc()
            metrics.NOTIFICATION_RECEIVER_UP.labels(receiver.name).set(0)
            if backoff.failed():
                log.warning("notifications: %s (retrying with backoff)", e)
                await self.show_receiver(news, receiver.name, f"failing since {now:%FT%TZ}: {e}")
            return
        metrics.NOTIFICATION_RECEIVER_UP.labels(receiver.name).set(1)
        if backoff.succeeded() or (news is not None and receiver.name in news.record.receivers):
            log.info("notifications: %s delivers again", receiver.name)
            await self.show_receiver(news, receiver.name, None)

    async def show_receiver(self, news: News | None, name: str, failing: str | None) -> None:
        """A receiver's condition in the news record, and an Event when it changes."""
        if news is None or (failing is not None and name in news.record.receivers):
            return  # a streak a replica before this one already told keeps its start
        if failing is None:
            news.record.receivers.pop(name, None)
        else:
            news.record.receivers[name] = failing[:1024]
        if news.body is not None:
            reason = "NotificationReceiverFailing" if failing else "NotificationReceiverRecovered"
            message = (
                f"receiver {name}: {failing}" if failing else f"receiver {name} delivers again"
            )
            await asyncio.to_thread(
                self.rt.kube.event, news.body, reason, message, "Warning" if failing else "Normal"
            )

    async def gather(self) -> list[Stored]:
        out: list[Stored] = []
        namespaces: list[str | None] = [*self.rt.config.namespaces] or [None]
        for kind in ("ApprovalRequest", "Mission"):
            for namespace in namespaces:
                for raw in await asyncio.to_thread(self.rt.kube.list, kind, namespace):
                    found = stored(kind, raw)
                    if found is not None:
                        out.append(found)
        return out

    async def record(self, obj: Stored) -> None:
        meta = obj.raw["metadata"]
        notified = [*obj.notified, *obj.added]
        try:
            await asyncio.to_thread(
                self.rt.kube.patch_status,
                obj.kind,
                meta["namespace"],
                meta["name"],
                {"notified": notified},
            )
        except Exception as e:  # gone, or the API server is busy: the next round sends again
            if getattr(e, "status", None) != 404:
                log.warning(
                    "notifications: recording on %s %s/%s failed: %s",
                    obj.kind,
                    meta["namespace"],
                    meta["name"],
                    e,
                )
