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

from grace.api.duration import parse_duration
from grace.api.healthnode import HealthNode, HealthNodeStatus, Mode, Phase
from grace.api.mission import Mission
from grace.api.playbook import Playbook
from grace.detect.graph import GraphNode, HealthGraph, node_of
from grace.detect.sharing import share_window, until_next_tick
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

    async def run(self, stopped: Any) -> None:
        while not stopped:
            node = HealthNode.model_validate(dict(self.body))
            started = time.monotonic()
            try:
                await self.evaluate(node)
            except Exception:  # keep watching: one bad round must not end the daemon
                log.exception("evaluating HealthNode %s/%s failed", self.namespace, self.name)
            metrics.DETECTION_LATENCY.observe(time.monotonic() - started)
            interval = parse_duration(node.spec.interval)
            # on the interval's grid: nodes with one interval ask together and share queries
            await stopped.wait(until_next_tick(time.time(), interval))
        self.rt.graph.get(self.namespace, {}).pop(self.name, None)
        self.rt.detector.forget((self.namespace, self.name))

    def graph(self, node: HealthNode) -> HealthGraph | None:
        """This namespace's health graph as the loops last saw it (each node keeps its own entry).

        None when no node of the namespace declares dependsOn (and this one has no root cause to
        clear): building the graph every round would cost O(nodes) per node for nothing.
        """
        peers = self.rt.graph.setdefault(self.namespace, {})
        peers[self.name] = node_of(node)
        if not node.status.root_cause and not any(p.depends_on for p in peers.values()):
            return None
        return HealthGraph(list(peers.values()))

    async def evaluate(self, node: HealthNode) -> None:
        now = utcnow()
        share = share_window(parse_duration(node.spec.interval))
        samples = await asyncio.to_thread(
            self.rt.prometheus.sample, node.spec.signals, share, self.namespace
        )
        status = self.rt.detector.evaluate(node, samples, now, self.graph(node))
        status.incident_since = incident_since(node.status, status.phase, now)
        status = self.with_learning(node, status, now)
        await self.record_autonomy(node, now)
        self.rt.graph[self.namespace][self.name] = GraphNode(
            name=self.name,
            depends_on=tuple(node.spec.depends_on),
            phase=status.phase,
            unhealthy_since=node_of(node.model_copy(update={"status": status})).unhealthy_since,
        )
        for phase in Phase:
            metrics.NODE_PHASE.labels(self.namespace, self.name, phase.value).set(
                1 if phase is status.phase else 0
            )
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

    def with_learning(
        self, node: HealthNode, status: HealthNodeStatus, now: dt.datetime
    ) -> HealthNodeStatus:
        candidates = node.spec.remediation.playbooks
        if not candidates:
            return status
        learning = self.rt.learner.learning_status(
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
        changes = self.rt.learner.autonomy_changes(
            f"{self.namespace}/{self.name}",
            remediation.playbooks,
            now,
            remediation.mode,
            remediation.autonomy_ceiling,
        )
        for change in changes:
            key = f"autonomy/{change.node}/{change.playbook}/{change.at.isoformat()}/{change.mode.value}"
            if key in self.rt.autonomy_recorded:
                continue
            subject = Subject(
                kind="HealthNode", namespace=self.namespace, name=self.name, uid=node.metadata.uid
            )
            async with self.rt.ledger_lock:
                await asyncio.to_thread(
                    self.rt.ledger.append, "autonomy.changed", subject, change.ledger_data(), key
                )
            self.rt.autonomy_recorded.add(key)
            await asyncio.to_thread(
                self.rt.kube.event,
                dict(self.body),
                change.event_reason,
                f"{change.playbook}: {change.previous.value} -> {change.mode.value} ({change.reason})",
            )

    async def maybe_propose(self, node: HealthNode, now: dt.datetime) -> None:
        if node.status.phase is Phase.HEALTHY and not _predicted(node):
            return
        if node.status.phase is Phase.UNKNOWN:
            metrics.SCHEDULER.labels(outcome="skip", reason="unknown").inc()
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
            mode, _ = self.rt.learner.autonomy(
                key, playbook, now, remediation.mode, remediation.autonomy_ceiling
            )
            return mode

        decision = propose(node, playbooks, missions, self.rt.learner.choose, now, mode_of=mode_of)
        if not isinstance(decision, Proposal):
            metrics.SCHEDULER.labels(outcome="skip", reason=decision.reason).inc()
            return
        body = {
            "apiVersion": "grace.dev/v1alpha1",
            "kind": "Mission",
            "metadata": {
                "name": decision.name,
                "labels": {
                    "grace.dev/healthnode": self.name,
                    "grace.dev/playbook": decision.playbook,
                },
                "ownerReferences": [
                    {
                        "apiVersion": "grace.dev/v1alpha1",
                        "kind": "HealthNode",
                        "name": self.name,
                        "uid": node.metadata.uid,
                    }
                ],
            },
            "spec": {
                "healthNode": self.name,
                "playbook": decision.playbook,
                "reason": decision.reason[:1024],
                "trigger": "automatic",
                "dryRun": decision.dry_run,
                "requestedBy": self.rt.config.identity,
                "incident": decision.incident[:253],
            },
        }
        created = await asyncio.to_thread(kube.create, "Mission", self.namespace, body)
        if created is None:
            metrics.SCHEDULER.labels(outcome="skip", reason="duplicate").inc()
            return
        metrics.SCHEDULER.labels(outcome="proposed", reason="").inc()
        log.info("proposed Mission %s/%s: %s", self.namespace, decision.name, decision.reason)
        await asyncio.to_thread(
            kube.event, dict(self.body), "MissionProposed", f"{decision.name}: {decision.reason}"
        )


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
