"""scale: set the target's replicas to a declared number."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from grace.api.playbook import MAX_REPLICAS, Action
from grace.run.actions.base import (
    ActionKind,
    Intent,
    StepArgs,
    StepInput,
    StepResult,
    live_target,
)
from grace.run.workload import Workload


class ScaleArgs(StepArgs):
    replicas: int


class ScaleIntent(Intent):
    action: Literal["scale"] = "scale"
    replicas: int
    previous: int | None = None


class Scale(ActionKind[ScaleArgs, ScaleIntent]):
    name = Action.SCALE
    args = ScaleArgs
    intent = ScaleIntent
    summary = f"set `spec.replicas` to `with.replicas` (0..{MAX_REPLICAS})"
    undone = "the snapshot's replicas are restored"

    def resolve(self, step: StepInput) -> ScaleArgs:
        return ScaleArgs(replicas=step.int_in("replicas", step.need("replicas"), 0, MAX_REPLICAS))

    def prepare(
        self, w: Workload, obj: Mapping[str, Any], args: ScaleArgs, head: Intent, now: datetime
    ) -> ScaleIntent:
        previous = (obj.get("spec") or {}).get("replicas")
        return self.build(head, replicas=args.replicas, previous=previous)

    def execute(self, w: Workload, intent: ScaleIntent, now: datetime) -> StepResult:
        spec = live_target(w, intent.target.uid)["spec"]
        if spec.get("replicas") == intent.replicas:
            return StepResult("Succeeded", f"{w.ref} already has {intent.replicas} replicas")
        w.patch({"metadata": {"uid": intent.target.uid}, "spec": {"replicas": intent.replicas}})
        return StepResult(
            "Succeeded", f"scaled {w.ref} from {spec.get('replicas')} to {intent.replicas}", True
        )

    def describe(self, intent: ScaleIntent) -> str:
        return f"scale {intent.ref} from {intent.previous} to {intent.replicas} replicas"
