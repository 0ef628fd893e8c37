"""The classic alerting path GRACE is compared with, and the simulator run as a command.

A Prometheus alerting rule on the example's error-rate query, routed through a real
Alertmanager to a webhook: the path the detection benchmark measures GRACE against.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from grace_lab.localcluster.processes import free_port
from grace_lab.localcluster.prometheus import AlertmanagerServer
from grace_lab.sim import AlertWebhook
from tests.conftest import REPO, ClusterUnderTest
from tests.integration.sim.shop import Shop
from tests.support.kube import wait_for

BAD = "registry.example/shop/checkout:1.5.0-bad"
GOOD = "registry.example/shop/checkout:1.4.2"


def test_an_alert_fires_and_resolves_through_alertmanager(shop: Shop) -> None:
    prom = shop.prometheus
    error_rate = shop.query("checkout", "error-rate")
    rule = {
        "alert": "CheckoutErrorRate",
        "expr": f"({error_rate}) > 0.10",
        "labels": {"severity": "critical"},
    }
    with (
        AlertWebhook() as hook,
        AlertmanagerServer(hook.url, group_wait=1, group_interval=1) as alertmanager,
    ):
        prom.set_rules([{"name": "shop", "rules": [rule]}])
        prom.set_alertmanagers([alertmanager.address])
        prom.wait_alertmanagers()
        assert hook.first("CheckoutErrorRate") is None

        injected = time.monotonic()
        shop.patch_container("checkout", {"name": "app", "image": BAD})
        firing = hook.wait_for("CheckoutErrorRate", timeout=60)
        assert firing.received_monotonic > injected
        assert firing.labels["severity"] == "critical"
        assert any(a["labels"]["alertname"] == "CheckoutErrorRate" for a in alertmanager.alerts())

        shop.patch_container("checkout", {"name": "app", "image": GOOD})
        resolved = hook.wait_for("CheckoutErrorRate", status="resolved", timeout=90)
        assert resolved.received_monotonic > firing.received_monotonic
    prom.set_alertmanagers([])
    prom.set_rules([])


def test_the_simulator_runs_as_a_command(cluster: ClusterUnderTest, shop: Shop) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(map(str, [REPO / "operator", REPO / "lab", REPO])),
    }
    command = [
        sys.executable,
        "-m",
        "grace_lab.sim",
        "--kubeconfig",
        cluster.kubeconfig,
        "--context",
        cluster.context,
        "--namespace",
        shop.namespace,
        "--port",
        str(port),
        "--load",
        "checkout=200",
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:

        def samples() -> dict[tuple[str, str, str], float] | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                return None
            found = {
                (s.name, s.labels["app"], s.labels.get("code", "")): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
                if s.labels.get("namespace") == shop.namespace
            }
            return found if ("shop_offered_load_rps", "checkout", "") in found else None

        seen = wait_for("the command's /metrics", samples, timeout=30)
        assert 180 < seen[("shop_offered_load_rps", "checkout", "")] < 220
        assert seen[("shop_http_requests_total", "payments-db", "200")] > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out.decode()
    assert f"http://127.0.0.1:{port}/metrics" in out.decode()
