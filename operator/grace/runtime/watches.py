"""The running detection loops, by HealthNode, and the operator's other background tasks.

A loop registers itself while it runs and leaves when it ends (a newer loop of the same node
keeps its place); the handlers find a loop here to wake it (a deletion, an Alertmanager
webhook). Background tasks (the policy data watch, retention, the Notifier, the webhook
receiver) are spawned here so that the operator's cleanup cancels every one of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Protocol


class Loop(Protocol):
    """A HealthNode's detection loop, as far as the others need it."""

    namespace: str
    name: str
    uid: str

    @property
    def body(self) -> Any: ...

    def wake(self, deleted: bool = False) -> None: ...


class Watches:
    def __init__(self) -> None:
        self._loops: dict[tuple[str, str], Loop] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def enter(self, loop: Loop) -> None:
        self._loops[(loop.namespace, loop.name)] = loop

    def leave(self, loop: Loop) -> None:
        key = (loop.namespace, loop.name)
        if self._loops.get(key) is loop:
            del self._loops[key]

    def get(self, namespace: str, name: str) -> Loop | None:
        return self._loops.get((namespace, name))

    def loops(self) -> list[Loop]:
        return list(self._loops.values())

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background until it ends or the operator stops."""
        self._tasks.append(asyncio.create_task(work))

    def cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()
