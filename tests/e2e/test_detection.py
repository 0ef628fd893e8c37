"""Detection against the real thing: a real Prometheus scraping the simulated shop, `grace run`.

Each scenario is what a user would check: a fault turns the node Degraded/Critical within
`for` + 2 intervals of Prometheus showing it (measured with the timestamps in the status, not
with the test's sleeps) and back to Healthy when removed; a bad query is an Error carrying
Prometheus's own words while the other signals are still evaluated; no data is never a pass;
a dead or hung Prometheus makes the node Unknown, never Healthy and never acted on, until it
returns; a symptom names its root cause and only the cause gets a Mission. The operator's
/metrics and the `grace status`/`grace focus` commands are checked on the way.
"""

from __future__ import annotations

import os
import signal as signals
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from grace.api.duration import parse_duration
from grace_lab.localcluster.prometheus import PrometheusServer
from grace_lab.sim import ShopExporter
from tests.conftest import ClusterUnderTest
from tests.e2e.detection_support import (
    StatusTrail,
    condition,
    grace_cli,
    has_series,
    metric,
    prometheus_error,
    run_start,
    scrape,
    signal,
    unix,
    wait_node,
)
from tests.e2e.scenario import (
    BAD_IMAGE,
    GOOD_IMAGE,
    checkout_node,
    error_rate,
    get,
    items,
    playbook,
    set_image,
    wait_phase,
)
from tests.support.kube import apply, wait_for
from tests.support.stack import OperatorProcess

INTERVAL = parse_duration("1s")
FOR = parse_duration("2s")
SLACK = 0.5
"""Query and write latency on a busy 2-core machine; the bound itself is `for` + 2 intervals."""
BOUND = FOR + 2 * INTERVAL


def within_bound(what: str, settled_at: float, onset: float) -> None:
    took = settled_at - onset
    print(f"{what}: {took:.2f}s after Prometheus showed it (bound {BOUND:g}s)")
    assert FOR - SLACK <= took <= BOUND + SLACK, (
        f"{what}: {took:.2f}s after Prometheus showed it (for {FOR:g}s, interval "
        f"{INTERVAL:g}s: expected between {FOR:g}s and {BOUND:g}s)"
    )


def phase_gauge(port: int, namespace: str, name: str) -> dict[str, float]:
    samples = scrape(port)
    return {
        phase: metric(
            samples, "grace_healthnode_phase", namespace=namespace, healthnode=name, phase=phase
        )
        for phase in ("Healthy", "Degraded", "Critical", "Unknown")
    }


def test_a_fault_is_detected_within_for_plus_two_intervals_and_its_removal_too(
    api: Any, dyn: Any, shop: str, operator: OperatorProcess, prometheus: PrometheusServer
) -> None:
    ns = shop
    query = error_rate(ns)
    before = scrape(operator.metrics_port)
    apply(dyn, [checkout_node(ns, [], mode="observe")], ns)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=30)

    with StatusTrail(api, ns, "checkout") as trail:
        injected = time.time()
        set_image(api, ns, BAD_IMAGE)
        wait_node(dyn, ns, "checkout", "Critical", prometheus=prometheus, query=query)
        gauge_critical = phase_gauge(operator.metrics_port, ns, "checkout")

        # Leaving Healthy: the Ready condition's transition, against Prometheus crossing 0.02.
        bad = trail.first(lambda s: s.phase in ("Degraded", "Critical"), after=injected)
        ready = condition(bad.status, "Ready")
        assert ready["status"] == "False"
        left_healthy = unix(ready["lastTransitionTime"])
        within_bound(
            "left Healthy",
            left_healthy,
            run_start(prometheus, query, lambda v: v > 0.02, end=left_healthy),
        )
        # The signal's `since` is when the breach began, at least `for` before it settled.
        breach_began = unix(signal(bad.status, "error-rate")["since"])
        assert FOR <= left_healthy - breach_began <= FOR + INTERVAL + SLACK

        # Critical: the first Critical status, against Prometheus crossing 0.10.
        critical = trail.first(lambda s: s.phase == "Critical", after=injected)
        became_critical = unix(critical.status["lastEvaluated"])
        within_bound(
            "became Critical",
            became_critical,
            run_start(prometheus, query, lambda v: v > 0.10, end=became_critical),
        )
        assert signal(critical.status, "error-rate")["state"] == "Critical"
        assert "Healthy" not in trail.phases(after=bad.at), "a breach must not flap back"

        restored = time.time()
        set_image(api, ns, GOOD_IMAGE)
        healthy = wait_node(dyn, ns, "checkout", "Healthy", prometheus=prometheus, query=query)
        back = condition(healthy, "Ready")
        assert back["status"] == "True"
        recovered = unix(back["lastTransitionTime"])
        assert recovered > restored
        within_bound(
            "back to Healthy",
            recovered,
            run_start(prometheus, query, lambda v: v <= 0.02, end=recovered),
        )

    # The operator's /metrics: phase per node, detection and PromQL latency, status writes.
    assert gauge_critical == {"Healthy": 0, "Degraded": 0, "Critical": 1, "Unknown": 0}
    assert phase_gauge(operator.metrics_port, ns, "checkout")["Healthy"] == 1
    after = scrape(operator.metrics_port)
    for name in (
        "grace_detection_evaluation_seconds_bucket",
        "grace_promql_query_seconds_bucket",
        "grace_healthnode_phase",
        "grace_status_writes_total",
    ):
        assert has_series(after, name), name
    for name in (
        "grace_detection_evaluation_seconds_count",
        "grace_detection_evaluation_seconds_sum",
        "grace_promql_query_seconds_count",
        "grace_promql_query_seconds_sum",
    ):
        assert metric(after, name) > metric(before, name), name
    writes = metric(after, "grace_status_writes_total", kind="HealthNode")
    assert writes >= metric(before, "grace_status_writes_total", kind="HealthNode") + 3

    reasons = {
        e.reason
        for e in client.CoreV1Api(api)
        .list_namespaced_event(ns, field_selector="involvedObject.name=checkout")
        .items
    }
    assert {"PhaseCritical", "PhaseHealthy"} <= reasons


BAD_INPUT_SIGNALS: list[dict[str, Any]] = [
    {"name": "steady", "query": "vector(0.5)", "degraded": {"above": 1}},
    {"name": "typo", "query": "sum(rate(shop_http_requests_total[1m])", "critical": {"above": 1}},
    {"name": "empty", "query": "shop_no_such_metric_total", "degraded": {"above": 1}},
    {"name": "nan", "query": "vector(0) / vector(0)", "degraded": {"below": 1}},
]
"""A NaN compared with `below: 1` is "not below", so a naive check would call it a pass."""


def test_bad_queries_and_missing_data_are_their_own_states_never_a_pass(
    api: Any, dyn: Any, namespace: str, operator: OperatorProcess, prometheus: PrometheusServer
) -> None:
    ns = namespace
    before = scrape(operator.metrics_port)
    node: dict[str, Any] = {
        "apiVersion": "grace.dev/v1alpha1",
        "kind": "HealthNode",
        "metadata": {"name": "orders"},
        "spec": {
            "target": {"kind": "Deployment", "name": "orders"},
            "interval": "1s",
            "signals": BAD_INPUT_SIGNALS,
            "remediation": {"mode": "autonomous", "playbooks": ["restart"]},
        },
    }
    restart = playbook("restart", [{"name": "restart", "action": "rolloutRestart"}])
    apply(dyn, [restart, node], ns)
    with StatusTrail(api, ns, "orders") as trail:
        wait_for(
            "every signal evaluated",
            lambda: (
                len(
                    (get(dyn, "HealthNode", ns, "orders").to_dict().get("status") or {}).get(
                        "signals"
                    )
                    or []
                )
                == 4
            ),
        )
        time.sleep(5 * INTERVAL)  # several more evaluations, each one must say the same
    status = wait_phase(dyn, "HealthNode", ns, "orders", "Unknown").to_dict()["status"]
    assert set(trail.phases()) == {"Unknown"}, "missing data must never read as Healthy"

    typo = signal(status, "typo")
    assert typo["state"] == "Error"
    # Prometheus's own words, without its 'invalid parameter "query": ' preamble.
    said = prometheus_error(prometheus, BAD_INPUT_SIGNALS[1]["query"])
    assert typo["message"] == said.removeprefix('invalid parameter "query": ')
    assert typo["message"] == "1:39: parse error: unclosed left parenthesis"
    steady = signal(status, "steady")
    assert (steady["state"], steady["value"]) == ("OK", 0.5), "the other signals still evaluate"
    assert signal(status, "empty")["state"] == "NoData"
    nan = signal(status, "nan")
    assert (nan["state"], nan.get("value")) == ("NoData", None)
    assert "NaN" in nan["message"]

    stalled = condition(status, "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "QueryError")
    assert typo["message"] in stalled["message"]
    available = condition(status, "SignalsAvailable")
    assert (available["status"], available["reason"]) == ("False", "QueryError")
    assert condition(status, "Ready")["status"] == "Unknown"
    assert items(dyn, "Mission", ns) == [], "GRACE never acts on Unknown"

    after = scrape(operator.metrics_port)
    assert metric(after, "grace_promql_errors_total", kind="Error") > metric(
        before, "grace_promql_errors_total", kind="Error"
    )
    where = {"namespace": ns, "healthnode": "orders"}
    assert metric(after, "grace_signal_query_errors", signal="typo", **where) == 1
    assert metric(after, "grace_signal_query_errors", signal="steady", **where) == 0
    events = client.CoreV1Api(api).list_namespaced_event(
        ns, field_selector="involvedObject.name=orders"
    )
    loud = [e for e in events.items if e.reason == "SignalQueryFailed"]
    assert len(loud) == 1, "one Warning when the query starts failing, not one per evaluation"
    assert loud[0].type == "Warning"
    assert "GRACE will not act on it until the query works" in loud[0].message
    assert typo["message"] in loud[0].message

    # Fixing the spec clears the error on the next evaluations.
    fixed = [dict(s) for s in BAD_INPUT_SIGNALS if s["name"] in ("steady", "typo")]
    fixed[1]["query"] = f'sum(rate(shop_http_requests_total{{namespace="{ns}"}}[1m])) or vector(0)'
    node["spec"]["signals"] = fixed
    apply(dyn, [node], ns)
    healed = wait_node(dyn, ns, "orders", "Healthy", timeout=30)
    assert signal(healed, "typo")["state"] == "OK"
    assert "Stalled" not in {c["type"] for c in healed["conditions"]}
    cleared = scrape(operator.metrics_port)
    assert metric(cleared, "grace_signal_query_errors", signal="typo", **where) == 0


@pytest.fixture
def own_prometheus(exporter: ShopExporter, tmp_path: Path) -> Iterator[PrometheusServer]:
    """A Prometheus only this module kills: the session's one is shared with other tests."""
    with PrometheusServer(
        [exporter.address], scrape_interval=1, evaluation_interval=1, data_dir=tmp_path / "prom"
    ) as prom:
        prom.wait_scraping()
        yield prom


@pytest.fixture
def own_operator(
    cluster: ClusterUnderTest,
    shop: str,
    own_prometheus: PrometheusServer,
    operator: OperatorProcess,
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    """`grace run` on this test's namespace, asking `own_prometheus`.

    The session's operator watches every namespace and asks the session's Prometheus; two
    operators writing one HealthNode's status would fight, so it is paused meanwhile (tests run
    one at a time) and started again afterwards, as a restarted Deployment would be.
    """
    operator.stop()
    proc = OperatorProcess(
        cluster.kubeconfig, own_prometheus.url, tmp_path / "operator", f"--namespace={shop}"
    )
    try:
        yield proc.start()
    finally:
        proc.stop()
        operator.start()


def test_a_dead_or_hung_prometheus_makes_the_node_unknown_until_it_returns(
    api: Any,
    dyn: Any,
    shop: str,
    own_prometheus: PrometheusServer,
    own_operator: OperatorProcess,
) -> None:
    ns = shop
    prom, port = own_prometheus, own_operator.metrics_port
    rollback = playbook("rollback", [{"name": "undo", "action": "rollback"}])
    apply(dyn, [rollback, checkout_node(ns, ["rollback"], mode="autonomous")], ns)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=30)
    before = scrape(port)

    with StatusTrail(api, ns, "checkout") as trail:
        killed = time.time()
        prom.kill()
        node = wait_phase(dyn, "HealthNode", ns, "checkout", "Unknown", timeout=15)
        status = node.to_dict()["status"]
        went_unknown = unix(condition(status, "Ready")["lastTransitionTime"])
        assert went_unknown - killed <= 2 * INTERVAL + SLACK, "Unknown at the next evaluation"
        assert signal(status, "error-rate")["state"] == "Error"
        available = condition(status, "SignalsAvailable")
        assert (available["status"], available["reason"]) == ("False", "PrometheusUnreachable")
        assert condition(status, "Reconciling")["reason"] == "PrometheusUnreachable"
        assert "Prometheus unreachable" in condition(status, "Ready")["message"]
        time.sleep(4 * INTERVAL)  # it stays Unknown, and nothing is done about it
        assert phase_gauge(port, ns, "checkout")["Unknown"] == 1
        assert set(trail.phases(after=went_unknown)) == {"Unknown"}

        restarted = time.time()
        prom.start()
        healthy = wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=30)
        back = unix(condition(healthy.to_dict()["status"], "Ready")["lastTransitionTime"])
        assert back > restarted, "it recovered by itself once Prometheus answered again"

        # Hung, not dead: the process is stopped, connections are accepted but never answered.
        assert prom.pid is not None
        os.kill(prom.pid, signals.SIGSTOP)
        try:
            hung = wait_phase(dyn, "HealthNode", ns, "checkout", "Unknown", timeout=30)
            ready = condition(hung.to_dict()["status"], "Ready")
            assert "Prometheus unreachable" in ready["message"], ready
        finally:
            os.kill(prom.pid, signals.SIGCONT)
        wait_node(dyn, ns, "checkout", "Healthy", timeout=30, prometheus=prom, query=error_rate(ns))
        phases = trail.phases(after=killed)

    assert "Degraded" not in phases and "Critical" not in phases, phases
    assert items(dyn, "Mission", ns) == [], "GRACE never acts on Unknown"
    after = scrape(port)
    assert metric(after, "grace_promql_errors_total", kind="Unreachable") > metric(
        before, "grace_promql_errors_total", kind="Unreachable"
    )
    assert metric(after, "grace_scheduler_total", outcome="skip", reason="unknown") > metric(
        before, "grace_scheduler_total", outcome="skip", reason="unknown"
    )


def _latency_node(
    name: str, namespace: str, critical: float, mode: str, playbooks: list[str], **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "grace.dev/v1alpha1",
        "kind": "HealthNode",
        "metadata": {"name": name},
        "spec": {
            "criticality": "critical" if name == "payments-db" else "high",
            "target": {"kind": "Deployment", "name": name},
            "interval": "1s",
            "signals": [
                {
                    "name": "latency-p95",
                    "query": f'shop_request_latency_p95_seconds{{namespace="{namespace}",app="{name}"}}',
                    "degraded": {"above": critical / 4},
                    "critical": {"above": critical},
                    "for": "2s",
                }
            ],
            "remediation": {"mode": mode, "playbooks": playbooks},
            **spec,
        },
    }


def test_a_symptom_names_its_root_cause_and_only_the_cause_gets_a_mission(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    shop: str,
    exporter: ShopExporter,
    operator: OperatorProcess,
) -> None:
    ns = shop
    scale = playbook("scale-out", [{"name": "scale", "action": "scale", "with": {"replicas": 4}}])
    db = _latency_node("payments-db", ns, 1.0, "propose", ["scale-out"])
    checkout = _latency_node(
        "checkout", ns, 2.0, "autonomous", ["scale-out"], dependsOn=["payments-db"]
    )
    apply(dyn, [scale, db, checkout], ns)
    for name in ("payments-db", "checkout"):
        wait_phase(dyn, "HealthNode", ns, name, "Healthy", timeout=30)
    before = scrape(operator.metrics_port)

    # payments-db loses every replica: its latency is the clients' timeout.
    client.AppsV1Api(api).patch_namespaced_deployment_scale(
        "payments-db", ns, {"spec": {"replicas": 0}}
    )
    wait_phase(dyn, "HealthNode", ns, "payments-db", "Critical", timeout=40)
    # ... and checkout, waiting on it, slows down past its own critical threshold.
    exporter.set_load(ns, "checkout", 400)
    symptom = wait_phase(dyn, "HealthNode", ns, "checkout", "Critical", timeout=40)
    assert symptom.status.rootCause == "payments-db"
    time.sleep(5 * INTERVAL)  # several evaluations of a Critical, autonomous checkout

    missions = items(dyn, "Mission", ns)
    assert [m.spec.healthNode for m in missions] == ["payments-db"], (
        "remediate the cause, not the symptom"
    )
    assert wait_phase(dyn, "HealthNode", ns, "checkout", "Critical").status.rootCause == (
        "payments-db"
    )
    after = scrape(operator.metrics_port)
    assert metric(after, "grace_scheduler_total", outcome="skip", reason="symptom") > metric(
        before, "grace_scheduler_total", outcome="skip", reason="symptom"
    )

    # What a human sees: `grace status` and `grace focus` against the same cluster.
    status = grace_cli(cluster.kubeconfig, "status", "-n", ns)
    assert status.returncode == 0, status.stderr
    rows = {line.split()[0]: line.split() for line in status.stdout.splitlines()[1:]}
    assert rows["payments-db"][1] == "Critical"
    assert rows["checkout"][1] == "Critical"
    assert rows["checkout"][3:5] == ["latency-p95", "Critical"]
    assert "payments-db" in rows["checkout"][7:]  # the ROOT CAUSE column

    focus = grace_cli(cluster.kubeconfig, "focus", "-n", ns)
    assert focus.returncode == 0, focus.stderr
    lines = focus.stdout.splitlines()
    assert lines[0].split()[:3] == ["#", "NAME", "PHASE"]
    first, second = lines[1].split(), lines[2].split()
    assert first[:3] == ["1", "payments-db", "Critical"]
    assert ">1" in first
    assert "explains checkout" in lines[1]
    assert second[:3] == ["2", "checkout", "Critical"]
    assert "depends on unhealthy payments-db" in lines[2]

    all_ns = grace_cli(cluster.kubeconfig, "status", "-A", "-o", "json")
    assert all_ns.returncode == 0, all_ns.stderr
    assert f'"namespace": "{ns}"' in all_ns.stdout
