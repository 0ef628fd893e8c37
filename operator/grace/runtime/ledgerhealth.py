"""Whether the ledger takes entries: told by every append, read by the Notifier.

In memory only, on purpose: what a human was told about a failing ledger is recorded in the
cluster (grace.notify.record's episode), and a restarted operator learns the ledger's health
again from its next append.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass
class LedgerHealth:
    failing: tuple[dt.datetime, str] | None = None
    """(since when, why) while appends fail; None once one works."""

    def failed(self, error: BaseException, now: dt.datetime | None = None) -> None:
        if self.failing is None:
            why = f"the ledger cannot be extended: {error}"[:1024]
            self.failing = (now or dt.datetime.now(dt.UTC), why)

    def recorded(self) -> None:
        self.failing = None
