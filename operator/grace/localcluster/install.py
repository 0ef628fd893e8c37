"""Install GRACE's CRDs into a cluster and wait until the API server serves them."""

from __future__ import annotations

import time
from typing import Any

import yaml
from kubernetes import client

from grace.api import crdgen


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
