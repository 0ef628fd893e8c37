"""Fixtures for the action tests: a real Deployment that reaches Running pods, and the executor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from grace.api.healthnode import Target
from grace.run.actions.executor import ActionExecutor
from tests.support.kube import wait_for

Deploy = Callable[..., Target]


def available(apps: Any, namespace: str, name: str, replicas: int) -> Any:
    """The Deployment once its rollout is complete with `replicas` ready pods."""

    def done() -> Any:
        d = apps.read_namespaced_deployment(name, namespace)
        s = d.status
        complete = (
            (s.observed_generation or 0) >= d.metadata.generation
            and (s.updated_replicas or 0) == replicas
            and (s.available_replicas or 0) == replicas
            and (s.replicas or 0) == replicas
        )
        return d if complete else None

    return wait_for(f"{name} available with {replicas} replicas", done, timeout=60)


@pytest.fixture
def apps(api: Any) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture
def core(api: Any) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def executor(api: Any) -> ActionExecutor:
    return ActionExecutor(api)


@pytest.fixture
def deploy(apps: client.AppsV1Api, namespace: str) -> Deploy:
    """Create a Deployment and wait until its pods are Running (KWOK nodes run them)."""

    def make(name: str = "web", replicas: int = 1, image: str = "example/web:1") -> Target:
        apps.create_namespaced_deployment(
            namespace,
            {
                "metadata": {"name": name, "labels": {"app": name}},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {
                            "containers": [
                                {
                                    "name": name,
                                    "image": image,
                                    "resources": {"requests": {"cpu": "100m"}},
                                }
                            ]
                        },
                    },
                },
            },
        )
        available(apps, namespace, name, replicas)
        return Target(kind="Deployment", name=name)

    return make


@pytest.fixture
def uncordon_all(core: client.CoreV1Api) -> Iterator[None]:
    """Nodes are shared by every test: whatever a test cordons is made schedulable again."""
    before = {n.metadata.name for n in core.list_node().items if n.spec.unschedulable}
    yield
    for n in core.list_node().items:
        if n.spec.unschedulable and n.metadata.name not in before:
            core.patch_node(n.metadata.name, {"spec": {"unschedulable": False}})


def autoscale(api: Any, namespace: str, name: str = "web", low: int = 1, high: int = 3) -> None:
    """A HorizontalPodAutoscaler for that Deployment (no metrics here: it only keeps bounds)."""
    client.AutoscalingV2Api(api).create_namespaced_horizontal_pod_autoscaler(
        namespace,
        {
            "metadata": {"name": name},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": low,
                "maxReplicas": high,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 80},
                        },
                    }
                ],
            },
        },
    )


def protect(api: Any, namespace: str, min_available: int, name: str = "web") -> None:
    """A PodDisruptionBudget over the Deployment's pods, once the API server enforces it."""
    policy = client.PolicyV1Api(api)
    policy.create_namespaced_pod_disruption_budget(
        namespace,
        {
            "metadata": {"name": name},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": name}}},
        },
    )

    def observed() -> Any:
        pdb = policy.read_namespaced_pod_disruption_budget(name, namespace)
        return pdb if (pdb.status and pdb.status.observed_generation) else None

    wait_for(f"PodDisruptionBudget {name} observed", observed, timeout=60)
