"""deletePods: delete a bounded number of the target's least healthy pods (its controller replaces them)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from grace.api.playbook import MAX_DELETE_PODS, Action
from grace.run.actions.base import (
    ActionKind,
    CountArgs,
    Intent,
    PodRef,
    StepInput,
    StepResult,
    choose_pods,
    live_target,
    pod_still_there,
)
from grace.run.workload import Workload


class DeletePodsIntent(Intent):
    action: Literal["deletePods"] = "deletePods"
    count: int
    pods: list[PodRef] = Field(default_factory=list)


class DeletePods(ActionKind[CountArgs, DeletePodsIntent]):
    name = Action.DELETE_PODS
    args = CountArgs
    intent = DeletePodsIntent
    summary = (
        f"delete `with.count` (1..{MAX_DELETE_PODS}) pods of the target, not-ready and most "
        "restarted first"
    )
    undone = "nothing to restore: the target's controller recreates the pods"

    def resolve(self, step: StepInput) -> CountArgs:
        return CountArgs(count=step.int_in("count", step.need("count"), 1, MAX_DELETE_PODS))

    def prepare(
        self, w: Workload, obj: Mapping[str, Any], args: CountArgs, head: Intent, now: datetime
    ) -> DeletePodsIntent:
        return self.build(head, count=args.count, pods=choose_pods(w, obj, args.count, "delete"))

    def execute(self, w: Workload, intent: DeletePodsIntent, now: datetime) -> StepResult:
        obj = live_target(w, intent.target.uid)
        deleted: list[str] = []
        gone: list[str] = []
        for ref in intent.pods:
            there = pod_still_there(w, obj, ref) and w.delete_pod(ref.name, ref.uid)
            (deleted if there else gone).append(ref.name)
        message = f"deleted {len(deleted)} pod(s) of {w.ref}" + (
            f": {', '.join(deleted)}" if deleted else ""
        )
        if gone:
            message += f" ({len(gone)} already gone: {', '.join(gone)})"
        return StepResult("Succeeded", message, bool(deleted))

    def describe(self, intent: DeletePodsIntent) -> str:
        pods = [p.name for p in intent.pods]
        return f"delete {len(pods)} pod(s) of {intent.ref}: {', '.join(pods) or 'none'}"
