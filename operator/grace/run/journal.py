"""What a Mission transition means for the ledger: the lifecycle events between two statuses.

Pure. Each event carries an idempotency key derived from the Mission's uid and the event's
place in the run, so replaying a transition after a crash appends nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grace.api.mission import TERMINAL_PHASES, Mission, MissionStatus, StepPhase

FINISHED_STEP = {StepPhase.SUCCEEDED, StepPhase.FAILED, StepPhase.SKIPPED}


@dataclass(frozen=True)
class JournalEvent:
    type: str
    data: dict[str, Any]
    key: str


def _base(mission: Mission) -> dict[str, Any]:
    return {
        "mission": mission.metadata.name,
        "healthNode": mission.spec.health_node,
        "playbook": mission.spec.playbook,
        "dryRun": mission.spec.dry_run,
    }


def events(mission: Mission, old: MissionStatus, new: MissionStatus) -> list[JournalEvent]:
    """The ledger entries the step from `old` to `new` produces, in order."""
    uid = mission.metadata.uid or f"{mission.metadata.namespace}/{mission.metadata.name}"
    base = _base(mission)
    out: list[JournalEvent] = []

    def add(type_: str, suffix: str, **data: Any) -> None:
        out.append(JournalEvent(type_, {**base, **data}, f"{uid}/{suffix}"))

    add(
        "mission.proposed",
        "proposed",
        trigger=mission.spec.trigger.value,
        reason=mission.spec.reason,
        requestedBy=mission.spec.requested_by,
        incident=mission.spec.incident,
    )
    if new.decision is not None and old.decision is None:
        d = new.decision
        add(
            "policy.decided",
            "decided",
            result=d.result,
            tier=d.tier,
            reasons=list(d.reasons),
            engine=d.engine,
            policyDigest=d.policy_digest,
        )
    if (
        new.approval is not None
        and new.approval.state != "Pending"
        and (
            old.approval is None
            or old.approval.state == "Pending"
            or old.approval.request != new.approval.request
        )
    ):
        a = new.approval
        add(
            "approval.decided",
            f"approval/{a.request}",
            request=a.request,
            purpose=a.purpose,
            state=a.state,
            decidedBy=a.decided_by,
            reason=a.reason,
        )
    before = {s.name: s.phase for s in old.steps}
    for i, step in enumerate(new.steps):
        was = before.get(step.name)
        if (
            step.phase is StepPhase.RUNNING
            and was is not StepPhase.RUNNING
            and was not in FINISHED_STEP
        ):
            add("step.started", f"step/{i}/started", step=step.name, action=step.action)
        if step.phase in FINISHED_STEP and was not in FINISHED_STEP:
            add(
                "step.finished",
                f"step/{i}/finished",
                step=step.name,
                action=step.action,
                phase=step.phase.value,
                message=step.message,
            )
    if (
        new.verification
        and new.verification.outcome
        and not (old.verification and old.verification.outcome)
    ):
        v = new.verification
        add(
            "verification.finished",
            "verified",
            outcome=v.outcome.value if v.outcome else None,
            checks=[c.wire() for c in v.checks],
            message=v.message,
        )
    if new.rollback and new.rollback.outcome and not (old.rollback and old.rollback.outcome):
        add(
            "rollback.finished",
            "rolled-back",
            outcome=new.rollback.outcome.value,
            message=new.rollback.message,
        )
    if new.phase in TERMINAL_PHASES and old.phase not in TERMINAL_PHASES:
        add(
            "mission.finished",
            "finished",
            outcome=new.phase.value,
            verification=(
                new.verification.outcome.value
                if new.verification and new.verification.outcome
                else None
            ),
            message=new.message,
        )
    return out
