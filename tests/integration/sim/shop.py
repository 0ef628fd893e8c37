"""What the simulated-shop tests share: the example shop in a namespace, PromQL, waiting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from grace_lab.localcluster.prometheus import PrometheusServer
from grace_lab.sim import ShopExporter
from tests.support.kube import load_docs, wait_for
from tests.support.shop import SHOP


def example_query(node: str, signal: str, namespace: str) -> str:
    """The PromQL a shipped example HealthNode runs, pointed at the test's namespace."""
    for doc in load_docs(SHOP / "20-healthnodes.yaml"):
        if doc["kind"] == "HealthNode" and doc["metadata"]["name"] == node:
            for spec in doc["spec"]["signals"]:
                if spec["name"] == signal:
                    query: str = spec["query"]
                    assert 'namespace="shop"' in query
                    return query.replace('namespace="shop"', f'namespace="{namespace}"')
    raise LookupError(f"no signal {signal} on HealthNode {node} in the examples")


def eventually(
    prom: PrometheusServer,
    promql: str,
    holds: Callable[[float], bool],
    what: str,
    timeout: float = 30.0,
) -> float:
    """Wait until the query's value satisfies `holds`; the value it had then."""

    def probe() -> list[float] | None:
        value = prom.query_value(promql)
        return [value] if value is not None and holds(value) else None

    return wait_for(what, probe, timeout=timeout, interval=0.25)[0]


@dataclass
class Shop:
    """The example shop deployed in a test namespace, simulated, scraped by Prometheus."""

    namespace: str
    exporter: ShopExporter
    prometheus: PrometheusServer
    apps: client.AppsV1Api

    def query(self, node: str, signal: str) -> str:
        return example_query(node, signal, self.namespace)

    def patch_container(self, deployment: str, container: dict[str, Any]) -> None:
        body = {"spec": {"template": {"spec": {"containers": [container]}}}}
        self.apps.patch_namespaced_deployment(deployment, self.namespace, body)

    def scale(self, deployment: str, replicas: int) -> None:
        self.apps.patch_namespaced_deployment_scale(
            deployment, self.namespace, {"spec": {"replicas": replicas}}
        )
