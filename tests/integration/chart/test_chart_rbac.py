"""The chart's RBAC on the real API server: enough for a whole Mission, and nothing more."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

from kubernetes import client

from grace.ledger import ConfigMapStore
from tests.conftest import ClusterUnderTest
from tests.e2e.scenario import (
    BAD_IMAGE,
    GOOD_IMAGE,
    approve,
    checkout_node,
    image_of,
    playbook,
    set_image,
    the_mission,
    wait_phase,
)
from tests.integration.chart.conftest import Release
from tests.support.kube import apply, wait_for
from tests.support.stack import OperatorProcess, grant
from tests.unit.chart.chart import Grant, grants


def _allowed(
    api: Any,
    rel: Release,
    verb: str,
    group: str,
    resource: str,
    namespace: str = "",
    name: str = "",
) -> bool:
    """What the API server's authorizer answers for the chart's ServiceAccount."""
    kind, _, sub = resource.partition("/")
    attributes = {
        "verb": verb,
        "group": group,
        "resource": kind,
        "subresource": sub,
        "namespace": namespace,
        "name": name,
    }
    review = {
        "spec": {
            "user": rel.user,
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{rel.namespace}",
                "system:authenticated",
            ],
            "resourceAttributes": {k: v for k, v in attributes.items() if v},
        }
    }
    answer = client.AuthorizationV1Api(api).create_subject_access_review(review)
    return bool(answer.status.allowed)


def _scope(g: Grant) -> str:
    return "" if g.scope == "cluster" else g.scope


def test_api_server_grants_the_account_what_the_chart_says(
    api: Any, release: Release, namespace: str
) -> None:
    table = grants(release.docs, release.namespace, release.service_account)
    assert table
    refused = [
        str(g)
        for g in table
        if not _allowed(api, release, g.verb, g.group, g.resource, _scope(g), g.name)
    ]
    assert not refused, f"rendered but not effective: {refused}"
    # cluster-wide grants reach the namespaces people create later
    assert _allowed(api, release, "patch", "apps", "deployments", namespace)


def test_api_server_refuses_the_account_everything_else(
    api: Any, release: Release, namespace: str
) -> None:
    ns, own, witness = namespace, release.namespace, release.witness_namespace
    forbidden = [
        ("get", "", "secrets", "", ""),
        ("list", "", "secrets", ns, ""),
        ("get", "", "secrets", own, "grace-ledger-key"),
        ("create", "", "pods/exec", ns, ""),
        ("create", "", "pods/attach", ns, ""),
        ("create", "", "pods/portforward", ns, ""),
        ("get", "", "pods/log", ns, ""),
        ("create", "", "pods", ns, ""),
        ("create", "apps", "deployments", ns, ""),
        ("delete", "apps", "deployments", ns, ""),
        ("update", "apps", "deployments", ns, ""),
        ("delete", "apps", "replicasets", ns, ""),
        ("get", "", "configmaps", ns, ""),
        ("create", "", "configmaps", "kube-system", ""),
        ("delete", "", "configmaps", own, ""),
        ("patch", "", "configmaps", own, ""),
        ("update", "", "configmaps", witness, ""),
        ("delete", "", "configmaps", witness, ""),
        ("patch", "grace.dev", "playbooks", ns, ""),
        ("patch", "grace.dev", "healthnodes", ns, ""),
        ("patch", "grace.dev", "missions", ns, ""),
        ("patch", "grace.dev", "approvalrequests", ns, ""),
        ("update", "grace.dev", "healthnodes", ns, ""),
        ("deletecollection", "grace.dev", "missions", ns, ""),  # one at a time, by TTL only
        ("delete", "grace.dev", "approvalrequests", ns, ""),
        ("create", "grace.dev", "healthnodes", ns, ""),
        ("delete", "", "nodes", "", ""),
        ("create", "", "namespaces", "", ""),
        ("create", "rbac.authorization.k8s.io", "clusterroles", "", ""),
        ("create", "rbac.authorization.k8s.io", "rolebindings", ns, ""),
        ("impersonate", "", "users", "", ""),
        ("create", "", "serviceaccounts/token", own, ""),
        ("delete", "admissionregistration.k8s.io", "validatingadmissionpolicies", "", ""),
        ("update", "apiextensions.k8s.io", "customresourcedefinitions", "", ""),
    ]
    allowed = [
        f"{v} {g or 'core'}/{r} in {n or 'cluster'} {name}"
        for v, g, r, n, name in forbidden
        if _allowed(api, release, v, g, r, n, name)
    ]
    assert not allowed, f"the chart's account may do more than it needs: {allowed}"


def test_a_whole_mission_runs_with_only_the_charts_permissions(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    shop: str,
    release: Release,
    operator_as_chart: OperatorProcess,
) -> None:
    """The reference scenario (tests/e2e/test_bad_release.py), operator as the chart deploys it:
    its ServiceAccount's token, the OPA engine, the ConfigMap ledger in the chart's namespace."""
    ns = shop
    grant(api, ns, "alice", "grace-approver")
    apply(dyn, [playbook("rollback-bad-release", [{"name": "undo", "action": "rollback"}])], ns)
    apply(dyn, [checkout_node(ns, ["rollback-bad-release"])], ns)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=40)

    set_image(api, ns, BAD_IMAGE)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Critical", timeout=40)
    mission = the_mission(dyn, ns)
    assert mission.spec.requestedBy == release.user
    waiting = wait_phase(dyn, "Mission", ns, mission.metadata.name, "AwaitingApproval")
    assert waiting.status.decision.result == "require_approval"
    assert waiting.status.decision.engine == "opa-server"

    approve(cluster, ns, waiting.status.approval.request, "alice")
    done = wait_phase(
        dyn, "Mission", ns, mission.metadata.name, "Succeeded", "Failed", "RolledBack", timeout=90
    )
    assert done.status.phase == "Succeeded", f"{done.status.timeline}\n{operator_as_chart.tail()}"
    assert done.status.verification.outcome == "Passed"
    assert done.status.approval.decidedBy == "alice"
    assert image_of(api, ns) == GOOD_IMAGE
    wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=40)

    def reasons() -> set[str]:
        events = client.CoreV1Api(api).list_namespaced_event(
            ns, field_selector=f"involvedObject.name={mission.metadata.name}"
        )
        return {e.reason for e in events.items}

    # Events are created with the chart's permission (the terminal one can race the daemon's
    # cancellation, see the report: only the ones before it are required here).
    wait_for(
        "the Mission's Events", lambda: {"MissionAwaitingApproval", "MissionRunning"} <= reasons()
    )

    # The Mission's entries are in the chart's ConfigMap ledger, written by this operator.
    stored = {
        e.seq: e
        for e in ConfigMapStore(client.CoreV1Api(api), release.ledger_namespace).read_entries()
    }
    refs = done.status.ledger
    assert refs and all(r.seq in stored and stored[r.seq].entry_hash() == r.hash for r in refs)
    verify = subprocess.run(
        [
            sys.executable,
            "-m",
            "grace.cli.main",
            "ledger",
            "verify",
            "--from-cluster",
            f"--ledger-namespace={release.ledger_namespace}",
            f"--witness-namespace={release.witness_namespace}",
            f"--public-key={operator_as_chart.public_key}",
            f"--context={cluster.context}",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": cluster.kubeconfig},
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr

    # Objects another (older) operator left in other namespaces are not this Mission's business.
    mine = {ns, release.namespace, release.witness_namespace}

    def about_this_run(line: str) -> bool:
        return not set(re.findall(r"namespaces/([a-z0-9-]+)/", line)) - mine

    log = operator_as_chart.log.read_text(errors="replace").splitlines()
    denied = [
        line
        for line in log
        if ("forbidden" in line.lower() or " 403" in line) and about_this_run(line)
    ]
    assert not denied, "the operator hit a permission the chart does not grant:\n" + "\n".join(
        denied[:10]
    )
