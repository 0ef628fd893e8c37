"""GitOps owners are recognised from the labels and annotations their tools leave behind."""

from __future__ import annotations

from typing import Any

import pytest

from grace.api.mission import GitOpsOwner
from grace.run.gitops import detect, drift_note


def deployment(
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owners: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "checkout",
            "labels": labels or {},
            "annotations": annotations or {},
            "ownerReferences": owners or [],
        },
        "spec": {"template": {"metadata": {"labels": {"app": "checkout"}}}},
    }


@pytest.mark.parametrize(
    ("obj", "tool", "detail"),
    [
        (deployment(labels={"argocd.argoproj.io/instance": "shop"}), "argocd", "app shop"),
        (
            deployment(
                annotations={"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:prod/checkout"}
            ),
            "argocd",
            "app shop",
        ),
        (
            deployment(
                labels={
                    "kustomize.toolkit.fluxcd.io/name": "apps",
                    "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
                }
            ),
            "flux",
            "kustomization flux-system/apps",
        ),
        (
            deployment(labels={"helm.toolkit.fluxcd.io/name": "checkout"}),
            "flux",
            "helmrelease checkout",
        ),
        (
            deployment(annotations={"meta.helm.sh/release-name": "checkout"}),
            "helm",
            "release checkout",
        ),
        (
            deployment(labels={"app.kubernetes.io/managed-by": "Helm"}),
            "helm",
            "release (managed-by Helm)",
        ),
        (
            deployment(owners=[{"kind": "Rollout", "name": "checkout", "uid": "u"}]),
            "argo-rollouts",
            "rollout checkout",
        ),
        (
            deployment(labels={"rollouts-pod-template-hash": "abc"}),
            "argo-rollouts",
            "rollout-managed pods",
        ),
    ],
)
def test_each_tool_is_detected(obj: dict[str, Any], tool: str, detail: str) -> None:
    assert detect(obj) == GitOpsOwner.model_validate({"tool": tool, "detail": detail})


def test_an_unowned_target_has_no_owner_and_no_drift_note() -> None:
    owner = detect(deployment(labels={"app": "checkout"}))
    assert owner.tool == "none"
    assert drift_note(owner) is None


def test_a_sync_loop_wins_over_the_helm_chart_it_renders() -> None:
    obj = deployment(
        labels={"argocd.argoproj.io/instance": "shop", "app.kubernetes.io/managed-by": "Helm"},
        annotations={"meta.helm.sh/release-name": "checkout"},
    )
    owner = detect(obj)
    assert owner.tool == "argocd"
    assert owner.detail == "app shop (also helm release checkout)"


def test_the_drift_note_names_the_owner() -> None:
    owner = detect(deployment(labels={"argocd.argoproj.io/instance": "shop"}))
    assert drift_note(owner) == "live change is drift from Git (owner: argocd app shop)"
