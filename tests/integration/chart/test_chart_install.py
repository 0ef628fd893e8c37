"""Every object the chart renders is accepted by the real API server (server-side dry run)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.unit.chart.chart import render


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"watchNamespaces": ["default"], "replicaCount": 1},
        {"ledger": {"backend": "file"}, "replicaCount": 1},
        {"networkPolicy": {"enabled": True}},
    ],
    ids=["default", "namespaced-one-replica", "file-ledger", "network-policy"],
)
def test_api_server_accepts_the_whole_rendered_chart(dyn: Any, values: dict[str, Any]) -> None:
    """CRDs, Deployment, RBAC, Secret, ConfigMaps, PVC, PodDisruptionBudget, NetworkPolicy,
    admission policy: a dry-run apply of all of it (the real apply of the RBAC is in
    test_chart_rbac.py; this one changes nothing). The API server keeps every spec field the
    chart sets: a field it does not know, or one behind a disabled feature gate (the PDB's
    unhealthyPodEvictionPolicy), would be dropped without an error."""
    docs = render(values, namespace="grace-system", include_crds=True)
    kinds = {d["kind"] for d in docs}
    assert {"CustomResourceDefinition", "Deployment", "ValidatingAdmissionPolicy"} <= kinds
    core = client.CoreV1Api(dyn.client)
    # A dry run creates nothing, so the namespaces the chart's objects live in must exist.
    namespaces = {"grace-system"} | {
        d["metadata"]["namespace"] for d in docs if d["metadata"].get("namespace")
    }
    for name in sorted(namespaces):
        try:
            core.create_namespace({"metadata": {"name": name}})
        except client.ApiException as e:
            if e.status != 409:
                raise
    refused, dropped = [], []
    for doc in docs:
        res = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        try:
            applied = res.server_side_apply(
                body=doc,
                namespace=doc["metadata"].get("namespace") if res.namespaced else None,
                field_manager="grace-chart-test",
                force_conflicts=True,
                dry_run="All",
            ).to_dict()
        except client.ApiException as e:
            refused.append(f"{doc['kind']}/{doc['metadata']['name']}: {e.status} {e.body}")
            continue
        lost = set(doc.get("spec", {})) - set(applied.get("spec", {}))
        if lost:
            dropped.append(f"{doc['kind']}/{doc['metadata']['name']}: {sorted(lost)}")
    assert not refused, "\n".join(refused)
    assert not dropped, "the API server dropped: " + "\n".join(dropped)
