"""The safe-hold: what a workload looked like before a Mission touched it, and how to put it back.

The whole pod template is kept (not only images and resources), because a rollback step may
change anything in it; restoring replaces the template wholesale, as `kubectl rollout undo`
does, so that an annotation or variable added by a step disappears again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


def normalize(value: Any) -> Any:
    """Drop nulls, so an object read as raw JSON and one from the client models compare equal."""
    if isinstance(value, Mapping):
        return {k: normalize(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def _containers(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = template.get("spec") or {}
    return [
        {"name": c.get("name"), "image": c.get("image"), "resources": c.get("resources") or {}}
        for c in spec.get("containers") or []
    ]


HELD = "held"
"""What actions need kept beyond the workload to be undone, per action (e.g. an HPA's bounds)."""


def take(
    obj: Mapping[str, Any], kind: str | None = None, held: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A snapshot of a Deployment or StatefulSet (camelCase dict as the API returns it), with
    what the plan's actions hold (`ActionKind.hold`) under `held`."""
    obj = normalize(obj)
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    kind = kind or obj.get("kind")
    if kind not in ("Deployment", "StatefulSet"):
        raise ValueError(f"cannot snapshot kind {kind!r}")
    template = spec.get("template") or {}
    out: dict[str, Any] = {
        "kind": kind,
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
        "revision": (meta.get("annotations") or {}).get(REVISION_ANNOTATION),
        "replicas": spec.get("replicas"),
        "containers": _containers(template),
        "templateAnnotations": dict((template.get("metadata") or {}).get("annotations") or {}),
        "template": template,
    }
    if kind == "Deployment":
        out["paused"] = bool(spec.get("paused", False))
    if held:
        out[HELD] = normalize(dict(held))
    return out


def restore_patch(snapshot: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A JSON patch that puts the workload back; it fails as a whole if the object was replaced."""
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/uid", "value": snapshot["uid"]},
        {"op": "replace", "path": "/spec/template", "value": snapshot["template"]},
    ]
    if snapshot.get("replicas") is not None:
        ops.append({"op": "add", "path": "/spec/replicas", "value": snapshot["replicas"]})
    if snapshot.get("kind") == "Deployment":
        ops.append({"op": "add", "path": "/spec/paused", "value": bool(snapshot.get("paused"))})
    return ops


def differences(snapshot: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """What still differs between the snapshot and the live object, in words (empty: restored)."""
    now = take(live, snapshot.get("kind"))
    out: list[str] = []
    if snapshot.get("uid") and now["uid"] != snapshot["uid"]:
        return [f"the target was replaced (uid {snapshot['uid']} is now {now['uid']})"]
    if now["replicas"] != snapshot.get("replicas"):
        out.append(f"replicas: expected {snapshot.get('replicas')}, found {now['replicas']}")
    if snapshot.get("kind") == "Deployment" and now.get("paused") != bool(snapshot.get("paused")):
        out.append(f"paused: expected {bool(snapshot.get('paused'))}, found {now.get('paused')}")
    if normalize(snapshot.get("template")) == now["template"]:
        return out
    before = {c["name"]: c for c in snapshot.get("containers") or []}
    after = {c["name"]: c for c in now["containers"]}
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name), after.get(name)
        if b is None or a is None:
            out.append(f"container {name}: {'added' if b is None else 'removed'}")
            continue
        if b["image"] != a["image"]:
            out.append(f"container {name} image: expected {b['image']}, found {a['image']}")
        if normalize(b["resources"]) != a["resources"]:
            out.append(
                f"container {name} resources: expected {b['resources']}, found {a['resources']}"
            )
    if normalize(snapshot.get("templateAnnotations") or {}) != now["templateAnnotations"]:
        out.append(
            f"template annotations: expected {snapshot.get('templateAnnotations')}, "
            f"found {now['templateAnnotations']}"
        )
    if all(not d.startswith(("container", "template")) for d in out):
        out.append("pod template differs")
    return out


def matches(snapshot: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """True when the live workload is back to its snapshot (the restore is verified)."""
    return not differences(snapshot, live)


def summary(snapshot: Mapping[str, Any]) -> str:
    """One line for the timeline: what the safe-hold holds."""
    images = ", ".join(f"{c['name']}={c['image']}" for c in snapshot.get("containers") or [])
    parts = [
        f"{snapshot.get('kind')}/{snapshot.get('name')}",
        f"replicas {snapshot.get('replicas')}",
    ]
    if images:
        parts.append(f"images {images}")
    if snapshot.get("revision"):
        parts.append(f"revision {snapshot['revision']}")
    for action, kept in sorted((snapshot.get(HELD) or {}).items()):
        parts.append(
            f"for {action}: " + ", ".join(f"{k} {v}" for k, v in sorted(kept.items()) if k != "uid")
        )
    return ", ".join(parts)
