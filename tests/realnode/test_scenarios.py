"""examples/realnode/ on the real node: real containers fail, the operator pod heals them.

Each scenario applies its example folder (queries pointed at its namespace, intervals
shortened, pods sent to the real node), breaks the workload the way production breaks,
approves as alice, and checks the Mission, the verification against the real metrics and the
ledger the operator pod signed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from grace_lab.localcluster.release import ChartRelease, scenario_documents
from tests.conftest import ClusterUnderTest
from tests.e2e.scenario import approve, the_mission, wait_phase
from tests.realnode.conftest import BuiltImages, wait_for
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


def said(chat: Any, *words: str) -> list[dict[str, Any]]:
    """What the chat received that contains every one of `words`."""
    return [b for b in chat.notifications() if all(w in json.dumps(b) for w in words)]


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
    chat: Any,
    timeout: float = 180,
) -> Any:
    """Apply the example, wait Healthy, `break_it`, wait for the chat to ask, approve the proposed
    Mission as alice, wait for it to succeed and the node to be Healthy again; returns the
    finished Mission.

    Alice answers the chat's question, as on call: a question decided before the operator told
    it is, by design, never told (only its Mission's end is)."""
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
    wait_for(
        f"the chat asked about {mission.metadata.name}",
        partial(said, chat, "GRACE asks", mission.metadata.name),
        90,
    )
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


def _outgrow_the_memory_limit(api: Any, ns: str) -> None:
    """The new configuration keeps more than the 96Mi limit resident."""
    env = [{"name": "SHOP_MEMORY_MB", "value": "150"}]
    client.AppsV1Api(api).patch_namespaced_deployment(
        "cache", ns, {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": env}]}}}}
    )


def _wedge_every_pod(api: Any, ns: str, wedged: set[str]) -> None:
    """POST /wedge to every search pod: each stops answering its readiness probe for good."""
    for pod in client.CoreV1Api(api).list_namespaced_pod(ns, label_selector="app=search").items:
        request = urllib.request.Request(
            f"http://{pod.status.pod_ip}:8080/wedge", data=b"", method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
        wedged.add(pod.metadata.name)


WEDGED: set[str] = set()


@pytest.fixture(scope="module")
def healed(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    release: ChartRelease,
    images: BuiltImages,
    chat: Any,
) -> Iterator[dict[str, Future[Any]]]:
    """The four scenarios, run at once (each in its namespace, one operator for all): each
    test below waits for its own and checks what it proves."""
    scenarios: dict[str, tuple[str, str, Callable[[], None]]] = {
        "rn-bad-release": (
            "bad-release",
            "checkout",
            lambda: set_image(api, "rn-bad-release", "checkout", images.shop["errors"]),
        ),
        "rn-crashloop": (
            "crashloop",
            "payments",
            lambda: set_image(api, "rn-crashloop", "payments", images.shop["crash"]),
        ),
        "rn-oom": ("oom", "cache", lambda: _outgrow_the_memory_limit(api, "rn-oom")),
        "rn-unready": ("unready", "search", lambda: _wedge_every_pod(api, "rn-unready", WEDGED)),
    }
    with ThreadPoolExecutor(len(scenarios)) as pool:
        yield {
            ns: pool.submit(
                heal, cluster, api, dyn, release, ns, folder, name, name, break_it, chat
            )
            for ns, (folder, name, break_it) in scenarios.items()
        }


def test_bad_release_answering_5xx_is_rolled_back(
    api: Any, images: BuiltImages, node_prometheus: Any, healed: dict[str, Future[Any]]
) -> None:
    ns = "rn-bad-release"
    done = healed[ns].result(timeout=600)
    assert image_of(api, ns, "checkout") == images.shop["good"]
    # the verification read what the containers themselves counted
    observed = [c.observed for c in done.status.verification.checks]
    assert observed and all(o is not None and o < 0.02 for o in observed), observed
    errors = node_prometheus.query_value(
        f'sum(increase(http_requests_total{{namespace="{ns}",app="checkout",code="500"}}[10m]))'
    )
    assert errors and errors > 10, "the bad release served real 5xx answers"


def test_crash_looping_release_is_rolled_back(
    api: Any, images: BuiltImages, node_prometheus: Any, healed: dict[str, Future[Any]]
) -> None:
    ns = "rn-crashloop"
    healed[ns].result(timeout=600)
    assert image_of(api, ns, "payments") == images.shop["good"]
    restarts = node_prometheus.query_value(
        f'max(max_over_time(kube_pod_container_status_restarts_total{{namespace="{ns}"}}[10m]))'
    )
    assert restarts and restarts >= 1, "the kubelet really restarted the crashing container"


def test_oom_killed_containers_get_more_memory_within_bounds(
    api: Any, node_prometheus: Any, healed: dict[str, Future[Any]]
) -> None:
    ns = "rn-oom"
    healed[ns].result(timeout=600)
    container = (
        client.AppsV1Api(api)
        .read_namespaced_deployment("cache", ns)
        .spec.template.spec.containers[0]
    )
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


def test_wedged_unready_pods_are_replaced(api: Any, healed: dict[str, Future[Any]]) -> None:
    ns = "rn-unready"
    healed[ns].result(timeout=600)
    pods = client.CoreV1Api(api).list_namespaced_pod(ns, label_selector="app=search").items
    now = {p.metadata.name for p in pods}
    assert WEDGED and not (WEDGED & now), "the wedged pods were replaced by fresh ones"


def test_the_ledger_of_all_four_verifies(
    cluster: ClusterUnderTest,
    api: Any,
    release: ChartRelease,
    healed: dict[str, Future[Any]],
    tmp_path: Path,
) -> None:
    missions = [future.result(timeout=600) for future in healed.values()]
    for mission in missions:
        types = [ref.type for ref in mission.status.ledger]
        assert {"mission.proposed", "approval.decided", "mission.finished"} <= set(types), types
    ledger_verifies(cluster, api, release, tmp_path)


def test_the_on_calls_chat_heard_every_approval_and_outcome(
    chat: Any, healed: dict[str, Future[Any]]
) -> None:
    """From the operator pods, through the chart's channels Secret: each question with its
    approve command, and each Mission's end."""

    for mission in [future.result(timeout=600) for future in healed.values()]:
        name, request = mission.metadata.name, mission.status.approval.request
        asked = said(chat, "GRACE asks", name)  # alice approved once it was there
        assert len(asked) == 1, asked
        assert f"kubectl grace approve {request}" in asked[0]["message"], asked[0]
        ended = partial(said, chat, f"Mission {name} (", "Succeeded")
        wait_for(f"the chat heard {name} end", ended, 60)
