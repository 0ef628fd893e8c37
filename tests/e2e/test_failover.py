"""Two replicas, the active one killed again and again: no Mission lost, no action done twice."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kubernetes import client

from grace_lab.localcluster.graceprocess import OperatorProcess
from grace_lab.localcluster.install import OPEN_POLICY, ensure_policy_configmap, grant
from grace_lab.localcluster.prometheus import PrometheusServer
from tests.conftest import ClusterUnderTest
from tests.e2e.scenario import approve, items
from tests.support.kube import apply, wait_for

MISSIONS = 20
OPERATOR_NS = "grace-system"


def _workload(i: int) -> list[dict[str, Any]]:
    name = f"web-{i}"
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "example/web:1"}]},
                },
            },
        },
        {
            "apiVersion": "grace.dev/v1alpha1",
            "kind": "HealthNode",
            "metadata": {"name": name},
            "spec": {
                "criticality": "low",
                "target": {"kind": "Deployment", "name": name},
                "interval": "2s",
                "signals": [{"name": "errors", "query": "vector(0)", "degraded": {"above": 1}}],
                "remediation": {"mode": "autonomous", "playbooks": ["restart"]},
            },
        },
    ]


RESTART = {
    "apiVersion": "grace.dev/v1alpha1",
    "kind": "Playbook",
    "metadata": {"name": "restart"},
    "spec": {
        "risk": "low",
        "steps": [
            {"name": "settle", "action": "wait", "with": {"duration": "2s"}},
            {"name": "restart", "action": "rolloutRestart"},
            {"name": "observe", "action": "wait", "with": {"duration": "2s"}},
        ],
        "verify": {"timeout": "30s", "interval": "1s", "stableFor": "1s"},
        "onFailure": "keep",
        "cooldown": "0s",
        "timeout": "3m",
    },
}


def _mission(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "grace.dev/v1alpha1",
        "kind": "Mission",
        "metadata": {"name": f"restart-web-{i}"},
        "spec": {"healthNode": f"web-{i}", "playbook": "restart", "trigger": "manual"},
    }


def _leader_pid(api: Any) -> int | None:
    try:
        lease = client.CoordinationV1Api(api).read_namespaced_lease("grace-leader", OPERATOR_NS)
    except client.ApiException:
        return None
    holder = lease.spec.holder_identity or ""
    return int(holder.rsplit("-", 1)[1]) if "-" in holder else None


def test_two_replicas_survive_repeated_leader_kills(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    namespace: str,
    tmp_path: Path,
    operator: OperatorProcess,
) -> None:
    operator.stop()  # the session's operator watches every namespace: only the replicas may act
    try:
        _run_failover(cluster, api, dyn, namespace, tmp_path)
    finally:
        operator.start()


def _run_failover(
    cluster: ClusterUnderTest, api: Any, dyn: Any, namespace: str, tmp_path: Path
) -> None:
    core = client.CoreV1Api(api)
    ensure_policy_configmap(
        api, {**OPEN_POLICY, "maxConcurrentPerNamespace": "50", "maxConcurrentCluster": "100"}
    )
    ledger_ns = f"ledger-{secrets.token_hex(4)}"  # a ledger of its own: one signing key
    for ns in (ledger_ns, f"{ledger_ns}-witness"):
        core.create_namespace({"metadata": {"name": ns}})
    grant(api, namespace, "alice", "grace-approver")
    apply(dyn, [RESTART], namespace)
    for i in range(MISSIONS):
        apply(dyn, _workload(i), namespace)
    apps = client.AppsV1Api(api)
    wait_for(
        "every web Deployment available",
        lambda: all(
            (d.status.available_replicas or 0) == 1
            for d in apps.list_namespaced_deployment(namespace).items
        ),
        timeout=90,
    )

    with PrometheusServer(scrape_interval=1) as prom:
        args = (
            "--leader-elect",
            "--ledger-backend=configmap",
            f"--ledger-namespace={ledger_ns}",
            f"--namespace={namespace}",
        )
        replicas = [
            OperatorProcess(cluster.kubeconfig, prom.url, tmp_path, *args, name=f"replica-{r}")
            for r in range(2)
        ]
        for r in replicas:
            r.start()
        try:
            created, kills, last_kill, approved = 0, 0, time.monotonic(), set()
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if created < MISSIONS and (created == 0 or time.monotonic() - last_kill > 1):
                    for i in range(created, min(created + 5, MISSIONS)):
                        dyn.resources.get(api_version="grace.dev/v1alpha1", kind="Mission").create(
                            body=_mission(i), namespace=namespace
                        )
                    created = min(created + 5, MISSIONS)
                missions = items(dyn, "Mission", namespace)
                for m in missions:
                    req = ((m.get("status") or {}).get("approval") or {}).get("request")
                    if req and req not in approved and m.status.approval.state == "Pending":
                        approve(cluster, namespace, req)
                        approved.add(req)
                done = [m for m in missions if (m.get("status") or {}).get("phase") == "Succeeded"]
                if len(done) == MISSIONS:
                    break
                busy = any(
                    (m.get("status") or {}).get("phase") in ("Running", "Verifying")
                    for m in missions
                )
                if kills < 5 and busy and time.monotonic() - last_kill > 6:
                    pid = _leader_pid(api)
                    active = next((r for r in replicas if r.proc and r.proc.pid == pid), None)
                    if active is not None:
                        active.kill()
                        kills += 1
                        last_kill = time.monotonic()
                        active.start()  # back as a standby, like a restarted pod
                for r in replicas:
                    if r.proc is not None and r.proc.poll() is not None:
                        r.start()  # a replica that stepped down exits; its pod would restart
                time.sleep(0.5)
            phases = {
                m.metadata.name: (m.get("status") or {}).get("phase")
                for m in items(dyn, "Mission", namespace)
            }
            assert kills >= 3, f"the active replica was killed only {kills} times"
            assert all(p == "Succeeded" for p in phases.values()) and len(phases) == MISSIONS, (
                phases
            )
        finally:
            for r in replicas:
                r.stop()

    for i in range(MISSIONS):
        rs = apps.list_namespaced_replica_set(namespace, label_selector=f"app=web-{i}").items
        assert len(rs) == 2, f"web-{i}: {len(rs)} ReplicaSets: the restart ran {len(rs) - 1} times"
    verify = subprocess.run(
        [
            sys.executable,
            "-m",
            "grace.cli.main",
            "ledger",
            "verify",
            "--from-cluster",
            f"--ledger-namespace={ledger_ns}",
            "--public-key",
            str(replicas[0].public_key),
            "--context",
            cluster.context,
        ],
        capture_output=True,
        text=True,
        env={"KUBECONFIG": cluster.kubeconfig, "PATH": "/usr/bin:/bin"},
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    for ns in (ledger_ns, f"{ledger_ns}-witness"):
        core.delete_namespace(ns)
