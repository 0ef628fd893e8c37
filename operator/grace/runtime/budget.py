"""Budget slots: at most N Missions act at once, per cluster and per namespace — a hard limit.

The policy already denies when its counts are over budget, but counts read from the cluster lag
behind decisions made a moment ago. The leader therefore hands out slots under one lock: a
Mission takes a slot when its allow decision or its human approval is about to let it act,
waits (with the reason shown) when none is free, and gives it back when it finishes. The slot
table is rebuilt from the Missions stored in the cluster, so a restart keeps every budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from grace.api.mission import Mission
from grace.govern.facts import is_active as holds_slot
from grace.govern.model import PolicyData


@dataclass
class Slots:
    """uid -> namespace of the Missions holding a slot."""

    held: dict[str, str] = field(default_factory=dict)
    loaded: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def load(self, missions: Iterable[Mission]) -> None:
        for m in missions:
            if holds_slot(m):
                self.held[m.metadata.uid] = m.metadata.namespace
        self.loaded = True

    def why_not(self, uid: str, namespace: str, max_cluster: int, max_namespace: int) -> str | None:
        """None when `uid` may act (its slot is taken), else why it must wait."""
        if uid in self.held:
            return None
        in_ns = sum(ns == namespace for ns in self.held.values())
        if len(self.held) >= max_cluster:
            return f"waiting for a budget slot: {len(self.held)} of {max_cluster} Missions act in the cluster"
        if in_ns >= max_namespace:
            return (
                f"waiting for a budget slot: {in_ns} of {max_namespace} Missions act "
                f"in namespace {namespace}"
            )
        self.held[uid] = namespace
        return None

    def release(self, uid: str) -> None:
        self.held.pop(uid, None)


async def take(
    slots: Slots,
    mission: Mission,
    max_cluster: int,
    max_namespace: int,
    list_missions: Callable[[], Iterable[Mission]],
) -> str | None:
    """Take a slot for `mission` (None), or say why it waits."""
    async with slots.lock:
        if not slots.loaded:
            slots.load(await asyncio.to_thread(lambda: list(list_missions())))
        return slots.why_not(
            mission.metadata.uid, mission.metadata.namespace, max_cluster, max_namespace
        )


class Budgets:
    """The policy data in force (the ConfigMap's, or the defaults) and the slots it budgets:
    one owner, so a reload and a slot taken never see two different budgets."""

    def __init__(self) -> None:
        self.data = PolicyData()
        self.slots = Slots()

    def apply(self, data: PolicyData) -> None:
        self.data = data

    async def take(
        self, mission: Mission, list_missions: Callable[[], Iterable[Mission]]
    ) -> str | None:
        """Take a slot for `mission` under the budgets in force (None), or say why it waits."""
        data = self.data
        return await take(
            self.slots,
            mission,
            data.max_concurrent_cluster,
            data.max_concurrent_per_namespace,
            list_missions,
        )

    def release(self, uid: str) -> None:
        self.slots.release(uid)
