"""rolloutRestart: restart the target's pods the way `kubectl rollout restart` does."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from grace.api.playbook import Action
from grace.run.actions.base import (
    ActionKind,
    ActionRefusedError,
    Intent,
    StepArgs,
    StepResult,
    live_target,
    rfc3339,
)
from grace.run.workload import Workload

RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"


class RolloutRestartIntent(Intent):
    action: Literal["rolloutRestart"] = "rolloutRestart"
    restarted_at: str


class RolloutRestart(ActionKind[StepArgs, RolloutRestartIntent]):
    name = Action.ROLLOUT_RESTART
    args = StepArgs
    intent = RolloutRestartIntent
    summary = f"stamp the pod template with `{RESTARTED_AT_ANNOTATION}`: a rolling restart"
    undone = "the snapshot's pod template is restored (one more rolling restart)"

    def prepare(
        self, w: Workload, obj: Mapping[str, Any], args: StepArgs, head: Intent, now: datetime
    ) -> RolloutRestartIntent:
        if (obj.get("spec") or {}).get("paused"):
            raise ActionRefusedError(f"{w.ref} is paused: resume it before restarting")
        return self.build(head, restartedAt=rfc3339(now))

    def execute(self, w: Workload, intent: RolloutRestartIntent, now: datetime) -> StepResult:
        spec = live_target(w, intent.target.uid)["spec"]
        at = intent.restarted_at
        annotations = (spec["template"].get("metadata") or {}).get("annotations") or {}
        if annotations.get(RESTARTED_AT_ANNOTATION) == at:
            return StepResult("Succeeded", f"{w.ref} already restarted at {at}")
        template = {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: at}}}
        w.patch({"metadata": {"uid": intent.target.uid}, "spec": {"template": template}})
        return StepResult("Succeeded", f"restarted the pods of {w.ref} (restartedAt {at})", True)

    def describe(self, intent: RolloutRestartIntent) -> str:
        return f"restart the pods of {intent.ref} (restartedAt {intent.restarted_at})"
