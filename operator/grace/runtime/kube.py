"""The Kubernetes edge for GRACE's own kinds: read, create, patch status, post Events (sync calls)."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from kubernetes import client

from grace.api.common import GROUP, VERSION

PLURALS = {
    "HealthNode": "healthnodes",
    "Playbook": "playbooks",
    "Mission": "missions",
    "ApprovalRequest": "approvalrequests",
}


class Kube:
    """Thin, typed-at-the-edge wrapper over the kubernetes client; all calls are blocking."""

    def __init__(self, api_client: Any, component: str = "grace") -> None:
        self.api_client = api_client
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
        self.component = component

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
