"""The chart's ValidatingAdmissionPolicy, applied as-is, and the identities the governance tests use."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kubernetes import client

from grace_lab.localcluster.install import install_admission_policy
from tests.support.kube import wait_for

__all__ = ["install_admission_policy"]

GROUP, VERSION = "grace.dev", "v1alpha1"


def refusal(e: client.ApiException) -> str:
    """The API server's message for a refused request."""
    try:
        return str(json.loads(e.body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(e.body or e.reason)


def wait_enforced(api: Any, namespace: str) -> None:
    """Block until the API server refuses a known-bad decision (a new policy takes a moment)."""
    custom = client.CustomObjectsApi(api)
    forged = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ApprovalRequest",
        "metadata": {
            "name": f"probe-{secrets.token_hex(3)}",
            "annotations": {
                "grace.dev/decision": "approve",
                "grace.dev/decided-by": "somebody-else",
            },
        },
        "spec": {"mission": "probe", "expiresAt": "2099-01-01T00:00:00Z"},
    }

    def refused() -> bool:
        try:
            custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, "approvalrequests", forged, dry_run="All"
            )
        except client.ApiException as e:
            return e.status in (403, 422) and "decided-by must be your own" in refusal(e)
        return False

    wait_for("the admission policy to be enforced", refused, timeout=30)


def allow_creating_missions(api: Any, namespace: str, user: str) -> None:
    """A Role for people who may ask for a run: create Missions (the chart's roles do not)."""
    rbac = client.RbacAuthorizationV1Api(api)
    name = "mission-requester"
    try:
        rbac.create_namespaced_role(
            namespace,
            {
                "metadata": {"name": name},
                "rules": [
                    {
                        "apiGroups": [GROUP],
                        "resources": ["missions"],
                        "verbs": ["create", "get", "list", "watch"],
                    }
                ],
            },
        )
    except client.ApiException as e:
        if e.status != 409:
            raise
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": f"{name}-{user}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
        },
    )


@contextmanager
def acting_as(cluster: Any, user: str) -> Iterator[client.CustomObjectsApi]:
    """grace.dev objects as `user` sees them (their own token, their own RBAC)."""
    api = cluster.api_client(user)
    try:
        yield client.CustomObjectsApi(api)
    finally:
        api.close()


def annotate(
    custom: client.CustomObjectsApi, namespace: str, request: str, annotations: dict[str, str]
) -> Any:
    """What `kubectl annotate approvalrequest NAME k=v ...` sends."""
    return custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "approvalrequests",
        request,
        {"metadata": {"annotations": annotations}},
    )
