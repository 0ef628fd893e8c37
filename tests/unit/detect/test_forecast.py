"""The short-horizon forecaster: predicts a ramp's breach, not a breach out of noise."""

from __future__ import annotations

import random

import pytest

from grace.api.healthnode import Threshold
from grace.detect.forecast import Forecaster

CRITICAL = Threshold(above=0.10)


def test_linear_ramp_breach_is_predicted() -> None:
    f = Forecaster(interval_seconds=15, horizon_seconds=600)
    for i in range(20):  # +0.001 per 15s: 0.019 now, 0.059 in 10 minutes
        f.learn(0.001 * i, at=15.0 * i)
    fc = f.forecast()
    assert fc is not None
    assert fc.value == pytest.approx(0.019 + 0.040, rel=1e-6)
    assert not f.predicted_breach(CRITICAL)
    for i in range(20, 80):  # 0.079 now, 0.119 in 10 minutes
        f.learn(0.001 * i, at=15.0 * i)
    assert f.predicted_breach(CRITICAL)


def test_falling_ramp_breaches_a_below_threshold() -> None:
    f = Forecaster(interval_seconds=10, horizon_seconds=300)
    f.warm_up((10.0 * i, 1.0 - 0.01 * i) for i in range(30))
    assert f.predicted_breach(Threshold(below=0.5))
    assert not f.predicted_breach(Threshold(below=0.2))


def test_noisy_flat_series_predicts_no_breach() -> None:
    rng = random.Random(3)
    f = Forecaster(interval_seconds=15, horizon_seconds=600)
    predicted = 0
    for i in range(500):
        f.learn(0.05 + rng.gauss(0, 0.01), at=15.0 * i)
        predicted += f.predicted_breach(CRITICAL)  # 5 sigma above the mean
    assert predicted == 0


def test_needs_a_few_samples_and_ignores_repeats() -> None:
    f = Forecaster(interval_seconds=15, horizon_seconds=60)
    for i in range(3):
        f.learn(float(i), at=15.0 * i)
    assert f.forecast() is None
    f.learn(99.0, at=30.0)  # the same timestamp again: ignored
    assert len(f) == 3
    assert not f.predicted_breach(CRITICAL)


def test_rejects_nonsense_interval() -> None:
    with pytest.raises(ValueError, match="interval"):
        Forecaster(interval_seconds=0, horizon_seconds=60)
