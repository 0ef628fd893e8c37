"""Small helpers the cluster tests share: apply YAML, wait on a condition, act as a test user."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client
from kubernetes.dynamic import DynamicClient

T = TypeVar("T")


def load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.2
) -> T:
    """Poll `probe` until it returns something truthy; the message says what never happened."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except client.ApiException as e:  # the object may not exist yet
            last_error = e
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})"
    )


def resource(dyn: DynamicClient, doc: dict[str, Any]) -> Any:
    return dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])


def apply(
    dyn: DynamicClient, docs: Iterable[dict[str, Any]], namespace: str | None = None
) -> list[Any]:
    """Server-side apply, as `kubectl apply --server-side` and GitOps tools do."""
    out = []
    for doc in docs:
        res = resource(dyn, doc)
        ns = namespace if res.namespaced else None
        out.append(
            res.server_side_apply(
                body=doc, namespace=ns, field_manager="grace-tests", force_conflicts=True
            )
        )
    return out


def create(dyn: DynamicClient, doc: dict[str, Any], namespace: str) -> Any:
    res = resource(dyn, doc)
    return res.create(body=doc, namespace=namespace if res.namespaced else None)
