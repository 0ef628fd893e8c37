"""The real API server accepts every example and refuses every invalid object, naming the field."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.support.kube import apply, create, load_docs, wait_for

REPO = Path(__file__).resolve().parents[2]
INVALID = sorted((REPO / "tests" / "data" / "invalid").glob("*.yaml"))


def _expectations(path: Path) -> list[str]:
    return [
        line.split(":", 1)[1].strip()
        for line in path.read_text().splitlines()
        if line.startswith("# expect:")
    ]


def test_corpus_covers_every_kind_and_is_large_enough() -> None:
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in INVALID}
    assert kinds == {"HealthNode", "Playbook", "Mission", "ApprovalRequest"}
    assert len(INVALID) >= 30
    assert all(_expectations(p) for p in INVALID)


@pytest.fixture(scope="module")
def invalid_ns(api: Any) -> Any:
    name = f"t-invalid-corpus-{secrets.token_hex(3)}"
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_object_is_refused_with_its_message(dyn: Any, invalid_ns: str, path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    with pytest.raises(client.ApiException) as refused:
        create(dyn, doc, invalid_ns)
    assert refused.value.status == 422, refused.value.body
    message = json.loads(refused.value.body)["message"]
    for expected in _expectations(path):
        assert expected in message, f"{path.name}: {expected!r} not in {message}"


def test_every_example_is_accepted(dyn: Any, namespace: str) -> None:
    # examples/realnode/ (one namespace per scenario) is applied by the real-node tier.
    paths = [p for p in sorted((REPO / "examples").rglob("*.yaml")) if "realnode" not in p.parts]
    docs = [d for p in paths for d in load_docs(p)]
    docs = [
        d
        for d in docs
        if d.get("apiVersion")  # Prometheus rule files and Alertmanager routes are not objects
        and d.get("kind") not in {"Application", "Kustomization", "GitRepository"}
    ]
    created = apply(dyn, docs, namespace)
    assert len(created) == len(docs)
    hn = dyn.resources.get(api_version="grace.dev/v1alpha1", kind="HealthNode")
    names = sorted(i.metadata.name for i in hn.get(namespace=namespace).items)
    assert names == ["checkout", "checkout-alerts", "payments-db", "payments-db-alerts"]


def _mission(name: str, requested_by: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"healthNode": "checkout", "playbook": "scale-out", "trigger": "manual"}
    if requested_by:
        spec["requestedBy"] = requested_by
    return {
        "apiVersion": "grace.dev/v1alpha1",
        "kind": "Mission",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_requested_by_is_immutable_once_set(dyn: Any, namespace: str) -> None:
    missions = dyn.resources.get(api_version="grace.dev/v1alpha1", kind="Mission")
    missions.create(body=_mission("m1", "alice"), namespace=namespace)
    for change in ({"requestedBy": "mallory"}, {"requestedBy": None}):
        with pytest.raises(client.ApiException) as refused:
            missions.patch(
                name="m1",
                namespace=namespace,
                body={"spec": change},
                content_type="application/merge-patch+json",
            )
        assert refused.value.status == 422
        message = json.loads(refused.value.body)["message"]
        assert "spec.requestedBy: Invalid value" in message
        assert "spec.requestedBy is immutable once set" in message


def test_mission_target_is_immutable(dyn: Any, namespace: str) -> None:
    missions = dyn.resources.get(api_version="grace.dev/v1alpha1", kind="Mission")
    missions.create(body=_mission("m2"), namespace=namespace)
    with pytest.raises(client.ApiException) as refused:
        missions.patch(
            name="m2",
            namespace=namespace,
            body={"spec": {"playbook": "restart-pods"}},
            content_type="application/merge-patch+json",
        )
    assert "healthNode and playbook are immutable" in json.loads(refused.value.body)["message"]


def test_status_is_a_subresource(dyn: Any, namespace: str) -> None:
    """Writing status through the main resource is ignored: only the operator's status writes count."""
    missions = dyn.resources.get(api_version="grace.dev/v1alpha1", kind="Mission")
    body = _mission("m3")
    body["status"] = {"phase": "Succeeded"}
    created = missions.create(body=body, namespace=namespace)
    assert not (created.get("status") or {}).get("phase")
    missions.status.patch(
        name="m3",
        namespace=namespace,
        body={"status": {"phase": "Running", "progress": "1/2"}},
        content_type="application/merge-patch+json",
    )
    got = wait_for(
        "status written",
        lambda: missions.get(name="m3", namespace=namespace).status.get("phase") == "Running",
    )
    assert got
