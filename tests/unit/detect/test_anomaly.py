"""The online anomaly detector: flags what a human would call unusual, not steady noise."""

from __future__ import annotations

import random

from grace.detect.anomaly import AnomalyDetector


def noise(n: int, seed: int = 1, level: float = 100.0, sigma: float = 2.0) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(level, sigma) for _ in range(n)]


def test_steady_noise_is_not_anomalous() -> None:
    det = AnomalyDetector()
    det.warm_up(noise(120))
    flagged = 0
    for v in noise(500, seed=2):
        score = det.observe(v)
        assert 0.0 <= score <= 1.0
        flagged += det.is_anomaly
    assert flagged == 0


def test_obvious_spike_is_flagged_and_clears() -> None:
    det = AnomalyDetector()
    det.warm_up(noise(120))
    score = det.observe(160.0)  # 30 sigma
    assert score > 0.9
    assert det.is_anomaly
    det.observe(100.0)
    assert not det.is_anomaly


def test_level_shift_is_flagged() -> None:
    det = AnomalyDetector()
    det.warm_up(noise(120))
    shifted = [v + 12.0 for v in noise(20, seed=3)]  # +6 sigma, persisting
    flags = []
    for v in shifted:
        det.observe(v)
        flags.append(det.is_anomaly)
    assert any(flags[:10])


def test_slow_drift_is_flagged() -> None:
    det = AnomalyDetector()
    det.warm_up(noise(240))
    flags = []
    for i, v in enumerate(noise(80, seed=4)):
        det.observe(v + 0.25 * i)  # +10 sigma over 80 samples
        flags.append(det.is_anomaly)
    assert any(flags)


def test_no_score_before_enough_history_and_flat_series_is_finite() -> None:
    det = AnomalyDetector()
    assert det.observe(5.0) == 0.0
    flat = AnomalyDetector()
    flat.warm_up([0.0] * 60)
    assert flat.score(0.0) == 0.0
    assert flat.score(0.5) > 0.99  # an error rate that was exactly 0 and is not any more


def test_warm_up_skips_non_finite_values() -> None:
    det = AnomalyDetector()
    det.warm_up([float("nan"), float("inf"), *noise(30)])
    assert len(det) == 30
