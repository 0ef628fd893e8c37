"""The two newest catalog actions through `grace run`, as a user sees them on the Mission:
an eviction a PodDisruptionBudget refuses is reported and not forced, and an autoscaler's
bounds changed by a Mission that did not help are restored from the snapshot."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tests.conftest import ClusterUnderTest
from tests.e2e.scenario import (
    BAD_IMAGE,
    approve,
    checkout_node,
    playbook,
    set_image,
    the_mission,
    wait_phase,
)
from tests.support.kube import apply
from tests.support.stack import OperatorProcess, grant

FAST_VERIFY = {
    "timeout": "12s",
    "interval": "1s",
    "failureLimit": 2,
    "checks": [{"signal": "error-rate", "below": 0.02}],
}


def run_to_the_end(
    cluster: ClusterUnderTest, api: Any, dyn: Any, ns: str, pb: dict[str, Any]
) -> Any:
    """Apply the playbook, break checkout, approve the Mission GRACE proposes, wait for its end."""
    grant(api, ns, "alice", "grace-approver")
    apply(dyn, [pb, checkout_node(ns, [pb["metadata"]["name"]])], ns)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=30)
    set_image(api, ns, BAD_IMAGE)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Critical", timeout=40)
    mission = the_mission(dyn, ns)
    waiting = wait_phase(dyn, "Mission", ns, mission.metadata.name, "AwaitingApproval")
    approve(cluster, ns, waiting.status.approval.request)
    return wait_phase(
        dyn, "Mission", ns, mission.metadata.name, "RolledBack", "Succeeded", "Failed", timeout=90
    )


def test_an_eviction_a_budget_refuses_is_shown_on_the_mission_and_not_forced(
    cluster: ClusterUnderTest, api: Any, dyn: Any, shop: str, operator: OperatorProcess
) -> None:
    ns = shop
    client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(
        ns,
        {
            "metadata": {"name": "checkout"},
            "spec": {"minAvailable": "100%", "selector": {"matchLabels": {"app": "checkout"}}},
        },
    )
    evict = playbook(
        "evict-one", [{"action": "evictPods", "with": {"count": 1}}], verify=FAST_VERIFY
    )

    done = run_to_the_end(cluster, api, dyn, ns, evict)

    [step] = done.status.steps
    assert step.phase == "Failed", done.status.timeline
    assert "eviction refused" in step.message, step.message
    assert "violate the pod's disruption budget" in step.message  # the API server's reason
    assert done.status.phase == "RolledBack", done.status.timeline
    pods = client.CoreV1Api(api).list_namespaced_pod(ns, label_selector="app=checkout").items
    assert not [p.metadata.name for p in pods if p.metadata.deletion_timestamp], "nothing forced"


def test_autoscaler_bounds_a_useless_mission_raised_are_restored(
    cluster: ClusterUnderTest, api: Any, dyn: Any, shop: str, operator: OperatorProcess
) -> None:
    ns = shop
    hpa = client.AutoscalingV2Api(api)
    hpa.create_namespaced_horizontal_pod_autoscaler(
        ns,
        {
            "metadata": {"name": "checkout"},
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "checkout",
                },
                "minReplicas": 3,
                "maxReplicas": 5,
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
    widen = playbook(
        "widen-autoscaler",
        [{"action": "scaleHPA", "with": {"maxReplicas": 8}}],
        verify=FAST_VERIFY,
    )

    done = run_to_the_end(cluster, api, dyn, ns, widen)

    [step] = done.status.steps
    assert step.phase == "Succeeded" and "maxReplicas 8" in step.message, step.message
    assert done.status.snapshot["held"]["scaleHPA"]["maxReplicas"] == 5
    assert done.status.phase == "RolledBack", done.status.timeline
    spec = hpa.read_namespaced_horizontal_pod_autoscaler("checkout", ns).spec
    assert (spec.min_replicas, spec.max_replicas) == (3, 5)
