"""kstatus-compatible conditions (Ready, Reconciling, Stalled) from a Mission's or request's state.

Flux, Argo CD and `kubectl wait --for=condition=Ready` understand these: a Mission in flight is
Reconciling, a Succeeded one is Ready, any other ending is Stalled with its message.
"""

from __future__ import annotations

from datetime import datetime

from grace.api.approval import ApprovalRequestStatus, ApprovalState
from grace.api.common import Condition, set_condition
from grace.api.mission import TERMINAL_PHASES, MissionPhase, MissionStatus


def _apply(
    conditions: list[Condition],
    now: datetime,
    *,
    ready: bool,
    done: bool,
    reason: str,
    message: str,
) -> list[Condition]:
    out = set_condition(
        conditions,
        Condition(
            type="Ready", status="True" if ready else "False", reason=reason, message=message
        ),
        now,
    )
    out = [c for c in out if c.type not in ("Reconciling", "Stalled")]
    if not done:
        out = set_condition(
            out, Condition(type="Reconciling", status="True", reason=reason, message=message), now
        )
    elif not ready:
        out = set_condition(
            out, Condition(type="Stalled", status="True", reason=reason, message=message), now
        )
    return out


def mission_conditions(status: MissionStatus, now: datetime) -> list[Condition]:
    phase = status.phase
    done = phase in TERMINAL_PHASES
    return _apply(
        status.conditions,
        now,
        ready=phase is MissionPhase.SUCCEEDED,
        done=done,
        reason=phase.value,
        message=(status.message or phase.value)[:1024],
    )


def approval_conditions(status: ApprovalRequestStatus, now: datetime) -> list[Condition]:
    state = status.state
    return _apply(
        status.conditions,
        now,
        ready=state in (ApprovalState.APPROVED, ApprovalState.DENIED),
        done=state is not ApprovalState.PENDING,
        reason=state.value,
        message=(
            f"{state.value} by {status.decided_by}"
            if status.decided_by
            else ("waiting for a human decision" if state is ApprovalState.PENDING else state.value)
        ),
    )
