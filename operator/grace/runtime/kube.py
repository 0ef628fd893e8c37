"""The Kubernetes edge for GRACE's own kinds: read, create, patch status, post Events (sync calls).

`Kube.connect` is the one way the operator and the CLI get a client; what it cannot do (no
kubeconfig, no such context, an API server that does not answer) is a `ClusterUnavailableError`
saying what to check, never a library traceback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
from typing import Any

from kubernetes import client
from kubernetes import config as kubeconfig

from grace.api.common import GROUP, VERSION

PLURALS = {
    "HealthNode": "healthnodes",
    "Playbook": "playbooks",
    "Mission": "missions",
    "ApprovalRequest": "approvalrequests",
}


class ClusterUnavailableError(Exception):
    """No usable kubeconfig, or no API server answering it: one line saying what to check."""


def kubeconfig_location(path: str | None) -> str:
    """The kubeconfig file(s) kubectl would read: `path`, else $KUBECONFIG (as it is now, not
    as it was when the kubernetes client was imported), else ~/.kube/config."""
    return path or os.environ.get("KUBECONFIG") or "~/.kube/config"


def _kubeconfig_problem(e: Exception, where: str, context: str | None) -> str:
    text = str(e)
    if "No configuration found" in text:
        return f"no kubeconfig at {where}: point KUBECONFIG at your cluster's kubeconfig"
    if context and f"name {context} in" in text:
        return f"no context {context!r} in {where} (`kubectl config get-contexts` lists them)"
    detail = re.sub(r"^Invalid kube-config file\.\s*", "", text)
    return f"unusable kubeconfig {where}: {detail}"


def connection_problem(e: Exception, server: str | None = None) -> str:
    """A urllib3 connection failure, as the one sentence a person acts on."""
    pool = getattr(e, "pool", None)
    if server is None and pool is not None:
        server = f"{pool.host}:{pool.port}"
    reason = str(getattr(e, "reason", None) or e)
    reason = reason.rsplit("): ", 1)[-1].rsplit(">: ", 1)[-1].rstrip("')\"")
    return (
        f"cannot reach the API server{f' at {server}' if server else ''}: {reason} "
        "(is the cluster up? check KUBECONFIG and the context)"
    )


def api_problem(e: client.ApiException) -> str:
    """The API server's refusal in its own words, with the usual cause when there is one."""
    message = ""
    body = e.body.decode(errors="replace") if isinstance(e.body, bytes) else e.body
    if isinstance(body, str) and body:
        try:
            message = str(json.loads(body).get("message") or "")
        except (ValueError, AttributeError):
            message = body.strip()
    hint = {
        401: "your credentials were not accepted (check the kubeconfig's user)",
        403: "you lack the RBAC permission for this",
    }.get(e.status or 0, "")
    if e.status == 404 and (not message or "could not find the requested resource" in message):
        hint = "no such kind here: are GRACE's CRDs installed? (`grace crds | kubectl apply -f -`)"
    said = f"{e.status} {e.reason}" + (f": {message}" if message else "")
    return f"the API server answered {said}" + (f"; {hint}" if hint else "")


class Kube:
    """Thin, typed-at-the-edge wrapper over the kubernetes client; all calls are blocking."""

    def __init__(self, api_client: Any, component: str = "grace") -> None:
        self.api_client = api_client
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
        self.component = component

    @classmethod
    def connect(
        cls,
        kubeconfig_path: str | None = None,
        context: str | None = None,
        *,
        in_cluster: bool = False,
        impersonate: str | None = None,
        impersonate_group: str | None = None,
        component: str = "grace",
    ) -> Kube:
        """A client for the pod's service account (when `in_cluster` and in a pod), else for
        the kubeconfig's `context` (default: the current one); `impersonate` is `kubectl --as`.
        Builds the client only: `probe` asks the API server whether it answers."""
        api: Any = None
        if in_cluster:
            with contextlib.suppress(kubeconfig.ConfigException):
                kubeconfig.load_incluster_config()
                api = client.ApiClient()
        if api is None:
            where = kubeconfig_location(kubeconfig_path)
            try:
                api = kubeconfig.new_client_from_config(config_file=where, context=context)
            except (kubeconfig.ConfigException, OSError) as e:
                raise ClusterUnavailableError(_kubeconfig_problem(e, where, context)) from e
        if impersonate:
            api.set_default_header("Impersonate-User", impersonate)
            if impersonate_group:
                api.set_default_header("Impersonate-Group", impersonate_group)
        return cls(api, component)

    def probe(self, timeout: float = 10.0) -> None:
        """Ask the API server for its version: raise ClusterUnavailableError when it does not answer."""
        server = self.api_client.configuration.host
        try:
            client.VersionApi(self.api_client).get_code(_request_timeout=timeout)
        except client.ApiException as e:
            raise ClusterUnavailableError(f"{server}: {api_problem(e)}") from e
        except Exception as e:  # urllib3: refused, TLS, DNS, timeout
            raise ClusterUnavailableError(connection_problem(e, server)) from e

    def whoami(self) -> str | None:
        """The user name the API server knows this client by (`kubectl auth whoami`)."""
        review = client.AuthenticationV1Api(self.api_client).create_self_subject_review(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        )
        username = review.status.user_info.username if review.status else None
        return str(username) if username else None

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURALS[kind], name
            )
            return obj
        except client.ApiException as e:
            if e.status == 404:
                return None
            raise

    def list(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        if namespace:
            out = self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURALS[kind]
            )
        else:
            out = self.custom.list_cluster_custom_object(GROUP, VERSION, PLURALS[kind])
        items: list[dict[str, Any]] = out.get("items", [])
        return items

    def create(self, kind: str, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Create, or None when the name is taken (the API server's uniqueness is our dedup)."""
        try:
            obj: dict[str, Any] = self.custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURALS[kind], body
            )
            return obj
        except client.ApiException as e:
            if e.status == 409:
                return None
            raise

    def delete(self, kind: str, namespace: str, name: str, uid: str) -> bool:
        """Delete this very object (a precondition on its uid); False when it is already gone."""
        try:
            self.custom.delete_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                PLURALS[kind],
                name,
                body={"preconditions": {"uid": uid}},
            )
            return True
        except client.ApiException as e:
            if e.status in (404, 409):
                return False
            raise

    def patch_status(
        self, kind: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch status; a None value removes that field."""
        obj: dict[str, Any] = self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURALS[kind], name, {"status": status}
        )
        return obj

    def patch_meta(
        self, kind: str, namespace: str, name: str, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        obj: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURALS[kind], name, {"metadata": metadata}
        )
        return obj

    def event(
        self,
        obj: dict[str, Any],
        reason: str,
        message: str,
        type_: str = "Normal",
    ) -> None:
        """A Kubernetes Event on `obj`, as `kubectl describe` shows it."""
        meta = obj["metadata"]
        now = dt.datetime.now(dt.UTC)
        body = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", f"{GROUP}/{VERSION}"),
                "kind": obj["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": self.component},
            "firstTimestamp": now.isoformat(),
            "lastTimestamp": now.isoformat(),
            "count": 1,
        }
        # An Event is a courtesy: never let it break a reconcile.
        with contextlib.suppress(client.ApiException):
            self.core.create_namespaced_event(meta["namespace"], body)


def context_namespace(kubeconfig_path: str | None, context: str | None) -> str:
    """The namespace of the kube context in use, as kubectl picks it ("default" if unset)."""
    try:
        contexts, active = kubeconfig.list_kube_config_contexts(
            config_file=kubeconfig_location(kubeconfig_path)
        )
    except (kubeconfig.ConfigException, OSError):
        return "default"
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")
