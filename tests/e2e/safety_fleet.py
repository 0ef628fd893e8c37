"""A fleet of simulated services for the blast-radius scenarios: N HealthNodes spread over a few
namespaces, each watching its own one-replica Deployment, all breakable at once."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from kubernetes import client

from grace_lab.sim import Scope, ShopExporter
from tests.e2e.scenario import items, playbook
from tests.support.kube import apply, wait_for
from tests.support.stack import OperatorProcess, grant

GOOD = "registry.example/fleet/svc:2.0.0"
BAD = "registry.example/fleet/svc:2.0.1-bad"
PLAYBOOK = "rollback-bad-release"


def error_rate(namespace: str, app: str) -> str:
    sel = f'namespace="{namespace}",app="{app}"'
    return (
        f'sum(rate(shop_http_requests_total{{{sel},code=~"5.."}}[5s]))'
        f" / sum(rate(shop_http_requests_total{{{sel}}}[5s]))"
    )


def deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name, "app.kubernetes.io/part-of": "shop"}},
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": GOOD}]},
            },
        },
    }


def health_node(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "grace.dev/v1alpha1",
        "kind": "HealthNode",
        "metadata": {"name": name},
        "spec": {
            "criticality": "medium",
            "target": {"kind": "Deployment", "name": name},
            "interval": "2s",
            "signals": [
                {
                    "name": "error-rate",
                    "query": error_rate(namespace, name),
                    "degraded": {"above": 0.02},
                    "critical": {"above": 0.10},
                    "for": "2s",
                }
            ],
            "remediation": {"mode": "autonomous", "playbooks": [PLAYBOOK]},
        },
    }


def fleet_playbook() -> dict[str, Any]:
    return playbook(
        PLAYBOOK,
        [{"name": "undo", "action": "rollback"}],
        verify={
            "timeout": "40s",
            "interval": "1s",
            "initialDelay": "5s",
            "checks": [{"signal": "error-rate", "below": 0.05}],
            "failureLimit": 15,
            "stableFor": "2s",
        },
    )


@dataclass
class Fleet:
    api: Any
    dyn: Any
    namespaces: list[str]
    per_namespace: int
    nodes: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.nodes = [
            (ns, f"svc-{i:02d}") for ns in self.namespaces for i in range(self.per_namespace)
        ]

    def deploy(self, exporter: ShopExporter) -> None:
        apps = client.AppsV1Api(self.api)
        for ns in self.namespaces:
            grant(self.api, ns, "alice", "grace-approver")
            apply(self.dyn, [fleet_playbook()], ns)
            for _, name in (n for n in self.nodes if n[0] == ns):
                apps.create_namespaced_deployment(ns, deployment(name))

        def available(namespace: str) -> bool:
            return all(
                d.status.available_replicas == 1
                for d in apps.list_namespaced_deployment(namespace).items
            )

        for ns in self.namespaces:
            wait_for(f"every Deployment of {ns} available", partial(available, ns), 90, 0.5)
            exporter.add_scope(Scope(ns))

    def watch_health(self) -> None:
        for ns in self.namespaces:
            apply(self.dyn, [health_node(ns, name) for n, name in self.nodes if n == ns], ns)
        wait_for(
            "every HealthNode Healthy",
            lambda: self.phases().get("Healthy", 0) == len(self.nodes),
            timeout=90,
            interval=1,
        )

    def phases(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for ns in self.namespaces:
            for node in items(self.dyn, "HealthNode", ns):
                phase = (node.get("status") or {}).get("phase") or "None"
                out[phase] = out.get(phase, 0) + 1
        return out

    def break_all(self) -> None:
        """One bad release everywhere at once (a shared base image gone wrong)."""
        apps = client.AppsV1Api(self.api)
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": BAD}]}}}}
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(lambda n: apps.patch_namespaced_deployment(n[1], n[0], patch), self.nodes)
            )

    def missions(self) -> list[Any]:
        return [m for ns in self.namespaces for m in items(self.dyn, "Mission", ns)]


@contextmanager
def fleet(
    api: Any, dyn: Any, exporter: ShopExporter, namespaces: int, per_namespace: int
) -> Iterator[Fleet]:
    core = client.CoreV1Api(api)
    names = [f"t-fleet-{secrets.token_hex(3)}" for _ in range(namespaces)]
    for ns in names:
        core.create_namespace({"metadata": {"name": ns, "labels": {"grace.dev/test": "true"}}})
    f = Fleet(api, dyn, names, per_namespace)
    try:
        f.deploy(exporter)
        yield f
    finally:
        for ns in names:
            exporter.remove_scope(ns)
            core.delete_namespace(ns, propagation_policy="Background")


def seed_track_record(
    operator: OperatorProcess, nodes: list[tuple[str, str]], playbook: str, successes: int = 4
) -> None:
    """Give every node a history of verified successes with `playbook`, in the operator's own
    ledger (signed with its key), and restart it so learning is rebuilt from that ledger.

    Four successes put the posterior mean at 5/6 > 0.8: the policy then lets a low-risk
    playbook run without a human, as it would for a fleet whose remedies have proven themselves.
    """
    from grace.ledger import FileStore, Ledger, Signer, Subject

    operator.stop()
    ledger = Ledger(FileStore(operator.ledger), Signer.from_file(operator.key), "grace.dev/ledger")
    stamp = int(time.time())
    for ns, node in nodes:
        for i in range(successes):
            uid = f"history-{stamp}-{ns}-{node}-{i}"
            ledger.append(
                "mission.finished",
                Subject(kind="Mission", namespace=ns, name=f"{node}-history-{i}", uid=uid[:64]),
                {
                    "mission": f"{node}-history-{i}",
                    "healthNode": node,
                    "playbook": playbook,
                    "dryRun": False,
                    "outcome": "Succeeded",
                    "verification": "Passed",
                    "message": "track record seeded by the blast-radius test",
                },
                f"{uid}/finished",
            )
    operator.start()
