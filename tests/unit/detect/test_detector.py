"""The Detector end to end: samples in, the HealthNode status a user reads out."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from grace.api.common import Condition, find_condition
from grace.api.healthnode import HealthNode, HealthNodeStatus, Phase, SignalState
from grace.detect.detector import Detector
from grace.detect.graph import GraphNode, HealthGraph
from grace.detect.sample import Error, Sample, Unreachable, Value

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=15)


def healthnode(**signal_extra: Any) -> HealthNode:
    error_rate: dict[str, Any] = {
        "name": "error-rate",
        "query": 'sum(rate(http_requests_total{code=~"5.."}[1m]))',
        "degraded": {"above": 0.02},
        "critical": {"above": 0.10},
        "for": "30s",
        "anomaly": True,
        "forecast": "10m",
    }
    error_rate.update(signal_extra)
    return HealthNode.model_validate(
        {
            "metadata": {"name": "checkout", "namespace": "shop", "generation": 2},
            "spec": {
                "target": {"kind": "Deployment", "name": "checkout"},
                "dependsOn": ["payments"],
                "interval": "15s",
                "signals": [
                    error_rate,
                    {"name": "latency", "query": "p95", "degraded": {"above": 0.5}},
                ],
            },
        }
    )


def cond(status: HealthNodeStatus, type_: str) -> Condition:
    c = find_condition(status.conditions, type_)
    assert c is not None, f"no {type_} in {[x.type for x in status.conditions]}"
    return c


class Loop:
    """Drives a Detector the way the operator's timer does, storing every status it returns."""

    def __init__(self, node: HealthNode, detector: Detector | None = None) -> None:
        self.node = node
        self.detector = detector or Detector()
        self.now = T0
        self.writes = 0

    def tick(
        self, samples: Mapping[str, Sample], graph: HealthGraph | None = None
    ) -> HealthNodeStatus:
        new = self.detector.evaluate(self.node, samples, self.now, graph)
        if self.detector.worth_writing(self.node.status, new, self.node.spec):
            self.writes += 1
            self.node = self.node.model_copy(update={"status": new})
        self.now += STEP
        return new

    def values(self, error_rate: float, latency: float = 0.1) -> HealthNodeStatus:
        return self.tick({"error-rate": Value(error_rate), "latency": Value(latency)})


def test_healthy_node_status() -> None:
    loop = Loop(healthnode())
    status = loop.values(0.001)
    assert status.phase is Phase.HEALTHY
    assert [s.name for s in status.signals] == ["error-rate", "latency"]
    assert status.signals[0].value == 0.001
    assert status.signals[0].state is SignalState.OK
    assert status.last_evaluated == T0
    assert status.observed_generation == 2
    assert cond(status, "Ready").status == "True"
    assert cond(status, "AnomalyDetected").status == "False"
    assert cond(status, "PredictedBreach").status == "False"


def test_breach_goes_critical_after_for_and_survives_a_restart() -> None:
    loop = Loop(healthnode())
    loop.values(0.0)
    phases = [loop.values(0.5).phase for _ in range(4)]  # breach from T0+15s
    assert phases == [Phase.HEALTHY, Phase.HEALTHY, Phase.CRITICAL, Phase.CRITICAL]  # 30s at 15s
    assert cond(loop.node.status, "Ready").reason == "Critical"
    # a new operator process: nothing in memory, the stored status is the truth
    restarted = Loop(loop.node, Detector())
    restarted.now = loop.now
    assert restarted.values(0.0).phase is Phase.CRITICAL  # recovery must hold for 30s


def test_missing_sample_and_unreachable_make_the_node_unknown() -> None:
    loop = Loop(healthnode())
    loop.values(0.0)
    status = loop.tick({"error-rate": Value(0.0)})  # latency not sampled
    assert status.phase is Phase.UNKNOWN
    assert status.signals[1].state is SignalState.NO_DATA
    down = Unreachable("cannot connect to http://prom:9090: Connection refused")
    status = loop.tick({"error-rate": down, "latency": down})
    assert status.phase is Phase.UNKNOWN
    assert cond(status, "SignalsAvailable").reason == "PrometheusUnreachable"


def test_query_error_stalls_with_prometheus_message() -> None:
    loop = Loop(healthnode())
    msg = "1:10: parse error: unexpected end of input"
    status = loop.tick({"error-rate": Error(msg), "latency": Value(0.1)})
    assert status.phase is Phase.UNKNOWN
    assert status.signals[0].message == msg
    assert msg in cond(status, "Stalled").message


def test_forecast_predicts_critical_breach_of_a_ramp() -> None:
    loop = Loop(healthnode())
    status = loop.values(0.0)
    for i in range(1, 30):  # +0.002 per 15s: 0.058 now, ~0.138 in 10 minutes
        status = loop.values(0.002 * i)
    assert status.signals[0].forecast is not None
    assert status.signals[0].forecast > 0.10
    breach = cond(status, "PredictedBreach")
    assert breach.status == "True"
    assert "error-rate: forecast to cross critical (above 0.1) within 10m" in breach.message


def test_anomaly_after_warm_up_from_history() -> None:
    loop = Loop(healthnode())
    rng = random.Random(5)
    start = (T0 - timedelta(minutes=30)).timestamp()
    history = [(start + 15 * i, 0.01 + rng.gauss(0, 0.001)) for i in range(120)]
    assert loop.detector.history_needed(loop.node) == timedelta(hours=1)  # 240 samples at 15s
    loop.detector.warm_up(loop.node, {"error-rate": history})
    status = loop.values(0.011)
    assert status.signals[0].anomaly_score is not None
    assert status.signals[0].anomaly_score < 0.5
    assert cond(status, "AnomalyDetected").status == "False"
    status = loop.values(0.019)  # still OK by threshold, but 9 sigma above usual
    assert status.signals[0].state is SignalState.OK
    assert status.signals[0].anomaly_score is not None
    assert status.signals[0].anomaly_score > 0.5
    assert cond(status, "AnomalyDetected").status == "True"


def test_changed_query_starts_a_fresh_model() -> None:
    loop = Loop(healthnode())
    rng = random.Random(6)
    history = [(T0.timestamp() - 15 * (60 - i), rng.gauss(0.01, 0.001)) for i in range(60)]
    loop.detector.warm_up(loop.node, {"error-rate": history})
    warmed = loop.values(0.05).signals[0].anomaly_score
    assert warmed is not None
    assert warmed > 0.9  # 40 sigma above its history
    changed = healthnode(query="sum(rate(other_errors[1m]))")
    loop.node = changed.model_copy(update={"status": loop.node.status})
    assert loop.values(0.05).signals[0].anomaly_score == 0.0  # no history for the new query


def test_graph_sets_root_cause_and_graph_valid() -> None:
    loop = Loop(healthnode(**{"for": "0s"}))
    graph = HealthGraph(
        [GraphNode("checkout", ("payments",)), GraphNode("payments", (), Phase.CRITICAL, T0)]
    )
    status = loop.tick({"error-rate": Value(0.5), "latency": Value(0.1)}, graph)
    assert status.phase is Phase.CRITICAL
    assert status.root_cause == "payments"
    assert cond(status, "GraphValid").status == "True"
    missing = HealthGraph([GraphNode("checkout", ("payments",))])
    status = loop.tick({"error-rate": Value(0.5), "latency": Value(0.1)}, missing)
    assert status.root_cause is None
    assert cond(status, "GraphValid").message == (
        "checkout: dependsOn names missing HealthNode payments"
    )


def test_steady_signal_is_not_rewritten_every_interval() -> None:
    loop = Loop(healthnode())
    rng = random.Random(7)
    for _ in range(40):  # 10 minutes of jitter around a healthy value
        loop.values(0.005 + rng.gauss(0, 0.0001), 0.1 + rng.gauss(0, 0.001))
    assert loop.node.status.phase is Phase.HEALTHY
    # 40 evaluations, 4 writes: the first, the forecast appearing, its early settling, and
    # one staleness refresh after 20 intervals
    assert loop.writes <= 4


def test_anomaly_onset_is_in_the_status_and_feeds_the_root_cause_analysis() -> None:
    loop = Loop(healthnode())
    rng = random.Random(5)
    start = (T0 - timedelta(minutes=30)).timestamp()
    history = [(start + 15 * i, 0.01 + rng.gauss(0, 0.001)) for i in range(120)]
    loop.detector.warm_up(loop.node, {"error-rate": history})
    assert loop.values(0.011).signals[0].anomaly_since is None
    departed = loop.now
    status = loop.values(0.019)  # still OK by threshold, but departing from its baseline
    assert status.signals[0].anomaly_since == departed
    # payments went bad later than checkout departed: checkout is its own likeliest cause
    late = HealthGraph([GraphNode("payments", (), Phase.CRITICAL, loop.now + STEP)])
    status = loop.tick({"error-rate": Value(0.2), "latency": Value(0.1)}, late)
    assert status.root_cause is None
    assert status.root_cause_analysis is not None
    assert status.root_cause_analysis.cause == "checkout"
    assert status.root_cause_analysis.confidence > 0.9
