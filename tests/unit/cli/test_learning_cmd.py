"""`grace learning` and `grace stats`: what a reader sees of learning and of the operator's counters."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from grace.api.healthnode import HealthNode
from grace.cli import learning_cmd as cmd
from grace.cli.main import main as grace_main
from grace.cli.table import render

EXPOSITION = """\
# HELP grace_scheduler_total Proposer outcomes: proposed, or skipped with a reason.
# TYPE grace_scheduler_total counter
grace_scheduler_total{outcome="proposed",reason=""} 4.0
grace_scheduler_total{outcome="skip",reason="cooldown"} 2.0
grace_scheduler_total{outcome="skip",reason="duplicate"} 1.0
# HELP grace_scheduler_created Proposer outcomes: proposed, or skipped with a reason.
# TYPE grace_scheduler_created gauge
grace_scheduler_created{outcome="proposed",reason=""} 1.75e+09
# HELP grace_policy_decisions_total Policy decisions by result and engine.
# TYPE grace_policy_decisions_total counter
grace_policy_decisions_total{engine="regopy",result="require_approval"} 5.0
grace_policy_decisions_total{engine="regopy",result="allow"} 2.0
grace_policy_decisions_total{engine="opa",result="allow"} 1.0
# HELP grace_approvals_pending ApprovalRequests waiting for a human.
# TYPE grace_approvals_pending gauge
grace_approvals_pending 1.0
# HELP grace_missions_total Missions that reached a terminal phase, by phase.
# TYPE grace_missions_total counter
grace_missions_total{phase="Succeeded"} 6.0
grace_missions_total{phase="RolledBack"} 2.0
grace_missions_total{phase="Denied"} 1.0
# HELP grace_promql_errors_total PromQL queries that failed, by kind.
# TYPE grace_promql_errors_total counter
grace_promql_errors_total{kind="Unreachable"} 3.0
# HELP grace_ledger_entries Entries in the ledger.
# TYPE grace_ledger_entries gauge
grace_ledger_entries 42.0
# HELP grace_time_to_recovery_seconds From a Mission's creation to its verified success.
# TYPE grace_time_to_recovery_seconds histogram
grace_time_to_recovery_seconds_bucket{le="5.0"} 1.0
grace_time_to_recovery_seconds_bucket{le="+Inf"} 6.0
grace_time_to_recovery_seconds_count 6.0
grace_time_to_recovery_seconds_sum 40.0
"""


def node(
    name: str,
    learning: list[dict[str, Any]],
    *,
    namespace: str = "shop",
    mode: str = "propose",
    ceiling: str | None = None,
) -> HealthNode:
    remediation: dict[str, Any] = {"mode": mode, "playbooks": [e["playbook"] for e in learning]}
    if ceiling:
        remediation["autonomyCeiling"] = ceiling
    return HealthNode.model_validate(
        {
            "apiVersion": "grace.dev/v1alpha1",
            "kind": "HealthNode",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "target": {"kind": "Deployment", "name": name},
                "signals": [{"name": "errors", "query": "vector(0)", "degraded": {"above": 1}}],
                "remediation": remediation,
            },
            "status": {"learning": learning},
        }
    )


RESTART = {
    "playbook": "restart",
    "attempts": 6,
    "successes": 5,
    "successRate24h": 0.8333,
    "successRate7d": 0.8333,
    "confidence": 0.75,
    "autonomy": "autonomous",
}
ROLLBACK = {
    "playbook": "rollback",
    "attempts": 0,
    "successes": 0,
    "confidence": 0.5,
    "autonomy": "propose",
}


def test_learning_rows_keep_the_operators_ranking_and_name_the_ceiling() -> None:
    rows = cmd.learning_rows([node("checkout", [RESTART, ROLLBACK], ceiling="autonomous")])
    assert [(r.rank, r.playbook) for r in rows] == [(1, "restart"), (2, "rollback")]
    best = rows[0]
    assert (best.attempts, best.successes, best.confidence) == (6, 5, 0.75)
    assert (best.rate24h, best.rate7d) == (0.8333, 0.8333)
    assert (best.autonomy, best.ceiling) == ("autonomous", "autonomous")
    assert rows[1].rate24h is None


def test_without_a_ceiling_the_spec_mode_is_the_ceiling() -> None:
    (row,) = cmd.learning_rows([node("checkout", [ROLLBACK], mode="propose")])
    assert row.ceiling == "propose"


def test_learning_rows_go_by_namespace_then_node() -> None:
    rows = cmd.learning_rows(
        [
            node("web", [ROLLBACK], namespace="b"),
            node("db", [ROLLBACK], namespace="b"),
            node("web", [ROLLBACK], namespace="a"),
        ]
    )
    assert [(r.namespace, r.node) for r in rows] == [("a", "web"), ("b", "db"), ("b", "web")]


def test_a_node_not_evaluated_yet_has_no_rows() -> None:
    assert cmd.learning_rows([node("checkout", [])]) == []


def test_the_learning_table_shows_rates_as_percentages_and_nothing_tried_as_none() -> None:
    rows = cmd.learning_rows([node("checkout", [RESTART, ROLLBACK], ceiling="autonomous")])
    text = render(cmd.learning_table(rows, all_namespaces=False))
    lines = text.splitlines()
    assert lines[0].split() == [
        "HEALTHNODE",
        "#",
        "PLAYBOOK",
        "ATTEMPTS",
        "SUCCESSES",
        "24H",
        "7D",
        "CONFIDENCE",
        "AUTONOMY",
        "CEILING",
    ]
    assert lines[1].split() == [
        "checkout",
        "1",
        "restart",
        "6",
        "5",
        "83%",
        "83%",
        "0.75",
        "autonomous",
        "autonomous",
    ]
    assert lines[2].split()[5:7] == ["<none>", "<none>"]


def test_the_learning_table_names_the_namespace_across_namespaces() -> None:
    rows = cmd.learning_rows([node("checkout", [ROLLBACK], namespace="shop")])
    table = cmd.learning_table(rows, all_namespaces=True)
    assert table[0][0] == "NAMESPACE"
    assert table[1][:2] == ["shop", "checkout"]


def test_learning_json_uses_the_status_field_names() -> None:
    (row,) = cmd.learning_rows([node("checkout", [RESTART], ceiling="autonomous")])
    assert row.json() == {
        "namespace": "shop",
        "healthNode": "checkout",
        "rank": 1,
        "playbook": "restart",
        "attempts": 6,
        "successes": 5,
        "successRate24h": 0.8333,
        "successRate7d": 0.8333,
        "confidence": 0.75,
        "autonomy": "autonomous",
        "autonomyCeiling": "autonomous",
    }


def cells(text: str) -> list[list[str]]:
    """A printed table back into cells (columns are at least three spaces apart)."""
    return [re.split(r"\s{3,}", line.strip()) for line in text.splitlines()]


def test_percent_rounds_to_whole_percent() -> None:
    assert [cmd.percent(r) for r in (1.0, 0.8333, 0.0, None)] == ["100%", "83%", "0%", "<none>"]


def test_stats_read_the_operators_counters_in_the_order_of_a_mission() -> None:
    rows = [(r.area, r.name, r.value) for r in cmd.stat_rows(EXPOSITION)]
    assert rows == [
        ("scheduler", "proposed", 4.0),
        ("scheduler", "skipped: cooldown", 2.0),
        ("scheduler", "skipped: duplicate", 1.0),
        ("policy", "allow", 3.0),
        ("policy", "require_approval", 5.0),
        ("policy", "deny", 0.0),
        ("approvals", "pending", 1.0),
        ("missions", "Succeeded", 6.0),
        ("missions", "Failed", 0.0),
        ("missions", "RolledBack", 2.0),
        ("missions", "Denied", 1.0),
        ("promql_errors", "kind=Unreachable", 3.0),
    ]


def test_a_fresh_operator_still_answers_zero_for_the_headline_counters() -> None:
    rows = {(r.area, r.name): r.value for r in cmd.stat_rows("")}
    assert rows == {
        ("scheduler", "proposed"): 0.0,
        ("policy", "allow"): 0.0,
        ("policy", "require_approval"): 0.0,
        ("policy", "deny"): 0.0,
        ("missions", "Succeeded"): 0.0,
        ("missions", "Failed"): 0.0,
        ("missions", "RolledBack"): 0.0,
    }


def test_text_that_is_not_an_exposition_is_an_error() -> None:
    with pytest.raises(cmd.MetricsError):
        cmd.stat_rows("<html>this is not prometheus</html>\n")


def test_the_stats_table_prints_whole_counts() -> None:
    text = render(cmd.stats_table(cmd.stat_rows(EXPOSITION)))
    lines = text.splitlines()
    assert lines[0].split() == ["AREA", "COUNTER", "VALUE"]
    assert ["scheduler", "skipped: cooldown", "2"] in cells(text)
    assert lines[-1].split() == ["promql_errors", "kind=Unreachable", "3"]
    assert cmd.count_text(0.5) == "0.5"


# -- the commands as a user calls them ---------------------------------------------------------


@pytest.fixture
def metrics_url() -> Iterator[str]:
    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = EXPOSITION.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def run(argv: list[str]) -> int:
    return grace_main(argv)


def test_grace_stats_prints_the_endpoints_counters(
    metrics_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["stats", "--metrics-url", metrics_url]) == 0
    out = capsys.readouterr().out
    assert ["policy", "require_approval", "5"] in cells(out)
    assert ["missions", "RolledBack", "2"] in cells(out)


def test_grace_stats_json(metrics_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["stats", "--metrics-url", metrics_url, "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["metricsUrl"] == metrics_url
    assert {"area": "policy", "name": "allow", "value": 3.0} in doc["items"]


def test_grace_stats_says_so_when_the_operator_cannot_be_reached(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["stats", "--metrics-url", "http://127.0.0.1:9/metrics", "--timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "grace stats: error: cannot read the operator's metrics at http://127.0.0.1:9/"
    )
