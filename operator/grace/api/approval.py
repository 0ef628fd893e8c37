"""ApprovalRequest: a question to a human, answered with `kubectl annotate` (or `kubectl grace approve`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from grace.api.common import (
    API_VERSION,
    NAME_PATTERN,
    Condition,
    Model,
    NotificationKey,
    ObjectMeta,
    ShortText,
    cel,
    notified_field,
    validations,
)
from grace.api.playbook import Risk

DECISION_ANNOTATION = "grace.dev/decision"
DECIDED_BY_ANNOTATION = "grace.dev/decided-by"
REASON_ANNOTATION = "grace.dev/reason"
ABORT_ANNOTATION = "grace.dev/abort"


class ApprovalState(StrEnum):
    PENDING = "Pending"
    APPROVED = "Approved"
    DENIED = "Denied"
    EXPIRED = "Expired"


class ApprovalPurpose(StrEnum):
    RUN = "run"
    """May this Mission run? approve = run it, deny = do not."""
    KEEP = "keepOrRollback"
    """Verification was NoData/Inconclusive: approve = keep the change, deny = roll it back."""


class ApprovalRequestSpec(Model):
    model_config = Model.model_config | {
        "json_schema_extra": validations(
            cel("self == oldSelf", "spec is immutable: the operator opens a new request instead"),
        )
    }

    mission: str = Field(min_length=1, max_length=253, pattern=NAME_PATTERN)
    mission_uid: str = Field(default="", max_length=64)
    health_node: str = Field(default="", max_length=253)
    playbook: str = Field(default="", max_length=253)
    purpose: ApprovalPurpose = ApprovalPurpose.RUN
    risk: Risk = Risk.MEDIUM
    requested_by: str | None = Field(default=None, max_length=253)
    reasons: list[ShortText] = Field(default_factory=list, max_length=32)
    question: str = Field(default="", max_length=2048)
    expires_at: datetime


class ApprovalRequestStatus(Model):
    state: ApprovalState = ApprovalState.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    conditions: list[Condition] = Field(default_factory=list)
    notified: list[NotificationKey] = notified_field("request (opened, settled)")


class ApprovalRequest(Model):
    api_version: str = API_VERSION
    kind: Literal["ApprovalRequest"] = "ApprovalRequest"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ApprovalRequestSpec
    status: ApprovalRequestStatus = Field(default_factory=ApprovalRequestStatus)
