"""The chart's RBAC on the real cluster, and `grace run` authenticated as the chart's account.

Only the ServiceAccount, the roles, their bindings and the namespaces the chart renders are
applied (plus its policy ConfigMap): the operator then runs on this machine with a bound token
of that ServiceAccount (TokenRequest), so every API call it makes is authorized exactly as in
the Deployment the chart installs, and a missing permission shows up as a failed Mission.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from grace.ledger.configmapstore import LEDGER_LABEL, WITNESS_LABEL
from grace_lab.localcluster.opa import OpaServer
from tests.conftest import ClusterUnderTest
from tests.e2e.conftest import exporter, prometheus, shop  # noqa: F401  (fixtures reused as they are)
from tests.support.stack import OperatorProcess, ensure_policy_configmap
from tests.unit.chart.chart import of_kind, render, subject_is

REPO = Path(__file__).resolve().parents[3]
RELEASE = "grace"
NAMESPACE = "grace-system"
"""The documented install: the admission policy exempts system:serviceaccount:grace-system:grace."""
SERVICE_ACCOUNT = "grace"
CHART_POLICY = {
    "changeWindows": [],
    "protectedNamespaces": ["kube-system"],
    "maxConcurrentPerNamespace": 1,
    "maxConcurrentCluster": 20,
    "maxPerNamespacePerHour": 100,
}
"""OPEN_POLICY (what the e2e tests run under), as chart values."""


@dataclass
class Release:
    docs: list[dict[str, Any]]
    """Everything the chart renders; only RBAC, namespaces and the policy ConfigMap are applied."""
    namespace: str
    service_account: str
    ledger_namespace: str
    witness_namespace: str

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


def operator_rbac(docs: list[dict[str, Any]], namespace: str, sa: str) -> list[dict[str, Any]]:
    """The ServiceAccount, its bindings and the roles they name (not the people's roles)."""
    bindings = [
        b
        for b in of_kind(docs, "RoleBinding", "ClusterRoleBinding")
        if any(subject_is(s, namespace, sa) for s in b["subjects"])
    ]
    named = {(b["roleRef"]["kind"], b["roleRef"]["name"]) for b in bindings}
    roles = [
        r
        for r in of_kind(docs, "Role", "ClusterRole")
        if (r["kind"], r["metadata"]["name"]) in named
    ]
    account = [a for a in of_kind(docs, "ServiceAccount") if a["metadata"]["name"] == sa]
    return [*account, *roles, *bindings]


def _create_or_replace(api: Any, doc: dict[str, Any]) -> None:
    from kubernetes.dynamic import DynamicClient

    res = DynamicClient(api).resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
    ns = doc["metadata"].get("namespace") if res.namespaced else None
    try:
        res.create(body=doc, namespace=ns)
    except client.ApiException as e:
        if e.status != 409:
            raise
        if doc["kind"] != "Namespace":
            res.replace(body=doc, name=doc["metadata"]["name"], namespace=ns)


def _delete(api: Any, doc: dict[str, Any]) -> None:
    from kubernetes.dynamic import DynamicClient

    res = DynamicClient(api).resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
    ns = doc["metadata"].get("namespace") if res.namespaced else None
    with contextlib.suppress(client.ApiException):
        res.delete(name=doc["metadata"]["name"], namespace=ns)


def _clear_ledger(api: Any, ledger_ns: str, witness_ns: str) -> None:
    """Segments and checkpoints from an earlier run would be chained under another key."""
    core = client.CoreV1Api(api)
    for ns, label in ((ledger_ns, LEDGER_LABEL), (witness_ns, WITNESS_LABEL)):
        with contextlib.suppress(client.ApiException):
            for cm in core.list_namespaced_config_map(ns, label_selector=label).items:
                core.delete_namespaced_config_map(cm.metadata.name, ns)


@pytest.fixture(scope="module")
def release(api: Any) -> Iterator[Release]:
    """The chart's RBAC, ServiceAccount, namespaces and policy ConfigMap, applied for real."""
    docs = render({"policy": {"config": CHART_POLICY}}, release=RELEASE, namespace=NAMESPACE)
    applied = [
        *of_kind(docs, "Namespace"),
        *operator_rbac(docs, NAMESPACE, SERVICE_ACCOUNT),
        *[d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"] == "grace-policy"],
    ]
    with contextlib.suppress(client.ApiException):
        client.CoreV1Api(api).create_namespace({"metadata": {"name": NAMESPACE}})
    for doc in applied:
        _create_or_replace(api, doc)
    rel = Release(docs, NAMESPACE, SERVICE_ACCOUNT, NAMESPACE, f"{NAMESPACE}-witness")
    _clear_ledger(api, rel.ledger_namespace, rel.witness_namespace)
    yield rel
    _clear_ledger(api, rel.ledger_namespace, rel.witness_namespace)
    for doc in reversed(applied):
        if doc["kind"] != "Namespace" and doc["metadata"]["name"] != "grace-policy":
            _delete(api, doc)
    ensure_policy_configmap(api)  # what the other tests sharing grace-system expect there


def service_account_kubeconfig(
    cluster: ClusterUnderTest, api: Any, rel: Release, path: Path
) -> str:
    """A kubeconfig that authenticates as the chart's ServiceAccount, as its pod would.

    A bound token from the TokenRequest API, not impersonation: neither the kubernetes client
    nor kopf honours a kubeconfig's `as:`, and a real token also carries the account's groups.
    """
    token = (
        client.CoreV1Api(api)
        .create_namespaced_service_account_token(
            rel.service_account, rel.namespace, {"spec": {"expirationSeconds": 3600}}
        )
        .status.token
    )
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    context = next(c for c in admin["contexts"] if c["name"] == cluster.context)["context"]
    entry = next(c for c in admin["clusters"] if c["name"] == context["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [entry],
        "users": [{"name": rel.user, "user": {"token": token}}],
        "contexts": [
            {"name": "grace-chart", "context": {"cluster": entry["name"], "user": rel.user}}
        ],
        "current-context": "grace-chart",
    }
    path.write_text(yaml.safe_dump(config))
    return str(path)


@contextlib.contextmanager
def others_paused() -> Iterator[None]:
    """Stop every `grace run` this test session started (the e2e suite's session operator
    watches all namespaces and would race this one), and start them again afterwards."""
    running = [
        o
        for o in gc.get_objects()
        if isinstance(o, OperatorProcess) and o.proc is not None and o.proc.poll() is None
    ]
    for proc in running:
        proc.stop()
    try:
        yield
    finally:
        for proc in running:
            proc.start()


@pytest.fixture(scope="module")
def opa() -> Iterator[OpaServer]:
    """What the chart's sidecar runs: `opa run --server` on the policies the image ships."""
    with OpaServer(REPO / "policies") as server:
        yield server


@pytest.fixture(scope="module")
def operator_as_chart(
    cluster: ClusterUnderTest,
    api: Any,
    release: Release,
    prometheus: Any,  # noqa: F811
    opa: OpaServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """`grace run` with the chart's flags and nothing but the chart's permissions."""
    workdir = tmp_path_factory.mktemp("operator-as-chart")
    kubeconfig = service_account_kubeconfig(cluster, api, release, workdir / "kubeconfig")
    proc = OperatorProcess(
        kubeconfig,
        prometheus.url,
        workdir,
        f"--operator-namespace={release.namespace}",
        f"--identity={release.user}",
        "--ledger-backend=configmap",
        f"--ledger-namespace={release.ledger_namespace}",
        "--policy-engine=opa",
        f"--opa-url={opa.url}",
        "--leader-elect",  # the chart runs two replicas: the Lease is part of what RBAC must allow
    )
    with others_paused():
        proc.start()
        try:
            yield proc
        finally:
            proc.stop()
