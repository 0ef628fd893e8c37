"""ApprovalRequest lifecycle, purely: a human's annotations (or the clock) settle a request."""

from __future__ import annotations

from datetime import datetime

from grace.api.approval import (
    DECIDED_BY_ANNOTATION,
    DECISION_ANNOTATION,
    REASON_ANNOTATION,
    ApprovalRequest,
    ApprovalRequestStatus,
    ApprovalState,
)

DECISIONS = {"approve": ApprovalState.APPROVED, "deny": ApprovalState.DENIED}


def decision_time(request: ApprovalRequest, now: datetime) -> datetime:
    """When the decision annotation was written, as the API server recorded it.

    The admission policy cannot see the clock, so the operator proves the time: the latest
    managedFields entry that owns `grace.dev/decision` (the API server stamps it on every write
    of those fields; a later write by the same manager only moves it later, which errs towards
    "too late"). Without such an entry, the moment the operator sees the decision: never earlier
    than what can be proven.
    """
    key = f"f:{DECISION_ANNOTATION}"
    times = [
        entry.time
        for entry in request.metadata.managed_fields
        if entry.time is not None
        and key in entry.fields_v1.get("f:metadata", {}).get("f:annotations", {})
    ]
    return min(max(times), now) if times else now


def settle(request: ApprovalRequest, now: datetime) -> ApprovalRequestStatus | None:
    """The request's new status, or None while it still waits (or was settled before).

    Who may write the annotations is the API server's business (the ValidatingAdmissionPolicy
    makes `decided-by` the requesting user and forbids self-approval), so this only reads them.
    A decision made before expiry counts even if the operator sees it late; one written after
    `expiresAt` never counts (the operator may have been down while the request was still
    Pending, so the admission policy let it through): the request ends Expired and says so.
    """
    if request.status.state is not ApprovalState.PENDING:
        return None
    annotations = request.metadata.annotations
    verdict = DECISIONS.get(annotations.get(DECISION_ANNOTATION, "").strip().lower())
    if verdict is not None:
        who = annotations.get(DECIDED_BY_ANNOTATION) or "unknown"
        at = decision_time(request, now)
        if at <= request.spec.expires_at:
            return ApprovalRequestStatus(
                state=verdict,
                decided_by=who,
                decided_at=at,
                reason=annotations.get(REASON_ANNOTATION),
                notified=request.status.notified,
            )
        return ApprovalRequestStatus(
            state=ApprovalState.EXPIRED,
            decided_at=now,
            reason=(
                f"{DECISION_ANNOTATION}={annotations[DECISION_ANNOTATION].strip()} by {who} "
                f"was written at {at.isoformat()}, after the "
                f"request expired at {request.spec.expires_at.isoformat()}: it does not count"
            ),
            notified=request.status.notified,
        )
    if now >= request.spec.expires_at:
        return ApprovalRequestStatus(
            state=ApprovalState.EXPIRED,
            decided_at=now,
            reason=f"nobody decided before {request.spec.expires_at.isoformat()}",
            notified=request.status.notified,  # the Notifier's record, not the runner's to drop
        )
    return None
