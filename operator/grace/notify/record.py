"""What was told about events that have no object of their own, as stored in the cluster.

An ApprovalRequest or a Mission records its notifications in its own `status.notified`. An
autonomy change (a ledger entry) and a ledger episode have no object GRACE may write, so their
record is one ConfigMap, `grace-notifications` in the operator's namespace, written by the
leader's Notifier alone:

    <record id>.<event>.<receiver>: <time it was delivered>    e.g.
    autonomy.3f2a...c1.autonomy.changed.alertmanager: 2026-12-05T07:31:02+00:00
    ledger.episode: {"started": ..., "error": ..., "ended": ...}   (while one is open or told)
    receiver.<name>: failing since <time>: <why>                   (while a receiver fails)

Pure: the runtime reads the ConfigMap's data, these functions say what is due and what the
data becomes, and the runtime delivers and writes it back (one writer; a lost race re-reads).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from grace.notify.events import (
    LEDGER_RESTORED,
    LEDGER_UNAVAILABLE,
    AutonomyChanged,
    LedgerEpisode,
    Notification,
    autonomy_notification,
    ledger_notification,
)

RECORD_CONFIGMAP = "grace-notifications"
EPISODE_KEY = "ledger.episode"
RECEIVER_PREFIX = "receiver."
KEEP = timedelta(hours=2)
"""How long an autonomy change's record is kept: longer than it stays news (1 h)."""


@dataclass
class NewsRecord:
    """The ConfigMap's data, parsed."""

    sent: dict[str, str] = field(default_factory=dict)
    episode: LedgerEpisode | None = None
    receivers: dict[str, str] = field(default_factory=dict)
    """receiver name -> why it fails (absent while it delivers): the channel's condition."""

    @classmethod
    def from_data(cls, data: Mapping[str, str] | None) -> NewsRecord:
        record = cls()
        for key, value in (data or {}).items():
            if key == EPISODE_KEY:
                record.episode = _episode(value)
            elif key.startswith(RECEIVER_PREFIX):
                record.receivers[key.removeprefix(RECEIVER_PREFIX)] = value
            else:
                record.sent[key] = value
        return record

    def to_data(self) -> dict[str, str]:
        data = dict(self.sent)
        data.update({RECEIVER_PREFIX + k: v for k, v in self.receivers.items()})
        if self.episode is not None:
            ep = self.episode
            data[EPISODE_KEY] = json.dumps(
                {
                    "started": ep.started.isoformat(),
                    "error": ep.error,
                    "ended": ep.ended.isoformat() if ep.ended else None,
                }
            )
        return data

    @staticmethod
    def key(record_id: str, event: str, receiver: str) -> str:
        return f"{record_id}.{event}.{receiver}"

    def told(self, record_id: str, event: str, receiver: str) -> bool:
        return self.key(record_id, event, receiver) in self.sent

    def tell(self, record_id: str, event: str, receiver: str, now: datetime) -> None:
        self.sent[self.key(record_id, event, receiver)] = now.isoformat()

    def prune(self, now: datetime, keep: timedelta = KEEP) -> None:
        """Forget autonomy changes no longer news (they would never be sent again anyway)."""
        for key, when in list(self.sent.items()):
            if key.startswith("autonomy.") and _older(when, now, keep):
                del self.sent[key]

    def close_episode(self, receivers: Iterable[str]) -> None:
        """Drop an ended episode once every receiver told of it was told it ended (or none
        was told): the next failure opens a new one."""
        ep = self.episode
        if ep is None or ep.ended is None:
            return
        rid = ep.record_id
        if all(
            not self.told(rid, LEDGER_UNAVAILABLE, r) or self.told(rid, LEDGER_RESTORED, r)
            for r in receivers
        ):
            self.episode = None
            for key in [k for k in self.sent if k.startswith(rid + ".")]:
                del self.sent[key]


def news_due(
    record: NewsRecord,
    changes: Sequence[AutonomyChanged],
    receiver: str,
    wants: Callable[[Notification], bool],
    now: datetime,
) -> list[tuple[str, Notification]]:
    """(record id, notification) pairs `receiver` is owed: each recent autonomy change once,
    the open ledger episode once, and its end once (only if its start was told)."""
    due: list[tuple[str, Notification]] = []
    for change in changes:
        n = autonomy_notification(change, now)
        if n and wants(n) and not record.told(change.record_id, n.key, receiver):
            due.append((change.record_id, n))
    ep = record.episode
    if ep is not None:
        n = ledger_notification(ep)
        rid = ep.record_id
        opened = record.told(rid, LEDGER_UNAVAILABLE, receiver)
        if (n.key == LEDGER_UNAVAILABLE and not opened and wants(n)) or (
            n.key == LEDGER_RESTORED and opened and not record.told(rid, n.key, receiver)
        ):
            due.append((rid, n))
    return due


def _episode(value: str) -> LedgerEpisode | None:
    try:
        raw = json.loads(value)
        ended = raw.get("ended")
        return LedgerEpisode(
            started=datetime.fromisoformat(raw["started"]),
            error=str(raw.get("error", "")),
            ended=datetime.fromisoformat(ended) if ended else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # a hand-edited record: forget it rather than stop notifying


def _older(when: str, now: datetime, keep: timedelta) -> bool:
    try:
        return now - datetime.fromisoformat(when) > keep
    except (ValueError, TypeError):
        return True
