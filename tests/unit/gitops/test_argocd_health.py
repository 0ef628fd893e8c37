"""Argo CD health checks (gitops/argocd): each Lua script, run by a real Lua interpreter, gives
the verdict its health_test.yaml expects for realistic objects of every phase and state."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from grace.api import ApprovalRequest, HealthNode, Mission, Playbook, crdgen
from grace.api.approval import ApprovalState
from grace.api.mission import MissionPhase

REPO = Path(__file__).resolve().parents[3]
ARGOCD = REPO / "gitops" / "argocd"
CHECKS = ARGOCD / "grace.dev"
KINDS = ("HealthNode", "Playbook", "Mission", "ApprovalRequest")
MODELS = {
    "HealthNode": HealthNode,
    "Playbook": Playbook,
    "Mission": Mission,
    "ApprovalRequest": ApprovalRequest,
}
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
SEPARATOR = "\x1f"


def lua_binary() -> str:
    found = shutil.which("lua5.4") or shutil.which("lua")
    assert found, "no Lua interpreter: run hack/system-deps.sh (Debian package lua5.4)"
    return found


def lua_literal(value: Any) -> str:
    """A JSON-like value as a Lua constructor, the way Argo CD hands `obj` to the script."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        assert math.isfinite(value)
        return repr(value)
    if isinstance(value, str):
        escaped = "".join(
            ch if ch.isprintable() and ch not in '\\"' else f"\\{ord(ch):03d}" for ch in value
        )
        return f'"{escaped}"'
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"[{lua_literal(str(k))}] = {lua_literal(v)}" for k, v in value.items())
            + "}"
        )
    raise TypeError(f"not a JSON value: {value!r}")


def run_health(kind: str, objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(status, message) of the kind's health.lua for each object, in one interpreter run."""
    script = (CHECKS / kind / "health.lua").read_text()
    program = [f"local function health(obj)\n{script}\nend"]
    for obj in objects:
        program.append(
            f"do local hs = health({lua_literal(obj)}); "
            f'io.write(hs.status, "{SEPARATOR}", hs.message or "", "\\n") end'
        )
    done = subprocess.run(
        [lua_binary(), "-"], input="\n".join(program), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(objects), done.stdout
    return [tuple(line.split(SEPARATOR, 1)) for line in lines]  # type: ignore[misc]


def cases(kind: str) -> list[tuple[dict[str, Any], dict[str, str], str]]:
    spec = yaml.safe_load((CHECKS / kind / "health_test.yaml").read_text())
    out = []
    for case in spec["tests"]:
        path = CHECKS / kind / case["inputPath"]
        out.append((yaml.safe_load(path.read_text()), case["healthStatus"], path.stem))
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_every_sample_gets_its_expected_verdict(kind: str) -> None:
    samples = cases(kind)
    verdicts = run_health(kind, [obj for obj, _, _ in samples])
    for (_, expected, name), (status, message) in zip(samples, verdicts, strict=True):
        assert status in ARGO_STATUSES, f"{kind}/{name}: {status} is not an Argo CD health status"
        assert (status, message) == (expected["status"], expected["message"]), f"{kind}/{name}"


def _phase_of(kind: str, obj: dict[str, Any]) -> str | None:
    status = obj.get("status") or {}
    return status.get("state" if kind == "ApprovalRequest" else "phase")


def test_every_mission_phase_and_request_state_has_a_verdict() -> None:
    missions = {_phase_of("Mission", obj) or "Pending" for obj, _, _ in cases("Mission")}
    assert missions == {p.value for p in MissionPhase}
    requests = {
        _phase_of("ApprovalRequest", obj) or "Pending" for obj, _, _ in cases("ApprovalRequest")
    }
    assert requests == {s.value for s in ApprovalState}
    nodes = {_phase_of("HealthNode", obj) for obj, _, _ in cases("HealthNode")}
    assert {"Healthy", "Degraded", "Critical", "Unknown", None} <= nodes


def test_verdicts_follow_the_documented_mapping() -> None:
    verdict = {
        (kind, _phase_of(kind, obj)): expected["status"]
        for kind in ("Mission", "ApprovalRequest")
        for obj, expected, _ in cases(kind)
        if not (obj.get("spec") or {}).get("dryRun")
    }
    assert verdict[("Mission", "Succeeded")] == "Healthy"
    shadows = {
        expected["status"]
        for obj, expected, _ in cases("Mission")
        if (obj.get("spec") or {}).get("dryRun")
    }
    assert shadows == {"Degraded"}, "a dry run whose playbook would not have helped"
    assert verdict[("Mission", "AwaitingApproval")] == "Suspended"
    assert {
        verdict[("Mission", p)] for p in ("Running", "Verifying", "RollingBack", "Pending")
    } == {"Progressing"}
    failed = ("RolledBack", "Failed", "TimedOut", "Denied", "Expired", "Aborted")
    assert {verdict.get(("Mission", p), "Degraded") for p in failed} == {"Degraded"}
    assert verdict[("ApprovalRequest", "Pending")] == "Suspended"
    assert verdict[("ApprovalRequest", "Expired")] == "Degraded"


def test_an_unexpected_phase_is_unknown_not_healthy() -> None:
    odd: dict[str, Any] = {"metadata": {"name": "x", "generation": 1}, "spec": {}}
    assert run_health("Mission", [{**odd, "status": {"phase": "Exploded"}}])[0][0] == "Unknown"
    assert run_health("HealthNode", [{**odd, "status": {"phase": "Sideways"}}])[0][0] == "Unknown"
    assert run_health("ApprovalRequest", [{**odd, "status": {"state": "Maybe"}}])[0][0] == "Unknown"


def _undeclared(node: Any, schema: dict[str, Any], path: str) -> list[str]:
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if isinstance(node, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        out = []
        for key, value in node.items():
            if props is not None and key in props:
                out += _undeclared(value, props[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                out += _undeclared(value, extra, f"{path}.{key}")
            elif props is not None or extra is False:
                out.append(f"{path}.{key}")
        return out
    if isinstance(node, list) and isinstance(schema.get("items"), dict):
        return [
            p for i, v in enumerate(node) for p in _undeclared(v, schema["items"], f"{path}[{i}]")
        ]
    return []


@pytest.mark.parametrize("kind", KINDS)
def test_samples_are_real_objects_of_the_crd(kind: str) -> None:
    """A renamed status field breaks this test, not silently the health check."""
    schema = crdgen.openapi_schema(next(k.model for k in crdgen.KINDS if k.kind == kind))
    for obj, _, name in cases(kind):
        MODELS[kind].model_validate(obj)
        body = {k: v for k, v in obj.items() if k in ("spec", "status")}
        assert _undeclared(body, schema, kind) == [], f"{kind}/{name}"


def _kubectl() -> str:
    from grace_lab.localcluster.binaries import ensure_binaries

    return str(ensure_binaries(verbose=False).kubectl)


def test_kustomize_component_merges_the_scripts_into_argocd_cm(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cm}\ndata: {url: https://argocd.example}\n"
    )
    component = os.path.relpath(ARGOCD, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: argocd\n"
        f"resources: [cm.yaml]\ncomponents: [{component}]\n"
    )
    done = subprocess.run(
        [_kubectl(), "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    cm = yaml.safe_load(done.stdout)
    assert cm["metadata"] == {"name": "argocd-cm", "namespace": "argocd"}
    assert cm["data"]["url"] == "https://argocd.example", "the existing settings are kept"
    for kind in KINDS:
        key = f"resource.customizations.health.grace.dev_{kind}"
        assert cm["data"][key] == (CHECKS / kind / "health.lua").read_text()
