"""Policy data from the grace-policy ConfigMap: a pure parser, and a reloader engines follow.

Each ConfigMap key is one field of data.grace.config, written as YAML (JSON is YAML too):

    changeWindows: |
      - {days: [Mon, Tue, Wed, Thu, Fri], start: "09:00", end: "17:00", timezone: UTC}
    protectedNamespaces: kube-system, payments      # or a YAML list
    maxConcurrentPerNamespace: "1"
    maxConcurrentCluster: "5"
    maxPerNamespacePerHour: "6"

A missing or empty key keeps its default; an unknown key or a bad value is refused as a whole
and the last good data stays in force (like a Prometheus reload), so a typo never loosens policy.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any, Protocol

import yaml
from pydantic import ValidationError

from grace.govern.model import PolicyData

POLICY_CONFIGMAP = "grace-policy"

_KEYS = {field.alias or name: name for name, field in PolicyData.model_fields.items()}


class PolicyDataError(ValueError):
    """The ConfigMap does not describe valid policy data; the message says which key and why."""


class DataSink(Protocol):
    """An engine, a FailClosed or a Governor: anything that takes new policy data."""

    def set_data(self, data: PolicyData) -> None: ...


def policy_data_from_configmap(data: Mapping[str, str] | None) -> PolicyData:
    """Parse ConfigMap `.data` into PolicyData (None or {}: the shipped defaults)."""
    fields: dict[str, Any] = {}
    for key, text in sorted((data or {}).items()):
        if key not in _KEYS:
            raise PolicyDataError(
                f"unknown key {key!r} in the policy ConfigMap; expected {', '.join(sorted(_KEYS))}"
            )
        try:
            value = yaml.safe_load(text) if text is not None else None
        except yaml.YAMLError as exc:
            raise PolicyDataError(f"{key}: not valid YAML: {exc}") from exc
        if value is None:
            continue
        if key == "protectedNamespaces" and isinstance(value, str):
            value = [ns for ns in re.split(r"[\s,]+", value) if ns]
        fields[key] = value
    try:
        return PolicyData.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise PolicyDataError(f"invalid policy ConfigMap: {problems}") from exc


class PolicyDataReloader:
    """Keeps every engine on the latest valid policy ConfigMap, without a restart.

    Wire `apply` to a kopf event handler on the ConfigMap (body.get("data"); None when it was
    deleted, which restores the defaults). A bad ConfigMap raises PolicyDataError and changes
    nothing; an engine that cannot take the data (OPA down) raises PolicyEngineError after
    the others were updated, and the OPA engine pushes it again before its next decision.
    """

    def __init__(self, *sinks: DataSink, initial: PolicyData | None = None) -> None:
        self._sinks = sinks
        self._lock = threading.Lock()
        self.current = initial or PolicyData()

    def apply(self, configmap_data: Mapping[str, str] | None) -> PolicyData:
        data = policy_data_from_configmap(configmap_data)
        with self._lock:
            changed = data != self.current
            self.current = data
        if changed:
            errors: list[Exception] = []
            for sink in self._sinks:
                try:
                    sink.set_data(data)
                except Exception as exc:
                    errors.append(exc)
            if errors:
                raise errors[0]
        return data


def read_policy_configmap(
    core_v1: Any, namespace: str, name: str = POLICY_CONFIGMAP
) -> dict[str, str] | None:
    """The ConfigMap's data through a kubernetes CoreV1Api, or None when it does not exist."""
    from kubernetes.client.exceptions import ApiException

    try:
        configmap = core_v1.read_namespaced_config_map(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return dict(configmap.data or {})
