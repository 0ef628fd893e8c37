"""End-to-end fixtures: a real Prometheus scraping the simulated shop, and `grace run` itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from grace.localcluster.prometheus import PrometheusServer
from grace.sim import ShopExporter
from tests.conftest import ClusterUnderTest
from tests.support.shop import running_shop
from tests.support.stack import OperatorProcess, ensure_policy_configmap


@pytest.fixture(scope="session")
def prometheus() -> Iterator[PrometheusServer]:
    with PrometheusServer(scrape_interval=1, evaluation_interval=1) as prom:
        yield prom


@pytest.fixture(scope="session")
def exporter(api: Any, prometheus: PrometheusServer) -> Iterator[ShopExporter]:
    with ShopExporter(api, seed=11) as shop_exporter:
        prometheus.set_targets([shop_exporter.address])
        prometheus.wait_scraping()
        yield shop_exporter


@pytest.fixture(scope="session")
def operator(
    cluster: ClusterUnderTest,
    api: Any,
    prometheus: PrometheusServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    ensure_policy_configmap(api)
    proc = OperatorProcess(cluster.kubeconfig, prometheus.url, tmp_path_factory.mktemp("operator"))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def shop(api: Any, dyn: Any, namespace: str, exporter: ShopExporter) -> Iterator[str]:
    """The shop's Deployments, Running and simulated, in this test's namespace."""
    with running_shop(api, dyn, namespace, exporter):
        yield namespace
