"""When a human's decision counts: before expiresAt, as the API server recorded its write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from grace.api.approval import ApprovalRequest, ApprovalState
from grace.govern.approvals import decision_time, settle

EXPIRES = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)


def request(
    decision: str | None = None,
    written: datetime | None = None,
    *,
    state: str = "Pending",
    manager: str = "kubectl-annotate",
) -> ApprovalRequest:
    annotations: dict[str, str] = {}
    managed: list[dict[str, Any]] = [
        {  # the operator's own write of the spec, long before: never a decision time
            "manager": "grace",
            "operation": "Update",
            "time": "2026-12-04T11:00:00Z",
            "fieldsV1": {"f:spec": {"f:mission": {}}},
        }
    ]
    if decision is not None:
        annotations = {"grace.dev/decision": decision, "grace.dev/decided-by": "alice"}
        if written is not None:
            managed.append(
                {
                    "manager": manager,
                    "operation": "Update",
                    "time": written.isoformat().replace("+00:00", "Z"),
                    "fieldsV1": {
                        "f:metadata": {
                            "f:annotations": {
                                ".": {},
                                "f:grace.dev/decision": {},
                                "f:grace.dev/decided-by": {},
                            }
                        }
                    },
                }
            )
    return ApprovalRequest.model_validate(
        {
            "metadata": {"name": "m-run", "annotations": annotations, "managedFields": managed},
            "spec": {"mission": "m", "expiresAt": EXPIRES.isoformat()},
            "status": {"state": state},
        }
    )


def test_a_decision_made_in_time_counts_even_when_the_operator_sees_it_late() -> None:
    written = EXPIRES - timedelta(seconds=30)
    settled = settle(request("approve", written), EXPIRES + timedelta(hours=2))
    assert settled is not None
    assert settled.state is ApprovalState.APPROVED
    assert settled.decided_by == "alice"
    assert settled.decided_at == written


def test_a_decision_written_after_expiry_never_counts() -> None:
    now = EXPIRES + timedelta(minutes=10)
    settled = settle(request("approve", EXPIRES + timedelta(seconds=1)), now)
    assert settled is not None
    assert settled.state is ApprovalState.EXPIRED
    assert settled.decided_by is None
    assert "after the request expired" in (settled.reason or "")
    assert "grace.dev/decision=approve by alice was written" in (settled.reason or "")


def test_a_late_deny_is_no_decision_either() -> None:
    settled = settle(request("deny", EXPIRES + timedelta(seconds=5)), EXPIRES + timedelta(1))
    assert settled is not None and settled.state is ApprovalState.EXPIRED


def test_without_a_record_of_the_write_the_time_is_when_the_operator_sees_it() -> None:
    before = EXPIRES - timedelta(seconds=1)
    in_time = settle(request("approve"), before)
    assert in_time is not None and in_time.state is ApprovalState.APPROVED
    assert in_time.decided_at == before
    late = settle(request("approve"), EXPIRES + timedelta(seconds=1))
    assert late is not None and late.state is ApprovalState.EXPIRED


def test_the_write_time_is_never_in_the_operators_future() -> None:
    now = EXPIRES - timedelta(minutes=5)
    skewed = request("approve", now + timedelta(minutes=1))  # API server clock ahead of ours
    assert decision_time(skewed, now) == now


def test_the_clock_expires_an_undecided_request_and_a_settled_one_stays_settled() -> None:
    expired = settle(request(), EXPIRES)
    assert expired is not None and expired.state is ApprovalState.EXPIRED
    assert settle(request(), EXPIRES - timedelta(seconds=1)) is None
    assert settle(request("approve", EXPIRES, state="Expired"), EXPIRES) is None
