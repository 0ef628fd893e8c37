"""Performing the effects the Mission machine asks for, on the target and on Prometheus."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from grace.api.healthnode import HealthNode
from grace.detect import sample as samples
from grace.run import verify
from grace.run.actions import ActionRefusedError
from grace.run.effects import (
    Executed,
    ExecuteStep,
    Inspect,
    Inspected,
    Outcome,
    Prepared,
    PrepareStep,
    Restore,
    Restored,
    Sampled,
    SampleMetrics,
    Snapshotted,
    TakeSnapshot,
)
from grace.runtime.app import Runtime

TOUCHES_TARGET = (TakeSnapshot, PrepareStep, ExecuteStep, Restore)
"""Effects that act on (or read for acting on) the target: they need its Lease."""


def reading(sample: samples.Sample) -> verify.Reading:
    if isinstance(sample, samples.Value):
        return sample.value
    if isinstance(sample, samples.NoData):
        return verify.NoData()
    return verify.QueryError(getattr(sample, "message", str(sample)))


async def sample(
    rt: Runtime, node_raw: dict[str, Any] | None, names: tuple[str, ...]
) -> dict[str, verify.Reading]:
    """The node's named signals now, as verification reads them."""
    if node_raw is None:
        return {}
    node = HealthNode.model_validate(node_raw)
    wanted = [s for s in node.spec.signals if s.name in names]
    got = await asyncio.to_thread(rt.prometheus.sample, wanted)
    return {name: reading(s) for name, s in got.items()}


Pause = Callable[[float], Awaitable[bool]]
"""Sleep so many seconds; False when cut short (an abort, a deletion, the operator stopping)."""


async def perform(
    rt: Runtime, effect: Any, node_raw: dict[str, Any] | None, pause: Pause
) -> Outcome | None:
    """Do `effect` once and return the machine's answer (each effect is idempotent); None when
    the delay before it was cut short: the runner reads the world again and the machine
    decides anew (an aborted Mission must not run the step it was waiting to run)."""
    ex = rt.executor
    if isinstance(effect, Inspect):
        return Inspected(await asyncio.to_thread(ex.read, effect.target, effect.namespace))
    if isinstance(effect, TakeSnapshot):
        obj, held = await asyncio.to_thread(
            ex.hold, effect.target, effect.namespace, effect.actions
        )
        return Snapshotted(obj, await sample(rt, node_raw, effect.signals), held)
    if isinstance(effect, PrepareStep):
        try:
            intent = await asyncio.to_thread(
                ex.prepare, effect.step, effect.target, effect.namespace
            )
            return Prepared(effect.index, intent)
        except ActionRefusedError as e:
            return Prepared(effect.index, error=str(e))
    if isinstance(effect, ExecuteStep):
        if effect.delay > 0 and not await pause(effect.delay):
            return None
        result = await asyncio.to_thread(ex.execute, effect.intent, effect.target, effect.namespace)
        return Executed(effect.index, result)
    if isinstance(effect, SampleMetrics):
        if effect.delay > 0 and not await pause(effect.delay):
            return None
        return Sampled(await sample(rt, node_raw, effect.signals))
    if isinstance(effect, Restore):
        try:
            live = await asyncio.to_thread(
                ex.restore, effect.snapshot, effect.target, effect.namespace, effect.undo
            )
            return Restored(live)
        except ActionRefusedError as e:
            return Restored(None, error=str(e))
    raise TypeError(f"unknown effect {effect!r}")
