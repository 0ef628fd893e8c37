"""A prepared step's intent: the exact change it will make, as stored in the Mission, and in words.

An intent is decided once from the live state (which pods, which revision, which timestamp)
and recorded before the change is made, so that running it again after a crash repeats the
same change instead of choosing a new one. Every intent names its target, with the uid it had.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grace.api.duration import format_duration

RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"


def target_of(intent: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(kind, namespace, name, uid) the intent may touch."""
    t = intent.get("target") or {}
    return (
        str(t.get("kind", "")),
        str(t.get("namespace", "")),
        str(t.get("name", "")),
        str(t.get("uid", "")),
    )


def _ref(intent: Mapping[str, Any]) -> str:
    kind, _, name, _ = target_of(intent)
    return f"{kind}/{name}"


def _resources(res: Mapping[str, Any]) -> str:
    parts = []
    for section in ("requests", "limits"):
        values = res.get(section) or {}
        if values:
            parts.append(f"{section} " + ", ".join(f"{k}={v}" for k, v in sorted(values.items())))
    return "; ".join(parts) or "no requests or limits"


def describe(intent: Mapping[str, Any]) -> str:
    """What the step will do (or did), for the timeline and `kubectl describe`."""
    action = intent.get("action")
    ref = _ref(intent)
    if action == "scale":
        return f"scale {ref} from {intent.get('previous')} to {intent.get('replicas')} replicas"
    if action == "rolloutRestart":
        return f"restart the pods of {ref} (restartedAt {intent.get('restartedAt')})"
    if action == "rollback":
        images = ", ".join(intent.get("images") or [])
        return (
            f"roll {ref} back from revision {intent.get('fromRevision')} to revision "
            f"{intent.get('toRevision')} (ReplicaSet {intent.get('replicaSet')}; {images})"
        )
    if action == "setResources":
        return (
            f"set container {intent.get('container')} of {ref} to "
            f"{_resources(intent.get('resources') or {})}"
        )
    if action == "deletePods":
        pods = [p.get("name", "") for p in intent.get("pods") or []]
        return f"delete {len(pods)} pod(s) of {ref}: {', '.join(pods) or 'none'}"
    if action == "cordonNode":
        nodes = [n.get("name", "") for n in intent.get("nodes") or []]
        return f"cordon node(s) {', '.join(nodes)} running pods of {ref}"
    if action == "wait":
        return f"wait {format_duration(float(intent.get('seconds') or 0))} (until {intent.get('deadline')})"
    return f"{action} on {ref}"


def cordoned_nodes(intent: Mapping[str, Any]) -> list[str]:
    """Nodes a cordonNode intent takes out of scheduling: what a rollback makes schedulable again."""
    if intent.get("action") != "cordonNode":
        return []
    return [str(n["name"]) for n in intent.get("nodes") or [] if n.get("name")]
