"""Success rates over sliding windows, as HealthNode status reports them.

A window of length w at time `now` holds the outcomes with ``now - w < at <= now``: an outcome
exactly 24 h old has left the 24 h window, one stamped `now` is in it, and one stamped after
`now` (clock skew between replicas) is in no window yet. Only real runs count here; dry runs
are shadow evidence and never make a reported rate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from grace.learn.outcome import Outcome, as_utc

DAY: Final = timedelta(hours=24)
WEEK: Final = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Tally:
    attempts: int = 0
    successes: int = 0

    @property
    def failures(self) -> int:
        return self.attempts - self.successes

    @property
    def rate(self) -> float | None:
        """None, not 0, when nothing was tried: no evidence is not bad evidence."""
        return self.successes / self.attempts if self.attempts else None


def in_window(at: datetime, now: datetime, window: timedelta) -> bool:
    return now - window < at <= now


def tally(
    outcomes: Iterable[Outcome],
    now: datetime,
    window: timedelta | None = None,
    *,
    dry_run: bool = False,
) -> Tally:
    """Attempts and successes up to `now` (within `window` when given) of real or of dry runs."""
    now = as_utc(now)
    attempts = successes = 0
    for outcome in outcomes:
        if outcome.dry_run != dry_run or outcome.at > now:
            continue
        if window is not None and not in_window(outcome.at, now, window):
            continue
        attempts += 1
        successes += outcome.success
    return Tally(attempts, successes)


def success_rate(outcomes: Iterable[Outcome], now: datetime, window: timedelta) -> float | None:
    return tally(outcomes, now, window).rate
