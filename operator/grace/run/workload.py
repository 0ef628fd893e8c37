"""The door to the cluster for one Mission: its target workload, that workload's pods, their nodes.

Nothing else is reachable from here: every read and write names the target (kind, name) in
the HealthNode's namespace, and pods or ReplicaSets count only when their controller chain
leads to the target's uid.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from kubernetes import client

from grace.api.healthnode import Target

JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE = "application/strategic-merge-patch+json"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


def is_not_found(e: Exception) -> bool:
    return isinstance(e, client.ApiException) and e.status == 404


def controller_uid(obj: Mapping[str, Any]) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def label_selector(selector: Mapping[str, Any]) -> str:
    """A LabelSelector as the `labelSelector` query string the API accepts."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    if not parts:
        raise ValueError("an empty selector would select every pod in the namespace")
    return ",".join(parts)


class Workload:
    """One target workload in one namespace, read and changed only through these methods."""

    def __init__(self, api_client: Any, target: Target, namespace: str) -> None:
        if not namespace:
            raise ValueError("a workload needs its namespace")
        self.api_client = api_client
        self.target = target
        self.namespace = namespace
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.autoscaling = client.AutoscalingV2Api(api_client)

    @property
    def ref(self) -> str:
        return f"{self.target.kind}/{self.target.name}"

    def _dict(self, obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = self.api_client.sanitize_for_serialization(obj)
        return out

    # ------------------------------------------------------------ the target itself

    def read(self) -> dict[str, Any] | None:
        """The target as the API returns it (camelCase), or None when it does not exist."""
        try:
            if self.target.kind == "Deployment":
                obj = self.apps.read_namespaced_deployment(self.target.name, self.namespace)
            else:
                obj = self.apps.read_namespaced_stateful_set(self.target.name, self.namespace)
        except client.ApiException as e:
            if e.status == 404:
                return None
            raise
        out = self._dict(obj)
        out.setdefault("kind", self.target.kind)
        return out

    def patch(self, body: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
        """A JSON patch (list) or a strategic merge patch (dict) of the target."""
        content_type = JSON_PATCH if isinstance(body, list) else STRATEGIC_MERGE
        if self.target.kind == "Deployment":
            obj = self.apps.patch_namespaced_deployment(
                self.target.name, self.namespace, body, _content_type=content_type
            )
        else:
            obj = self.apps.patch_namespaced_stateful_set(
                self.target.name, self.namespace, body, _content_type=content_type
            )
        out = self._dict(obj)
        out.setdefault("kind", self.target.kind)
        return out

    # ------------------------------------------------------------ what the target controls

    def replica_sets(self, obj: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The Deployment's ReplicaSet history (those whose controller is this Deployment)."""
        if self.target.kind != "Deployment":
            return []
        uid = obj["metadata"]["uid"]
        selector = label_selector(obj["spec"]["selector"])
        items = self.apps.list_namespaced_replica_set(self.namespace, label_selector=selector).items
        return [rs for rs in map(self._dict, items) if controller_uid(rs) == uid]

    def pods(self, obj: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Pods whose controller chain leads to the target."""
        owners = self._pod_owners(obj)
        selector = label_selector(obj["spec"]["selector"])
        items = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        return [p for p in map(self._dict, items) if controller_uid(p) in owners]

    def _pod_owners(self, obj: Mapping[str, Any]) -> set[str]:
        if self.target.kind == "Deployment":
            return {rs["metadata"]["uid"] for rs in self.replica_sets(obj)}
        return {obj["metadata"]["uid"]}

    def owns_pod(self, obj: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
        return controller_uid(pod) in self._pod_owners(obj)

    def read_pod(self, name: str) -> dict[str, Any] | None:
        try:
            return self._dict(self.core.read_namespaced_pod(name, self.namespace))
        except client.ApiException as e:
            if e.status == 404:
                return None
            raise

    def delete_pod(self, name: str, uid: str) -> bool:
        """Delete exactly that pod (by uid); False when it is already gone or was replaced."""
        body = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
        try:
            self.core.delete_namespaced_pod(name, self.namespace, body=body)
        except client.ApiException as e:
            if e.status in (404, 409):
                return False
            raise
        return True

    def evict_pod(self, name: str, uid: str) -> tuple[Literal["evicted", "gone", "refused"], str]:
        """Ask the Eviction API to evict exactly that pod (by uid). "refused" carries the API's
        reason (a PodDisruptionBudget that allows no disruption now); nothing is forced."""
        body = client.V1Eviction(
            metadata=client.V1ObjectMeta(name=name, namespace=self.namespace),
            delete_options=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid)),
        )
        try:
            self.core.create_namespaced_pod_eviction(name, self.namespace, body)
        except client.ApiException as e:
            if e.status in (404, 409):
                return "gone", ""
            if e.status == 429:
                return "refused", _api_message(e)
            raise
        return "evicted", ""

    # ------------------------------------------------------------ the target's autoscaler

    def autoscalers(self) -> list[dict[str, Any]]:
        """HorizontalPodAutoscalers whose scaleTargetRef is the target."""
        items = self.autoscaling.list_namespaced_horizontal_pod_autoscaler(self.namespace).items
        return [
            hpa
            for hpa in map(self._dict, items)
            if (hpa.get("spec") or {}).get("scaleTargetRef", {}).get("kind") == self.target.kind
            and hpa["spec"]["scaleTargetRef"].get("name") == self.target.name
        ]

    def read_autoscaler(self, name: str) -> dict[str, Any] | None:
        try:
            return self._dict(
                self.autoscaling.read_namespaced_horizontal_pod_autoscaler(name, self.namespace)
            )
        except client.ApiException as e:
            if e.status == 404:
                return None
            raise

    def set_autoscaler_bounds(self, name: str, uid: str, minimum: int, maximum: int) -> None:
        """Set minReplicas/maxReplicas of that HPA, failing if it was replaced."""
        body = {"metadata": {"uid": uid}, "spec": {"minReplicas": minimum, "maxReplicas": maximum}}
        self.autoscaling.patch_namespaced_horizontal_pod_autoscaler(
            name, self.namespace, body, _content_type=STRATEGIC_MERGE
        )

    # ------------------------------------------------------------ nodes running the target's pods

    def nodes(self) -> list[dict[str, Any]]:
        return [self._dict(n) for n in self.core.list_node().items]

    def read_node(self, name: str) -> dict[str, Any] | None:
        try:
            return self._dict(self.core.read_node(name))
        except client.ApiException as e:
            if e.status == 404:
                return None
            raise

    def set_unschedulable(self, name: str, uid: str, value: bool) -> None:
        """Cordon (True) or uncordon (False) that node, failing if it was replaced."""
        body = {"metadata": {"uid": uid}, "spec": {"unschedulable": value}}
        self.core.patch_node(name, body, _content_type=STRATEGIC_MERGE)


def _api_message(e: Exception) -> str:
    """The `message` of a Kubernetes Status in an API error body, else its reason."""
    try:
        return str(json.loads(getattr(e, "body", "") or "{}").get("message") or "")
    except ValueError:
        return str(getattr(e, "reason", "") or e)
