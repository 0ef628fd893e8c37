"""Fixtures of the simulated-shop tests: a real Prometheus scraping one exporter, per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from grace.localcluster.prometheus import PrometheusServer
from grace.sim import Scope, ShopExporter
from tests.integration.sim.shop import SHOP, Shop
from tests.support.kube import apply, load_docs, wait_for


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    with PrometheusServer(scrape_interval=1, evaluation_interval=1) as prom:
        yield prom


@pytest.fixture(scope="module")
def exporter(api: Any, prometheus: PrometheusServer) -> Iterator[ShopExporter]:
    """One exporter for the module; each test adds its namespace. Prometheus learns of it live."""
    with ShopExporter(api, seed=7) as shop_exporter:
        prometheus.set_targets([shop_exporter.address])
        prometheus.wait_scraping()
        yield shop_exporter


@pytest.fixture
def shop(
    api: Any, dyn: Any, namespace: str, prometheus: PrometheusServer, exporter: ShopExporter
) -> Iterator[Shop]:
    apps = client.AppsV1Api(api)
    docs = load_docs(SHOP / "10-workloads.yaml")
    apply(dyn, docs, namespace)
    for doc in docs:
        name, replicas = doc["metadata"]["name"], doc["spec"]["replicas"]
        wait_for(
            f"{name} available",
            lambda n=name, r=replicas: (
                apps.read_namespaced_deployment(n, namespace).status.available_replicas == r
            ),
            timeout=60,
        )
    exporter.add_scope(Scope(namespace))
    for doc in docs:
        exporter.wait_observed(namespace, doc["metadata"]["name"], doc["spec"]["replicas"])
    yield Shop(namespace, exporter, prometheus, apps)
    exporter.remove_scope(namespace)
