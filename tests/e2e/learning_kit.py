"""Fast, repeatable Missions for the learning scenarios, and reading what GRACE learned from them.

A HealthNode here watches two constant signals: `errors` (vector(0): always Healthy, so the
proposer never adds Missions of its own) and `canary`, the metric the playbooks' verification
checks. The canary is 0 until a test switches its query to 10, which a node still reads as
Healthy (its degraded bound is 100) but which fails every verification from then on: a remedy
that used to work and no longer does. Missions are manual, one per run, driven to the end here
(approved as alice when the policy asks a human).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from kubernetes import client

from grace.cli.main import main as grace_main
from tests.e2e.scenario import decide, get
from tests.support.kube import apply, wait_for

BROKEN = "vector(10)"
"""The canary after the world changed: above every playbook's `below: 1` check."""
MODE_PROPOSE = "mode propose: every Mission asks a human first"
TERMINAL = ("Succeeded", "Failed", "RolledBack", "Denied", "Expired", "TimedOut", "Aborted")


def workload(name: str) -> dict[str, Any]:
    return {
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
    }


def health_node(
    name: str, playbooks: list[str], mode: str, ceiling: str | None = None
) -> dict[str, Any]:
    remediation: dict[str, Any] = {"mode": mode, "playbooks": playbooks}
    if ceiling is not None:
        remediation["autonomyCeiling"] = ceiling
    return {
        "apiVersion": "grace.dev/v1alpha1",
        "kind": "HealthNode",
        "metadata": {"name": name},
        "spec": {
            "criticality": "low",
            "target": {"kind": "Deployment", "name": name},
            "interval": "1s",
            "signals": [
                {"name": "errors", "query": "vector(0)", "degraded": {"above": 1}},
                {"name": "canary", "query": "vector(0)", "degraded": {"above": 100}},
            ],
            "remediation": remediation,
        },
    }


def remedy(name: str, *, never_verifies: bool = False) -> dict[str, Any]:
    """A one-second, harmless playbook: verified while the canary is 0 (unless `never_verifies`)."""
    check = {"signal": "canary", "above": 5} if never_verifies else {"signal": "canary", "below": 1}
    return {
        "apiVersion": "grace.dev/v1alpha1",
        "kind": "Playbook",
        "metadata": {"name": name},
        "spec": {
            "description": f"e2e learning {name}",
            "risk": "low",
            "match": {"phases": ["Critical", "Degraded"]},
            "steps": [{"name": "settle", "action": "wait", "with": {"duration": "1s"}}],
            "verify": {
                "timeout": "20s",
                "interval": "1s",
                "stableFor": "1s",
                "failureLimit": 0,
                "checks": [check],
            },
            "onFailure": "rollback",
            "cooldown": "0s",
            "timeout": "2m",
        },
    }


def set_up(dyn: Any, api: Any, namespace: str, docs: list[dict[str, Any]]) -> None:
    """Apply Deployments, Playbooks and HealthNodes; return once every node is Healthy."""
    apply(dyn, docs, namespace)
    apps = client.AppsV1Api(api)

    def available(name: str) -> bool:
        dep = apps.read_namespaced_deployment(name, namespace)
        return bool(dep.status.available_replicas == 1)

    def ready(name: str) -> bool:
        status = get(dyn, "HealthNode", namespace, name).to_dict().get("status") or {}
        return status.get("phase") == "Healthy" and len(status.get("learning") or []) == len(
            docs_playbooks(docs, name)
        )

    for doc in docs:
        name = doc["metadata"]["name"]
        if doc["kind"] == "Deployment":
            wait_for(f"{name} available", partial(available, name), timeout=60)
    for doc in docs:
        name = doc["metadata"]["name"]
        if doc["kind"] == "HealthNode":
            wait_for(
                f"HealthNode {name} Healthy, its learning written",
                partial(ready, name),
                timeout=40,
            )


def docs_playbooks(docs: list[dict[str, Any]], node: str) -> list[str]:
    for doc in docs:
        if doc["kind"] == "HealthNode" and doc["metadata"]["name"] == node:
            return list(doc["spec"]["remediation"]["playbooks"])
    return []


def break_canary(dyn: Any, namespace: str, node: str) -> None:
    """The world changes under the node: its remedy will never verify again."""
    set_query(dyn, namespace, node, "canary", BROKEN, reads=10)


def set_query(dyn: Any, namespace: str, node: str, signal: str, query: str, reads: float) -> None:
    """Point one signal of the node at a new query; return once its status reads `reads`."""
    res = dyn.resources.get(api_version="grace.dev/v1alpha1", kind="HealthNode")
    signals = res.get(name=node, namespace=namespace).to_dict()["spec"]["signals"]
    for each in signals:
        if each["name"] == signal:
            each["query"] = query
    res.patch(
        name=node,
        namespace=namespace,
        body={"spec": {"signals": signals}},
        content_type="application/merge-patch+json",
    )

    def read() -> bool:
        status = get(dyn, "HealthNode", namespace, node).to_dict().get("status") or {}
        return any(
            s.get("name") == signal and s.get("value") == reads for s in status.get("signals") or []
        )

    wait_for(f"{node}'s {signal} to read {reads:g}", read, timeout=30)


@dataclass(frozen=True)
class Run:
    """One Mission as it ended, with how the policy decided it."""

    name: str
    node: str
    playbook: str
    result: str
    tier: str
    reasons: list[str]
    asked_a_human: bool
    phase: str
    verification: str | None


class Runs:
    """Creates manual Missions and drives them to their end, several nodes at a time."""

    def __init__(self, cluster: Any, dyn: Any, namespace: str) -> None:
        self.cluster = cluster
        self.dyn = dyn
        self.namespace = namespace
        self.count = 0

    def round(
        self,
        *pairs: tuple[str, str],
        approve_asks: bool = True,
        dry_run: bool = False,
        timeout: float = 90,
    ) -> dict[str, Run]:
        """One Mission per (node, playbook), at once; approve each that asks; wait for the end.

        With `approve_asks` False a Mission that asks a human is denied instead of approved;
        `dry_run` asks for shadow runs. Returns the runs by node.
        """
        res = self.dyn.resources.get(api_version="grace.dev/v1alpha1", kind="Mission")
        names: dict[str, tuple[str, str]] = {}
        for node, playbook in pairs:
            self.count += 1
            name = f"{node}-{playbook}-{self.count}"
            res.create(
                body={
                    "apiVersion": "grace.dev/v1alpha1",
                    "kind": "Mission",
                    "metadata": {"name": name},
                    "spec": {
                        "healthNode": node,
                        "playbook": playbook,
                        "trigger": "manual",
                        "dryRun": dry_run,
                    },
                },
                namespace=self.namespace,
            )
            names[name] = (node, playbook)
        asked: set[str] = set()
        done: dict[str, Any] = {}
        deadline = time.monotonic() + timeout
        while len(done) < len(names):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"Missions not finished in {timeout:.0f}s: {set(names) - set(done)}"
                )
            for name in names:
                if name in done:
                    continue
                mission = get(self.dyn, "Mission", self.namespace, name).to_dict()
                status = mission.get("status") or {}
                request = (status.get("approval") or {}).get("request")
                if status.get("phase") == "AwaitingApproval" and request and name not in asked:
                    verdict = "approve" if approve_asks else "deny"
                    decide(self.cluster, self.namespace, request, verdict, "alice")
                    asked.add(name)
                if status.get("phase") in TERMINAL and status.get("finishedAt"):
                    done[name] = mission
            time.sleep(0.25)
        runs = {}
        for name, mission in done.items():
            node, playbook = names[name]
            status = mission["status"]
            decision = status.get("decision") or {}
            verification = status.get("verification") or {}
            runs[node] = Run(
                name=name,
                node=node,
                playbook=playbook,
                result=decision.get("result", ""),
                tier=decision.get("tier", ""),
                reasons=list(decision.get("reasons") or []),
                asked_a_human=name in asked,
                phase=status["phase"],
                verification=verification.get("outcome"),
            )
        return runs


def learning(dyn: Any, namespace: str, node: str) -> list[dict[str, Any]]:
    """HealthNode status.learning as the API server returns it, best playbook first."""
    status = get(dyn, "HealthNode", namespace, node).to_dict().get("status") or {}
    return list(status.get("learning") or [])


def entry_of(rows: list[dict[str, Any]], playbook: str) -> dict[str, Any]:
    return next(row for row in rows if row["playbook"] == playbook)


def wait_learned(
    dyn: Any, namespace: str, node: str, playbook: str, timeout: float = 30, **expected: Any
) -> list[dict[str, Any]]:
    """Wait until the node's status shows `expected` (e.g. attempts=3) for the playbook."""

    seen: list[list[dict[str, Any]]] = [[]]

    def probe() -> list[dict[str, Any]] | None:
        rows = seen[0] = learning(dyn, namespace, node)
        row = next((r for r in rows if r["playbook"] == playbook), None)
        if row is None or any(row.get(k) != v for k, v in expected.items()):
            return None
        return rows

    try:
        return wait_for(f"{node} status.learning of {playbook} to show {expected}", probe, timeout)
    except AssertionError as e:
        raise AssertionError(f"{e}; it shows {seen[0]}") from None


def event_messages(api: Any, namespace: str, name: str, reason: str) -> list[str]:
    events = client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},reason={reason}"
    )
    return [e.message for e in events.items]


def autonomy_entries(ledger: Path, namespace: str) -> list[dict[str, Any]]:
    """`grace ledger show LEDGER -n NAMESPACE --type autonomy.changed --json`, parsed."""
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "grace.cli.main",
            "ledger",
            "show",
            str(ledger),
            "-n",
            namespace,
            "--type",
            "autonomy.changed",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return [json.loads(line) for line in shown.stdout.splitlines() if line.strip()]


def grace_cli(capsys: Any, *argv: str) -> tuple[int, str]:
    """`grace learning|stats ARGV` as a user runs it, with its stdout."""
    capsys.readouterr()
    code = grace_main(list(argv))
    return code, capsys.readouterr().out
