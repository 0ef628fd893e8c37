"""scaleHPA: raise or lower the bounds of the target's HorizontalPodAutoscaler.

The step declares `with.minReplicas` and/or `with.maxReplicas` (bounded like every argument);
the HPA whose scaleTargetRef is the target gets them, the other bound kept. The snapshot
holds the HPA's bounds from before the Mission, and a rollback puts them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from grace.api.common import Model
from grace.api.playbook import MAX_REPLICAS, Action
from grace.run.actions.base import (
    ActionKind,
    ActionRefusedError,
    Intent,
    StepArgs,
    StepError,
    StepInput,
    StepResult,
)
from grace.run.workload import Workload


class Bounds(Model):
    name: str
    uid: str
    min_replicas: int
    max_replicas: int

    @property
    def range(self) -> str:
        return f"minReplicas {self.min_replicas}, maxReplicas {self.max_replicas}"


def _bounds(hpa: Mapping[str, Any]) -> Bounds:
    spec = hpa.get("spec") or {}
    return Bounds(
        name=hpa["metadata"]["name"],
        uid=hpa["metadata"]["uid"],
        min_replicas=int(spec.get("minReplicas") or 1),
        max_replicas=int(spec["maxReplicas"]),
    )


def _the_autoscaler(w: Workload) -> Bounds:
    found = w.autoscalers()
    if not found:
        raise ActionRefusedError(f"no HorizontalPodAutoscaler has {w.ref} as its scaleTargetRef")
    if len(found) > 1:
        names = ", ".join(sorted(h["metadata"]["name"] for h in found))
        raise ActionRefusedError(f"several HorizontalPodAutoscalers scale {w.ref}: {names}")
    return _bounds(found[0])


class ScaleHPAArgs(StepArgs):
    min_replicas: int | None = None
    max_replicas: int | None = None


class ScaleHPAIntent(Intent):
    action: Literal["scaleHPA"] = "scaleHPA"
    autoscaler: Bounds
    """The HPA and the bounds the step sets."""
    previous: Bounds


class ScaleHPA(ActionKind[ScaleHPAArgs, ScaleHPAIntent]):
    name = Action.SCALE_HPA
    args = ScaleHPAArgs
    intent = ScaleHPAIntent
    summary = (
        f"set `with.minReplicas` and/or `with.maxReplicas` (1..{MAX_REPLICAS}) of the "
        "HorizontalPodAutoscaler that scales the target"
    )
    undone = "the snapshot's minReplicas/maxReplicas of that HPA are restored"

    def resolve(self, step: StepInput) -> ScaleHPAArgs:
        raw = {f: step.given(f) for f in ("min_replicas", "max_replicas")}
        if raw["min_replicas"] is None and raw["max_replicas"] is None:
            raise StepError(
                "InvalidStep",
                f"{step.label}: action scaleHPA needs with.minReplicas or with.maxReplicas",
            )
        args = ScaleHPAArgs(
            min_replicas=None
            if raw["min_replicas"] is None
            else step.int_in("minReplicas", raw["min_replicas"], 1, MAX_REPLICAS),
            max_replicas=None
            if raw["max_replicas"] is None
            else step.int_in("maxReplicas", raw["max_replicas"], 1, MAX_REPLICAS),
        )
        if args.min_replicas and args.max_replicas and args.min_replicas > args.max_replicas:
            raise StepError(
                "InvalidStep",
                f"{step.label}: with.minReplicas {args.min_replicas} is above with.maxReplicas "
                f"{args.max_replicas}",
            )
        return args

    def prepare(
        self, w: Workload, obj: Mapping[str, Any], args: ScaleHPAArgs, head: Intent, now: datetime
    ) -> ScaleHPAIntent:
        now_bounds = _the_autoscaler(w)
        wanted = now_bounds.model_copy(
            update={
                "min_replicas": args.min_replicas or now_bounds.min_replicas,
                "max_replicas": args.max_replicas or now_bounds.max_replicas,
            }
        )
        if wanted.min_replicas > wanted.max_replicas:
            raise ActionRefusedError(
                f"HorizontalPodAutoscaler {wanted.name} would get minReplicas "
                f"{wanted.min_replicas} above maxReplicas {wanted.max_replicas}"
            )
        return self.build(head, autoscaler=wanted, previous=now_bounds)

    def execute(self, w: Workload, intent: ScaleHPAIntent, now: datetime) -> StepResult:
        wanted = intent.autoscaler
        if self._set(w, wanted):
            return StepResult("Succeeded", self.describe(intent), True)
        return StepResult(
            "Succeeded", f"HorizontalPodAutoscaler {wanted.name} already has {wanted.range}"
        )

    def describe(self, intent: ScaleHPAIntent) -> str:
        return (
            f"set HorizontalPodAutoscaler {intent.autoscaler.name} of {intent.ref} to "
            f"{intent.autoscaler.range} (was {intent.previous.min_replicas}.."
            f"{intent.previous.max_replicas})"
        )

    def hold(self, w: Workload, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            return _the_autoscaler(w).wire()
        except ActionRefusedError:
            return None  # prepare refuses the step with the reason; nothing to hold

    def undo(self, w: Workload, intent: ScaleHPAIntent, held: Mapping[str, Any] | None) -> None:
        before = Bounds.model_validate(held) if held else intent.previous
        if before.uid != intent.autoscaler.uid:
            before = intent.previous
        self._set(w, before)
        live = w.read_autoscaler(before.name)
        if live is None or _bounds(live) != before:
            found = _bounds(live).range if live else "it is gone"
            raise ActionRefusedError(
                f"HorizontalPodAutoscaler {before.name} not restored to {before.range}: {found}"
            )

    @staticmethod
    def _set(w: Workload, wanted: Bounds) -> bool:
        """Give that HPA these bounds; False when it already has them."""
        live = w.read_autoscaler(wanted.name)
        if live is None or live["metadata"]["uid"] != wanted.uid:
            raise ActionRefusedError(
                f"HorizontalPodAutoscaler {wanted.name} no longer exists or was replaced"
            )
        if _bounds(live) == wanted:
            return False
        w.set_autoscaler_bounds(wanted.name, wanted.uid, wanted.min_replicas, wanted.max_replicas)
        return True
