"""End-to-end fixtures: a real Prometheus scraping the simulated shop, and `grace run` itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from grace.localcluster.prometheus import PrometheusServer
from grace.sim import Scope, ShopExporter
from tests.conftest import ClusterUnderTest
from tests.support.kube import apply, load_docs, wait_for
from tests.support.stack import OperatorProcess, ensure_policy_configmap

REPO = Path(__file__).resolve().parents[2]


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
    apps = client.AppsV1Api(api)
    docs = load_docs(REPO / "examples" / "shop" / "10-workloads.yaml")
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
    yield namespace
    exporter.remove_scope(namespace)
