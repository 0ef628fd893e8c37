"""Leader election for replicas: only the holder of the `grace-leader` Lease runs the handlers.

Like client-go's leader election: the leader renews the Lease every `renew` seconds; a standby
takes it once it has not been renewed for `duration` seconds. A leader that cannot renew stops
acting at once (its process exits and the Deployment restarts it as a standby), so two replicas
never act together for longer than one renew period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any

from grace.runtime import leases

log = logging.getLogger("grace.leader")
LEASE = "grace-leader"


def identity() -> str:
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}-{os.getpid()}"


class LeaderElection:
    def __init__(
        self,
        coordination: Any,
        namespace: str,
        holder: str,
        duration: int = 15,
        renew: float = 5.0,
    ) -> None:
        self.coordination = coordination
        self.namespace = namespace
        self.holder = holder
        self.duration = duration
        self.renew = renew

    async def _try(self) -> str | None:
        return await asyncio.to_thread(
            leases.take, self.coordination, self.namespace, LEASE, self.holder, self.duration
        )

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until this replica leads (True) or `stop` is set (False)."""
        announced = None
        while not stop.is_set():
            try:
                holder = await self._try()
            except Exception as e:  # the API server may be briefly away: keep trying
                log.warning("leader election: %s", e)
                holder = "unknown"
            if holder is None:
                log.info("leader election: %s leads", self.holder)
                return True
            if holder != announced:
                log.info("leader election: standing by, %s leads", holder)
                announced = holder
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.renew)
        return False

    async def keep(self, lost: asyncio.Event, stop: asyncio.Event) -> None:
        """Renew until stopped; set `lost` when the Lease cannot be renewed in time."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.renew)
                break
            except TimeoutError:
                pass
            try:
                holder = await asyncio.wait_for(self._try(), self.duration - self.renew)
            except Exception as e:
                log.error("leader election: cannot renew (%s): stepping down", e)
                lost.set()
                return
            if holder is not None:
                log.error("leader election: %s took the lease: stepping down", holder)
                lost.set()
                return

    async def resign(self) -> None:
        await asyncio.to_thread(
            leases.give_up, self.coordination, self.namespace, LEASE, self.holder
        )
