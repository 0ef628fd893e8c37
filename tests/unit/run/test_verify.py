"""Verification reaches one of four outcomes; missing data is never mistaken for a pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from grace.api.healthnode import Signal
from grace.api.mission import Verification, VerificationOutcome
from grace.api.playbook import Verify
from grace.run.verify import NoData, QueryError, Reading, evaluate

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SIGNALS = [
    Signal.model_validate(
        {
            "name": "error-rate",
            "query": "q1",
            "degraded": {"above": 0.02},
            "critical": {"above": 0.1},
        }
    ),
    Signal.model_validate({"name": "throughput", "query": "q2", "degraded": {"below": 100}}),
]


def run(
    verify: dict[str, Any],
    samples: Sequence[tuple[float, Mapping[str, Reading] | None]],
    baseline: dict[str, float] | None = None,
) -> list[Verification]:
    """Feed samples at (seconds after T0, values); returns every intermediate state."""
    spec = Verify.model_validate(verify)
    state: Verification | None = None
    states = []
    for at, values in samples:
        state = evaluate(state, spec, SIGNALS, values, baseline or {}, T0 + timedelta(seconds=at))
        states.append(state)
    return states


OK: dict[str, Reading] = {"error-rate": 0.01, "throughput": 150.0}
BAD: dict[str, Reading] = {"error-rate": 0.05, "throughput": 150.0}


def test_checks_that_hold_pass_at_once_without_stable_for() -> None:
    [v] = run({"checks": [{"signal": "error-rate", "below": 0.02}]}, [(0, OK)])
    assert v.outcome is VerificationOutcome.PASSED
    [check] = v.checks
    assert (check.signal, check.expected, check.observed, check.passed) == (
        "error-rate",
        "< 0.02",
        0.01,
        True,
    )


def test_stable_for_needs_the_checks_to_hold_continuously() -> None:
    verify = {"stableFor": "1m", "timeout": "5m"}
    states = run(verify, [(0, OK), (30, OK), (45, BAD), (60, OK), (90, OK), (120, OK)])
    assert [s.outcome for s in states[:5]] == [None] * 5
    assert states[2].passing_since is None
    assert states[3].passing_since == T0 + timedelta(seconds=60)
    assert states[5].outcome is VerificationOutcome.PASSED


def test_more_failures_than_the_limit_fail() -> None:
    states = run({"failureLimit": 2}, [(0, BAD), (15, BAD), (30, BAD)])
    assert [s.outcome for s in states] == [None, None, VerificationOutcome.FAILED]
    assert states[-1].failures == 3
    assert "failureLimit 2" in (states[-1].message or "")


def test_default_checks_are_every_signal_back_below_its_first_threshold() -> None:
    [v] = run({}, [(0, {"error-rate": 0.03, "throughput": 150.0})])
    assert [(c.signal, c.expected, c.passed) for c in v.checks] == [
        ("error-rate", "<= 0.02 (degraded threshold)", False),
        ("throughput", ">= 100 (degraded threshold)", True),
    ]
    assert v.failures == 1


def test_below_baseline_is_relative_to_the_pre_run_value() -> None:
    verify = {"checks": [{"signal": "error-rate", "belowBaseline": "+10%"}], "failureLimit": 0}
    [ok] = run(verify, [(0, {"error-rate": 0.54})], baseline={"error-rate": 0.5})
    assert ok.outcome is VerificationOutcome.PASSED
    assert ok.checks[0].expected == "<= 0.55 (baseline 0.5 +10%)"
    assert ok.checks[0].baseline == 0.5
    [bad] = run(verify, [(0, {"error-rate": 0.56})], baseline={"error-rate": 0.5})
    assert bad.outcome is VerificationOutcome.FAILED


def test_above_baseline_allows_a_bounded_drop() -> None:
    verify = {"checks": [{"signal": "throughput", "aboveBaseline": "-20%"}]}
    [v] = run(verify, [(0, {"throughput": 81.0})], baseline={"throughput": 100.0})
    assert v.outcome is VerificationOutcome.PASSED and v.checks[0].expected.startswith(">= 80")


def test_no_data_until_the_timeout_is_no_data_never_a_pass() -> None:
    verify = {"timeout": "1m", "interval": "20s"}
    empty: dict[str, Reading] = {"error-rate": NoData(), "throughput": float("nan")}
    states = run(verify, [(0, empty), (20, empty), (40, empty), (60, None)])
    assert [s.outcome for s in states[:3]] == [None, None, None]
    assert states[-1].outcome is VerificationOutcome.NO_DATA
    assert all(c.passed is None and c.observed is None for c in states[-1].checks)


def test_a_query_error_is_no_data_and_says_why() -> None:
    [v] = run({}, [(0, {"error-rate": QueryError("connection refused"), "throughput": 150.0})])
    assert v.outcome is None and v.failures == 0
    assert "error-rate: query error: connection refused" in (v.message or "")


def test_a_timeout_without_any_sample_is_no_data() -> None:
    [_, v] = run({"timeout": "30s"}, [(0, None), (30, None)])
    assert v.outcome is VerificationOutcome.NO_DATA


def test_data_that_neither_passes_nor_fails_in_time_is_inconclusive() -> None:
    verify = {"timeout": "1m", "stableFor": "50s", "failureLimit": 5}
    states = run(verify, [(0, OK), (20, BAD), (40, OK), (60, OK)])
    assert states[-1].outcome is VerificationOutcome.INCONCLUSIVE
    assert states[-1].finished_at == T0 + timedelta(seconds=60)


def test_a_missing_baseline_cannot_pass_a_relative_check() -> None:
    verify = {"checks": [{"signal": "error-rate", "belowBaseline": "+10%"}], "timeout": "10s"}
    states = run(verify, [(0, OK), (10, None)])
    assert states[0].checks[0].passed is None
    assert states[-1].outcome is VerificationOutcome.NO_DATA
