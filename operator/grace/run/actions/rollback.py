"""rollback: return a Deployment to an earlier revision of its pod template, like `kubectl rollout undo`."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from grace.api.playbook import Action
from grace.run import snapshot as snapshots
from grace.run.actions.base import (
    ActionKind,
    ActionRefusedError,
    Intent,
    StepArgs,
    StepInput,
    StepResult,
    live_target,
)
from grace.run.workload import REVISION_ANNOTATION, Workload

POD_TEMPLATE_HASH = "pod-template-hash"


def _revision(obj: Mapping[str, Any]) -> int:
    try:
        return int(
            ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION, 0)
        )
    except ValueError:
        return 0


class RollbackArgs(StepArgs):
    to_revision: int | None = None


class RollbackIntent(Intent):
    action: Literal["rollback"] = "rollback"
    from_revision: int
    to_revision: int
    replica_set: str
    images: list[str] = Field(default_factory=list)
    template: dict[str, Any]


class Rollback(ActionKind[RollbackArgs, RollbackIntent]):
    name = Action.ROLLBACK
    args = RollbackArgs
    intent = RollbackIntent
    summary = (
        "replace the pod template with an earlier revision's (`with.toRevision`, default: the "
        "one before the current)"
    )
    undone = "the snapshot's pod template is restored"
    statefulset = False

    def resolve(self, step: StepInput) -> RollbackArgs:
        return RollbackArgs(to_revision=step.given("to_revision"))

    def prepare(
        self, w: Workload, obj: Mapping[str, Any], args: RollbackArgs, head: Intent, now: datetime
    ) -> RollbackIntent:
        """Pick the revision `kubectl rollout undo` would: the highest one below the current."""
        if w.target.kind != "Deployment":
            raise ActionRefusedError("rollback is only supported on a Deployment")
        if (obj.get("spec") or {}).get("paused"):
            raise ActionRefusedError(f"{w.ref} is paused: resume it before rolling back")
        history = [(_revision(rs), rs) for rs in w.replica_sets(obj)]
        current = _revision(obj) or max((r for r, _ in history), default=0)
        wanted = args.to_revision
        if wanted is not None:
            chosen = [(r, rs) for r, rs in history if r == wanted]
            if not chosen:
                known = ", ".join(str(r) for r, _ in sorted(history, key=lambda h: h[0])) or "none"
                raise ActionRefusedError(f"revision {wanted} not found (history: {known})")
            if wanted == current:
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
        return self.build(
            head,
            fromRevision=current,
            toRevision=revision,
            replicaSet=rs["metadata"]["name"],
            images=[f"{c['name']}={c.get('image')}" for c in containers],
            template=template,
        )

    def execute(self, w: Workload, intent: RollbackIntent, now: datetime) -> StepResult:
        uid = intent.target.uid
        spec = live_target(w, uid)["spec"]
        if snapshots.normalize(spec["template"]) == snapshots.normalize(intent.template):
            return StepResult(
                "Succeeded",
                f"{w.ref} already runs the template of revision {intent.to_revision}",
            )
        w.patch(
            [
                {"op": "test", "path": "/metadata/uid", "value": uid},
                {"op": "replace", "path": "/spec/template", "value": intent.template},
            ]
        )
        return StepResult("Succeeded", self.describe(intent).replace("roll ", "rolled ", 1), True)

    def describe(self, intent: RollbackIntent) -> str:
        return (
            f"roll {intent.ref} back from revision {intent.from_revision} to revision "
            f"{intent.to_revision} (ReplicaSet {intent.replica_set}; {', '.join(intent.images)})"
        )
