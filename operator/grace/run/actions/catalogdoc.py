"""docs/actions.md, generated from the registry: the catalog a Playbook's steps choose from."""

from __future__ import annotations

from pathlib import Path

from pydantic.alias_generators import to_camel

from grace.run.actions import CATALOG

PAGE = Path("docs") / "actions.md"


def _arguments(kind_args: type) -> str:
    fields = getattr(kind_args, "model_fields", {})
    return ", ".join(f"`{to_camel(name)}`" for name in fields) or "none"


def render() -> str:
    """The whole page, deterministic: regenerate and compare to find a stale copy."""
    lines = [
        "# Action catalog",
        "",
        "<!-- Generated from operator/grace/run/actions by `make crds`. Do not edit. -->",
        "",
        "A Playbook's steps choose from this fixed catalog; nothing else runs. Every argument "
        "is bounded and may take a declared parameter (`${name}`); every action is prepared "
        "into an intent recorded on the Mission before it runs, and executed idempotently. "
        "Each action is one module in `operator/grace/run/actions/`, registered in its "
        "`__init__.py` (and named in the CRD's enum, `grace.api.playbook.Action`).",
        "",
        "| action | what it does | `with` arguments | StatefulSet | on rollback |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, kind in CATALOG.items():
        lines.append(
            f"| `{name.value}` | {kind.summary} | {_arguments(kind.args)} | "
            f"{'yes' if kind.statefulset else 'no'} | {kind.undone} |"
        )
    return "\n".join(lines) + "\n"


def write(root: Path) -> Path:
    path = root / PAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    return path
