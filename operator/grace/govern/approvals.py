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


def settle(request: ApprovalRequest, now: datetime) -> ApprovalRequestStatus | None:
    """The request's new status, or None while it still waits (or was settled before).

    Who may write the annotations is the API server's business (the ValidatingAdmissionPolicy
    makes `decided-by` the requesting user and forbids self-approval), so this only reads them.
    A decision made before expiry counts even if the operator sees it late.
    """
    if request.status.state is not ApprovalState.PENDING:
        return None
    annotations = request.metadata.annotations
    verdict = DECISIONS.get(annotations.get(DECISION_ANNOTATION, "").strip().lower())
    if verdict is not None:
        return ApprovalRequestStatus(
            state=verdict,
            decided_by=annotations.get(DECIDED_BY_ANNOTATION) or "unknown",
            decided_at=now,
            reason=annotations.get(REASON_ANNOTATION),
        )
    if now >= request.spec.expires_at:
        return ApprovalRequestStatus(
            state=ApprovalState.EXPIRED,
            decided_at=now,
            reason=f"nobody decided before {request.spec.expires_at.isoformat()}",
        )
    return None
