"""Gradual faults for the simulated shop: a memory leak that climbs, or a cache that fills up.

A bad release is over its threshold within one rate window; a leak takes minutes, and that is
the fault a forecast can act on before any threshold or alert rule fires. To judge a forecast
honestly it also needs the faults that look the same for a while and never breach: a cache
that grows at a leak's pace and levels off just below the threshold (a near-miss). Both are
the same shape, a straight climb from the service's usual working set that stops at a cap.

Pure: the exporter (`ShopExporter.set_leak`) adds `Leak.leaked(seconds since it began)` to the
service's working set, and the detection benchmark plans its race with `gradual_faults`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Leak:
    """Memory a service gains at a steady rate until it has gained `cap_bytes`."""

    bytes_per_second: float
    cap_bytes: float = math.inf
    """Where the growth stops (a cache's cap); infinite for a true leak."""

    def __post_init__(self) -> None:
        if self.bytes_per_second < 0 or self.cap_bytes < 0:
            raise ValueError("a leak grows: rate and cap must not be negative")

    def leaked(self, seconds: float) -> float:
        """Bytes gained `seconds` after the leak began (0 before it began)."""
        return min(max(seconds, 0.0) * self.bytes_per_second, self.cap_bytes)

    def reaches(self, level: float) -> float | None:
        """Seconds until `level` bytes have leaked; None when the cap stops it short."""
        if level <= 0:
            return 0.0
        if level > self.cap_bytes or self.bytes_per_second <= 0:
            return None
        return level / self.bytes_per_second


@dataclass(frozen=True)
class GradualFault:
    """One planned leak on a service whose working set is `base` with a `threshold` above."""

    leak: Leak
    breaches: bool
    """Whether the working set ever goes past the threshold (False: a near-miss)."""
    seconds_to_threshold: float
    """When it crosses, for a breaching fault; for a near-miss, when it would have at its rate."""
    peak_fraction: float
    """Where it levels off, as a fraction of the way from the base to the threshold."""

    @property
    def headroom_seconds(self) -> float:
        """How long a near-miss, when it levels off, would still have needed to breach at its
        rate (0 for a breaching fault). A forecast looking further ahead than this sees the
        breach coming, and cannot know that the climb is about to stop."""
        return max(1.0 - self.peak_fraction, 0.0) * self.seconds_to_threshold


def gradual_faults(
    breaching: int,
    near_misses: int,
    *,
    base: float,
    threshold: float,
    seconds_to_threshold: tuple[float, float],
    near_miss_peaks: tuple[float, float] = (0.75, 0.9),
    overshoot: float = 1.5,
) -> list[GradualFault]:
    """Leaks spread evenly over a range of speeds, and near-misses climbing at the same speeds.

    Breaching faults cross `threshold` after a time spread over `seconds_to_threshold` and level
    off at `overshoot` times the distance from base to threshold. Near-misses climb at the same
    spread of rates and level off between `near_miss_peaks` of that distance: until they stop
    they look exactly like a leak, which is what makes them a fair test of a forecast.
    Deterministic, so two runs race the same faults.
    """
    if threshold <= base:
        raise ValueError("the threshold must be above the base working set")
    low, high = seconds_to_threshold
    if not 0 < low <= high:
        raise ValueError("seconds_to_threshold must be a positive (low, high) range")
    if not 0 < near_miss_peaks[0] <= near_miss_peaks[1] < 1:
        raise ValueError("near-miss peaks must be fractions below 1")
    if overshoot <= 1:
        raise ValueError("a breaching fault must overshoot the threshold (overshoot > 1)")
    distance = threshold - base

    def spread(lo: float, hi: float, n: int, i: int) -> float:
        return lo if n <= 1 else lo + (hi - lo) * i / (n - 1)

    faults = []
    for i in range(breaching):
        seconds = spread(low, high, breaching, i)
        leak = Leak(distance / seconds, overshoot * distance)
        faults.append(GradualFault(leak, True, seconds, overshoot))
    for i in range(near_misses):
        seconds = spread(low, high, near_misses, i)
        # fastest climbs stop closest to the threshold: the hardest cases for a forecast
        peak = spread(near_miss_peaks[0], near_miss_peaks[1], near_misses, near_misses - 1 - i)
        leak = Leak(distance / seconds, peak * distance)
        faults.append(GradualFault(leak, False, seconds, peak))
    return faults
