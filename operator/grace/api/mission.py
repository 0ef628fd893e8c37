"""Mission: one tracked run of a Playbook against one HealthNode, and everything it did."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from grace.api.common import (
    API_VERSION,
    NAME_PATTERN,
    Condition,
    Model,
    NotificationKey,
    ObjectMeta,
    cel,
    notified_field,
    validations,
)

TIMELINE_LIMIT = 60


class MissionPhase(StrEnum):
    PENDING = "Pending"
    AWAITING_APPROVAL = "AwaitingApproval"
    RUNNING = "Running"
    VERIFYING = "Verifying"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    DENIED = "Denied"
    EXPIRED = "Expired"
    TIMED_OUT = "TimedOut"
    ABORTED = "Aborted"


TERMINAL_PHASES = frozenset(
    {
        MissionPhase.SUCCEEDED,
        MissionPhase.FAILED,
        MissionPhase.ROLLED_BACK,
        MissionPhase.DENIED,
        MissionPhase.EXPIRED,
        MissionPhase.TIMED_OUT,
        MissionPhase.ABORTED,
    }
)


class Trigger(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class MissionSpec(Model):
    model_config = Model.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.healthNode == oldSelf.healthNode && self.playbook == oldSelf.playbook",
                "healthNode and playbook are immutable: create a new Mission instead",
            ),
            cel(
                "!has(oldSelf.requestedBy) || (has(self.requestedBy) && self.requestedBy == oldSelf.requestedBy)",
                "spec.requestedBy is immutable once set",
                field_path=".requestedBy",
            ),
            cel(
                "(!has(self.parameters) && !has(oldSelf.parameters)) || "
                "(has(self.parameters) && has(oldSelf.parameters) && self.parameters == oldSelf.parameters)",
                "parameters are immutable: create a new Mission instead",
                field_path=".parameters",
            ),
            cel(
                "self.dryRun == oldSelf.dryRun && self.trigger == oldSelf.trigger",
                "dryRun and trigger are immutable",
            ),
        )
    }

    health_node: str = Field(min_length=1, max_length=253, pattern=NAME_PATTERN)
    playbook: str = Field(min_length=1, max_length=253, pattern=NAME_PATTERN)
    parameters: dict[str, int | str] = Field(
        default_factory=dict,
        json_schema_extra={
            "maxProperties": 8,
            "additionalProperties": {"x-kubernetes-int-or-string": True, "maxLength": 253},
        },
    )
    reason: str = Field(default="", max_length=1024)
    trigger: Trigger = Trigger.MANUAL
    dry_run: bool = False
    requested_by: str | None = Field(
        default=None,
        max_length=253,
        description="Who asked for this run; the API server checks it is the creating user.",
    )
    incident: str | None = Field(
        default=None,
        max_length=253,
        description="Set by the operator: one incident never gets two Missions.",
    )


class StepPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"


class StepStatus(Model):
    name: str
    action: str
    phase: StepPhase = StepPhase.PENDING
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str | None = None
    intent: dict[str, Any] | None = Field(
        default=None,
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
        description="What the step will do, recorded before it runs so a restart repeats "
        "exactly the same idempotent change instead of a new one.",
    )


class Decision(Model):
    result: Literal["allow", "require_approval", "deny"]
    tier: str = ""
    reasons: list[str] = Field(default_factory=list)
    engine: str = ""
    policy_digest: str = ""
    decided_at: datetime | None = None


class ApprovalStatus(Model):
    request: str
    purpose: str = "run"
    state: str = "Pending"
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None


class CheckResult(Model):
    signal: str
    expected: str
    observed: float | None = None
    baseline: float | None = None
    passed: bool | None = None


class VerificationOutcome(StrEnum):
    PASSED = "Passed"
    FAILED = "Failed"
    NO_DATA = "NoData"
    INCONCLUSIVE = "Inconclusive"


class Verification(Model):
    outcome: VerificationOutcome | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    failures: int = 0
    passing_since: datetime | None = None
    checks: list[CheckResult] = Field(default_factory=list)
    message: str | None = None


class GitOpsOwner(Model):
    tool: Literal["none", "argocd", "flux", "helm", "argo-rollouts"] = "none"
    detail: str = ""


class LedgerRef(Model):
    seq: int
    type: str
    hash: str


class PlaybookRecord(Model):
    """The Playbook a run started with. The run keeps it when the live Playbook is edited, so a
    Mission is judged by the contract it was approved under (and can still roll back when the
    Playbook is deleted)."""

    generation: int | None = None
    digest: str = ""
    spec: dict[str, Any] = Field(
        default_factory=dict, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )


class TimelineEvent(Model):
    time: datetime
    event: str
    message: str = ""


class MissionStatus(Model):
    phase: MissionPhase = MissionPhase.PENDING
    progress: str = ""
    observed_generation: int | None = None
    target: dict[str, str] = Field(default_factory=dict)
    gitops: GitOpsOwner | None = Field(default=None, alias="gitOps")
    playbook: PlaybookRecord | None = None
    decision: Decision | None = None
    approval: ApprovalStatus | None = None
    snapshot: dict[str, Any] | None = Field(
        default=None, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )
    baseline: dict[str, float] = Field(default_factory=dict)
    steps: list[StepStatus] = Field(default_factory=list)
    verification: Verification | None = None
    rollback: Verification | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str | None = None
    ledger: list[LedgerRef] = Field(default_factory=list)
    timeline: list[TimelineEvent] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)
    notified: list[NotificationKey] = notified_field("Mission (its end)")


class Mission(Model):
    api_version: str = API_VERSION
    kind: Literal["Mission"] = "Mission"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: MissionSpec
    status: MissionStatus = Field(default_factory=MissionStatus)
