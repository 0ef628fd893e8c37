"""Detection loop: every `interval`, sample a HealthNode's signals, update its status, propose.

One asyncio task per HealthNode (a kopf daemon). Status is patched only when the Detector's
write policy says something a user would notice changed; a phase change also posts an Event.
The keys this loop writes never include activeMission/lastMission (the MissionRunner's).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any

from grace.api.common import ObjectMeta, new_object
from grace.api.duration import parse_duration
from grace.api.healthnode import HealthNode, HealthNodeStatus, Mode, Phase, SignalState
from grace.api.mission import Mission, MissionSpec, Trigger
from grace.api.playbook import Playbook
from grace.detect.sample import Error as QueryError
from grace.detect.sharing import share_age, until_next_tick
from grace.learn.autonomy import AutonomyChange
from grace.ledger import Subject
from grace.propose.proposer import Proposal, incident_since, propose
from grace.runtime import metrics
from grace.runtime.app import Runtime

log = logging.getLogger("grace.detect")
MISSION_KEYS = ("activeMission", "lastMission")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class NodeWatch:
    """The detection loop of one HealthNode; its body is kopf's live view of the object."""

    def __init__(self, rt: Runtime, body: Any) -> None:
        self.rt = rt
        self.body = body
        self.namespace = body["metadata"]["namespace"]
        self.name = body["metadata"]["name"]
        self.uid = body["metadata"].get("uid", "")
        self.deleted = False
        self.woken = asyncio.Event()
        self.broken: set[str] = set()
        """Signals whose failing query this loop has already announced with an Event."""

    def wake(self, deleted: bool = False) -> None:
        """Evaluate now instead of at the next interval (or, when `deleted`, stop)."""
        self.deleted = self.deleted or deleted
        self.woken.set()

    async def run(self, stopped: Any) -> None:
        key = (self.namespace, self.name)
        self.rt.watches.enter(self)
        woken = False
        try:
            while not stopped and not self.deleted:
                node = HealthNode.model_validate(dict(self.body))
                started = time.monotonic()
                try:
                    await self.evaluate(node, fresh=woken)
                except Exception as e:  # keep watching: one bad round must not end the daemon
                    if _not_found(e):
                        self.deleted = True
                        break
                    log.exception("evaluating HealthNode %s/%s failed", self.namespace, self.name)
                metrics.DETECTION_LATENCY.observe(time.monotonic() - started)
                interval = parse_duration(node.spec.interval)
                # on the interval's grid: nodes with one interval ask together and share queries
                await self.pause(stopped, until_next_tick(time.time(), interval))
                woken = self.woken.is_set()
        finally:
            self.rt.watches.leave(self)
            self.rt.health.forget(self.namespace, self.name)
            self.rt.detector.forget(key)
            for signal in node_signals(self.body):
                metrics.forget(metrics.SIGNAL_QUERY_ERRORS, self.namespace, self.name, signal)
            if self.deleted:
                for phase in Phase:
                    metrics.forget(metrics.NODE_PHASE, self.namespace, self.name, phase.value)
                log.info("HealthNode %s/%s was deleted: detection stops", *key)

    async def pause(self, stopped: Any, seconds: float) -> None:
        """Sleep until the next round, the operator stops, or someone wakes this loop."""
        self.woken.clear()
        waits = [
            asyncio.ensure_future(stopped.wait(seconds)),
            asyncio.ensure_future(self.woken.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def still_there(self) -> bool:
        """Whether this very HealthNode (same uid) still exists: asked before proposing, since
        kopf may not see a deletion (no finalizer) and a Mission for a deleted node is noise."""
        live = await asyncio.to_thread(self.rt.kube.get, "HealthNode", self.namespace, self.name)
        if live is None or live["metadata"].get("uid", "") != self.uid:
            self.deleted = True
            return False
        return True

    async def evaluate(self, node: HealthNode, fresh: bool = False) -> None:
        """One round; `fresh` (the loop was woken): ask Prometheus, share no older answer."""
        now = utcnow()
        share = share_age(parse_duration(node.spec.interval), woken=fresh)
        samples = await asyncio.to_thread(
            self.rt.prometheus.sample, node.spec.signals, share, self.namespace
        )
        status = self.rt.detector.evaluate(node, samples, now, self.rt.health.graph_for(node))
        status.incident_since = incident_since(node.status, status.phase, now)
        status = self.with_learning(node, status, now)
        await self.record_autonomy(node, now)
        self.rt.health.update(node.model_copy(update={"status": status}))
        for phase in Phase:
            metrics.NODE_PHASE.labels(self.namespace, self.name, phase.value).set(
                1 if phase is status.phase else 0
            )
        await self.report_broken_queries(node, samples)
        changed = (
            status.learning != node.status.learning
            or status.incident_since != node.status.incident_since
        )
        if changed or self.rt.detector.worth_writing(node.status, status, node.spec):
            patch = status.model_dump(mode="json", by_alias=True)
            for key in MISSION_KEYS:
                patch.pop(key, None)
            await asyncio.to_thread(
                self.rt.kube.patch_status, "HealthNode", self.namespace, self.name, patch
            )
            metrics.STATUS_WRITES.labels(kind="HealthNode").inc()
            if status.phase is not node.status.phase:
                await asyncio.to_thread(
                    self.rt.kube.event,
                    dict(self.body),
                    f"Phase{status.phase.value}",
                    _phase_message(node.status.phase, status),
                    "Normal" if status.phase is Phase.HEALTHY else "Warning",
                )
        evaluated = node.model_copy(update={"status": status})
        await self.maybe_propose(evaluated, now)

    async def report_broken_queries(self, node: HealthNode, samples: dict[str, Any]) -> None:
        """A query Prometheus refuses makes the node Unknown, and GRACE never acts on Unknown,
        even when another signal breaches: say so loudly (metric, and an Event when it starts),
        beside the SignalsAvailable condition the Detector sets. (An unreachable Prometheus is
        another story, told by grace_promql_errors_total and the same condition.)"""
        reported = {s.name for s in node.status.signals if s.state is SignalState.ERROR}
        for name, sample in samples.items():
            broken = isinstance(sample, QueryError)
            metrics.SIGNAL_QUERY_ERRORS.labels(self.namespace, self.name, name).set(
                1 if broken else 0
            )
            if not broken:
                self.broken.discard(name)
            elif name not in self.broken and name not in reported:
                self.broken.add(name)
                await asyncio.to_thread(
                    self.rt.kube.event,
                    dict(self.body),
                    "SignalQueryFailed",
                    f"the query of signal {name} fails: {sample.message}; "
                    "the node is Unknown and GRACE will not act on it until the query works "
                    "(fix the HealthNode spec)",
                    "Warning",
                )

    def with_learning(
        self, node: HealthNode, status: HealthNodeStatus, now: dt.datetime
    ) -> HealthNodeStatus:
        candidates = node.spec.remediation.playbooks
        if not candidates:
            return status
        learning = self.rt.book.learner.learning_status(
            f"{self.namespace}/{self.name}",
            candidates,
            now,
            node.spec.remediation.mode,
            node.spec.remediation.autonomy_ceiling,
        )
        return status.model_copy(update={"learning": learning})

    async def record_autonomy(self, node: HealthNode, now: dt.datetime) -> None:
        """Each promotion or demotion the outcomes imply: one ledger entry and one Event, once."""
        remediation = node.spec.remediation
        if not remediation.playbooks:
            return
        changes = self.rt.book.learner.autonomy_changes(
            f"{self.namespace}/{self.name}",
            remediation.playbooks,
            now,
            remediation.mode,
            remediation.autonomy_ceiling,
        )
        subject = Subject(
            kind="HealthNode", namespace=self.namespace, name=self.name, uid=node.metadata.uid
        )

        async def announce(change: AutonomyChange) -> None:
            await asyncio.to_thread(
                self.rt.kube.event,
                dict(self.body),
                change.event_reason,
                f"{change.playbook}: {change.previous.value} -> {change.mode.value} ({change.reason})",
            )

        await self.rt.book.record_autonomy(
            self.rt.ledger, self.rt.ledger_health, subject, changes, announce
        )

    async def maybe_propose(self, node: HealthNode, now: dt.datetime) -> None:
        if node.status.phase is Phase.HEALTHY and not _predicted(node):
            return
        if node.status.phase is Phase.UNKNOWN:
            metrics.SCHEDULER.labels(outcome="skip", reason="unknown").inc()
            return
        if not await self.still_there():
            metrics.SCHEDULER.labels(outcome="skip", reason="deleted").inc()
            return
        kube = self.rt.kube
        playbooks = {
            p["metadata"]["name"]: Playbook.model_validate(p)
            for p in await asyncio.to_thread(kube.list, "Playbook", self.namespace)
        }
        missions = [
            Mission.model_validate(m)
            for m in await asyncio.to_thread(kube.list, "Mission", self.namespace)
        ]
        key = f"{self.namespace}/{self.name}"
        remediation = node.spec.remediation

        def mode_of(playbook: str) -> Mode:
            mode, _ = self.rt.book.learner.autonomy(
                key, playbook, now, remediation.mode, remediation.autonomy_ceiling
            )
            return mode

        learner = self.rt.book.learner
        decision = propose(node, playbooks, missions, learner.choose, now, mode_of=mode_of)
        if not isinstance(decision, Proposal):
            metrics.SCHEDULER.labels(outcome="skip", reason=decision.reason).inc()
            return
        proposed = Mission(
            metadata=ObjectMeta(
                name=decision.name,
                labels={"grace.dev/healthnode": self.name, "grace.dev/playbook": decision.playbook},
            ),
            spec=MissionSpec(
                health_node=self.name,
                playbook=decision.playbook,
                reason=decision.reason[:1024],
                trigger=Trigger.AUTOMATIC,
                dry_run=decision.dry_run,
                requested_by=self.rt.config.identity,
                incident=decision.incident[:253],
            ),
        )
        body = new_object(proposed)
        created = await asyncio.to_thread(kube.create, "Mission", self.namespace, body)
        if created is None:
            metrics.SCHEDULER.labels(outcome="skip", reason="duplicate").inc()
            return
        metrics.SCHEDULER.labels(outcome="proposed", reason="").inc()
        log.info("proposed Mission %s/%s: %s", self.namespace, decision.name, decision.reason)
        await asyncio.to_thread(
            kube.event, dict(self.body), "MissionProposed", f"{decision.name}: {decision.reason}"
        )


def _not_found(e: Exception) -> bool:
    return getattr(e, "status", None) == 404


def node_signals(body: Any) -> list[str]:
    return [str(s.get("name")) for s in (body.get("spec") or {}).get("signals") or []]


def _predicted(node: HealthNode) -> bool:
    return any(c.type == "PredictedBreach" and c.status == "True" for c in node.status.conditions)


def _phase_message(before: Phase, status: HealthNodeStatus) -> str:
    worst = [
        s for s in status.signals if s.state.value in ("Critical", "Degraded", "Error", "NoData")
    ]
    detail = "; ".join(
        f"{s.name} {s.state.value}" + (f" ({s.value:g})" if s.value is not None else "")
        for s in worst
    )
    return f"{before.value} -> {status.phase.value}" + (f": {detail}" if detail else "")
