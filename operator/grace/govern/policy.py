"""The Rego modules GRACE ships, loaded once, and the digest that names policy plus data."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grace.govern.model import PolicyData

QUERY = "data.grace.decision"
ENTRYPOINT = "grace/decision"
DATA_PATH = ("grace", "config")
"""Where PolicyData lives in OPA's data tree: data.grace.config."""


def default_policy_dir() -> Path:
    """$GRACE_POLICY_DIR, else the policies/ folder of this source tree."""
    configured = os.environ.get("GRACE_POLICY_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "policies"


def is_policy_module(path: Path) -> bool:
    """Rego that decides: every .rego file except the `opa test` files beside it."""
    return path.suffix == ".rego" and not path.name.endswith("_test.rego")


def policy_digest(modules: Iterable[str], data: PolicyData | Mapping[str, Any]) -> str:
    """sha256 over the sorted module sources and the canonical JSON of the data.

    Independent of file paths, so an OPA server that loaded the same files under other names
    gets the same digest; a Mission records it to say which policy decided.
    """
    h = hashlib.sha256()
    for source in sorted(modules):
        encoded = source.encode()
        h.update(f"module {len(encoded)}\n".encode())
        h.update(encoded)
    payload = data.wire() if isinstance(data, PolicyData) else dict(data)
    h.update(b"data\n")
    h.update(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    return "sha256:" + h.hexdigest()


def data_digest(data: PolicyData) -> str:
    """sha256 of the canonical JSON of the policy data alone: which ConfigMap content is in
    force (shown on /metrics as grace_policy_data_info{digest}), whatever the modules."""
    canonical = json.dumps(data.wire(), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class PolicyBundle:
    """The decision modules of one policy directory, by path relative to it."""

    modules: Mapping[str, str]

    @classmethod
    def load(cls, directory: Path | None = None) -> PolicyBundle:
        """Read every decision module under `directory` (default: default_policy_dir())."""
        root = directory or default_policy_dir()
        modules = {
            path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(root.rglob("*.rego"))
            if is_policy_module(path)
        }
        if not modules:
            raise FileNotFoundError(f"no Rego policy modules under {root}")
        return cls(modules=modules)

    def digest(self, data: PolicyData) -> str:
        return policy_digest(self.modules.values(), data)
