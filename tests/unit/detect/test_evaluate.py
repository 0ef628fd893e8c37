"""Signal evaluation: thresholds, `for` hysteresis, missing data, phase, conditions, writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from grace.api.common import Condition, find_condition
from grace.api.healthnode import (
    HealthNodeSpec,
    HealthNodeStatus,
    Phase,
    Signal,
    SignalState,
    SignalStatus,
)
from grace.detect.evaluate import (
    ConditionFacts,
    SignalEvaluation,
    SignalMemory,
    WritePolicy,
    evaluate_signal,
    node_conditions,
    node_phase,
)
from grace.detect.sample import Error, NoData, Sample, Unreachable, Value, sample_of

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

OK = SignalState.OK
DEGRADED = SignalState.DEGRADED
CRITICAL = SignalState.CRITICAL


def signal(**extra: Any) -> Signal:
    body: dict[str, Any] = {
        "name": "error-rate",
        "query": "sum(rate(errors[1m]))",
        "degraded": {"above": 0.02},
        "critical": {"above": 0.10},
        "for": "30s",
    }
    body.update(extra)
    return Signal.model_validate(body)


def run(
    sig: Signal,
    samples: Sequence[Sample | float],
    step: float = 10.0,
    start: SignalStatus | None = None,
) -> list[SignalEvaluation]:
    """Feed samples every `step` seconds from T0, threading status and memory like the Detector."""
    out: list[SignalEvaluation] = []
    status, memory = start, None
    for i, s in enumerate(samples):
        sample = s if isinstance(s, Value | NoData | Error | Unreachable) else Value(float(s))
        ev = evaluate_signal(sig, status, sample, T0 + timedelta(seconds=i * step), memory)
        status, memory = ev.status, ev.memory
        out.append(ev)
    return out


def states(evs: Sequence[SignalEvaluation]) -> list[SignalState]:
    return [e.status.state for e in evs]


def test_ok_value_settles_at_once_on_a_new_signal() -> None:
    (ev,) = run(signal(), [0.01])
    assert ev.status.state is OK
    assert ev.status.value == 0.01
    assert ev.status.since == T0


def test_breach_shorter_than_for_does_not_change_state() -> None:
    # OK, then 20s above critical (< for: 30s), then back to OK.
    evs = run(signal(), [0.0, 0.5, 0.5, 0.5, 0.0, 0.0])
    assert states(evs) == [OK] * 6
    assert "Critical (above 0.1) pending since" in (evs[2].status.message or "")
    assert evs[5].status.message is None


def test_breach_longer_than_for_changes_state_and_since_is_breach_start() -> None:
    evs = run(signal(), [0.0, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert states(evs) == [OK, OK, OK, OK, CRITICAL, CRITICAL]
    assert evs[4].status.since == T0 + timedelta(seconds=10)  # when the breach began


def test_recovery_also_respects_for() -> None:
    evs = run(signal(), [0.5] * 5 + [0.0] * 5)
    # settles Critical at t=30s; OK from t=50s must hold until t=80s
    assert states(evs) == [SignalState.PENDING] * 3 + [CRITICAL] * 5 + [OK] * 2
    assert evs[2].status.since == T0  # a first breach waits as Pending, since it began
    assert evs[8].status.since == T0 + timedelta(seconds=50)
    assert "back within thresholds" in (evs[6].status.message or "")


def test_flapping_value_keeps_its_settled_state() -> None:
    evs = run(signal(), [0.0] + [0.5, 0.0] * 10)
    assert set(states(evs)) == {OK}


def test_critical_to_degraded_needs_for_and_degraded_run_counts_from_first_breach() -> None:
    # 0.05 (degraded) at 10s, 0.5 (critical) at 20s..: at least Degraded since 10s.
    evs = run(signal(), [0.0, 0.05, 0.5, 0.5, 0.05])
    assert states(evs) == [OK, OK, OK, OK, DEGRADED]
    assert evs[4].status.since == T0 + timedelta(seconds=10)


def test_for_zero_applies_immediately() -> None:
    evs = run(signal(**{"for": "0s"}), [0.0, 0.05, 0.5, 0.0])
    assert states(evs) == [OK, DEGRADED, CRITICAL, OK]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.5, CRITICAL), (0.05, DEGRADED), (0.1, DEGRADED), (0.02, OK), (0.0, OK)],
)
def test_above_thresholds(value: float, expected: SignalState) -> None:
    (ev,) = run(signal(**{"for": "0s"}), [value])
    assert ev.status.state is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.5, CRITICAL), (0.85, DEGRADED), (0.6, DEGRADED), (0.95, OK), (1.0, OK)],
)
def test_below_thresholds(value: float, expected: SignalState) -> None:
    sig = signal(degraded={"below": 0.95}, critical={"below": 0.6}, **{"for": "0s"})
    (ev,) = run(sig, [value])
    assert ev.status.state is expected


def test_only_critical_threshold() -> None:
    sig = Signal.model_validate(
        {"name": "up", "query": "up", "critical": {"below": 1}, "for": "0s"}
    )
    assert states(run(sig, [1.0, 0.0])) == [OK, CRITICAL]


@pytest.mark.parametrize(
    ("sample", "state", "text"),
    [
        (sample_of(float("nan")), SignalState.NO_DATA, "NaN"),
        (sample_of(float("inf")), SignalState.NO_DATA, "+Inf"),
        (sample_of(float("-inf")), SignalState.NO_DATA, "-Inf"),
        (sample_of(None), SignalState.NO_DATA, "no data"),
        (Error("1:5: parse error: unexpected"), SignalState.ERROR, "parse error"),
        (Unreachable("connection refused"), SignalState.ERROR, "Prometheus unreachable"),
    ],
)
def test_missing_data_is_its_own_state_and_never_passes(
    sample: Sample, state: SignalState, text: str
) -> None:
    evs = run(signal(), [0.0, sample])
    assert evs[1].status.state is state
    assert evs[1].status.value is None
    assert text in (evs[1].status.message or "")
    assert node_phase([evs[1].status.state]) is Phase.UNKNOWN


def test_short_gap_neither_resets_nor_shortcuts_hysteresis() -> None:
    sig = signal()
    evs = run(sig, [0.5] * 5 + [NoData()] + [0.0] * 2)
    assert states(evs)[3:] == [CRITICAL, CRITICAL, SignalState.NO_DATA, CRITICAL, CRITICAL]
    # and a breach resumes as the settled level at once after a blip
    evs = run(sig, [0.5] * 5 + [NoData()] + [0.5])
    assert states(evs)[-1] is CRITICAL


def test_long_gap_forgets_the_settled_level() -> None:
    evs = run(signal(), [0.5] * 5 + [NoData()] * 5 + [0.0])
    assert states(evs)[-1] is OK  # nothing left to recover from: OK at once


def test_restart_rebuilds_from_status_and_pending_restarts() -> None:
    sig = signal()
    stored = SignalStatus(name=sig.name, value=0.5, state=CRITICAL, since=T0)
    # value back to OK right after the restart: still Critical until OK held for 30s
    evs = run(sig, [0.0, 0.0, 0.0, 0.0], start=stored)
    assert states(evs) == [CRITICAL, CRITICAL, CRITICAL, OK]
    assert SignalMemory.from_status(stored).settled is CRITICAL


def test_phase_precedence() -> None:
    assert node_phase([OK, OK]) is Phase.HEALTHY
    assert node_phase([OK, DEGRADED]) is Phase.DEGRADED
    assert node_phase([DEGRADED, CRITICAL, OK]) is Phase.CRITICAL
    assert node_phase([CRITICAL, SignalState.NO_DATA]) is Phase.UNKNOWN
    assert node_phase([OK, SignalState.ERROR]) is Phase.UNKNOWN
    assert node_phase([OK, SignalState.PENDING]) is Phase.UNKNOWN
    assert node_phase([]) is Phase.UNKNOWN


def conditions_for(
    samples: dict[str, Sample], previous: Sequence[Condition] = (), **facts: Any
) -> list[Condition]:
    evs = [
        evaluate_signal(signal(name=name, **{"for": "0s"}), None, s, T0)
        for name, s in samples.items()
    ]
    phase = node_phase(e.status.state for e in evs)
    return node_conditions(previous, evs, phase, T0, ConditionFacts(generation=3, **facts))


def cond(conditions: Sequence[Condition], type_: str) -> Condition:
    c = find_condition(list(conditions), type_)
    assert c is not None, f"no {type_} condition in {[x.type for x in conditions]}"
    return c


def test_conditions_when_healthy() -> None:
    cs = conditions_for({"a": Value(0.0), "b": Value(0.01)})
    assert cond(cs, "Ready").status == "True"
    assert cond(cs, "Ready").observed_generation == 3
    assert cond(cs, "SignalsAvailable").status == "True"
    assert {c.type for c in cs} == {"Ready", "SignalsAvailable"}


def test_conditions_when_critical_name_the_signal_and_threshold() -> None:
    cs = conditions_for({"a": Value(0.5), "b": Value(0.0)})
    ready = cond(cs, "Ready")
    assert (ready.status, ready.reason) == ("False", "Critical")
    assert "a Critical (above 0.1) since 2025-01-01T12:00:00Z" in ready.message


def test_conditions_carry_prometheus_error_and_stall() -> None:
    err = "1:4: parse error: unexpected end of input inside braces"
    cs = conditions_for({"a": Error(err), "b": NoData()})
    avail = cond(cs, "SignalsAvailable")
    assert (avail.status, avail.reason) == ("False", "QueryError")
    assert f"a: {err}" in avail.message
    assert "b: query returned no data" in avail.message
    assert cond(cs, "Stalled").status == "True"
    assert err in cond(cs, "Stalled").message
    assert cond(cs, "Ready").status == "Unknown"


def test_conditions_when_prometheus_unreachable() -> None:
    down = Unreachable("cannot connect to http://prom:9090: Connection refused")
    cs = conditions_for({"a": down, "b": down}, interval="15s")
    avail = cond(cs, "SignalsAvailable")
    assert (avail.status, avail.reason) == ("False", "PrometheusUnreachable")
    assert "Connection refused" in avail.message
    assert cond(cs, "Reconciling").reason == "PrometheusUnreachable"
    assert find_condition(cs, "Stalled") is None


def test_abnormal_conditions_are_removed_when_they_stop_applying() -> None:
    bad = conditions_for({"a": Error("parse error")})
    good = conditions_for({"a": Value(0.0)}, previous=bad)
    assert find_condition(good, "Stalled") is None
    assert cond(good, "Ready").status == "True"


def test_predicted_breach_and_anomaly_conditions() -> None:
    cs = conditions_for(
        {"a": Value(0.0)}, predicted_breaches=["a: forecast to cross"], anomalies=[]
    )
    assert cond(cs, "PredictedBreach").status == "True"
    assert cond(cs, "AnomalyDetected").status == "False"
    none = conditions_for({"a": Value(0.0)})
    assert find_condition(none, "PredictedBreach") is None


def spec() -> HealthNodeSpec:
    return HealthNodeSpec.model_validate(
        {
            "target": {"kind": "Deployment", "name": "checkout"},
            "interval": "15s",
            "signals": [signal().model_dump(by_alias=True)],
        }
    )


def status(value: float | None, at: datetime, **signal_fields: Any) -> HealthNodeStatus:
    s = SignalStatus(name="error-rate", value=value, state=OK, since=T0, **signal_fields)
    return HealthNodeStatus(phase=Phase.HEALTHY, signals=[s], last_evaluated=at)


def test_write_policy_ignores_jitter_but_not_changes() -> None:
    policy = WritePolicy()
    stored = status(0.001, T0)
    later = T0 + timedelta(seconds=15)
    # 0.001 -> 0.0015 is +50% but tiny against the 0.02 threshold: not worth a write
    assert not policy.worth_writing(stored, status(0.0015, later), spec())
    assert policy.worth_writing(stored, status(0.01, later), spec())
    moved = stored.model_copy(update={"phase": Phase.DEGRADED})
    assert policy.worth_writing(stored, moved, spec())
    assert policy.worth_writing(stored, status(None, later), spec())
    assert policy.worth_writing(stored, status(0.001, later, anomaly_score=0.9), spec())


def test_write_policy_refreshes_a_stale_status() -> None:
    policy = WritePolicy(max_stale_intervals=4)
    stored = status(0.001, T0)
    assert not policy.worth_writing(stored, status(0.001, T0 + timedelta(seconds=45)), spec())
    assert policy.worth_writing(stored, status(0.001, T0 + timedelta(seconds=60)), spec())
