"""docs/crd-reference.md is exactly what the models generate, and says what the API enforces."""

from __future__ import annotations

from pathlib import Path

from grace.api import crdgen, docgen

REPO = Path(__file__).resolve().parents[3]


def test_crd_reference_is_fresh() -> None:
    page = REPO / docgen.PAGE
    assert page.exists(), f"{page} is missing: run `python -m grace.api.docgen .`"
    assert page.read_text() == docgen.render(), (
        f"{page} is stale: run `python -m grace.api.docgen .`"
    )


def test_every_field_and_rule_of_every_crd_is_documented() -> None:
    text = docgen.render()
    for kind in crdgen.KINDS:
        schema = crdgen.openapi_schema(kind.model)
        assert f"## {kind.kind}" in text
        for part in ("spec", "status"):
            for path, _, _ in docgen.walk(schema["properties"][part], part):
                if path != part:
                    assert f"`{path}`" in text, path
        for path, node, _ in docgen.walk(schema, ""):
            for rule in node.get("x-kubernetes-validations", []):
                assert rule["message"] in text, (kind.kind, path, rule["message"])


def test_reference_shows_defaults_bounds_and_enums() -> None:
    rows = {
        f.path: f
        for f in docgen.fields(
            crdgen.openapi_schema(crdgen.KINDS[1].model)["properties"]["spec"], "spec"
        )
    }
    assert rows["spec.risk"].default == '`"medium"`'
    assert "one of `low`, `medium`, `high`, `critical`" in rows["spec.risk"].rules
    assert rows["spec.steps"].required
    assert "duration" in rows["spec.cooldown"].rules
