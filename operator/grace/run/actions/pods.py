"""What deletePods and evictPods share: the target's least healthy pods, chosen once, by uid."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from pydantic import Field

from grace.api.common import Model
from grace.api.playbook import MAX_DELETE_PODS
from grace.run.actions.base import (
    ActionKind,
    ActionRefusedError,
    CountArgs,
    Intent,
    StepInput,
)
from grace.run.workload import Workload


class PodRef(Model):
    name: str
    uid: str
    node: str | None = None


class PodsIntent(Intent):
    count: int
    pods: list[PodRef] = Field(default_factory=list)


PodsIntentT = TypeVar("PodsIntentT", bound=PodsIntent)


class PodsAction(ActionKind[CountArgs, PodsIntentT]):
    """An action on `with.count` of the target's pods, not-ready and most restarted first."""

    verb: ClassVar[str]

    def resolve(self, step: StepInput) -> CountArgs:
        return CountArgs(count=step.int_in("count", step.need("count"), 1, MAX_DELETE_PODS))

    def prepare(
        self, w: Workload, obj: Mapping[str, Any], args: CountArgs, head: Intent, now: datetime
    ) -> PodsIntentT:
        return self.build(head, count=args.count, pods=choose_pods(w, obj, args.count, self.verb))

    def describe(self, intent: PodsIntentT) -> str:
        pods = [p.name for p in intent.pods]
        return f"{self.verb} {len(pods)} pod(s) of {intent.ref}: {', '.join(pods) or 'none'}"


def ready(pod: Mapping[str, Any]) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _restarts(pod: Mapping[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses)


def unhealthy_first(pods: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Not ready first, then most restarted, then oldest: the pods a human would remove first."""
    return sorted(
        pods,
        key=lambda p: (
            ready(p),
            -_restarts(p),
            str(p["metadata"].get("creationTimestamp", "")),
            p["metadata"]["name"],
        ),
    )


def choose_pods(w: Workload, obj: Mapping[str, Any], count: int, verb: str) -> list[PodRef]:
    """The `count` least healthy live pods of the target (deletePods, evictPods)."""
    live = [p for p in w.pods(obj) if not p["metadata"].get("deletionTimestamp")]
    if not live:
        raise ActionRefusedError(f"{w.ref} has no running pods to {verb}")
    return [
        PodRef(
            name=p["metadata"]["name"],
            uid=p["metadata"]["uid"],
            node=(p.get("spec") or {}).get("nodeName"),
        )
        for p in unhealthy_first(live)[:count]
    ]


def pod_still_there(w: Workload, obj: Mapping[str, Any], ref: PodRef) -> bool:
    """True when that very pod (by uid) still runs; refuses a pod the target does not own."""
    pod = w.read_pod(ref.name)
    if pod is None or pod["metadata"]["uid"] != ref.uid:
        return False
    if not w.owns_pod(obj, pod):
        raise ActionRefusedError(f"pod {ref.name} does not belong to {w.ref}")
    return not pod["metadata"].get("deletionTimestamp")
