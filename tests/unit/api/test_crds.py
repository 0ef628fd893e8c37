"""The CRDs in the repo are exactly what the models generate, and they are structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from grace.api import HealthNode, Mission, Playbook, crdgen

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("directory", ["crds", "charts/grace/crds"])
def test_generated_crds_are_fresh(directory: str) -> None:
    for name, text in crdgen.rendered().items():
        path = REPO / directory / name
        assert path.exists(), f"{path} is missing: run `make crds`"
        assert path.read_text() == text, f"{path} is stale: run `make crds`"
    extra = {p.name for p in (REPO / directory).glob("*.yaml")} - set(crdgen.rendered())
    assert not extra, f"files in {directory} that no model generates: {extra}"


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        out.append((path, node))
        for key, value in node.get("properties", {}).items():
            out += _walk(value, f"{path}.{key}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                out += _walk(node[key], f"{path}[{key}]")
    return out


@pytest.mark.parametrize("kind", crdgen.KINDS, ids=lambda k: k.kind)
def test_schema_is_structural(kind: crdgen.Kind) -> None:
    schema = crdgen.openapi_schema(kind.model)
    for path, node in _walk(schema):
        assert not {"anyOf", "oneOf", "allOf", "$ref", "const"} & set(node), path
        extension = node.get("x-kubernetes-int-or-string") or node.get(
            "x-kubernetes-preserve-unknown-fields"
        )
        assert "type" in node or extension, f"{kind.kind}{path} has no type"
        if node.get("x-kubernetes-preserve-unknown-fields"):
            # with additionalProperties beside it, the API server prunes nested objects to {}
            assert "additionalProperties" not in node, f"{kind.kind}{path} would be pruned"


@pytest.mark.parametrize("kind", crdgen.KINDS, ids=lambda k: k.kind)
def test_crd_has_status_subresource_short_names_and_columns(kind: crdgen.Kind) -> None:
    crd = crdgen.crd(kind)
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert crd["spec"]["names"]["shortNames"]
    assert any(c["name"] == "Age" for c in version["additionalPrinterColumns"])
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]


def test_short_names_are_the_documented_ones() -> None:
    assert {k.kind: k.short_names for k in crdgen.KINDS} == {
        "HealthNode": ["hn"],
        "Playbook": ["pb"],
        "Mission": ["msn"],
        "ApprovalRequest": ["ar"],
    }


def test_examples_parse_into_the_models() -> None:
    parsed = {"HealthNode": HealthNode, "Playbook": Playbook, "Mission": Mission}
    seen = set()
    for path in sorted((REPO / "examples").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("apiVersion") == "grace.dev/v1alpha1":
                model = parsed[doc["kind"]].model_validate(doc)
                seen.add(model.kind)
    assert {"HealthNode", "Playbook"} <= seen


def test_cel_rules_reference_real_fields() -> None:
    """A typo in a CEL rule's field name would only show up on the API server: catch it here."""
    import re

    for kind in crdgen.KINDS:
        text = yaml.safe_dump(crdgen.crd(kind))
        for rule in re.findall(r"rule: (.*)", text):
            for name in re.findall(r"self\.(\w+)", rule):
                assert name in text, f"{kind.kind}: rule mentions unknown field {name!r}: {rule}"
