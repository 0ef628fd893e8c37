"""The image the chart runs, and the CI that tests it: what they promise, checked from their text."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.unit.chart.chart import container, one, render

REPO = Path(__file__).resolve().parents[3]
BUILD_TOOLS = ("gcc", "g++", "make", "build-essential", "clang", "cargo", "rustc", "git")


def _stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), grouped by FROM."""
    text = (REPO / "Dockerfile").read_text()
    logical = re.sub(r"\\\n", " ", text)
    instructions = [
        line.strip()
        for line in logical.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    stages: list[list[str]] = []
    for line in instructions:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def _args() -> dict[str, str]:
    text = (REPO / "Dockerfile").read_text()
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", text, flags=re.MULTILINE))


def test_image_is_multi_stage_from_a_base_pinned_by_digest() -> None:
    stages = _stages()
    assert len(stages) >= 2
    bases = [s[0].split()[1] for s in stages]
    for base in bases:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: _args()[m.group(1)], base)
        assert re.search(r"@sha256:[0-9a-f]{64}$", resolved), f"{base} is not pinned by digest"
    final = stages[-1]
    assert any(line.startswith("COPY --from=") for line in final), (
        "the final stage copies the build"
    )


def test_final_stage_has_no_build_tools_and_runs_as_non_root() -> None:
    final = " ".join(_stages()[-1])
    assert "apt-get install" not in final and "pip install" not in final
    for tool in BUILD_TOOLS:
        assert not re.search(rf"\b{re.escape(tool)}\b", final), f"{tool} in the final stage"
    user = next(line.split()[1] for line in reversed(_stages()[-1]) if line.startswith("USER "))
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    pod = one(render(), "Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(uid), int(gid)), "chart and image disagree"


def test_image_holds_what_the_chart_points_at() -> None:
    final = _stages()[-1]
    assert "COPY policies /app/policies" in final
    assert 'ENTRYPOINT ["grace"]' in final
    deployment = one(render(), "Deployment")
    assert container(deployment, "operator")["args"][0] == "run"
    assert "--policy-dir=/app/policies" in container(deployment, "operator")["args"]


def test_build_context_is_only_what_the_image_needs() -> None:
    lines = [
        line
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*", "deny by default: no .venv, .git, .grace (cluster keys) in the context"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "constraints.txt", "README.md", "operator", "policies"}
    sources = {
        source.rstrip("/").removeprefix("./")
        for stage in _stages()
        for line in stage
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
    }
    assert sources and sources <= allowed, (
        f"COPY needs what .dockerignore leaves out: {sources - allowed}"
    )


def test_ci_runs_make_test_against_kind() -> None:
    workflow = yaml.safe_load((REPO / ".github/workflows/ci.yaml").read_text())
    steps = workflow["jobs"]["test"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("helm/kind-action@") for u in uses)
    runs = [s["run"] for s in steps if "run" in s]
    assert runs[-1] == 'KUBECONFIG="$HOME/.kube/config" make test'
    assert workflow["permissions"] == {"contents": "read"}
