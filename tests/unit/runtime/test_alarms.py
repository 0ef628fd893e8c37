"""Mission alarms: which stored Missions cut their runner's sleep, and that a rung alarm (or the
operator stopping) ends a sleep at once while an unrung one lasts its full length."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from grace.runtime.alarms import Alarm, MissionAlarms, interrupts


def _mission(abort: str | None, phase: str | None) -> dict[str, Any]:
    annotations = {"grace.dev/abort": abort} if abort is not None else {}
    body: dict[str, Any] = {"metadata": {"name": "m", "annotations": annotations}}
    if phase is not None:
        body["status"] = {"phase": phase}
    return body


@pytest.mark.parametrize(
    ("abort", "phase", "expected"),
    [
        ("true", "Running", True),
        ("TRUE", "Verifying", True),
        ("true", None, True),
        ("true", "AwaitingApproval", True),
        ("true", "RollingBack", False),  # already undoing: its own writes must not cut sleeps
        ("true", "Aborted", False),
        ("true", "Succeeded", False),
        ("false", "Running", False),
        (None, "Running", False),
    ],
)
def test_only_an_abort_of_a_mission_that_can_still_act_interrupts(
    abort: str | None, phase: str | None, expected: bool
) -> None:
    assert interrupts(_mission(abort, phase)) is expected


class Stop:
    """kopf's DaemonStopped in miniature: a flag with an awaitable wait."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def __bool__(self) -> bool:
        return self.event.is_set()

    async def wait(self, timeout: float | None = None) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), timeout)
        return self.event.is_set()


async def _sleep_then(action: str, seconds: float) -> tuple[bool, float]:
    alarm, stop = Alarm(), Stop()
    loop = asyncio.get_running_loop()
    if action == "ring":
        loop.call_later(0.05, alarm.ring)
    elif action == "stop":
        loop.call_later(0.05, stop.event.set)
    started = time.monotonic()
    full = await alarm.sleep(stop, seconds)
    return full, time.monotonic() - started


def test_an_unrung_alarm_sleeps_the_whole_time() -> None:
    full, took = asyncio.run(_sleep_then("nothing", 0.2))
    assert full and took >= 0.19


@pytest.mark.parametrize("action", ["ring", "stop"])
def test_a_ring_or_the_operator_stopping_ends_the_sleep_at_once(action: str) -> None:
    full, took = asyncio.run(_sleep_then(action, 30))
    assert not full and took < 5


def test_a_ring_before_the_sleep_is_not_lost_and_reset_forgets_it() -> None:
    async def go() -> tuple[bool, bool]:
        alarm, stop = Alarm(), Stop()
        alarm.ring()  # rung between the gather and the sleep: the sleep must not start
        first = await alarm.sleep(stop, 30)
        alarm.reset()
        second = await alarm.sleep(stop, 0.01)
        return first, second

    assert asyncio.run(go()) == (False, True)


def test_deleting_a_healthnode_or_playbook_rings_only_the_missions_running_on_it() -> None:
    alarms = MissionAlarms()
    a = alarms.register("shop", "a")
    a.health_node, a.playbook = "checkout", "rollback"
    b = alarms.register("shop", "b")
    b.health_node, b.playbook = "cart", "rollback"
    c = alarms.register("other", "c")
    c.health_node, c.playbook = "checkout", "rollback"

    assert alarms.ring_dependents("HealthNode", "shop", "checkout") == ["a"]
    assert a.rung.is_set() and not b.rung.is_set() and not c.rung.is_set()
    assert alarms.ring_dependents("Playbook", "shop", "rollback") == ["a", "b"]
    assert not c.rung.is_set()


def test_a_forgotten_alarm_is_not_rung_and_a_newer_loop_keeps_its_own() -> None:
    alarms = MissionAlarms()
    old = alarms.register("shop", "m")
    new = alarms.register("shop", "m")  # a restarted daemon of the same Mission
    alarms.forget("shop", "m", old)
    assert alarms.ring("shop", "m") and new.rung.is_set() and not old.rung.is_set()
    alarms.forget("shop", "m", new)
    assert not alarms.ring("shop", "m")
