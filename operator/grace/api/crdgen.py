"""Generate the CustomResourceDefinitions from the pydantic models: the models are the one source."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from grace.api.approval import ApprovalRequest
from grace.api.common import GROUP, VERSION
from grace.api.healthnode import HealthNode
from grace.api.mission import Mission
from grace.api.playbook import Playbook

_DROP_KEYS = {"title", "discriminator", "examples"}
_K8S_EXTENSIONS = ("x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields")


@dataclass(frozen=True)
class Kind:
    model: type[BaseModel]
    kind: str
    plural: str
    short_names: list[str]
    columns: list[dict[str, Any]]
    categories: list[str] = field(default_factory=lambda: ["grace"])


def _age() -> dict[str, Any]:
    return {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def _ready() -> dict[str, Any]:
    return {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "priority": 1,
    }


KINDS: tuple[Kind, ...] = (
    Kind(
        HealthNode,
        "HealthNode",
        "healthnodes",
        ["hn"],
        [
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Criticality", "type": "string", "jsonPath": ".spec.criticality"},
            {"name": "Mode", "type": "string", "jsonPath": ".spec.remediation.mode"},
            {"name": "Target", "type": "string", "jsonPath": ".spec.target.name"},
            {"name": "Root-Cause", "type": "string", "jsonPath": ".status.rootCause"},
            {"name": "Mission", "type": "string", "jsonPath": ".status.activeMission"},
            _ready(),
            _age(),
        ],
    ),
    Kind(
        Playbook,
        "Playbook",
        "playbooks",
        ["pb"],
        [
            {"name": "Risk", "type": "string", "jsonPath": ".spec.risk"},
            {"name": "On-Failure", "type": "string", "jsonPath": ".spec.onFailure"},
            {"name": "Cooldown", "type": "string", "jsonPath": ".spec.cooldown"},
            {
                "name": "Description",
                "type": "string",
                "jsonPath": ".spec.description",
                "priority": 1,
            },
            _age(),
        ],
    ),
    Kind(
        Mission,
        "Mission",
        "missions",
        ["msn"],
        [
            {"name": "Node", "type": "string", "jsonPath": ".spec.healthNode"},
            {"name": "Playbook", "type": "string", "jsonPath": ".spec.playbook"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Progress", "type": "string", "jsonPath": ".status.progress"},
            {"name": "Trigger", "type": "string", "jsonPath": ".spec.trigger"},
            {"name": "Dry-Run", "type": "boolean", "jsonPath": ".spec.dryRun", "priority": 1},
            {
                "name": "Decision",
                "type": "string",
                "jsonPath": ".status.decision.result",
                "priority": 1,
            },
            _age(),
        ],
    ),
    Kind(
        ApprovalRequest,
        "ApprovalRequest",
        "approvalrequests",
        ["ar"],
        [
            {"name": "Mission", "type": "string", "jsonPath": ".spec.mission"},
            {"name": "Purpose", "type": "string", "jsonPath": ".spec.purpose"},
            {"name": "Risk", "type": "string", "jsonPath": ".spec.risk"},
            {"name": "State", "type": "string", "jsonPath": ".status.state"},
            {"name": "Decided-By", "type": "string", "jsonPath": ".status.decidedBy"},
            {"name": "Expires", "type": "string", "jsonPath": ".spec.expiresAt"},
            _age(),
        ],
    ),
)


def _resolve(node: Any, defs: dict[str, Any], in_status: bool = False) -> Any:
    """Inline $refs and rewrite pydantic's JSON Schema into a structural OpenAPI v3 schema."""
    if isinstance(node, list):
        return [_resolve(n, defs, in_status) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        merged = dict(target)
        merged.update(node)  # sibling keys (description, default) win over the referenced ones
        node = merged
    if any(node.get(k) for k in _K8S_EXTENSIONS):
        for k in ("anyOf", "oneOf", "type", "items", "properties"):
            node.pop(k, None)
    if node.get("x-kubernetes-preserve-unknown-fields"):
        # `additionalProperties: true` beside it makes the API server prune every nested object
        # to {} (a preserved map of objects loses their fields): leave preservation alone.
        node.pop("additionalProperties", None)
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"union needs an x-kubernetes extension to be structural: {options}")
        base = dict(options[0])
        base.update(node)
        node = base
        if "$ref" in node:
            return _resolve(node, defs, in_status)
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("default", "x") is None or (in_status and "default" in node):
        node.pop("default")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS:
            continue
        if key == "properties":
            out[key] = {
                name: _resolve(sub, defs, in_status or name == "status")
                for name, sub in value.items()
            }
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _resolve(value, defs, in_status)
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if out.get("type") == "object" and "properties" in out and "required" in out:
        out["required"] = sorted(out["required"])
    if "properties" in out and out.get("type") is None:
        out["type"] = "object"
    return out


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The openAPIV3Schema of one kind, with CEL rules, metadata left to the API server."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _resolve(raw, defs)
    props = schema["properties"]
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    props["metadata"] = {"type": "object"}
    schema["required"] = ["spec"]
    schema.pop("description", None)
    _conditions_as_map(props.get("status", {}))
    return schema


def _conditions_as_map(status: dict[str, Any]) -> None:
    conditions = status.get("properties", {}).get("conditions")
    if conditions:
        conditions["x-kubernetes-list-type"] = "map"
        conditions["x-kubernetes-list-map-keys"] = ["type"]


def crd(kind: Kind) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{kind.plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "grace"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "shortNames": kind.short_names,
                "categories": kind.categories,
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": kind.columns,
                    "schema": {"openAPIV3Schema": openapi_schema(kind.model)},
                }
            ],
        },
    }


HEADER = "# Generated from grace.api by `make crds`. Do not edit: change the models instead.\n"


def render(kind: Kind) -> str:
    return HEADER + yaml.safe_dump(crd(kind), sort_keys=False, width=100)


def file_name(kind: Kind) -> str:
    return f"{GROUP}_{kind.plural}.yaml"


def rendered() -> dict[str, str]:
    """File name -> YAML text of every CRD."""
    return {file_name(k): render(k) for k in KINDS}


def write(directories: list[Path]) -> list[Path]:
    written = []
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in rendered().items():
            path = directory / name
            path.write_text(text)
            written.append(path)
    return written


if __name__ == "__main__":
    import sys

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()
    for p in write([root / "crds", root / "charts" / "grace" / "crds"]):
        print(p)
