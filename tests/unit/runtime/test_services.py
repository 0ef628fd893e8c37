"""The Runtime's services, each the one owner of a piece of state: the learning book (outcomes
and autonomy changes recorded once, rebuilt from the ledger), the health graph view, the
detection loops and background tasks, and the budgets."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from grace.api.healthnode import HealthNode, Mode
from grace.api.mission import Mission
from grace.govern.model import PolicyData
from grace.learn import Outcome
from grace.learn.autonomy import AutonomyChange
from grace.ledger import FileStore, Ledger, Signer, Subject
from grace.runtime.app import Runtime
from grace.runtime.budget import Budgets
from grace.runtime.healthview import HealthGraphView
from grace.runtime.learningbook import LearningBook
from grace.runtime.ledgerhealth import LedgerHealth
from grace.runtime.watches import Watches

NOW = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)
NODE = Subject(kind="HealthNode", namespace="shop", name="checkout", uid="u-1")


def _ledger(tmp_path: Path) -> Ledger:
    return Ledger(FileStore(tmp_path / "ledger.jsonl"), Signer.generate(), "grace.dev/ledger")


def _demotion(minutes: int = 0) -> AutonomyChange:
    return AutonomyChange(
        node="shop/checkout",
        playbook="rollback",
        at=NOW + timedelta(minutes=minutes),
        previous=Mode.AUTONOMOUS,
        mode=Mode.PROPOSE,
        reason="2 consecutive failures",
    )


def test_the_runtime_is_a_frozen_set_of_services() -> None:
    assert dataclasses.fields(Runtime)
    assert Runtime.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_an_autonomy_change_is_recorded_and_announced_once_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    ledger, health = _ledger(tmp_path), LedgerHealth()
    book = LearningBook.from_entries([])
    announced: list[AutonomyChange] = []

    async def announce(change: AutonomyChange) -> None:
        announced.append(change)

    async def twice(b: LearningBook) -> None:
        for _ in range(2):  # two evaluations of the node see the same change
            await b.record_autonomy(ledger, health, NODE, [_demotion()], announce)

    asyncio.run(twice(book))
    assert announced == [_demotion()]
    assert [e.type for e in ledger.entries()] == ["autonomy.changed"]
    (news,) = book.news()
    assert (news.health_node, news.previous, news.mode) == ("checkout", "autonomous", "propose")

    restarted = LearningBook.from_entries([e.model_dump(mode="json") for e in ledger.entries()])
    asyncio.run(twice(restarted))
    assert announced == [_demotion()] and ledger.size == 1
    assert [c.key for c in restarted.news()] == [c.key for c in book.news()]


def test_a_failing_ledger_is_told_to_the_ledger_health_and_a_success_clears_it(
    tmp_path: Path,
) -> None:
    ledger, health = _ledger(tmp_path), LedgerHealth()
    book = LearningBook.from_entries([])
    with (tmp_path / "ledger.jsonl").open("ab") as f:  # a forged record: appends now fail
        f.write(b'{"entry": {"seq": 0, "type": "mission.finished"}}\n')
    broken = ledger

    async def nothing(_: AutonomyChange) -> None:
        return None

    with pytest.raises(Exception):  # noqa: B017 - whatever the store raises, it is said
        asyncio.run(book.record_autonomy(broken, health, NODE, [_demotion()], nothing))
    assert health.failing is not None and "cannot be extended" in health.failing[1]
    (tmp_path / "other").mkdir()
    asyncio.run(
        book.record_autonomy(_ledger(tmp_path / "other"), health, NODE, [_demotion()], nothing)
    )
    assert health.failing is None


def test_a_finished_mission_teaches_the_learner_once() -> None:
    book = LearningBook.from_entries([])
    outcome = Outcome(node="shop/checkout", playbook="rollback", success=True, at=NOW)
    for _ in range(3):
        if book.first_pass("uid-1"):
            book.learn(outcome)
    assert len(book.learner.outcomes("shop/checkout", "rollback")) == 1


def _node(name: str, depends_on: list[str] | None = None) -> HealthNode:
    body: dict[str, Any] = {
        "apiVersion": "grace.dev/v1alpha1",
        "kind": "HealthNode",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "criticality": "high",
            "target": {"kind": "Deployment", "name": name},
            "dependsOn": depends_on or [],
            "signals": [{"name": "up", "query": "up", "critical": {"below": 1}}],
        },
    }
    return HealthNode.model_validate(body)


def test_the_health_graph_view_builds_a_graph_only_where_nodes_depend_on_each_other() -> None:
    view = HealthGraphView()
    assert view.graph_for(_node("cart")) is None
    view.update(_node("payments-db"))
    graph = view.graph_for(_node("checkout", ["payments-db"]))
    assert graph is not None
    view.forget("shop", "checkout")
    assert view.graph_for(_node("cart")) is None


class _Loop:
    def __init__(self, name: str) -> None:
        self.namespace, self.name, self.uid, self.body = "shop", name, "u", {}
        self.woken = False

    def wake(self, deleted: bool = False) -> None:
        self.woken = True


def test_a_newer_loop_keeps_its_place_and_cleanup_cancels_every_task() -> None:
    watches = Watches()
    old, new = _Loop("checkout"), _Loop("checkout")
    watches.enter(old)
    watches.enter(new)
    watches.leave(old)
    assert watches.get("shop", "checkout") is new and watches.loops() == [new]

    async def go() -> list[bool]:
        forever = asyncio.Event()
        watches.spawn(forever.wait())  # type: ignore[arg-type]
        watches.cancel_all()
        await asyncio.sleep(0)
        return [t.cancelled() or t.cancelling() > 0 for t in watches._tasks]

    assert all(asyncio.run(go()))


def _mission(uid: str, namespace: str = "shop") -> Mission:
    return Mission.model_validate(
        {
            "metadata": {"name": uid, "namespace": namespace, "uid": uid},
            "spec": {"healthNode": "checkout", "playbook": "rollback", "trigger": "manual"},
        }
    )


def test_budgets_take_slots_under_the_policy_data_in_force() -> None:
    budgets = Budgets()
    budgets.apply(PolicyData.model_validate({"maxConcurrentCluster": 1}))

    async def go() -> list[str | None]:
        first = await budgets.take(_mission("a"), list)
        second = await budgets.take(_mission("b"), list)
        budgets.release("a")
        third = await budgets.take(_mission("b"), list)
        return [first, second, third]

    first, second, third = asyncio.run(go())
    assert first is None and third is None
    assert second is not None and "1 of 1" in second
