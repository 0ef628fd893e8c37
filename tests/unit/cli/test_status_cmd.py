"""`grace status` and `grace focus` without a cluster: worst signal, ranking, tables, JSON."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from grace.api.healthnode import HealthNode, SignalState
from grace.cli import status_cmd
from grace.cli.errors import CommandError
from grace.cli.main import main
from grace.cli.status_cmd import (
    focus,
    focus_table,
    node_view,
    status_table,
    worst_signal,
)
from grace.cli.table import render

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


LATENCY = {
    "name": "latency-p95",
    "query": "q1",
    "degraded": {"above": 0.5},
    "critical": {"above": 2},
}
ERRORS = {
    "name": "error-rate",
    "query": "q2",
    "degraded": {"above": 0.02},
    "critical": {"above": 0.1},
    "forecast": "10m",
}


def hn(
    name: str,
    phase: str,
    signals: list[dict[str, Any]],
    *,
    namespace: str = "shop",
    depends_on: tuple[str, ...] = (),
    criticality: str = "high",
    specs: list[dict[str, Any]] | None = None,
    root_cause: str | None = None,
    mission: str | None = None,
    conditions: list[dict[str, Any]] | None = None,
    phase_age: float = 60,
) -> dict[str, Any]:
    ready_status = {"Healthy": "True", "Unknown": "Unknown"}.get(phase, "False")
    ready = {
        "type": "Ready",
        "status": ready_status,
        "reason": phase,
        "message": "; ".join(s.get("message", "") for s in signals if s.get("message"))
        if phase == "Unknown"
        else f"{phase} message",
        "lastTransitionTime": ago(phase_age),
    }
    return {
        "apiVersion": "grace.dev/v1alpha1",
        "kind": "HealthNode",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "criticality": criticality,
            "target": {"kind": "Deployment", "name": name},
            "dependsOn": list(depends_on),
            "interval": "15s",
            "signals": specs or [LATENCY, ERRORS],
        },
        "status": {
            "phase": phase,
            "lastEvaluated": ago(3),
            "signals": signals,
            "rootCause": root_cause,
            "activeMission": mission,
            "conditions": [ready, *(conditions or [])],
        },
    }


def sig(
    name: str, state: str, value: float | None = None, since: float = 120, **extra: Any
) -> dict[str, Any]:
    return {"name": name, "state": state, "value": value, "since": ago(since), **extra}


def shop_nodes() -> list[dict[str, Any]]:
    """payments-db is down (the cause), checkout fails because of it, cart is fine."""
    return [
        hn(
            "payments-db",
            "Critical",
            [sig("latency-p95", "Critical", 10.0, since=300), sig("error-rate", "OK", 0.001)],
            criticality="critical",
            mission="payments-db-7f3a",
        ),
        hn(
            "checkout",
            "Critical",
            [
                sig("latency-p95", "Degraded", 0.9, since=200),
                sig("error-rate", "Critical", 0.31, since=100, forecast=0.4),
            ],
            depends_on=("payments-db",),
            root_cause="payments-db",
        ),
        hn("cart", "Healthy", [sig("latency-p95", "OK", 0.1), sig("error-rate", "OK", 0.004)]),
    ]


def models(docs: list[dict[str, Any]]) -> list[HealthNode]:
    return [HealthNode.model_validate(d) for d in docs]


# -- worst signal ----------------------------------------------------------------------------


def test_the_worst_signal_is_the_breach_that_explains_the_phase() -> None:
    checkout = models(shop_nodes())[1]
    worst = worst_signal(checkout)
    assert worst is not None
    assert (worst.name, worst.state, worst.value, worst.threshold) == (
        "error-rate",
        SignalState.CRITICAL,
        0.31,
        ">0.1",
    )
    assert worst.horizon == "10m"


def test_among_equal_states_the_signal_furthest_past_its_bound_is_worst() -> None:
    node = models(
        [
            hn(
                "n",
                "Degraded",
                [sig("latency-p95", "Degraded", 0.6), sig("error-rate", "Degraded", 0.09)],
            )
        ]
    )[0]
    worst = worst_signal(node)
    assert worst is not None
    assert worst.name == "error-rate"  # 0.09 is 4.5x its 0.02 bound, 0.6 only 1.2x its 0.5


def test_an_error_hides_the_truth_so_it_outranks_ok_and_nodata() -> None:
    node = models(
        [
            hn(
                "n",
                "Unknown",
                [
                    sig("latency-p95", "NoData", message="query returned NaN"),
                    sig("error-rate", "Error", message='1:5: parse error: unexpected "("'),
                ],
            )
        ]
    )[0]
    worst = worst_signal(node)
    assert worst is not None
    assert worst.state is SignalState.ERROR
    assert worst.message == '1:5: parse error: unexpected "("'
    assert worst.threshold == ">0.02"  # the bound it will be measured against once it answers


def test_below_thresholds_read_as_less_than() -> None:
    spec = {
        "name": "throughput",
        "query": "q",
        "degraded": {"below": 50},
        "critical": {"below": 10},
    }
    node = models([hn("n", "Critical", [sig("throughput", "Critical", 3.0)], specs=[spec])])[0]
    worst = worst_signal(node)
    assert worst is not None and worst.threshold == "<10"


# -- status ----------------------------------------------------------------------------------


def test_status_is_an_aligned_table_sorted_by_name_with_kubectl_blanks() -> None:
    views = [node_view(n) for n in models(shop_nodes())]
    text = render(status_table(views, NOW, all_namespaces=False))
    lines = text.splitlines()
    assert lines[0].split() == [
        "NAME",
        "PHASE",
        "SIGNALS",
        "WORST",
        "SIGNAL",
        "STATE",
        "VALUE",
        "THRESHOLD",
        "ROOT",
        "CAUSE",
        "MISSION",
        "SINCE",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["cart", "checkout", "payments-db"]
    checkout = lines[2].split()
    assert checkout == [
        "checkout",
        "Critical",
        "0/2",
        "error-rate",
        "Critical",
        "0.31",
        ">0.1",
        "payments-db",
        "<none>",
        "60s",
    ]
    assert lines[3].split()[-3:] == ["<none>", "payments-db-7f3a", "60s"]
    # every column starts at the same offset on every line
    col = lines[0].index("PHASE")
    assert all(line[col - 3 : col] == "   " and line[col] != " " for line in lines)
    assert all(line == line.rstrip() for line in lines)


def test_all_namespaces_adds_the_namespace_column_and_sorts_by_it() -> None:
    docs = [*shop_nodes(), hn("api", "Healthy", [sig("latency-p95", "OK", 0.1)], namespace="a")]
    rows = status_table([node_view(n) for n in models(docs)], NOW, all_namespaces=True)
    assert rows[0][0] == "NAMESPACE"
    assert [(r[0], r[1]) for r in rows[1:]] == [
        ("a", "api"),
        ("shop", "cart"),
        ("shop", "checkout"),
        ("shop", "payments-db"),
    ]


def test_wide_status_shows_why_a_node_is_unknown() -> None:
    node = hn(
        "orders",
        "Unknown",
        [sig("latency-p95", "Error", message="Prometheus unreachable: connection refused")],
        specs=[LATENCY],
    )
    rows = status_table([node_view(n) for n in models([node])], NOW, False, wide=True)
    assert rows[0][-4:] == ["CRITICALITY", "MODE", "EVALUATED", "MESSAGE"]
    assert rows[1][-4:] == ["high", "observe", "3s", "Prometheus unreachable: connection refused"]
    assert rows[1][1:3] == ["Unknown", "0/1"]


# -- focus -----------------------------------------------------------------------------------


def test_focus_puts_the_cause_before_its_symptom_and_leaves_healthy_nodes_out() -> None:
    entries = focus(models(shop_nodes()))
    assert [e.view.name for e in entries] == ["payments-db", "checkout"]
    cause, symptom = entries
    assert cause.rank == 1 and cause.is_root and cause.explains == ("checkout",)
    assert cause.reason == "Critical with no unhealthy dependency; explains checkout"
    assert not symptom.is_root
    assert symptom.reason == "Critical, but depends on unhealthy payments-db"
    assert symptom.view.root_cause == "payments-db"


def test_focus_table_says_signal_value_threshold_root_cause_and_prediction() -> None:
    rows = focus_table(focus(models(shop_nodes())), NOW, all_namespaces=False)
    assert rows[0] == [
        "#",
        "NAME",
        "PHASE",
        "SIGNAL",
        "VALUE",
        "THRESHOLD",
        "SINCE",
        "ROOT CAUSE",
        "PREDICTION",
        "WHY",
    ]
    assert rows[1][:8] == [
        "1",
        "payments-db",
        "Critical",
        "latency-p95 Critical",
        "10",
        ">2",
        "5m",
        "<none>",
    ]
    assert rows[2][:9] == [
        "2",
        "checkout",
        "Critical",
        "error-rate Critical",
        "0.31",
        ">0.1",
        "100s",
        "payments-db",
        "error-rate 0.4 in 10m",
    ]


def test_focus_ranks_critical_before_degraded_across_namespaces_then_by_criticality() -> None:
    docs = [
        hn(
            "a-degraded",
            "Degraded",
            [sig("latency-p95", "Degraded", 0.7, since=900)],
            namespace="a",
        ),
        hn(
            "b-critical-low",
            "Critical",
            [sig("latency-p95", "Critical", 3.0)],
            namespace="b",
            criticality="low",
        ),
        hn(
            "c-critical",
            "Critical",
            [sig("latency-p95", "Critical", 3.0)],
            namespace="c",
            criticality="critical",
        ),
    ]
    assert [e.view.name for e in focus(models(docs))] == [
        "c-critical",
        "b-critical-low",
        "a-degraded",
    ]


def test_unknown_nodes_come_after_known_bad_ones_and_say_what_is_missing() -> None:
    docs = [
        hn(
            "orders",
            "Unknown",
            [sig("latency-p95", "Error", message="Prometheus unreachable: connection refused")],
            specs=[LATENCY],
            criticality="critical",
        ),
        *shop_nodes(),
    ]
    entries = focus(models(docs))
    assert [e.view.name for e in entries] == ["payments-db", "checkout", "orders"]
    assert entries[2].reason == "Prometheus unreachable: connection refused"


def test_a_healthy_node_with_a_predicted_breach_is_at_risk_and_last() -> None:
    breach = {
        "type": "PredictedBreach",
        "status": "True",
        "reason": "ForecastCrossesCritical",
        "message": "error-rate: forecast to cross critical (above 0.1) within 10m",
    }
    docs = [
        hn(
            "search",
            "Healthy",
            [sig("latency-p95", "OK", 0.2), sig("error-rate", "OK", 0.015, forecast=0.13)],
            conditions=[breach],
        ),
        *shop_nodes(),
    ]
    entries = focus(models(docs))
    assert [e.view.name for e in entries] == ["payments-db", "checkout", "search"]
    at_risk = entries[2]
    assert at_risk.reason == breach["message"]
    assert at_risk.view.prediction is not None
    assert at_risk.view.prediction.text() == "error-rate 0.13 in 10m (breach)"


def test_a_breach_still_settling_is_at_risk_but_quiet_healthy_nodes_are_not_listed() -> None:
    settling = sig(
        "latency-p95",
        "OK",
        0.8,
        message="Degraded (above 0.5) pending since 2025-03-01T11:59:50Z, must hold for 30s",
    )
    docs = [
        hn("cart", "Healthy", [settling], specs=[LATENCY]),
        hn("quiet", "Healthy", [sig("latency-p95", "OK", 0.1)], specs=[LATENCY]),
    ]
    entries = focus(models(docs))
    assert [e.view.name for e in entries] == ["cart"]
    assert "pending since" in entries[0].reason


# -- the commands, with the cluster read replaced ---------------------------------------------


def run(argv: list[str], monkeypatch: pytest.MonkeyPatch, items: list[dict[str, Any]]) -> int:
    asked: list[str | None] = []

    def fake_load(
        namespace: str | None, kubeconfig: str | None, context: str | None
    ) -> list[dict[str, Any]]:
        asked.append(namespace)
        return [i for i in items if namespace is None or i["metadata"]["namespace"] == namespace]

    monkeypatch.setattr(status_cmd, "load_nodes", fake_load)
    monkeypatch.setattr(status_cmd, "current_namespace", lambda kubeconfig, context: "shop")
    parser = argparse.ArgumentParser(prog="grace")
    sub = parser.add_subparsers(dest="command", required=True)
    status_cmd.register(sub)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_status_json_lists_every_node_with_its_worst_signal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["status", "-o", "json"], monkeypatch, shop_nodes()) == 0
    doc = json.loads(capsys.readouterr().out)
    by_name = {i["name"]: i for i in doc["items"]}
    assert set(by_name) == {"cart", "checkout", "payments-db"}
    checkout = by_name["checkout"]
    assert checkout["phase"] == "Critical"
    assert checkout["rootCause"] == "payments-db"
    assert checkout["worstSignal"]["name"] == "error-rate"
    assert checkout["worstSignal"]["threshold"] == ">0.1"
    assert checkout["prediction"] == {
        "signal": "error-rate",
        "value": 0.4,
        "horizon": "10m",
        "breach": False,
    }


def test_focus_json_ranks_and_explains(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["focus", "-A", "-o", "json"], monkeypatch, shop_nodes()) == 0
    items = json.loads(capsys.readouterr().out)["items"]
    assert [(i["rank"], i["name"], i["tier"]) for i in items] == [
        (1, "payments-db", "cause"),
        (2, "checkout", "symptom"),
    ]
    assert items[0]["explains"] == ["checkout"]


def test_focus_limit_and_the_all_healthy_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["focus", "--limit", "1"], monkeypatch, shop_nodes()) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[1].split()[1] == "payments-db"
    healthy = [hn("cart", "Healthy", [sig("latency-p95", "OK", 0.1)], specs=[LATENCY])]
    assert run(["focus"], monkeypatch, healthy) == 0
    assert capsys.readouterr().out == "All 1 HealthNodes are Healthy, with nothing predicted.\n"


def test_an_empty_namespace_says_so_like_kubectl(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["status", "-n", "empty"], monkeypatch, shop_nodes()) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "No HealthNodes found in empty namespace.\n"


def test_an_unreadable_node_is_skipped_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = hn("broken", "Healthy", [])
    broken["status"]["phase"] = "Sideways"
    assert run(["status"], monkeypatch, [*shop_nodes(), broken]) == 0
    captured = capsys.readouterr()
    assert "broken" not in captured.out
    assert "warning: skipped HealthNode shop/broken: unreadable" in captured.err


def test_a_cluster_that_cannot_be_read_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(
        namespace: str | None, kubeconfig: str | None, context: str | None
    ) -> list[dict[str, Any]]:
        raise CommandError("cannot reach the API server: connection refused")

    monkeypatch.setattr(status_cmd, "current_namespace", lambda kubeconfig, context: "shop")
    monkeypatch.setattr(status_cmd, "load_nodes", refuse)
    assert main(["focus"]) == 1
    assert capsys.readouterr().err == (
        "grace focus: error: cannot reach the API server: connection refused\n"
    )


def with_analysis(body: dict[str, Any], cause: str, candidates: dict[str, float]) -> dict[str, Any]:
    body["status"]["rootCauseAnalysis"] = {
        "cause": cause,
        "confidence": candidates[cause],
        "evidence": ["Critical", "first to depart from its baseline (2026-01-01T00:10:05Z)"],
        "candidates": [{"node": k, "confidence": v} for k, v in candidates.items()],
    }
    return body


def test_root_cause_shows_its_confidence_and_focus_its_evidence() -> None:
    db, checkout, cart = shop_nodes()
    with_analysis(db, "payments-db", {"payments-db": 0.97, "checkout": 0.03})
    with_analysis(checkout, "payments-db", {"payments-db": 0.93, "checkout": 0.07})
    with_analysis(cart, "inventory", {"inventory": 0.7, "cart": 0.3})  # a cause not bad yet
    nodes = models([db, checkout, cart])
    rows = status_table([node_view(n) for n in nodes], NOW, all_namespaces=False)
    cells = {row[0]: row[7] for row in rows[1:]}
    assert cells == {
        "payments-db": "self 97%",
        "checkout": "payments-db 93%",
        "cart": "inventory? 70%",
    }
    why = {row[1]: row[-1] for row in focus_table(focus(nodes), NOW, all_namespaces=False)[1:]}
    assert why["checkout"].endswith(
        "; cause payments-db (93%): Critical; first to depart from its baseline "
        "(2026-01-01T00:10:05Z)"
    )
    assert "; cause itself (97%): " in why["payments-db"]
    assert node_view(nodes[1]).json()["rootCauseAnalysis"]["confidence"] == 0.93
