"""Generate docs/crd-reference.md from the same schemas the CRDs are generated from.

The reference is a view of `crdgen.openapi_schema`, so it shows exactly what the API server
enforces: types, defaults, bounds, enums, and every CEL rule with the message a user gets when
the rule refuses an object. A unit test fails when the committed page is stale.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grace.api import crdgen
from grace.api.common import GROUP, NAME_PATTERN, VERSION
from grace.api.duration import DURATION_PATTERN

PAGE = Path("docs") / "crd-reference.md"
_KNOWN_PATTERNS = {
    NAME_PATTERN: "a DNS label (lowercase letters, digits, `-`)",
    DURATION_PATTERN: "a duration: `500ms`, `30s`, `5m`, `1h30m`",
}


@dataclass(frozen=True)
class Field:
    """One row of a reference table: a field at a JSON path, as the schema describes it."""

    path: str
    type: str
    required: bool
    default: str
    rules: str
    description: str


@dataclass(frozen=True)
class Rule:
    """One CEL rule: where it sits, what it checks, and what the API server answers."""

    path: str
    message: str
    rule: str


def _type(node: Mapping[str, Any]) -> str:
    if node.get("x-kubernetes-int-or-string"):
        return "integer or string"
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return "object (free-form)"
    kind = str(node.get("type", "any"))
    if kind == "array":
        return f"[]{_type(node.get('items', {}))}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map[string]{_type(node['additionalProperties'])}"
    if node.get("format") == "date-time":
        return "string (RFC 3339 time)"
    return kind


def _constraints(node: Mapping[str, Any]) -> str:
    parts: list[str] = []
    if "enum" in node:
        parts.append("one of " + ", ".join(f"`{v}`" for v in node["enum"]))
    for key, text in (("minimum", ">= {}"), ("maximum", "<= {}")):
        if key in node:
            parts.append(text.format(node[key]))
    if "exclusiveMinimum" in node:
        parts.append(f"> {node['exclusiveMinimum']}")
    lo, hi = node.get("minLength"), node.get("maxLength")
    if lo is not None and hi is not None:
        parts.append(f"{lo} to {hi} characters")
    elif hi is not None:
        parts.append(f"at most {hi} characters")
    elif lo is not None:
        parts.append(f"at least {lo} characters")
    lo, hi = node.get("minItems"), node.get("maxItems")
    if lo is not None and hi is not None:
        parts.append(f"{lo} to {hi} items")
    elif hi is not None:
        parts.append(f"at most {hi} items")
    elif lo is not None:
        parts.append(f"at least {lo} items")
    if "pattern" in node:
        parts.append(_KNOWN_PATTERNS.get(node["pattern"], f"matches `{node['pattern']}`"))
    return "; ".join(parts)


def _default(node: Mapping[str, Any]) -> str:
    if "default" not in node:
        return ""
    return f"`{json.dumps(node['default'], separators=(',', ':'))}`"


def walk(
    node: Mapping[str, Any], path: str, required: bool = False
) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    """Every (path, schema, required) under `node`, depth first, list items as `[]`."""
    yield path, node, required
    needed = set(node.get("required", []))
    for name, sub in (node.get("properties") or {}).items():
        yield from walk(sub, f"{path}.{name}", name in needed)
    items = node.get("items")
    if isinstance(items, dict) and (items.get("properties") or items.get("items")):
        for sub_path, sub, sub_required in walk(items, f"{path}[]"):
            if sub_path != f"{path}[]":
                yield sub_path, sub, sub_required
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and extra.get("properties"):
        for sub_path, sub, sub_required in walk(extra, f"{path}.<key>"):
            if sub_path != f"{path}.<key>":
                yield sub_path, sub, sub_required


def _description(node: Mapping[str, Any]) -> str:
    text = str(node.get("description", ""))
    items = node.get("items")
    if not text and isinstance(items, dict):
        text = str(items.get("description", ""))
    return " ".join(text.split())


def fields(schema: Mapping[str, Any], root: str) -> list[Field]:
    out: list[Field] = []
    for path, node, required in walk(schema, root):
        if path == root:
            continue
        items = node.get("items") if isinstance(node.get("items"), dict) else {}
        rules = "; ".join(r for r in (_constraints(node), _constraints(items or {})) if r)
        out.append(Field(path, _type(node), required, _default(node), rules, _description(node)))
    return out


def rules(schema: Mapping[str, Any], root: str) -> list[Rule]:
    out: list[Rule] = []
    for path, node, _ in walk(schema, root):
        for validation in node.get("x-kubernetes-validations", []):
            where = (path + validation.get("fieldPath", "")).lstrip(".") or "(object)"
            message = validation.get("message") or validation.get("messageExpression", "")
            out.append(Rule(where, " ".join(str(message).split()), str(validation["rule"])))
        items = node.get("items")
        if isinstance(items, dict) and not (items.get("properties") or items.get("items")):
            for validation in items.get("x-kubernetes-validations", []):
                out.append(Rule(f"{path}[]", validation["message"], validation["rule"]))
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table(rows: list[Field]) -> list[str]:
    lines = [
        "| Field | Type | Default | Constraints | Description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for f in rows:
        name = f"`{f.path}`" + (" *(required)*" if f.required else "")
        cells = (name, f"`{f.type}`", f.default, f.rules, f.description)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _rules(found: list[Rule]) -> list[str]:
    if not found:
        return []
    lines = [
        "",
        "Validation rules (CEL, checked by the API server; the message is what `kubectl` prints):",
        "",
        "| Where | Message | Rule |",
        "| --- | --- | --- |",
    ]
    for r in found:
        lines.append(f"| `{_cell(r.path)}` | {_cell(r.message)} | `{_cell(r.rule)}` |")
    return lines


def _summary(kind: crdgen.Kind) -> str:
    """The first line of the kind's module docstring, without the leading "Kind: "."""
    doc = sys.modules[kind.model.__module__].__doc__ or kind.kind
    first = " ".join(doc.strip().splitlines()[0].split())
    text = first.removeprefix(f"{kind.kind}: ")
    return text[:1].upper() + text[1:]


def _kind_section(kind: crdgen.Kind) -> list[str]:
    schema = crdgen.openapi_schema(kind.model)
    props = schema["properties"]
    columns = ", ".join(c["name"] for c in kind.columns)
    lines = [
        f"## {kind.kind}",
        "",
        f"`{kind.plural}.{GROUP}`, short name `{', '.join(kind.short_names)}`; "
        f"`kubectl get {kind.short_names[0]}` shows {columns}.",
    ]
    lines += ["", _summary(kind)]
    top = {key: value for key, value in schema.items() if key != "properties"}
    lines += _rules(rules(top, ""))
    for part in ("spec", "status"):
        if part not in props:
            continue
        lines += ["", f"### {part}", ""]
        lines += _table(fields(props[part], part))
        lines += _rules(rules(props[part], part))
    return lines


def render() -> str:
    """The whole page, deterministic: regenerate and compare to find a stale copy."""
    lines = [
        "# CRD reference",
        "",
        "<!-- Generated from operator/grace/api by `python -m grace.api.docgen`. Do not edit. -->",
        "",
        f"Group `{GROUP}`, version `{VERSION}`. All four kinds are namespaced, have a `status` "
        "subresource (GRACE writes status only; it never writes the `spec` of an object you "
        "own), and carry `metav1.Condition`-style `status.conditions` (`type`, `status`, "
        "`reason`, `message`, `lastTransitionTime`, `observedGeneration`). The API server "
        "enforces everything below: an object that breaks a rule is refused with the rule's "
        "message. See [concepts](concepts.md) for what each kind is for.",
        "",
        "| Kind | Short name | What it is |",
        "| --- | --- | --- |",
    ]
    for kind in crdgen.KINDS:
        link = f"[{kind.kind}](#{kind.kind.lower()})"
        lines.append(f"| {link} | `{kind.short_names[0]}` | {_cell(_summary(kind))} |")
    for kind in crdgen.KINDS:
        lines += ["", *_kind_section(kind)]
    return "\n".join(lines) + "\n"


def write(root: Path) -> Path:
    path = root / PAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    return path


if __name__ == "__main__":
    print(write(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()))
