"""The simulated shop of examples/shop, running in one test's namespace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubernetes import client

from grace_lab.sim import Scope, ShopExporter
from tests.support.kube import apply, load_docs, wait_for

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"


@contextmanager
def running_shop(api: Any, dyn: Any, namespace: str, exporter: ShopExporter) -> Iterator[None]:
    """The shop's Deployments applied, available, and simulated by `exporter` until exit."""
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
    try:
        for doc in docs:
            exporter.wait_observed(namespace, doc["metadata"]["name"], doc["spec"]["replicas"])
        yield
    finally:
        exporter.remove_scope(namespace)
