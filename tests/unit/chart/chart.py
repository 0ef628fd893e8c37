"""Render charts/grace with the project's own Helm and read the result: shared by the chart tests.

Also the one place that computes what the chart lets the operator's ServiceAccount do, by
following the rendered bindings to their roles: the unit tests hold it to a fixed table and the
cluster test checks the same table against the real API server's authorizer.
"""

from __future__ import annotations

import copy
import functools
import json
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "grace"
KUBE_VERSION = "1.35.0"
RBAC = "rbac.authorization.k8s.io/v1"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@functools.cache
def helm() -> str:
    """The Helm the project builds from its Go module (cached in ~/.cache/grace)."""
    from grace_lab.localcluster.binaries import ensure_binaries

    return str(ensure_binaries(verbose=False).helm)


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm(), *args], capture_output=True, text=True, timeout=120)


@functools.cache
def _render(values_json: str, release: str, namespace: str, include_crds: bool) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as values:
        values.write(values_json)
        values.flush()
        args = ["template", release, str(CHART), "--namespace", namespace]
        args += ["--kube-version", KUBE_VERSION, "--values", values.name]
        if include_crds:
            args.append("--include-crds")
        done = run_helm(*args)
    if done.returncode != 0:
        raise AssertionError(f"helm template failed:\n{done.stderr}")
    return done.stdout


def render(
    values: Mapping[str, Any] | None = None,
    *,
    release: str = "grace",
    namespace: str = "grace-system",
    include_crds: bool = False,
) -> list[dict[str, Any]]:
    """Every object `helm template` renders (fresh copies: tests may change them)."""
    text = _render(json.dumps(values or {}, sort_keys=True), release, namespace, include_crds)
    return [copy.deepcopy(d) for d in yaml.safe_load_all(text) if d]


def refusal(values: Mapping[str, Any]) -> str:
    """Helm's error for values it must refuse; fails the test when Helm renders them."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        file.write(json.dumps(values))
        file.flush()
        done = run_helm(
            "template", "grace", str(CHART), "--kube-version", KUBE_VERSION, "-f", file.name
        )
    assert done.returncode != 0, f"helm rendered values it should refuse: {values}"
    return done.stderr


def one(docs: Iterable[Mapping[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [dict(d) for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def of_kind(docs: Iterable[Mapping[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [dict(d) for d in docs if d["kind"] in kinds]


def dashboard() -> dict[str, Any]:
    """The Grafana dashboard the chart ships, as Grafana's sidecar reads it."""
    cm = one(render(), "ConfigMap", "grace-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    board: dict[str, Any] = json.loads(cm["data"]["grace.json"])
    return board


def container(deployment: Mapping[str, Any], name: str) -> dict[str, Any]:
    spec = deployment["spec"]["template"]["spec"]
    for c in [*spec.get("initContainers", []), *spec["containers"]]:
        if c["name"] == name:
            return dict(c)
    raise AssertionError(f"no container {name!r} in the Deployment")


# -- what the ServiceAccount may do ------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Grant:
    """One verb on one resource, where: `scope` is "cluster" or a namespace."""

    scope: str
    group: str
    resource: str
    verb: str
    name: str = ""
    """A resourceNames entry, or "" for every object."""

    def __str__(self) -> str:
        target = f"{self.group or 'core'}/{self.resource}" + (f"/{self.name}" if self.name else "")
        return f"{self.verb} {target} in {self.scope}"


def _expand(rules: Iterable[Mapping[str, Any]], scope: str) -> set[Grant]:
    out: set[Grant] = set()
    for rule in rules:
        assert not rule.get("nonResourceURLs"), "the operator needs no non-resource URL"
        names = rule.get("resourceNames") or [""]
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                for verb in rule.get("verbs", []):
                    out.update(Grant(scope, group, resource, verb, n) for n in names)
    return out


def subject_is(subject: Mapping[str, Any], namespace: str, service_account: str) -> bool:
    return (
        subject.get("kind") == "ServiceAccount"
        and subject.get("name") == service_account
        and subject.get("namespace") == namespace
    )


def grants(docs: Iterable[Mapping[str, Any]], namespace: str, service_account: str) -> set[Grant]:
    """Everything the rendered bindings give `system:serviceaccount:<namespace>:<sa>`."""
    docs = list(docs)
    by_name = {
        (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
        for d in docs
        if d["kind"] in ("Role", "ClusterRole")
    }
    out: set[Grant] = set()
    for binding in of_kind(docs, "RoleBinding", "ClusterRoleBinding"):
        if not any(subject_is(s, namespace, service_account) for s in binding["subjects"]):
            continue
        ref = binding["roleRef"]
        bound_ns = binding["metadata"].get("namespace", "")
        role_ns = "" if ref["kind"] == "ClusterRole" else bound_ns
        role = by_name.get((ref["kind"], role_ns, ref["name"]))
        assert role is not None, f"{binding['metadata']['name']} binds a role the chart lacks"
        scope = "cluster" if binding["kind"] == "ClusterRoleBinding" else bound_ns
        out |= _expand(role.get("rules", []), scope)
    return out


def table(rows: Iterable[tuple[str, str, str]]) -> set[Grant]:
    """Grants written as (scope, "group/resource[:name]", "verb verb ..."); "core" is ""."""
    out: set[Grant] = set()
    for scope, target, verbs in rows:
        group, _, rest = target.partition("/")
        resource, _, name = rest.partition(":")
        group = "" if group == "core" else group
        out.update(Grant(scope, group, resource, verb, name) for verb in verbs.split())
    return out
