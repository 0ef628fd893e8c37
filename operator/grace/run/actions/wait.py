"""wait: let time pass between two steps (a new pod settling, a cache expiring)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from grace.api.duration import format_duration, parse_duration
from grace.api.playbook import Action
from grace.run.actions.base import (
    ActionKind,
    Intent,
    StepArgs,
    StepError,
    StepInput,
    StepResult,
    rfc3339,
)
from grace.run.workload import Workload


class WaitArgs(StepArgs):
    duration: float
    """Seconds."""


class WaitIntent(Intent):
    action: Literal["wait"] = "wait"
    seconds: float
    deadline: str


class Wait(ActionKind[WaitArgs, WaitIntent]):
    name = Action.WAIT
    args = WaitArgs
    intent = WaitIntent
    summary = "wait `with.duration` (no longer than the playbook's timeout)"
    undone = "nothing to restore"

    def resolve(self, step: StepInput) -> WaitArgs:
        text = step.need("duration")
        seconds = parse_duration(str(text))
        if seconds > step.timeout:
            raise StepError(
                "InvalidStep",
                f"{step.label}: wait {text} is longer than the playbook timeout; "
                "it could never finish",
            )
        return WaitArgs(duration=seconds)

    def prepare(
        self, w: Workload, obj: Mapping[str, Any], args: WaitArgs, head: Intent, now: datetime
    ) -> WaitIntent:
        deadline = rfc3339(now + timedelta(seconds=args.duration))
        return self.build(head, seconds=args.duration, deadline=deadline)

    def execute(self, w: Workload, intent: WaitIntent, now: datetime) -> StepResult:
        deadline = datetime.fromisoformat(intent.deadline.replace("Z", "+00:00"))
        left = (deadline - now).total_seconds()
        if left > 0:
            return StepResult("Waiting", f"waiting {left:.0f}s more", retry_after=left)
        return StepResult("Succeeded", f"waited {format_duration(intent.seconds)}")

    def describe(self, intent: WaitIntent) -> str:
        return f"wait {format_duration(intent.seconds)} (until {intent.deadline})"
