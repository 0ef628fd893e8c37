"""What an ApprovalRequest or a Mission owes a human, from its stored state alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from grace.api.approval import ApprovalRequest
from grace.api.mission import Mission
from grace.notify.events import (
    APPROVAL_OPENED,
    APPROVAL_SETTLED,
    MISSION_FINISHED,
    approval_notifications,
    mission_notifications,
)

T0 = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)


def request(**status: Any) -> ApprovalRequest:
    return ApprovalRequest.model_validate(
        {
            "metadata": {
                "name": "checkout-rollback-1",
                "namespace": "shop",
                "creationTimestamp": T0.isoformat(),
            },
            "spec": {
                "mission": "checkout-rollback",
                "healthNode": "checkout",
                "playbook": "rollback-bad-release",
                "risk": "high",
                "requestedBy": "system:serviceaccount:grace-system:grace",
                "reasons": ["no learning confidence yet (0.50 < 0.80)"],
                "question": "Run rollback-bad-release on checkout?",
                "expiresAt": (T0 + timedelta(hours=1)).isoformat(),
            },
            "status": status,
        }
    )


def test_a_pending_request_is_told_once_with_what_why_risk_expiry_and_the_commands() -> None:
    (opened,) = approval_notifications(request(), T0 + timedelta(seconds=5))
    assert opened.key == APPROVAL_OPENED
    alert = opened.alert()
    assert alert["labels"] == {
        "alertname": "GraceApprovalPending",
        "namespace": "shop",
        "approvalrequest": "checkout-rollback-1",
        "mission": "checkout-rollback",
        "healthnode": "checkout",
        "playbook": "rollback-bad-release",
        "purpose": "run",
        "severity": "critical",
        "source": "grace",
    }
    notes = alert["annotations"]
    assert (
        "Run rollback-bad-release on checkout?" in notes["summary"]
        and "risk high" in notes["summary"]
    )
    assert notes["description"] == "no learning confidence yet (0.50 < 0.80)"
    assert notes["approve"] == 'kubectl grace approve checkout-rollback-1 -n shop --reason "..."'
    assert notes["deny"] == 'kubectl grace deny checkout-rollback-1 -n shop --reason "..."'
    assert alert["startsAt"] == T0.isoformat()
    assert alert["endsAt"] == notes["expires"] == (T0 + timedelta(hours=1)).isoformat()
    assert (
        approval_notifications(request(notified=[APPROVAL_OPENED]), T0 + timedelta(seconds=9)) == []
    )


def test_a_decision_resolves_the_same_alert_at_the_decision_time() -> None:
    decided_at = T0 + timedelta(minutes=3)
    decided = request(
        state="Approved",
        decidedBy="alice",
        decidedAt=decided_at.isoformat(),
        reason="bad release",
        notified=[APPROVAL_OPENED],
    )
    (settled,) = approval_notifications(decided, T0 + timedelta(minutes=4))
    (opened,) = approval_notifications(request(), T0)
    assert (
        settled.key == APPROVAL_SETTLED and settled.labels == opened.labels
    )  # one alert in Alertmanager
    assert settled.ends_at == decided_at
    assert settled.annotations["outcome"] == "Approved by alice: bad release"
    done = decided.model_copy(
        update={
            "status": decided.status.model_copy(
                update={"notified": [APPROVAL_OPENED, APPROVAL_SETTLED]}
            )
        }
    )
    assert approval_notifications(done, T0 + timedelta(minutes=5)) == []


def test_an_expired_request_resolves_at_its_expiry_even_before_the_runner_marks_it() -> None:
    late = T0 + timedelta(hours=2)
    (settled,) = approval_notifications(request(notified=[APPROVAL_OPENED]), late)
    assert settled.ends_at == T0 + timedelta(hours=1)
    assert settled.annotations["outcome"].startswith("Expired")
    (marked,) = approval_notifications(request(state="Expired", notified=[APPROVAL_OPENED]), late)
    assert marked.ends_at == T0 + timedelta(hours=1)


def test_a_request_settled_before_it_was_told_owes_nothing() -> None:
    assert approval_notifications(request(state="Denied", decidedBy="bob"), T0) == []
    assert approval_notifications(request(), T0 + timedelta(hours=2)) == []


def mission(phase: str, finished: datetime | None, **extra: Any) -> Mission:
    return Mission.model_validate(
        {
            "metadata": {"name": "checkout-rollback", "namespace": "shop"},
            "spec": {
                "healthNode": "checkout",
                "playbook": "rollback-bad-release",
                "reason": "error-rate Critical",
                **extra.pop("spec", {}),
            },
            "status": {
                "phase": phase,
                "finishedAt": finished.isoformat() if finished else None,
                **extra,
            },
        }
    )


def test_a_mission_end_is_told_once_with_its_outcome() -> None:
    end = T0 + timedelta(minutes=2)
    (told,) = mission_notifications(
        mission(
            "RolledBack",
            end,
            verification={"outcome": "Failed"},
            message="verification failed: error-rate 0.3",
        ),
        end,
    )
    assert told.key == MISSION_FINISHED
    assert told.labels["alertname"] == "GraceMissionFinished"
    assert (told.labels["phase"], told.labels["severity"]) == ("RolledBack", "warning")
    assert "ended RolledBack, verification Failed" in told.annotations["summary"]
    assert told.annotations["description"] == "verification failed: error-rate 0.3"
    assert told.starts_at == end and told.ends_at == end + timedelta(minutes=15)
    assert mission_notifications(mission("RolledBack", end, notified=[MISSION_FINISHED]), end) == []


def test_running_dry_run_and_old_missions_owe_nothing() -> None:
    assert mission_notifications(mission("Running", None), T0) == []
    assert mission_notifications(mission("Succeeded", T0, spec={"dryRun": True}), T0) == []
    assert mission_notifications(mission("Succeeded", T0), T0 + timedelta(hours=2)) == []
    (ok,) = mission_notifications(mission("Succeeded", T0), T0 + timedelta(minutes=1))
    assert ok.labels["severity"] == "info"


def test_settling_a_request_keeps_the_notifiers_record() -> None:
    """The runner writes the settled status whole: it must carry what was already told, or the
    settled notification would never be sent (nothing says the opening was told)."""
    from grace.govern.approvals import settle

    told = request(notified=[APPROVAL_OPENED])
    told.metadata.annotations.update(
        {"grace.dev/decision": "approve", "grace.dev/decided-by": "alice"}
    )
    settled = settle(told, T0 + timedelta(minutes=1))
    assert settled is not None and settled.notified == [APPROVAL_OPENED]
    expired = settle(request(notified=[APPROVAL_OPENED]), T0 + timedelta(hours=2))
    assert expired is not None and expired.notified == [APPROVAL_OPENED]
