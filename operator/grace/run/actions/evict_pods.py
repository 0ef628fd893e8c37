"""evictPods: evict a bounded number of the target's least healthy pods through the Eviction API.

Unlike deletePods, every pod goes through the API server's eviction check, so a
PodDisruptionBudget that allows no disruption right now refuses it. A refusal is reported
on the Mission (the step fails with the budget's reason) and never forced.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from grace.api.playbook import MAX_DELETE_PODS, Action
from grace.run.actions.base import CountArgs, StepResult, live_target
from grace.run.actions.pods import PodsAction, PodsIntent, pod_still_there
from grace.run.workload import Workload


class EvictPodsIntent(PodsIntent):
    action: Literal["evictPods"] = "evictPods"


class EvictPods(PodsAction[EvictPodsIntent]):
    name = Action.EVICT_PODS
    args = CountArgs
    intent = EvictPodsIntent
    verb = "evict"
    summary = (
        f"evict `with.count` (1..{MAX_DELETE_PODS}) pods of the target, not-ready and most "
        "restarted first, through the Eviction API: a PodDisruptionBudget's refusal fails the "
        "step with its reason, never forced"
    )
    undone = "nothing to restore: the target's controller recreates the pods"

    def execute(self, w: Workload, intent: EvictPodsIntent, now: datetime) -> StepResult:
        obj = live_target(w, intent.target.uid)
        evicted: list[str] = []
        gone: list[str] = []
        refused: list[str] = []
        for ref in intent.pods:
            if not pod_still_there(w, obj, ref):
                gone.append(ref.name)
                continue
            outcome, why = w.evict_pod(ref.name, ref.uid)
            if outcome == "refused":
                refused.append(f"{ref.name} ({why})" if why else ref.name)
            else:
                (evicted if outcome == "evicted" else gone).append(ref.name)
        message = f"evicted {len(evicted)} pod(s) of {w.ref}" + (
            f": {', '.join(evicted)}" if evicted else ""
        )
        if gone:
            message += f" ({len(gone)} already gone: {', '.join(gone)})"
        if refused:
            return StepResult(
                "Failed",
                f"{message}; eviction refused for {', '.join(refused)}: a PodDisruptionBudget "
                "allows no disruption now, and GRACE never forces an eviction",
                bool(evicted),
            )
        return StepResult("Succeeded", message, bool(evicted))
