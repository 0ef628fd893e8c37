"""Fixtures of the simulated-shop tests: a real Prometheus scraping one exporter, per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from grace_lab.localcluster.prometheus import PrometheusServer
from grace_lab.sim import ShopExporter
from tests.integration.sim.shop import Shop
from tests.support.shop import running_shop


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
    with running_shop(api, dyn, namespace, exporter):
        yield Shop(namespace, exporter, prometheus, client.AppsV1Api(api))
