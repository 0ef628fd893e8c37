"""Which PromQL queries can be shared: the pure decisions behind `PrometheusSource`'s sharing.

Many HealthNodes often ask the very same question (a fleet template: every node's error-rate
reads the same series), each every interval. An instant query's answer depends only on its text
and its evaluation time, so the same text evaluated at (nearly) the same moment is the same
answer: one request serves every node that asks within a short window, exactly as if each had
asked itself a moment earlier. Detection loops are aligned to a grid of their interval (like
Prometheus aligns the evaluations of a rule group), so nodes with the same interval ask in the
same instant and the window can stay a small fraction of the interval.

Verification (a Mission checking its effect) never shares: it asks fresh, `max_age = 0`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from grace.detect.sample import Sample

SHARE_FRACTION = 0.5
"""A result stays shareable for this fraction of the asking node's interval."""

MAX_SHARE_SECONDS = 10.0
"""...and never longer than this, however long the interval."""


@dataclass(frozen=True)
class Fetched:
    """One answer as Prometheus gave it, and when the request was sent (monotonic seconds)."""

    sample: Sample
    asked_at: float


def share_window(interval: float) -> float:
    """How old a shared answer may be for a node with this interval (seconds)."""
    return min(interval * SHARE_FRACTION, MAX_SHARE_SECONDS)


def share_age(interval: float, woken: bool) -> float:
    """How old a shared answer may be for one evaluation of a node with this interval.

    None at all when the loop was woken (an Alertmanager webhook said the alert changed): the
    node's own answer from its last tick, a few seconds old, is exactly what the news made
    stale, and reusing it would leave the node as it was until the next tick.
    """
    return 0.0 if woken else share_window(interval)


def reusable(fetched: Fetched | None, now: float, max_age: float) -> bool:
    """An answer can be handed out again when it was asked for at most `max_age` ago.

    `asked_at` (not when the answer arrived) is what counts: that is the moment Prometheus
    evaluated the query at, so the age bounds how far the shared answer lags a fresh one.
    """
    return fetched is not None and max_age > 0 and 0 <= now - fetched.asked_at <= max_age


def normalized(query: str) -> str:
    """The key under which identical queries meet: the text without surrounding whitespace.

    Only whitespace at the ends is dropped: anything inside may be meaningful (a label value),
    and two spellings of one expression are simply not shared.
    """
    return query.strip()


def until_next_tick(now: float, interval: float, minimum: float = 0.05) -> float:
    """Seconds from `now` (unix time) to the next multiple of `interval`: every loop with the
    same interval then evaluates in the same instant, wherever it started."""
    if interval <= 0:
        return minimum
    wait = math.ceil(now / interval) * interval - now
    if wait < minimum:
        wait += interval
    return wait


def requests_per_round(queries: Iterable[str]) -> tuple[int, int]:
    """(queries asked, requests sent) when one round's queries are shared: what sharing saves."""
    counted = Counter(normalized(q) for q in queries)
    return sum(counted.values()), len(counted)
