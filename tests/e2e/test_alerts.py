"""Alerts in: a HealthNode built on a Prometheus alert rule goes Critical and is healed; the
Alertmanager webhook only wakes it, and forged, unauthenticated, malformed or oversized posts
change nothing.

Real parts throughout: Debian's Prometheus evaluating examples/alerts/prometheus-rules.yaml
(windows shortened for test speed), Debian's Alertmanager routing to the operator's receiver
with the bearer token, `grace run` as a process.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from grace_lab.localcluster.prometheus import AlertmanagerServer, PrometheusServer
from tests.conftest import ClusterUnderTest
from tests.e2e.detection_support import metric, scrape
from tests.e2e.scenario import (
    BAD_IMAGE,
    GOOD_IMAGE,
    approve,
    image_of,
    items,
    phase_of,
    playbook,
    set_image,
    the_mission,
    wait_phase,
)
from tests.support.kube import apply, wait_for
from tests.support.stack import OperatorProcess, grant

RULES = Path(__file__).resolve().parents[2] / "examples" / "alerts" / "prometheus-rules.yaml"


def fast_rules() -> list[dict[str, Any]]:
    """The example's rules with test-speed windows (the shop's counters move within seconds)."""
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    for group in groups:
        for rule in group["rules"]:
            rule["expr"] = rule["expr"].replace("[1m]", "[5s]")
            rule["for"] = "0s"
    return groups


@pytest.fixture
def alertmanager(
    prometheus: PrometheusServer, operator: OperatorProcess
) -> Iterator[AlertmanagerServer]:
    """Alertmanager routing every alert to the operator's receiver, with the token, quickly."""
    with AlertmanagerServer(
        operator.webhook_url,
        group_by=("alertname", "namespace"),
        group_wait=1,
        group_interval=1,
        bearer_token_file=operator.webhook_token,
    ) as am:
        prometheus.set_rules(fast_rules())
        prometheus.set_alertmanagers([am.address])
        prometheus.wait_alertmanagers()
        try:
            yield am
        finally:
            prometheus.set_alertmanagers([])
            prometheus.set_rules([])


def alert_node(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "grace.dev/v1alpha1",
        "kind": "HealthNode",
        "metadata": {"name": "checkout"},
        "spec": {
            "criticality": "high",
            "target": {"kind": "Deployment", "name": "checkout"},
            "interval": "30s",  # the webhook wakes it: the interval is only the fallback
            "signals": [
                {
                    "name": "errors",
                    "alert": {
                        "name": "ShopHighErrorRate",
                        "labels": {"namespace": namespace, "app": "checkout"},
                    },
                }
            ],
            "remediation": {"mode": "autonomous", "playbooks": ["rollback-bad-release"]},
        },
    }


def post(operator: OperatorProcess, body: bytes, token: str | None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(operator.webhook_url, body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def firing(namespace: str) -> bytes:
    """What Alertmanager would post if ShopHighErrorRate fired for checkout: it does not."""
    alert = {
        "status": "firing",
        "labels": {"alertname": "ShopHighErrorRate", "namespace": namespace, "app": "checkout"},
        "annotations": {},
        "startsAt": "2026-12-04T16:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "0123456789abcdef",
    }
    payload = {"version": "4", "status": "firing", "receiver": "grace", "alerts": [alert]}
    return json.dumps(payload).encode()


def test_an_alert_heals_and_forged_posts_change_nothing(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    shop: str,
    operator: OperatorProcess,
    alertmanager: AlertmanagerServer,
) -> None:
    ns = shop
    grant(api, ns, "alice", "grace-approver")
    verify = {
        "timeout": "60s",
        "interval": "1s",
        "initialDelay": "7s",
        "checks": [{"signal": "errors", "below": 1}],
        "failureLimit": 3,
        "stableFor": "3s",
    }
    apply(
        dyn,
        [playbook("rollback-bad-release", [{"name": "undo", "action": "rollback"}], verify=verify)],
        ns,
    )
    apply(dyn, [alert_node(ns)], ns)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=30)

    token = operator.webhook_token.read_text().strip()
    refused = metric(scrape(operator.metrics_port), "grace_alert_webhook_posts_total")
    assert post(operator, firing(ns), None)[0] == 401
    assert post(operator, firing(ns), "not-the-token")[0] == 401
    assert post(operator, b'{"version": "4", "alerts": "none"}', token)[0] == 400
    assert post(operator, b"{" * (300 * 1024), token)[0] == 413
    assert metric(scrape(operator.metrics_port), "grace_alert_webhook_posts_total") == refused + 4

    # Authenticated, well-formed, and false: the node is evaluated at once and stays Healthy.
    evaluations = metric(scrape(operator.metrics_port), "grace_detection_evaluation_seconds_count")
    status, reply = post(operator, firing(ns), token)
    assert (status, reply["woken"]) == (200, 1)
    wait_for(
        "the woken node to be evaluated",
        lambda: (
            metric(scrape(operator.metrics_port), "grace_detection_evaluation_seconds_count")
            > evaluations
        ),
    )
    assert phase_of(dyn, "HealthNode", ns, "checkout") == "Healthy"
    assert items(dyn, "Mission", ns) == []

    woken = metric(scrape(operator.metrics_port), "grace_alert_webhook_wakes_total")
    set_image(api, ns, BAD_IMAGE)
    node = wait_phase(dyn, "HealthNode", ns, "checkout", "Critical", timeout=60)
    assert node.status.signals[0].value >= 1  # the firing series Prometheus holds
    wait_for(
        "Alertmanager to deliver the firing alert to the receiver",
        lambda: metric(scrape(operator.metrics_port), "grace_alert_webhook_wakes_total") > woken,
    )
    mission = the_mission(dyn, ns)
    assert mission.spec.playbook == "rollback-bad-release"
    waiting = wait_phase(dyn, "Mission", ns, mission.metadata.name, "AwaitingApproval")
    approve(cluster, ns, waiting.status.approval.request, "alice")
    done = wait_phase(
        dyn, "Mission", ns, mission.metadata.name, "Succeeded", "Failed", "RolledBack", timeout=90
    )
    assert done.status.phase == "Succeeded", done.status.timeline
    assert image_of(api, ns) == GOOD_IMAGE
    # The resolved alert wakes the node too (its 30 s interval is only the fallback).
    wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=60)
