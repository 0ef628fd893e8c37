"""MissionRunner: drives one Mission through the state machine, performing its effects.

Each round gathers what the Mission sees (the Mission, its Playbook and HealthNode, the answer
to its ApprovalRequest), asks the pure machine for the next status and effect, records the
status and its ledger entries first, and only then acts. A crash anywhere repeats at most one
idempotent effect.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from dataclasses import dataclass
from typing import Any

from grace.api.approval import ABORT_ANNOTATION
from grace.api.mission import TERMINAL_PHASES, ApprovalStatus, Decision, Mission, MissionPhase
from grace.run.effects import AskPolicy, Facts, Finish, OpenApproval, Outcome, Refuse
from grace.run.machine import Transition, advance
from grace.runtime import governing, leases, metrics, performing, recording, wrapup
from grace.runtime.alarms import Alarm, StopFlag
from grace.runtime.app import Runtime
from grace.runtime.approvals import risk_of

log = logging.getLogger("grace.missions")


@dataclass(frozen=True)
class Round:
    """Everything one round of a Mission sees, read from the cluster."""

    raw: dict[str, Any]
    mission: Mission
    playbook: dict[str, Any] | None
    node: dict[str, Any] | None
    approval: ApprovalStatus | None
    now: dt.datetime


class MissionRunner:
    """One Mission's loop; `stopped` is kopf's daemon stop flag (the operator stops), and the
    Mission's alarm (runtime.alarms) cuts its sleeps short on an abort or a deletion."""

    def __init__(self, rt: Runtime, namespace: str, name: str) -> None:
        self.rt = rt
        self.namespace = namespace
        self.name = name
        self.decision: Decision | None = None
        """The policy's answer, until the machine has recorded it in the status."""
        self.seen: Mission | None = None
        """The Mission as last read: what is known of it if it is deleted mid-run."""

    async def run(self, stopped: StopFlag) -> None:
        alarm = self.rt.alarms.register(self.namespace, self.name)
        try:
            await self.rounds(stopped, alarm)
        finally:
            self.rt.alarms.forget(self.namespace, self.name, alarm)

    async def rounds(self, stopped: StopFlag, alarm: Alarm) -> None:
        answer: Outcome | None = None
        idle = False
        while not stopped:
            if idle:
                await alarm.sleep(stopped, self.rt.config.mission_tick)
                if stopped:
                    return
            alarm.reset()  # only what happens after this read may cut the next sleep short
            round_ = await self.gather(dt.datetime.now(dt.UTC))
            if round_ is None:
                return await wrapup.vanished(self.rt, self.seen)
            if round_.mission.status.phase in TERMINAL_PHASES:
                return await wrapup.finish(self.rt, round_.mission)
            alarm.health_node = round_.mission.spec.health_node
            alarm.playbook = round_.mission.spec.playbook
            transition = advance(
                round_.mission,
                round_.playbook["spec"] if round_.playbook else None,
                round_.node["spec"] if round_.node else None,
                self.facts(round_, answer),
            )
            if not await self.record(round_, transition):
                answer, idle = None, True
                continue
            answer, idle = await self.act(round_, transition, stopped, alarm)

    async def gather(self, now: dt.datetime) -> Round | None:
        kube = self.rt.kube
        raw = await asyncio.to_thread(kube.get, "Mission", self.namespace, self.name)
        if raw is None:
            return None
        mission = self.seen = Mission.model_validate(raw)
        if mission.status.phase in TERMINAL_PHASES:
            return Round(raw, mission, None, None, None, now)
        spec = mission.spec
        playbook = await asyncio.to_thread(kube.get, "Playbook", self.namespace, spec.playbook)
        node = await asyncio.to_thread(kube.get, "HealthNode", self.namespace, spec.health_node)
        approval = await self.rt.approvals.answer(mission, now)
        if (
            approval is not None
            and approval.purpose == "run"
            and approval.state == "Approved"
            and not spec.dry_run
            and not await governing.take_slot(self.rt, mission)
        ):
            approval = approval.model_copy(update={"state": "Pending"})  # approved, not yet
        return Round(raw, mission, playbook, node, approval, now)

    def facts(self, round_: Round, answer: Outcome | None) -> Facts:
        annotations = round_.mission.metadata.annotations
        return Facts(
            now=round_.now,
            abort=annotations.get(ABORT_ANNOTATION, "").lower() == "true",
            decision=self.decision,
            approval=round_.approval,
            outcome=answer,
            playbook_generation=(round_.playbook or {}).get("metadata", {}).get("generation"),
        )

    async def record(self, round_: Round, transition: Transition) -> bool:
        """Ledger and status of this transition; False when the ledger holds the Mission."""
        recorded = await recording.record(
            self.rt,
            round_.raw,
            round_.mission,
            transition.status,
            transition.changed,
            round_.node,
            round_.now,
        )
        first = round_.mission.status.phase is MissionPhase.PENDING and transition.changed
        if recorded and first and round_.node:
            await wrapup.mark_node(self.rt, round_.mission, active=self.name)
        return recorded

    async def act(
        self, round_: Round, transition: Transition, stopped: StopFlag, alarm: Alarm
    ) -> tuple[Outcome | None, bool]:
        """Perform the transition's effect: (the machine's answer, whether to wait a tick)."""
        effect, mission, now = transition.effect, round_.mission, round_.now
        idle = not transition.changed
        if isinstance(effect, Refuse | Finish):
            return None, idle  # the next round sees a terminal phase and wraps up
        if isinstance(effect, AskPolicy):
            return None, not await self.ask_policy(round_, transition)
        if isinstance(effect, OpenApproval):
            await self.rt.approvals.open(mission, risk_of(round_.playbook), effect, now)
            return None, idle
        if isinstance(effect, performing.TOUCHES_TARGET) and not mission.spec.dry_run:
            holder = await asyncio.to_thread(
                leases.acquire,
                self.rt.kube.coordination,
                self.namespace,
                effect.target.kind,
                effect.target.name,
                self.name,
            )
            if holder is not None:
                metrics.SCHEDULER.labels(outcome="backoff", reason="target-busy").inc()
                log.info("%s/%s waits: target lease held by %s", self.namespace, self.name, holder)
                return None, True
        pause = functools.partial(alarm.sleep, stopped)
        return await performing.perform(self.rt, effect, round_.node, pause), False

    async def ask_policy(self, round_: Round, transition: Transition) -> bool:
        """Ask the Governor; True when its answer may be recorded now."""
        mission, now = round_.mission, round_.now
        decision = await governing.decide(self.rt, mission, round_.playbook, round_.node, now)
        if governing.engine_unavailable(decision):
            metrics.SCHEDULER.labels(outcome="backoff", reason="policy-engine-unavailable").inc()
            # Fail closed without ending the Mission: nothing runs, the reason is shown, and
            # the question is asked again until the engine answers.
            await governing.show_engine(self.rt, mission, transition.status, decision, now)
            return False
        await governing.show_engine(self.rt, mission, transition.status, None, now)
        if (
            decision.result == "allow"
            and not mission.spec.dry_run
            and not await governing.take_slot(self.rt, mission)
        ):
            return False  # allowed, but the budget is full: ask again when a slot frees
        self.decision = decision
        return True
