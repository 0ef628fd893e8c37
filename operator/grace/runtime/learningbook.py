"""The learning book: the Learner and what it has been taught, kept exactly once.

The ledger is the source of truth: at start the book is rebuilt from its entries (the Missions
whose outcome the Learner has, the autonomy changes already recorded). Afterwards it alone
records an outcome (once per Mission, however often a finished Mission's runner passes by)
and an autonomy change (once per change, appended to the ledger under the book's lock, so two
evaluations of one node never write the same change twice). The recent changes stay on hand
as news for the Notifier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from grace.learn import Learner, Outcome
from grace.learn.autonomy import AutonomyChange
from grace.ledger import Ledger, Subject
from grace.notify import AutonomyChanged
from grace.runtime.ledgerhealth import LedgerHealth

NEWS_KEPT = 100
"""Recent autonomy changes kept for the Notifier (it tells only those of the last hour)."""


def autonomy_key(change: AutonomyChange) -> str:
    """The idempotency key of a change's ledger entry: one entry per change, ever."""
    at = change.at.isoformat()
    return f"autonomy/{change.node}/{change.playbook}/{at}/{change.mode.value}"


class LearningBook:
    def __init__(
        self,
        learner: Learner,
        learned: Iterable[str] = (),
        recorded: Iterable[str] = (),
        news: Sequence[AutonomyChanged] = (),
    ) -> None:
        self.learner = learner
        self._learned = set(learned)
        """uids of the Missions whose outcome the Learner has."""
        self._recorded = set(recorded)
        """Idempotency keys of the autonomy.changed entries in the ledger."""
        self._news = list(news)[-NEWS_KEPT:]
        self._lock = asyncio.Lock()

    @classmethod
    def from_entries(cls, entries: Sequence[Mapping[str, Any]]) -> LearningBook:
        """Rebuilt from the ledger's entries (as JSON)."""
        return cls(
            Learner.from_entries(entries),
            learned=(e["subject"]["uid"] for e in entries if e["type"] == "mission.finished"),
            recorded=(e["idempotency_key"] for e in entries if e["type"] == "autonomy.changed"),
            news=[c for e in entries if (c := AutonomyChanged.from_entry(e)) is not None],
        )

    def first_pass(self, mission_uid: str) -> bool:
        """True the first time a finished Mission is wrapped up (then it counts), else False."""
        if mission_uid in self._learned:
            return False
        self._learned.add(mission_uid)
        return True

    def learn(self, outcome: Outcome) -> None:
        self.learner.record(outcome)

    async def record_autonomy(
        self,
        ledger: Ledger,
        health: LedgerHealth,
        subject: Subject,
        changes: Sequence[AutonomyChange],
        announce: Callable[[AutonomyChange], Awaitable[None]],
    ) -> None:
        """Append each change not yet in the ledger, and `announce` it (an Event) once it is
        there; an append that fails raises, after the changes before it were announced."""
        async with self._lock:
            for change in changes:
                key = autonomy_key(change)
                if key in self._recorded:
                    continue
                try:
                    entry = await asyncio.to_thread(
                        ledger.append, "autonomy.changed", subject, change.ledger_data(), key
                    )
                except Exception as e:
                    health.failed(e)
                    raise
                health.recorded()
                self._recorded.add(key)
                news = AutonomyChanged.from_entry(entry.model_dump(mode="json"))
                if news is not None:
                    self._news = [*self._news[-(NEWS_KEPT - 1) :], news]
                await announce(change)

    def news(self) -> list[AutonomyChanged]:
        """The latest autonomy changes, oldest first (the Notifier decides what is still news)."""
        return list(self._news)
