"""examples/realnode/ on the real node: real containers fail, the operator pod heals them.

Each scenario applies its example folder (queries pointed at its namespace, intervals
shortened, pods sent to the real node), breaks the workload the way production breaks,
approves as alice, and checks the Mission, the verification against the real metrics and the
ledger the operator pod signed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client

from grace.localcluster.release import scenario_documents
from tests.conftest import ClusterUnderTest
from tests.e2e.scenario import approve, the_mission, wait_phase
from tests.realnode.conftest import BuiltImages, ChartRelease, wait_for
from tests.support.kube import apply
from tests.support.stack import grant


def set_image(api: Any, namespace: str, deployment: str, image: str) -> None:
    client.AppsV1Api(api).patch_namespaced_deployment(
        deployment,
        namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}},
    )


def image_of(api: Any, namespace: str, deployment: str) -> str:
    dep = client.AppsV1Api(api).read_namespaced_deployment(deployment, namespace)
    return str(dep.spec.template.spec.containers[0].image)


def available(api: Any, namespace: str, deployment: str) -> bool:
    dep = client.AppsV1Api(api).read_namespaced_deployment(deployment, namespace)
    return bool(
        dep.status.available_replicas == dep.spec.replicas
        and dep.status.updated_replicas == dep.spec.replicas
    )


def ledger_verifies(cluster: ClusterUnderTest, api: Any, release: ChartRelease, tmp: Path) -> None:
    """`grace ledger verify` of the ConfigMap ledger the operator pods wrote, as an auditor
    runs it, with the public key from the chart's Secret."""
    keys = tmp / "public.pem"
    keys.write_text(release.public_key(client.CoreV1Api(api)))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "grace.cli.main",
            "ledger",
            "verify",
            "--from-cluster",
            f"--ledger-namespace={release.namespace}",
            f"--public-key={keys}",
            f"--context={cluster.context}",
        ],
        capture_output=True,
        text=True,
        env={**release.env},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def heal(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    release: ChartRelease,
    namespace: str,
    folder: str,
    node: str,
    deployment: str,
    break_it: Callable[[], None],
    timeout: float = 180,
) -> Any:
    """Apply the example, wait Healthy, `break_it`, approve the proposed Mission as alice, wait
    for it to succeed and the node to be Healthy again; returns the finished Mission."""
    grant(api, namespace, "alice", "grace-approver")
    workloads, grace = scenario_documents(folder, namespace)
    apply(dyn, workloads, namespace)
    wait_for(f"{deployment} available", lambda: available(api, namespace, deployment), 120)
    apply(dyn, grace, namespace)
    wait_phase(dyn, "HealthNode", namespace, node, "Healthy", timeout=90)

    break_it()
    wait_phase(dyn, "HealthNode", namespace, node, "Critical", "Degraded", timeout=120)
    mission = the_mission(dyn, namespace)
    # proposed by the operator pod (its ServiceAccount), decided by its OPA sidecar
    assert mission.spec.requestedBy == release.identity
    waiting = wait_phase(dyn, "Mission", namespace, mission.metadata.name, "AwaitingApproval")
    assert waiting.status.decision.result == "require_approval"
    assert waiting.status.decision.engine == "opa-server"
    approve(cluster, namespace, waiting.status.approval.request, "alice")
    done = wait_phase(
        dyn,
        "Mission",
        namespace,
        mission.metadata.name,
        "Succeeded",
        "Failed",
        "RolledBack",
        "TimedOut",
        timeout=timeout,
    )
    assert done.status.phase == "Succeeded", done.status.timeline
    assert done.status.verification.outcome == "Passed"
    wait_for(f"{deployment} available again", lambda: available(api, namespace, deployment), 120)
    wait_phase(dyn, "HealthNode", namespace, node, "Healthy", timeout=60)
    return done


def test_bad_release_answering_5xx_is_rolled_back(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    release: ChartRelease,
    images: BuiltImages,
    node_prometheus: Any,
    tmp_path: Path,
) -> None:
    ns = "rn-bad-release"
    done = heal(
        cluster,
        api,
        dyn,
        release,
        ns,
        "bad-release",
        "checkout",
        "checkout",
        lambda: set_image(api, ns, "checkout", images.shop["errors"]),
    )
    assert image_of(api, ns, "checkout") == images.shop["good"]
    # the verification read what the containers themselves counted
    observed = [c.observed for c in done.status.verification.checks]
    assert observed and all(o is not None and o < 0.02 for o in observed), observed
    errors = node_prometheus.query_value(
        f'sum(increase(http_requests_total{{namespace="{ns}",app="checkout",code="500"}}[10m]))'
    )
    assert errors and errors > 10, "the bad release served real 5xx answers"
    ledger_verifies(cluster, api, release, tmp_path)


def test_crash_looping_release_is_rolled_back(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    release: ChartRelease,
    images: BuiltImages,
    node_prometheus: Any,
    tmp_path: Path,
) -> None:
    ns = "rn-crashloop"
    heal(
        cluster,
        api,
        dyn,
        release,
        ns,
        "crashloop",
        "payments",
        "payments",
        lambda: set_image(api, ns, "payments", images.shop["crash"]),
    )
    assert image_of(api, ns, "payments") == images.shop["good"]
    restarts = node_prometheus.query_value(
        f'max(max_over_time(kube_pod_container_status_restarts_total{{namespace="{ns}"}}[10m]))'
    )
    assert restarts and restarts >= 1, "the kubelet really restarted the crashing container"
    ledger_verifies(cluster, api, release, tmp_path)


def test_oom_killed_containers_get_more_memory_within_bounds(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    release: ChartRelease,
    node_prometheus: Any,
    tmp_path: Path,
) -> None:
    ns = "rn-oom"
    apps = client.AppsV1Api(api)

    def outgrow_the_limit() -> None:  # the new configuration keeps more than 96Mi resident
        apps.patch_namespaced_deployment(
            "cache",
            ns,
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "app", "env": [{"name": "SHOP_MEMORY_MB", "value": "150"}]}
                            ]
                        }
                    }
                }
            },
        )

    heal(cluster, api, dyn, release, ns, "oom", "cache", "cache", outgrow_the_limit)
    container = apps.read_namespaced_deployment("cache", ns).spec.template.spec.containers[0]
    assert container.resources.limits["memory"] == "256Mi"  # the playbook's bound, not more
    oom = node_prometheus.query_value(
        "max(max_over_time(kube_pod_container_status_last_terminated_reason"
        f'{{namespace="{ns}",reason="OOMKilled"}}[10m]))'
    )
    assert oom and oom >= 1, "the kernel really killed the container for its memory"
    # the kubelet's cAdvisor sees the same containers, by pod and namespace
    memory = node_prometheus.query_value(
        f'max(container_memory_working_set_bytes{{namespace="{ns}",container="app"}})'
    )
    assert memory and memory > 100e6, "the healed containers hold their 150 MB"
    ledger_verifies(cluster, api, release, tmp_path)


def test_wedged_unready_pods_are_replaced(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    release: ChartRelease,
    tmp_path: Path,
) -> None:
    import urllib.request

    ns = "rn-unready"
    core = client.CoreV1Api(api)
    wedged: set[str] = set()

    def wedge_every_pod() -> None:
        for pod in core.list_namespaced_pod(ns, label_selector="app=search").items:
            request = urllib.request.Request(
                f"http://{pod.status.pod_ip}:8080/wedge", data=b"", method="POST"
            )
            with urllib.request.urlopen(request, timeout=5) as answer:
                assert answer.status == 200
            wedged.add(pod.metadata.name)

    heal(cluster, api, dyn, release, ns, "unready", "search", "search", wedge_every_pod)
    now = {p.metadata.name for p in core.list_namespaced_pod(ns, label_selector="app=search").items}
    assert wedged and not (wedged & now), "the wedged pods were replaced by fresh ones"
    ledger_verifies(cluster, api, release, tmp_path)
