"""The chart's Grafana dashboard against a real Prometheus scraping two GRACE installs.

Both installs are release `grace` (so the same `grace-metrics` job, as the chart's ServiceMonitor
names it) in two namespaces: the case where a dashboard without install variables adds them up.
Each install's /metrics is served by prometheus_client with the operator's metric names.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from grace_lab.localcluster.processes import free_port
from grace_lab.localcluster.prometheus import PrometheusServer
from tests.unit.chart.chart import dashboard

JOB = "grace-metrics"
INSTALLS = {"team-a": (2, 10), "team-b": (5, 40)}
"""namespace -> (approvals pending, ledger entries)."""


class ScrapingInstalls(PrometheusServer):
    """One job, one target per namespace, each with its `namespace` target label."""

    def __init__(self, targets: Mapping[str, str]) -> None:
        super().__init__(list(targets.values()), scrape_interval=1, job=JOB)
        self.by_namespace = dict(targets)

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["scrape_configs"][0]["static_configs"] = [
            {"targets": [address], "labels": {"namespace": namespace}}
            for namespace, address in self.by_namespace.items()
        ]
        return cfg


def _install_metrics(pending: int, entries: int) -> CollectorRegistry:
    registry = CollectorRegistry()
    Gauge("grace_approvals_pending", "", registry=registry).set(pending)
    Gauge("grace_ledger_entries", "", registry=registry).set(entries)
    Counter("grace_missions", "", ["phase"], registry=registry).labels("Succeeded").inc(entries)
    Counter("grace_policy_decisions", "", ["result", "engine"], registry=registry).labels(
        "allow", "opa"
    ).inc()
    Counter("grace_promql_errors", "", ["kind"], registry=registry).labels("timeout").inc()
    Gauge("grace_healthnode_phase", "", ["healthnode", "phase"], registry=registry).labels(
        "checkout", "Healthy"
    ).set(1)
    Histogram("grace_time_to_recovery_seconds", "", registry=registry).observe(30)
    Histogram("grace_detection_evaluation_seconds", "", registry=registry).observe(0.01)
    return registry


@pytest.fixture(scope="module")
def prometheus_of_two_installs() -> Iterator[PrometheusServer]:
    with contextlib.ExitStack() as stack:
        targets = {}
        for namespace, (pending, entries) in INSTALLS.items():
            port = free_port()
            server, _ = start_http_server(
                port, addr="127.0.0.1", registry=_install_metrics(pending, entries)
            )
            stack.callback(server.server_close)
            stack.callback(server.shutdown)
            targets[namespace] = f"127.0.0.1:{port}"
        prom = stack.enter_context(ScrapingInstalls(targets))
        prom.wait_scraping()
        yield prom


def _expand(expr: str, namespace: str) -> str:
    """What Grafana sends for one panel query with this install picked."""
    for name, value in {
        "$namespace": namespace,
        "$job": JOB,
        "$__rate_interval": "1m",
        "$__range": "1h",
    }.items():
        expr = expr.replace(name, value)
    return expr


def test_variables_list_each_install(prometheus_of_two_installs: PrometheusServer) -> None:
    """The variables' label_values() queries, as Grafana asks them (the label values API):
    the namespace variable offers both installs, the job variable the one job in each."""
    prom = prometheus_of_two_installs
    variables = {
        v["name"]: re.fullmatch(r"label_values\((.+), (\w+)\)", v["query"]["query"])
        for v in dashboard()["templating"]["list"]
        if v["type"] == "query"
    }
    assert set(variables) == {"namespace", "job"}
    offered: dict[str, list[str]] = {}
    for name, found in variables.items():
        assert found, name
        series, label = found.groups()
        assert label == name
        for namespace in INSTALLS:
            match = _expand(series, namespace)
            offered.setdefault(name, []).extend(
                prom.api(f"label/{label}/values", {"match[]": match})
            )
    assert sorted(set(offered["namespace"])) == sorted(INSTALLS)
    assert offered["job"] == [JOB] * len(INSTALLS)


def test_every_panel_query_runs_and_shows_one_install(
    prometheus_of_two_installs: PrometheusServer,
) -> None:
    prom = prometheus_of_two_installs
    panels = dashboard()["panels"]
    for namespace, (pending, entries) in INSTALLS.items():
        for panel in panels:
            for target in panel["targets"]:
                # Refused PromQL raises here (Prometheus answers 400 with the parse error).
                result = prom.query(_expand(target["expr"], namespace))
                if panel["title"] == "Approvals pending":
                    assert [float(r["value"][1]) for r in result] == [pending], namespace
                if panel["title"] == "Ledger size":
                    assert [float(r["value"][1]) for r in result] == [entries], namespace
