"""What one Prometheus instant query gave: a value, no data, an error, or no Prometheus at all.

Kept as plain frozen values so that evaluation stays pure: the I/O edge (prometheus.py) produces
them, the detector consumes them, and tests build them by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Value:
    """A finite number: the only kind of sample that can pass or breach a threshold."""

    value: float


@dataclass(frozen=True)
class NoData:
    """An empty result, or NaN/±Inf: never a pass, never a crash, its own state."""

    reason: str = "query returned no data"


@dataclass(frozen=True)
class Error:
    """Prometheus answered but refused or failed the query; `message` is Prometheus's own."""

    message: str


@dataclass(frozen=True)
class Unreachable:
    """Prometheus could not be asked at all (connection refused, timeout, DNS, TLS)."""

    message: str


Sample = Value | NoData | Error | Unreachable


def sample_of(number: float | None) -> Value | NoData:
    """A finite float becomes a Value; None, NaN and ±Inf become NoData naming what they were."""
    if number is None:
        return NoData()
    if math.isnan(number):
        return NoData("query returned NaN")
    if math.isinf(number):
        return NoData(f"query returned {'+' if number > 0 else '-'}Inf")
    return Value(float(number))
