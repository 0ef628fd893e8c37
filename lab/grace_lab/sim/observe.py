"""Read a Deployment's real state out of the API objects, as plain JSON, into the model's terms.

Pure: the exporter lists Deployments, ReplicaSets and Pods and hands the decoded JSON here.
Pods are attributed to a Deployment through their owning ReplicaSet (ownerReferences, as the
controllers themselves do), and grouped per ReplicaSet so that a rollout shows as a mix of
revisions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from grace_lab.sim.model import PodGroup, WorkloadState, parse_quantity

LOAD_ANNOTATION = "sim.grace.dev/load-rps"
"""Set on a Deployment to change the offered load (requests/s) without touching its pods."""

Obj = Mapping[str, Any]


def _owner_uid(obj: Obj, kind: str) -> str | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("kind") == kind and ref.get("controller", True):
            uid = ref.get("uid")
            return str(uid) if uid else None
    return None


def _terminating(obj: Obj) -> bool:
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))


def _ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or _terminating(pod):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _running(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and not _terminating(pod)


def memory_limit(pod_spec: Obj) -> int | None:
    """Sum of the containers' memory limits; None if any container may use unbounded memory."""
    total = 0.0
    containers: Sequence[Obj] = pod_spec.get("containers") or []
    if not containers:
        return None
    for container in containers:
        limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
        if limit is None:
            return None
        total += parse_quantity(limit)
    return int(total)


def images(pod_spec: Obj) -> tuple[str, ...]:
    return tuple(str(c.get("image", "")) for c in pod_spec.get("containers") or [])


def load_override(deployment: Obj) -> float | None:
    raw = (deployment.get("metadata", {}).get("annotations") or {}).get(LOAD_ANNOTATION)
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        return None


def workload_state(
    deployment: Obj, replicasets: Iterable[Obj], pods: Iterable[Obj]
) -> WorkloadState:
    """The state of one Deployment: its pods per ReplicaSet, ready and running."""
    meta = deployment["metadata"]
    uid = meta.get("uid")
    owned = [rs for rs in replicasets if uid and _owner_uid(rs, "Deployment") == uid]
    by_uid = {rs["metadata"]["uid"]: rs for rs in owned}
    ready: dict[str, int] = dict.fromkeys(by_uid, 0)
    running: dict[str, int] = dict.fromkeys(by_uid, 0)
    for pod in pods:
        rs_uid = _owner_uid(pod, "ReplicaSet")
        if rs_uid is None or rs_uid not in by_uid:
            continue
        if _ready(pod):
            ready[rs_uid] += 1
        if _running(pod):
            running[rs_uid] += 1
    groups = []
    for rs_uid, rs in sorted(by_uid.items(), key=lambda kv: str(kv[1]["metadata"]["name"])):
        spec = ((rs.get("spec") or {}).get("template") or {}).get("spec") or {}
        if ready[rs_uid] == 0 and running[rs_uid] == 0:
            continue
        groups.append(
            PodGroup(
                images=images(spec),
                memory_limit_bytes=memory_limit(spec),
                ready=ready[rs_uid],
                running=running[rs_uid],
            )
        )
    return WorkloadState(
        namespace=str(meta.get("namespace", "")),
        app=str(meta["name"]),
        groups=tuple(groups),
        load_rps=load_override(deployment),
    )
