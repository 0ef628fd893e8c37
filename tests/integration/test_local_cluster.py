"""The local cluster is a real one: Deployments get Running pods, token users authenticate."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.conftest import ClusterUnderTest
from tests.support.kube import wait_for


def test_deployment_reaches_running_replicas(api: Any, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "example/web:1"}]},
                },
            },
        },
    )

    def running() -> bool:
        pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
        return sum(p.status.phase == "Running" for p in pods) == 3

    wait_for("3 Running pods", running, timeout=60)
    dep = wait_for(
        "deployment available",
        lambda: (
            (d := apps.read_namespaced_deployment("web", namespace)).status.available_replicas == 3
            and d
        ),
        timeout=60,
    )
    assert dep.status.ready_replicas == 3
    rs = apps.list_namespaced_replica_set(namespace, label_selector="app=web").items
    assert len(rs) == 1 and rs[0].metadata.owner_references[0].name == "web"


def test_test_users_authenticate_as_themselves(cluster: ClusterUnderTest) -> None:
    for user in ("alice", "bob"):
        api = cluster.api_client(user)
        review = client.AuthenticationV1Api(api).create_self_subject_review(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        )
        assert review.status.user_info.username == user
        api.close()  # type: ignore[attr-defined]


def test_ordinary_users_are_not_admins(cluster: ClusterUnderTest, namespace: str) -> None:
    api = cluster.api_client("bob")
    with pytest.raises(client.ApiException) as refused:
        client.CoreV1Api(api).list_namespaced_secret(namespace)
    assert refused.value.status == 403
    api.close()  # type: ignore[attr-defined]
