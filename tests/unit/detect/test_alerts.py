"""Alert signals: the model refuses a signal with both or neither source; the PromQL that reads
ALERTS; which nodes a webhook wakes."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from grace.api.healthnode import AlertRef, HealthNode, Signal, Threshold
from grace.detect.alerts import WebhookPayload, alert_matches, nodes_to_wake, promql_of


def node(ns: str, name: str, *signals: dict[str, Any]) -> HealthNode:
    return HealthNode.model_validate(
        {
            "metadata": {"namespace": ns, "name": name},
            "spec": {"target": {"kind": "Deployment", "name": name}, "signals": list(signals)},
        }
    )


CRASHLOOP = {
    "name": "crashloop",
    "alert": {"name": "KubePodCrashLooping", "labels": {"namespace": "shop"}},
}


def test_an_alert_signal_without_thresholds_is_critical_while_it_fires() -> None:
    signal = Signal.model_validate(CRASHLOOP)
    assert signal.critical == Threshold(above=0) and signal.degraded is None
    explicit = Signal.model_validate({**CRASHLOOP, "degraded": {"above": 0}})
    assert explicit.critical is None and explicit.degraded == Threshold(above=0)


@pytest.mark.parametrize(
    "signal",
    [
        {"name": "s", "critical": {"above": 1}},
        {"name": "s", "query": "up", "alert": {"name": "A"}, "critical": {"above": 1}},
    ],
)
def test_a_signal_has_exactly_one_source(signal: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="exactly one of 'query' or 'alert'"):
        Signal.model_validate(signal)


@pytest.mark.parametrize(
    "labels", [{"alertstate": "pending"}, {"alertname": "B"}, {"bad-key": "x"}]
)
def test_alert_labels_are_label_names_and_not_reserved(labels: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match=r"alert\.labels"):
        AlertRef.model_validate({"name": "A", "labels": labels})


def test_promql_counts_firing_series_and_reads_zero_when_none_fires() -> None:
    signal = Signal.model_validate(
        {
            "name": "s",
            "alert": {
                "name": "KubePodCrashLooping",
                "labels": {"pod": 'a"b\\c', "namespace": "shop"},
            },
        }
    )
    assert promql_of(signal) == (
        'count(ALERTS{alertname="KubePodCrashLooping",alertstate="firing",'
        'namespace="shop",pod="a\\"b\\\\c"}) or vector(0)'
    )
    assert (
        promql_of(Signal.model_validate({"name": "q", "query": "up", "critical": {"above": 1}}))
        == "up"
    )


def test_an_alert_matches_when_its_labels_include_the_reference() -> None:
    ref = AlertRef(name="KubePodCrashLooping", labels={"namespace": "shop"})
    assert alert_matches(ref, {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "x"})
    assert not alert_matches(ref, {"alertname": "KubePodCrashLooping", "namespace": "other"})
    assert not alert_matches(ref, {"alertname": "KubeContainerWaiting", "namespace": "shop"})
    assert not alert_matches(ref, {"namespace": "shop"})


def payload(*alerts: dict[str, Any]) -> WebhookPayload:
    return WebhookPayload.model_validate(
        {"version": "4", "status": "firing", "receiver": "grace", "alerts": list(alerts)}
    )


def test_a_webhook_wakes_only_the_nodes_whose_alert_it_names() -> None:
    nodes = [
        node("shop", "checkout", CRASHLOOP),
        node("shop", "cart", {"name": "e", "query": "up", "critical": {"above": 1}}),
        node(
            "other",
            "checkout",
            {
                **CRASHLOOP,
                "alert": {"name": "KubePodCrashLooping", "labels": {"namespace": "other"}},
            },
        ),
    ]
    firing = {
        "status": "firing",
        "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop"},
    }
    resolved = {
        "status": "resolved",
        "labels": {"alertname": "KubePodCrashLooping", "namespace": "other"},
    }
    assert nodes_to_wake(nodes, payload(firing).alerts) == [("shop", "checkout")]
    assert nodes_to_wake(nodes, payload(firing, resolved).alerts) == [
        ("shop", "checkout"),
        ("other", "checkout"),
    ]
    assert nodes_to_wake(nodes, payload().alerts) == []


@pytest.mark.parametrize(
    "body",
    [
        {"version": "3", "status": "firing", "alerts": []},
        {"version": "4", "status": "firing"},
        {"version": "4", "status": "firing", "alerts": [{"status": "maybe", "labels": {}}]},
        {"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"a": 1}}]},
    ],
)
def test_anything_but_a_v4_payload_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        WebhookPayload.model_validate(body)
