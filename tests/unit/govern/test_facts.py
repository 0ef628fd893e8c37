"""One definition of an active Mission, for the budget slots and the policy's counts alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from grace.api.mission import Mission
from grace.govern.facts import counts, guard, is_active
from grace.runtime.budget import holds_slot

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def mission(
    name: str,
    ns: str = "shop",
    node: str = "checkout",
    created: datetime = NOW,
    dry_run: bool = False,
    **status: Any,
) -> Mission:
    return Mission.model_validate(
        {
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": f"uid-{ns}-{name}",
                "creationTimestamp": created.isoformat(),
            },
            "spec": {"healthNode": node, "playbook": "p", "dryRun": dry_run},
            "status": status,
        }
    )


APPROVED = {"phase": "AwaitingApproval", "approval": {"request": "r", "state": "Approved"}}
WAITING = {"phase": "AwaitingApproval", "approval": {"request": "r", "state": "Pending"}}


def test_approved_to_run_is_active_for_the_budget_and_the_policy_alike() -> None:
    stored = [
        mission("running", phase="Running"),
        mission("allowed", phase="Pending", decision={"result": "allow"}),
        mission("approved", **APPROVED),
        mission("waiting", **WAITING),
        mission("done", phase="Succeeded", decision={"result": "allow"}),
        mission("shadow", phase="Running", dry_run=True),
    ]
    assert [is_active(m) for m in stored] == [True, True, True, False, False, False]
    assert [holds_slot(m) for m in stored] == [is_active(m) for m in stored]


def test_counts_leave_out_the_mission_being_decided() -> None:
    me = mission("me", phase="Pending")
    others = [
        me,
        mission("a", phase="Running"),
        mission("b", ns="other", phase="Verifying"),
        mission("c", **APPROVED),
        mission("old", phase="Succeeded", created=NOW - timedelta(hours=2)),
        mission("shadow", phase="Succeeded", dry_run=True),
    ]
    got = counts(me, others, NOW)
    assert (got.active_in_namespace, got.active_in_cluster, got.recent_in_namespace) == (2, 3, 2)


def test_a_duplicate_is_an_active_mission_for_the_same_node() -> None:
    me = mission("me", phase="Pending")
    assert guard(me, [me, mission("other-node", node="db", phase="Running")]).duplicate_of is None
    assert guard(me, [me, mission("finished", phase="Succeeded")]).duplicate_of is None
    assert guard(me, [me, mission("first", **APPROVED)]).duplicate_of == "first"
