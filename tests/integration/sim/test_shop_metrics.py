"""The simulated shop, seen through a real Prometheus, follows what happens to its Deployments.

Faults are injected the way they happen in production: a release with a broken image, a
scale-down, a memory limit set too low. The assertions use the PromQL of the shipped example
HealthNodes, so the examples and the simulation cannot drift apart.
"""

from __future__ import annotations

import time

import pytest

from grace_lab.localcluster.prometheus import PrometheusUnavailableError
from tests.integration.sim.shop import Shop, eventually

GOOD = "registry.example/shop/checkout:1.4.2"
BAD = "registry.example/shop/checkout:1.5.0-bad"


def test_bad_release_raises_the_error_rate_and_rollback_lowers_it(shop: Shop) -> None:
    prom = shop.prometheus
    error_rate = shop.query("checkout", "error-rate")
    recent = error_rate.replace("[1m]", "[5s]")

    healthy = eventually(prom, error_rate, lambda v: v < 0.02, "a low error rate")
    assert healthy >= 0  # real 5xx exist even when healthy: the series is never empty

    shop.patch_container("checkout", {"name": "app", "image": BAD})
    broken = eventually(prom, error_rate, lambda v: v > 0.10, "the bad release's errors", 45)
    assert broken > 0.10

    shop.patch_container("checkout", {"name": "app", "image": GOOD})
    eventually(prom, recent, lambda v: v < 0.02, "errors gone once the old pods are back", 45)
    eventually(prom, error_rate, lambda v: v < 0.10, "the 1m error rate below critical", 45)


def test_payments_db_is_unaffected_by_a_bad_checkout_release(shop: Shop) -> None:
    shop.patch_container("checkout", {"name": "app", "image": BAD})
    checkout = shop.query("checkout", "error-rate").replace("[1m]", "[5s]")
    eventually(shop.prometheus, checkout, lambda v: v > 0.10, "checkout failing", 45)
    payments = checkout.replace('app="checkout"', 'app="payments-db"')
    assert (shop.prometheus.query_value(payments) or 0.0) < 0.02


def test_too_few_replicas_for_the_load_raise_latency(shop: Shop) -> None:
    prom = shop.prometheus
    latency = shop.query("checkout", "latency-p95")
    eventually(prom, latency, lambda v: v < 0.5, "healthy latency with 3 replicas")

    shop.scale("checkout", 1)
    eventually(prom, latency, lambda v: v > 2.0, "latency past critical with 1 replica", 45)

    shop.scale("checkout", 6)
    eventually(prom, latency, lambda v: v < 0.5, "latency back after scaling out", 45)


def test_a_too_low_memory_limit_makes_containers_restart(shop: Shop) -> None:
    prom = shop.prometheus
    restarts = shop.query("payments-db", "restarts")
    assert eventually(prom, restarts, lambda v: v >= 0, "the restarts series") == 0

    limits = {"limits": {"cpu": "1", "memory": "64Mi"}, "requests": {"memory": "64Mi"}}
    shop.patch_container("payments-db", {"name": "db", "resources": limits})
    eventually(prom, restarts, lambda v: v > 1, "restarts past the degraded threshold", 45)


def test_a_killed_prometheus_comes_back_with_its_series(shop: Shop) -> None:
    prom = shop.prometheus
    requests = f'sum(shop_http_requests_total{{namespace="{shop.namespace}",app="checkout"}})'
    eventually(prom, requests, lambda v: v > 0, "scraped requests")
    before_crash = time.time()

    prom.kill()
    with pytest.raises(PrometheusUnavailableError):
        prom.query(requests)

    prom.start()
    assert (prom.query_value(requests, at=before_crash) or 0.0) > 0
    after = time.time()
    newest = f'max(timestamp(shop_http_requests_total{{namespace="{shop.namespace}"}}))'
    eventually(prom, newest, lambda v: v > after, "a sample newer than the restart", 30)
