"""The decision corpus (cases.yaml) as typed cases, shared by unit, integration and bench."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from grace.govern import PolicyData, PolicyInput

CASES_FILE = Path(__file__).with_name("cases.yaml")


@dataclass(frozen=True)
class Case:
    name: str
    input: PolicyInput
    data: PolicyData
    result: str
    tier: str
    reasons: tuple[str, ...] | None = None
    raw_input: dict[str, Any] = field(default_factory=dict, compare=False)


def deep_merge(base: Any, patch: Any) -> Any:
    """Objects merge key by key; anything else in the patch replaces."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = deep_merge(base.get(key), value) if key in base else value
        return out
    return copy.deepcopy(patch)


def load_cases(path: Path = CASES_FILE) -> list[Case]:
    document = yaml.safe_load(path.read_text())
    base = document["base"]
    defaults = PolicyData().wire()
    cases = []
    for entry in document["cases"]:
        raw = deep_merge(base, entry.get("input") or {})
        expect = entry["expect"]
        reasons = expect.get("reasons")
        cases.append(
            Case(
                name=entry["name"],
                input=PolicyInput.model_validate(raw),
                data=PolicyData.model_validate(deep_merge(defaults, entry.get("data") or {})),
                result=expect["result"],
                tier=expect["tier"],
                reasons=tuple(reasons) if reasons is not None else None,
                raw_input=raw,
            )
        )
    return cases


CASES = load_cases()
