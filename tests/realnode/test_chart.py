"""`helm install charts/grace` on the real node: the operator runs from its image, as users run it."""

from __future__ import annotations

import urllib.request
from typing import Any

from kubernetes import client

from grace_lab.localcluster.release import ChartRelease
from tests.realnode.conftest import SCENARIO_NAMESPACES, wait_for


def test_two_replicas_one_leader_opa_answering_metrics_scraped(
    release: ChartRelease, core: Any, api: Any, node_prometheus: Any
) -> None:
    pods = release.pods(core)
    names = {p.metadata.name for p in pods}
    assert len(names) == 2
    for pod in pods:
        assert pod.status.pod_ip.startswith("10.85."), "a pod-network address, not the host's"
        images = {c.name: c.image for c in pod.spec.containers}
        assert images["operator"].startswith("localhost/grace:")
        # the OPA sidecar answers on its diagnostic port (the decision API is pod-local)
        with urllib.request.urlopen(f"http://{pod.status.pod_ip}:8282/health", timeout=5) as r:
            assert r.status == 200
        restarts = {c.name: c.restart_count for c in pod.status.container_statuses}
        assert restarts == {"operator": 0, "opa": 0}, restarts
    leases = client.CoordinationV1Api(api)

    def leader() -> str | None:
        # Ready pods are not yet a leader: on a busy machine the election takes a few seconds more
        try:
            lease = leases.read_namespaced_lease("grace-leader", release.namespace)
        except client.ApiException as e:
            if e.status == 404:
                return None
            raise
        return lease.spec.holder_identity or None

    holder = wait_for("one operator pod to hold the grace-leader Lease", leader, 60)
    assert sum(holder.startswith(f"{n}-") for n in names) == 1, (holder, names)

    def scraped() -> list[Any]:
        up = node_prometheus.query(
            f'up{{job="pods", namespace="{release.namespace}", container="operator"}} == 1'
        )
        return up if len(up) == 2 else []

    wait_for("Prometheus scraping both operator pods", scraped, 60)
    assert node_prometheus.query(f'grace_ledger_entries{{namespace="{release.namespace}"}}')


def test_admission_policy_in_force(release: ChartRelease, cluster: Any, api: Any) -> None:
    """alice may create Missions (RBAC) but not automatic ones (the chart's admission policy)."""
    namespace = SCENARIO_NAMESPACES[0]
    rbac = client.RbacAuthorizationV1Api(api)
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "mission-writer"},
            "rules": [{"apiGroups": ["grace.dev"], "resources": ["missions"], "verbs": ["create"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "mission-writer-alice"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "mission-writer",
            },
            "subjects": [
                {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}
            ],
        },
    )
    alice = client.CustomObjectsApi(cluster.api_client("alice"))
    body = {
        "apiVersion": "grace.dev/v1alpha1",
        "kind": "Mission",
        "metadata": {"name": "sneaky"},
        "spec": {
            "healthNode": "checkout",
            "playbook": "rollback-bad-release",
            "trigger": "automatic",
            "requestedBy": "alice",
            "reason": "pretending to be the operator",
        },
    }

    def refused() -> str:
        try:
            alice.create_namespaced_custom_object(
                "grace.dev", "v1alpha1", namespace, "missions", body
            )
        except client.ApiException as e:
            return str(e.body) if e.status in (403, 422) else ""
        alice.delete_namespaced_custom_object(
            "grace.dev", "v1alpha1", namespace, "missions", "sneaky"
        )
        return ""

    message = wait_for("the admission policy refusing alice", refused, 30)
    assert "only the GRACE operator creates Missions with trigger: automatic" in message
    rbac.delete_namespaced_role_binding("mission-writer-alice", namespace)
    rbac.delete_namespaced_role("mission-writer", namespace)
