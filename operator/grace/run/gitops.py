"""Who else owns a target (Argo CD, Flux, Argo Rollouts, Helm), read from its labels and annotations.

A live change to a GitOps-owned workload is drift from Git: the sync loop may revert it, and
the Mission must say so instead of silently fighting it. Sync loops are named first (they
undo a change), then Argo Rollouts (a controller that owns the pods), then plain Helm.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grace.api.mission import GitOpsOwner

ARGOCD_INSTANCE_LABEL = "argocd.argoproj.io/instance"
ARGOCD_TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
FLUX_KUSTOMIZE_NAME = "kustomize.toolkit.fluxcd.io/name"
FLUX_KUSTOMIZE_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"
FLUX_HELM_NAME = "helm.toolkit.fluxcd.io/name"
FLUX_HELM_NAMESPACE = "helm.toolkit.fluxcd.io/namespace"
HELM_MANAGED_BY = "app.kubernetes.io/managed-by"
HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"
HELM_RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
ROLLOUTS_HASH_LABEL = "rollouts-pod-template-hash"


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata", obj)
    return meta if isinstance(meta, Mapping) else {}


def _strings(meta: Mapping[str, Any], key: str) -> Mapping[str, str]:
    value = meta.get(key)
    return value if isinstance(value, Mapping) else {}


def _argocd(labels: Mapping[str, str], annotations: Mapping[str, str]) -> str | None:
    tracking = annotations.get(ARGOCD_TRACKING_ANNOTATION)
    if tracking:
        # "<app>:<group>/<kind>:<namespace>/<name>"; the app may be "<ns>_<app>"
        return f"app {tracking.split(':', 1)[0]}"
    instance = labels.get(ARGOCD_INSTANCE_LABEL)
    return f"app {instance}" if instance else None


def _flux(labels: Mapping[str, str]) -> str | None:
    for kind, name_key, ns_key in (
        ("helmrelease", FLUX_HELM_NAME, FLUX_HELM_NAMESPACE),
        ("kustomization", FLUX_KUSTOMIZE_NAME, FLUX_KUSTOMIZE_NAMESPACE),
    ):
        name = labels.get(name_key)
        if name:
            ns = labels.get(ns_key)
            return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"
    return None


def _rollouts(meta: Mapping[str, Any], template_labels: Mapping[str, str]) -> str | None:
    owners = meta.get("ownerReferences") or meta.get("owner_references") or []
    for ref in owners:
        if isinstance(ref, Mapping) and ref.get("kind") == "Rollout":
            return f"rollout {ref.get('name', '')}".strip()
    labels = _strings(meta, "labels")
    if ROLLOUTS_HASH_LABEL in labels or ROLLOUTS_HASH_LABEL in template_labels:
        return "rollout-managed pods"
    return None


def _helm(labels: Mapping[str, str], annotations: Mapping[str, str]) -> str | None:
    release = annotations.get(HELM_RELEASE_ANNOTATION)
    if release:
        ns = annotations.get(HELM_RELEASE_NAMESPACE_ANNOTATION)
        return f"release {ns}/{release}" if ns else f"release {release}"
    if labels.get(HELM_MANAGED_BY, "").lower() == "helm":
        return "release (managed-by Helm)"
    return None


def detect(obj: Mapping[str, Any]) -> GitOpsOwner:
    """The owner of a workload (an object as the API returns it, or just its metadata)."""
    meta = _meta(obj)
    labels = _strings(meta, "labels")
    annotations = _strings(meta, "annotations")
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    template = spec.get("template") if isinstance(spec, Mapping) else None
    template_labels = _strings(_meta(template), "labels") if isinstance(template, Mapping) else {}

    found: list[tuple[str, str]] = []
    for tool, detail in (
        ("argocd", _argocd(labels, annotations)),
        ("flux", _flux(labels)),
        ("argo-rollouts", _rollouts(meta, template_labels)),
        ("helm", _helm(labels, annotations)),
    ):
        if detail:
            found.append((tool, detail))
    if not found:
        return GitOpsOwner()
    tool, detail = found[0]
    also = "; ".join(f"also {t} {d}" for t, d in found[1:])
    return GitOpsOwner.model_validate(
        {"tool": tool, "detail": f"{detail} ({also})" if also else detail}
    )


def drift_note(owner: GitOpsOwner | None) -> str | None:
    """The timeline sentence a live change to this target deserves, or None when nobody owns it."""
    if owner is None or owner.tool == "none":
        return None
    if owner.tool == "helm":
        return f"live change is drift from the Helm release (owner: helm {owner.detail})"
    if owner.tool == "argo-rollouts":
        return f"live change is drift from the Rollout (owner: argo-rollouts {owner.detail})"
    return f"live change is drift from Git (owner: {owner.tool} {owner.detail})"
