"""The GitOps examples point at things that exist in this repository, so they cannot rot."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import yaml

from grace.api import HealthNode, Playbook
from tests.unit.chart.chart import render

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples" / "gitops"


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d]


def _grace_objects(paths: list[Path]) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                assert doc["apiVersion"] == "grace.dev/v1alpha1", f"{path} holds {doc['kind']}"
                model = {"HealthNode": HealthNode, "Playbook": Playbook}[doc["kind"]]
                model.model_validate(doc)
                out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def _expand_braces(pattern: str) -> list[str]:
    head, _, rest = pattern.partition("{")
    if not rest:
        return [pattern]
    choices, _, tail = rest.partition("}")
    return [head + choice + tail for choice in choices.split(",")]


def test_argocd_installs_the_chart_with_values_it_accepts() -> None:
    chart_app, objects_app = _docs("argocd-application.yaml")
    assert chart_app["kind"] == objects_app["kind"] == "Application"
    source = chart_app["spec"]["source"]
    assert (REPO / source["path"] / "Chart.yaml").exists()
    namespace = chart_app["spec"]["destination"]["namespace"]
    docs = render(
        source["helm"]["valuesObject"], release=source["helm"]["releaseName"], namespace=namespace
    )
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--identity=system:serviceaccount:grace-system:grace" in args
    assert any(d["kind"] == "ServiceMonitor" for d in docs)
    assert not any(d["kind"] == "Secret" for d in docs), "Argo CD cannot keep a generated key"


def test_argocd_syncs_only_grace_objects() -> None:
    _, app = _docs("argocd-application.yaml")
    source = app["spec"]["source"]
    directory = REPO / source["path"]
    patterns = _expand_braces(source["directory"]["include"])
    picked = sorted(
        p for p in directory.glob("*.yaml") if any(fnmatch.fnmatch(p.name, pat) for pat in patterns)
    )
    assert len(picked) == len(patterns), f"include names files that do not exist: {patterns}"
    kinds = {kind for kind, _ in _grace_objects(picked)}
    assert kinds == {"HealthNode", "Playbook"}


def test_flux_health_checks_name_healthnodes_the_kustomization_applies() -> None:
    repo, kustomization = _docs("flux-kustomization.yaml")
    assert kustomization["spec"]["sourceRef"]["name"] == repo["metadata"]["name"]
    kept = [line[2:] for line in repo["spec"]["ignore"].splitlines() if line.startswith("!/")]
    path = kustomization["spec"]["path"].removeprefix("./")
    files = [REPO / k for k in kept if k.startswith(path + "/")]
    assert files and all(f.exists() for f in files), kept
    objects = _grace_objects(files)
    checked = {(c["kind"], c["name"]) for c in kustomization["spec"]["healthChecks"]}
    assert checked and checked <= set(objects)
    assert {c["namespace"] for c in kustomization["spec"]["healthChecks"]} == {
        kustomization["spec"]["targetNamespace"]
    }
