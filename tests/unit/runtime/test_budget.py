"""Budget slots: a hard limit on Missions acting at once, rebuilt from the stored Missions."""

from __future__ import annotations

from typing import Any

from grace.api.mission import Mission
from grace.runtime.budget import Slots, holds_slot


def mission(uid: str, ns: str = "a", phase: str = "Pending", **status: Any) -> Mission:
    return Mission.model_validate(
        {
            "metadata": {"name": uid, "namespace": ns, "uid": uid},
            "spec": {"healthNode": "n", "playbook": "p"},
            "status": {"phase": phase, **status},
        }
    )


def test_never_more_than_the_cluster_budget() -> None:
    slots = Slots(loaded=True)
    granted = [slots.why_not(f"m{i}", "a", 5, 50) is None for i in range(8)]
    assert granted == [True] * 5 + [False] * 3
    assert "5 of 5 Missions act in the cluster" in (slots.why_not("m9", "a", 5, 50) or "")
    slots.release("m0")
    assert slots.why_not("m9", "a", 5, 50) is None


def test_namespace_budget_and_reentry() -> None:
    slots = Slots(loaded=True)
    assert slots.why_not("x", "a", 10, 1) is None
    assert slots.why_not("x", "a", 10, 1) is None  # a holder asks again: still its slot
    assert "namespace a" in (slots.why_not("y", "a", 10, 1) or "")
    assert slots.why_not("z", "b", 10, 1) is None


def test_rebuilt_from_what_the_cluster_holds() -> None:
    stored = [
        mission("running", phase="Running"),
        mission("allowed", decision={"result": "allow"}),
        mission(
            "approved", phase="AwaitingApproval", approval={"request": "r", "state": "Approved"}
        ),
        mission("waiting", phase="AwaitingApproval", approval={"request": "r", "state": "Pending"}),
        mission("done", phase="Succeeded"),
    ]
    assert [holds_slot(m) for m in stored] == [True, True, True, False, False]
    slots = Slots()
    slots.load(stored)
    assert set(slots.held) == {"running", "allowed", "approved"}
