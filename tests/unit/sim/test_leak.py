"""Gradual faults: leaks that cross a threshold and near-misses that climb alike and stop short."""

from __future__ import annotations

import math

import pytest
from kubernetes import client

from grace_lab.sim import Leak, ShopExporter, gradual_faults
from grace_lab.sim.model import MIB, SHOP_PROFILES

BASE, THRESHOLD = 192 * MIB, 384 * MIB


def test_a_leak_climbs_steadily_from_when_it_began_and_stops_at_its_cap() -> None:
    cache = Leak(bytes_per_second=MIB, cap_bytes=30 * MIB)
    assert cache.leaked(-5) == 0
    assert cache.leaked(10) == 10 * MIB
    assert cache.leaked(30) == cache.leaked(3600) == 30 * MIB
    assert cache.reaches(20 * MIB) == 20
    assert cache.reaches(31 * MIB) is None  # the cap stops it short
    assert Leak(MIB).leaked(1e6) == 1e6 * MIB  # a true leak never stops


def test_a_leak_does_not_shrink() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        Leak(bytes_per_second=-1.0)


def test_breaching_faults_cross_the_threshold_when_planned_and_overshoot_it() -> None:
    faults = gradual_faults(
        5, 0, base=BASE, threshold=THRESHOLD, seconds_to_threshold=(20, 40), overshoot=1.5
    )
    assert [f.seconds_to_threshold for f in faults] == [20, 25, 30, 35, 40]
    for f in faults:
        assert f.breaches
        assert f.leak.reaches(THRESHOLD - BASE) == pytest.approx(f.seconds_to_threshold)
        assert BASE + f.leak.cap_bytes == pytest.approx(BASE + 1.5 * (THRESHOLD - BASE))


def test_near_misses_climb_like_leaks_and_level_off_below_the_threshold() -> None:
    faults = gradual_faults(
        4,
        4,
        base=BASE,
        threshold=THRESHOLD,
        seconds_to_threshold=(20, 40),
        near_miss_peaks=(0.75, 0.9),
    )
    leaks = [f for f in faults if f.breaches]
    misses = [f for f in faults if not f.breaches]
    assert len(leaks) == len(misses) == 4
    # the same spread of speeds: until it stops, a near-miss is indistinguishable from a leak
    assert sorted(f.leak.bytes_per_second for f in misses) == pytest.approx(
        sorted(f.leak.bytes_per_second for f in leaks)
    )
    for f in misses:
        peak = BASE + f.leak.leaked(math.inf)
        assert peak < THRESHOLD
        assert f.leak.reaches(THRESHOLD - BASE) is None
        assert 0.75 <= f.peak_fraction <= 0.9
    for f in leaks:
        assert f.headroom_seconds == 0
    # headroom: what the near-miss would still have needed at its rate when it stopped
    for f in misses:
        stopped = f.leak.cap_bytes / f.leak.bytes_per_second
        assert stopped + f.headroom_seconds == pytest.approx(f.seconds_to_threshold)
    # the fastest climb stops closest to the threshold: the hardest case is in every plan
    fastest = max(misses, key=lambda f: f.leak.bytes_per_second)
    assert fastest.peak_fraction == pytest.approx(0.9)


def test_one_fault_of_a_kind_takes_the_low_end_of_each_range() -> None:
    (leak, miss) = gradual_faults(1, 1, base=0, threshold=100, seconds_to_threshold=(10, 50))
    assert leak.seconds_to_threshold == miss.seconds_to_threshold == 10
    assert miss.peak_fraction == 0.75


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": BASE}, "above the base"),
        ({"seconds_to_threshold": (0, 10)}, "positive"),
        ({"seconds_to_threshold": (30, 10)}, "positive"),
        ({"near_miss_peaks": (0.8, 1.0)}, "below 1"),
        ({"overshoot": 1.0}, "overshoot"),
    ],
)
def test_plans_that_cannot_be_raced_are_refused(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "base": BASE,
        "threshold": THRESHOLD,
        "seconds_to_threshold": (20, 40),
    } | kwargs
    with pytest.raises(ValueError, match=message):
        gradual_faults(2, 2, **args)  # type: ignore[arg-type]


def test_the_exporter_adds_the_leak_to_the_services_working_set() -> None:
    exporter = ShopExporter(client.ApiClient(), seed=3)
    need = SHOP_PROFILES["checkout"].memory_need_bytes
    noise = SHOP_PROFILES["checkout"].noise
    before = exporter.working_set_bytes("shop", "checkout")
    assert need * (1 - noise) <= before <= need * (1 + noise)
    since = 1000.0
    exporter.set_leak("shop", "checkout", Leak(MIB, cap_bytes=50 * MIB), began=since)
    assert exporter.working_set_bytes("shop", "checkout", since - 1) == before
    assert exporter.working_set_bytes("shop", "checkout", since + 10) == pytest.approx(
        before + 10 * MIB
    )
    assert exporter.working_set_bytes("shop", "checkout", since + 500) == pytest.approx(
        before + 50 * MIB
    )
    assert exporter.working_set_bytes("shop", "payments-db", since + 10) < 641 * MIB * (1 + noise)
    exporter.set_leak("shop", "checkout", None)
    assert exporter.working_set_bytes("shop", "checkout", since + 10) == before
