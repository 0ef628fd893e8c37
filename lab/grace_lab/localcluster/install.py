"""Install GRACE's CRDs into a cluster and wait until the API server serves them."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from grace.api import crdgen

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "grace"
ADMISSION_POLICY = "templates/admission-policy.yaml"


def install_crds(api_client: Any, timeout: float = 60.0) -> None:
    """Create or replace every generated CRD, then wait for Established (idempotent)."""
    ext = client.ApiextensionsV1Api(api_client)
    names = []
    for text in crdgen.rendered().values():
        body = yaml.safe_load(text)
        name = body["metadata"]["name"]
        names.append(name)
        try:
            current = ext.read_custom_resource_definition(name)
            body["metadata"]["resourceVersion"] = current.metadata.resource_version
            ext.replace_custom_resource_definition(name, body)
        except client.ApiException as e:
            if e.status != 404:
                raise
            ext.create_custom_resource_definition(body)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = [n for n in names if not _established(ext, n)]
        if not pending:
            return
        time.sleep(0.2)
    raise TimeoutError(f"CRDs not established after {timeout:.0f}s: {pending}")


def _established(ext: Any, name: str) -> bool:
    crd = ext.read_custom_resource_definition(name)
    return any(
        c.type == "Established" and c.status == "True" for c in (crd.status.conditions or [])
    )


OPERATOR_NAMESPACE = "grace-system"

OPEN_POLICY = {
    "changeWindows": "[]",
    "protectedNamespaces": "[kube-system]",
    "maxConcurrentPerNamespace": "1",
    "maxConcurrentCluster": "20",
    "maxPerNamespacePerHour": "100",
}


def ensure_policy_configmap(api: Any, data: dict[str, str] | None = None) -> None:
    """Write the policy ConfigMap the operator reads (default: no change-window limits,
    generous budgets: what the tests and the demo run under)."""
    core = client.CoreV1Api(api)
    try:
        core.create_namespace({"metadata": {"name": OPERATOR_NAMESPACE}})
    except client.ApiException as e:
        if e.status != 409:
            raise
    body = {"metadata": {"name": "grace-policy"}, "data": data or OPEN_POLICY}
    try:
        core.replace_namespaced_config_map("grace-policy", OPERATOR_NAMESPACE, body)
    except client.ApiException as e:
        if e.status != 404:
            raise
        core.create_namespaced_config_map(OPERATOR_NAMESPACE, body)


def grant(api: Any, namespace: str, user: str, role: str) -> None:
    """Bind one of the chart's user ClusterRoles to `user` in `namespace`."""
    import yaml

    rbac = client.RbacAuthorizationV1Api(api)
    for doc in yaml.safe_load_all((REPO / "charts/grace/templates/user-roles.yaml").read_text()):
        if doc and doc["metadata"]["name"] == role:
            try:
                rbac.create_cluster_role(doc)
            except client.ApiException as e:
                if e.status != 409:
                    raise
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": f"{role}-{user}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
        },
    )


def admission_policy_docs(release: str = "grace", namespace: str = "grace-system") -> list[Any]:
    """The chart's admission policies and bindings, rendered by Helm as `helm install` would."""
    from grace_lab.localcluster.binaries import KUBERNETES_VERSION, ensure_binaries

    done = subprocess.run(
        [
            str(ensure_binaries(verbose=False).helm),
            "template",
            release,
            str(CHART),
            f"--namespace={namespace}",
            f"--show-only={ADMISSION_POLICY}",
            f"--kube-version={KUBERNETES_VERSION}",  # the chart requires >= 1.30; helm assumes 1.20
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"helm template {ADMISSION_POLICY} failed: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def install_admission_policy(api: Any) -> None:
    """Create or replace every policy and binding of the chart, as the chart renders them."""
    admission = client.AdmissionregistrationV1Api(api)
    for doc in admission_policy_docs():
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind == "ValidatingAdmissionPolicy":
            read, create, replace = (
                admission.read_validating_admission_policy,
                admission.create_validating_admission_policy,
                admission.replace_validating_admission_policy,
            )
        elif kind == "ValidatingAdmissionPolicyBinding":
            read, create, replace = (
                admission.read_validating_admission_policy_binding,
                admission.create_validating_admission_policy_binding,
                admission.replace_validating_admission_policy_binding,
            )
        else:
            raise ValueError(f"unexpected {kind} in {ADMISSION_POLICY}")
        try:
            current = read(name)
        except client.ApiException as e:
            if e.status != 404:
                raise
            create(doc)
            continue
        doc["metadata"]["resourceVersion"] = current.metadata.resource_version
        replace(name, doc)
