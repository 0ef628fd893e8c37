"""The action catalog on real objects: each action decides its exact change once, then makes it.

Two phases per action. `prepare` reads the live state and returns an intent (which revision,
which pods, which timestamp, which nodes), which the Mission records before anything changes.
`execute` makes exactly that change and is idempotent: after a crash it is run again with the
same intent and changes nothing more (a pod already gone stays gone, scaling to N twice is N,
the same restartedAt makes no second rollout). No arbitrary commands, and nothing outside the
HealthNode's target in its namespace.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client

from grace.api.duration import format_duration
from grace.api.healthnode import Target
from grace.api.playbook import Action
from grace.run import snapshot as snapshots
from grace.run.effects import StepResult
from grace.run.intents import RESTARTED_AT_ANNOTATION, describe, target_of
from grace.run.params import MAX_CORDON_NODES, ResolvedStep, parse_quantity
from grace.run.workload import REVISION_ANNOTATION, Workload

POD_TEMPLATE_HASH = "pod-template-hash"
_PERMANENT = (400, 403, 404, 409, 422)
"""API answers that retrying the same call cannot change: the step fails with the message."""


class ActionRefusedError(Exception):
    """The action cannot be prepared or run against this target; nothing was changed."""


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _revision(obj: Mapping[str, Any]) -> int:
    try:
        return int(
            ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION, 0)
        )
    except ValueError:
        return 0


def _ready(pod: Mapping[str, Any]) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _restarts(pod: Mapping[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses)


def _unhealthy_first(pods: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Not ready first, then most restarted, then oldest: the pods a human would delete first."""
    return sorted(
        pods,
        key=lambda p: (
            _ready(p),
            -_restarts(p),
            str(p["metadata"].get("creationTimestamp", "")),
            p["metadata"]["name"],
        ),
    )


def _resource_conflict(resources: Mapping[str, Any]) -> str | None:
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    for res in sorted(set(requests) & set(limits)):
        req, lim = parse_quantity(str(requests[res])), parse_quantity(str(limits[res]))
        if req is not None and lim is not None and req > lim:
            return f"{res} request {requests[res]} would be above its limit {limits[res]}"
    return None


class ActionExecutor:
    """Runs catalog actions for Missions; every call is confined to one target in one namespace."""

    def __init__(
        self, api_client: Any, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.api_client = api_client
        self.clock = clock

    def workload(self, target: Target, namespace: str) -> Workload:
        return Workload(self.api_client, target, namespace)

    # ------------------------------------------------------------ reads for the machine

    def read(self, target: Target, namespace: str) -> dict[str, Any] | None:
        """The target as it is now (for Inspect and TakeSnapshot), None when it does not exist."""
        return self.workload(target, namespace).read()

    # ------------------------------------------------------------ prepare

    def prepare(self, step: ResolvedStep, target: Target, namespace: str) -> dict[str, Any]:
        """Decide exactly what `step` will change, from the live state. Raises ActionRefusedError."""
        w = self.workload(target, namespace)
        obj = w.read()
        if obj is None:
            raise ActionRefusedError(f"{w.ref} not found in namespace {namespace}")
        intent: dict[str, Any] = {
            "action": step.action.value,
            "step": step.name,
            "target": {
                "kind": target.kind,
                "name": target.name,
                "namespace": namespace,
                "uid": obj["metadata"]["uid"],
            },
        }
        spec = obj.get("spec") or {}
        action = step.action
        if action is Action.SCALE:
            intent.update(replicas=step.replicas, previous=spec.get("replicas"))
        elif action is Action.ROLLOUT_RESTART:
            if spec.get("paused"):
                raise ActionRefusedError(f"{w.ref} is paused: resume it before restarting")
            intent["restartedAt"] = _rfc3339(self.clock())
        elif action is Action.ROLLBACK:
            intent.update(self._prepare_rollback(w, obj, step))
        elif action is Action.SET_RESOURCES:
            intent.update(self._prepare_resources(w, obj, step))
        elif action is Action.DELETE_PODS:
            intent.update(self._prepare_delete(w, obj, step))
        elif action is Action.CORDON_NODE:
            intent.update(self._prepare_cordon(w, obj, step))
        elif action is Action.WAIT:
            seconds = float(step.duration or 0.0)
            intent.update(
                seconds=seconds, deadline=_rfc3339(self.clock() + timedelta(seconds=seconds))
            )
        else:  # pragma: no cover - the catalog is closed
            raise ActionRefusedError(f"unknown action {action!r}")
        return intent

    def _prepare_rollback(
        self, w: Workload, obj: Mapping[str, Any], step: ResolvedStep
    ) -> dict[str, Any]:
        """Pick the revision `kubectl rollout undo` would: the highest one below the current."""
        if w.target.kind != "Deployment":
            raise ActionRefusedError("rollback is only supported on a Deployment")
        if (obj.get("spec") or {}).get("paused"):
            raise ActionRefusedError(f"{w.ref} is paused: resume it before rolling back")
        history = [(_revision(rs), rs) for rs in w.replica_sets(obj)]
        current = _revision(obj) or max((r for r, _ in history), default=0)
        if step.to_revision is not None:
            chosen = [(r, rs) for r, rs in history if r == step.to_revision]
            if not chosen:
                known = ", ".join(str(r) for r, _ in sorted(history, key=lambda h: h[0])) or "none"
                raise ActionRefusedError(
                    f"revision {step.to_revision} not found (history: {known})"
                )
            if step.to_revision == current:
                raise ActionRefusedError(f"revision {current} is already the current one")
        else:
            chosen = sorted(((r, rs) for r, rs in history if 0 < r < current), key=lambda h: h[0])
            if not chosen:
                raise ActionRefusedError(
                    f"{w.ref} has no revision before {current} in its ReplicaSet history"
                )
        revision, rs = chosen[-1]
        template = copy.deepcopy(rs["spec"]["template"])
        labels = (template.get("metadata") or {}).get("labels") or {}
        labels.pop(POD_TEMPLATE_HASH, None)
        containers = (template.get("spec") or {}).get("containers") or []
        return {
            "fromRevision": current,
            "toRevision": revision,
            "replicaSet": rs["metadata"]["name"],
            "images": [f"{c['name']}={c.get('image')}" for c in containers],
            "template": template,
        }

    def _prepare_resources(
        self, w: Workload, obj: Mapping[str, Any], step: ResolvedStep
    ) -> dict[str, Any]:
        containers = obj["spec"]["template"]["spec"]["containers"]
        names = [c["name"] for c in containers]
        if step.container is None and len(containers) != 1:
            raise ActionRefusedError(
                f"{w.ref} has containers {', '.join(names)}: name one in with.container"
            )
        name = step.container or names[0]
        if name not in names:
            raise ActionRefusedError(
                f"{w.ref} has no container {name!r} (containers: {', '.join(names)})"
            )
        index = names.index(name)
        previous = copy.deepcopy(containers[index].get("resources") or {})
        resources = copy.deepcopy(previous)
        for section, values in (("requests", step.requests), ("limits", step.limits)):
            if values:
                resources[section] = {**(resources.get(section) or {}), **values}
        conflict = _resource_conflict(resources)
        if conflict:
            raise ActionRefusedError(f"container {name}: {conflict}")
        return {"container": name, "index": index, "resources": resources, "previous": previous}

    def _prepare_delete(
        self, w: Workload, obj: Mapping[str, Any], step: ResolvedStep
    ) -> dict[str, Any]:
        live = [p for p in w.pods(obj) if not p["metadata"].get("deletionTimestamp")]
        if not live:
            raise ActionRefusedError(f"{w.ref} has no running pods to delete")
        chosen = _unhealthy_first(live)[: step.count or 1]
        return {
            "count": step.count,
            "pods": [
                {
                    "name": p["metadata"]["name"],
                    "uid": p["metadata"]["uid"],
                    "node": (p.get("spec") or {}).get("nodeName"),
                }
                for p in chosen
            ],
        }

    def _prepare_cordon(
        self, w: Workload, obj: Mapping[str, Any], step: ResolvedStep
    ) -> dict[str, Any]:
        """The nodes hosting the target's least healthy pods, never the last schedulable one."""
        score: dict[str, tuple[int, int]] = {}
        for p in w.pods(obj):
            node = (p.get("spec") or {}).get("nodeName")
            if node:
                bad, total = score.get(node, (0, 0))
                score[node] = (bad + (not _ready(p)), total + 1)
        nodes = {n["metadata"]["name"]: n for n in w.nodes()}
        schedulable = {
            name for name, n in nodes.items() if not (n.get("spec") or {}).get("unschedulable")
        }
        candidates = sorted(
            (name for name in score if name in schedulable),
            key=lambda name: (-score[name][0], -score[name][1], name),
        )
        if not candidates:
            raise ActionRefusedError(f"no schedulable node runs pods of {w.ref}")
        count = min(step.count or 1, MAX_CORDON_NODES)
        chosen = candidates[:count]
        if len(schedulable) - len(chosen) < 1:
            raise ActionRefusedError(
                f"cordoning {', '.join(chosen)} would leave no schedulable node in the cluster"
            )
        return {
            "nodes": [
                {"name": name, "uid": nodes[name]["metadata"]["uid"], "pods": score[name][1]}
                for name in chosen
            ]
        }

    # ------------------------------------------------------------ execute

    def execute(self, intent: Mapping[str, Any], target: Target, namespace: str) -> StepResult:
        """Make the recorded change (idempotently). Transient API errors are raised, to retry."""
        kind, ns, name, uid = target_of(intent)
        if (kind, ns, name) != (target.kind, namespace, target.name) or not uid:
            return StepResult(
                "Failed",
                f"refused: the intent targets {kind}/{name} in {ns!r}, but this Mission may only "
                f"touch {target.kind}/{target.name} in {namespace!r}",
            )
        w = self.workload(target, namespace)
        try:
            return self._execute(w, intent, uid)
        except ActionRefusedError as e:
            return StepResult("Failed", f"refused: {e}")
        except client.ApiException as e:
            if e.status in _PERMANENT:
                return StepResult("Failed", f"{describe(intent)}: API error {e.status}: {e.reason}")
            raise

    def _execute(self, w: Workload, intent: Mapping[str, Any], uid: str) -> StepResult:
        action = intent.get("action")
        if action == "wait":
            deadline = datetime.fromisoformat(str(intent["deadline"]).replace("Z", "+00:00"))
            left = (deadline - self.clock()).total_seconds()
            if left > 0:
                return StepResult("Waiting", f"waiting {left:.0f}s more", retry_after=left)
            return StepResult(
                "Succeeded", f"waited {format_duration(float(intent.get('seconds') or 0))}"
            )
        if action == "deletePods":
            return self._delete(w, intent, uid)
        if action == "cordonNode":
            return self._cordon(w, intent)
        obj = w.read()
        if obj is None:
            raise ActionRefusedError(f"{w.ref} no longer exists")
        if obj["metadata"]["uid"] != uid:
            raise ActionRefusedError(
                f"{w.ref} was replaced (uid {uid} is now {obj['metadata']['uid']})"
            )
        spec = obj["spec"]
        guard = {"metadata": {"uid": uid}}
        if action == "scale":
            replicas = int(intent["replicas"])
            if spec.get("replicas") == replicas:
                return StepResult("Succeeded", f"{w.ref} already has {replicas} replicas")
            w.patch({**guard, "spec": {"replicas": replicas}})
            return StepResult(
                "Succeeded", f"scaled {w.ref} from {spec.get('replicas')} to {replicas}", True
            )
        if action == "rolloutRestart":
            at = str(intent["restartedAt"])
            annotations = (spec["template"].get("metadata") or {}).get("annotations") or {}
            if annotations.get(RESTARTED_AT_ANNOTATION) == at:
                return StepResult("Succeeded", f"{w.ref} already restarted at {at}")
            w.patch(
                {
                    **guard,
                    "spec": {
                        "template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: at}}}
                    },
                }
            )
            return StepResult(
                "Succeeded", f"restarted the pods of {w.ref} (restartedAt {at})", True
            )
        if action == "rollback":
            template = intent["template"]
            if snapshots.normalize(spec["template"]) == snapshots.normalize(template):
                return StepResult(
                    "Succeeded",
                    f"{w.ref} already runs the template of revision {intent.get('toRevision')}",
                )
            w.patch(
                [
                    {"op": "test", "path": "/metadata/uid", "value": uid},
                    {"op": "replace", "path": "/spec/template", "value": template},
                ]
            )
            return StepResult("Succeeded", describe(intent).replace("roll ", "rolled ", 1), True)
        if action == "setResources":
            index, container = int(intent["index"]), str(intent["container"])
            containers = spec["template"]["spec"]["containers"]
            if index >= len(containers) or containers[index]["name"] != container:
                raise ActionRefusedError(
                    f"{w.ref} no longer has container {container} at index {index}"
                )
            if snapshots.normalize(containers[index].get("resources") or {}) == intent["resources"]:
                return StepResult("Succeeded", f"container {container} already has these resources")
            path = f"/spec/template/spec/containers/{index}"
            w.patch(
                [
                    {"op": "test", "path": "/metadata/uid", "value": uid},
                    {"op": "test", "path": f"{path}/name", "value": container},
                    {"op": "add", "path": f"{path}/resources", "value": intent["resources"]},
                ]
            )
            return StepResult("Succeeded", describe(intent), True)
        raise ActionRefusedError(f"unknown action {action!r} (not in the catalog)")

    def _delete(self, w: Workload, intent: Mapping[str, Any], uid: str) -> StepResult:
        obj = w.read()
        if obj is None or obj["metadata"]["uid"] != uid:
            raise ActionRefusedError(f"{w.ref} no longer exists or was replaced")
        deleted: list[str] = []
        gone: list[str] = []
        for entry in intent.get("pods") or []:
            pod = w.read_pod(str(entry["name"]))
            if pod is None or pod["metadata"]["uid"] != entry["uid"]:
                gone.append(str(entry["name"]))
                continue
            if not w.owns_pod(obj, pod):
                raise ActionRefusedError(f"pod {entry['name']} does not belong to {w.ref}")
            if pod["metadata"].get("deletionTimestamp"):
                gone.append(str(entry["name"]))
                continue
            (deleted if w.delete_pod(str(entry["name"]), str(entry["uid"])) else gone).append(
                entry["name"]
            )
        message = f"deleted {len(deleted)} pod(s) of {w.ref}" + (
            f": {', '.join(deleted)}" if deleted else ""
        )
        if gone:
            message += f" ({len(gone)} already gone: {', '.join(gone)})"
        return StepResult("Succeeded", message, bool(deleted))

    def _cordon(self, w: Workload, intent: Mapping[str, Any]) -> StepResult:
        done: list[str] = []
        already: list[str] = []
        for entry in intent.get("nodes") or []:
            node = w.read_node(str(entry["name"]))
            if node is None or node["metadata"]["uid"] != entry["uid"]:
                raise ActionRefusedError(f"node {entry['name']} no longer exists or was replaced")
            if (node.get("spec") or {}).get("unschedulable"):
                already.append(str(entry["name"]))
                continue
            w.set_unschedulable(str(entry["name"]), str(entry["uid"]), True)
            done.append(str(entry["name"]))
        message = f"cordoned {', '.join(done) or 'no node'}"
        if already:
            message += f" ({', '.join(already)} already unschedulable)"
        return StepResult("Succeeded", message, bool(done))

    # ------------------------------------------------------------ restore

    def restore(
        self,
        snapshot: Mapping[str, Any],
        target: Target,
        namespace: str,
        uncordon: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Put the target back to its snapshot (and uncordon what the Mission cordoned).

        Returns the live object after the patch, for `snapshot.matches`. Raises ActionRefusedError
        when the snapshot is not this target's or the target was replaced."""
        if (snapshot.get("kind"), snapshot.get("namespace"), snapshot.get("name")) != (
            target.kind,
            namespace,
            target.name,
        ):
            raise ActionRefusedError(
                f"the snapshot is of {snapshot.get('kind')}/{snapshot.get('name')} in "
                f"{snapshot.get('namespace')!r}, not of {target.kind}/{target.name} in {namespace!r}"
            )
        w = self.workload(target, namespace)
        try:
            live = w.patch(snapshots.restore_patch(snapshot))
        except client.ApiException as e:
            if e.status in _PERMANENT:
                raise ActionRefusedError(
                    f"restore of {w.ref} refused by the API: {e.status} {e.reason}"
                ) from e
            raise
        for name in uncordon:
            node = w.read_node(name)
            if node is not None and (node.get("spec") or {}).get("unschedulable"):
                w.set_unschedulable(name, node["metadata"]["uid"], False)
        return live
