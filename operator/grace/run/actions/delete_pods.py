"""deletePods: delete a bounded number of the target's least healthy pods (its controller replaces them)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from grace.api.playbook import MAX_DELETE_PODS, Action
from grace.run.actions.base import CountArgs, StepResult, live_target
from grace.run.actions.pods import PodsAction, PodsIntent, pod_still_there
from grace.run.workload import Workload


class DeletePodsIntent(PodsIntent):
    action: Literal["deletePods"] = "deletePods"


class DeletePods(PodsAction[DeletePodsIntent]):
    name = Action.DELETE_PODS
    args = CountArgs
    intent = DeletePodsIntent
    verb = "delete"
    summary = (
        f"delete `with.count` (1..{MAX_DELETE_PODS}) pods of the target, not-ready and most "
        "restarted first"
    )
    undone = "nothing to restore: the target's controller recreates the pods"

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
