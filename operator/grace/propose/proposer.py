"""The Proposer: decides purely whether a HealthNode's state warrants a Mission, and which one."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from grace.api.common import find_condition
from grace.api.duration import parse_duration
from grace.api.healthnode import HealthNode, HealthNodeStatus, Mode, Phase, SignalState
from grace.api.mission import TERMINAL_PHASES, Mission
from grace.api.playbook import Playbook

BREACHED = {SignalState.DEGRADED, SignalState.CRITICAL}


@dataclass(frozen=True)
class Proposal:
    """Create this Mission: its name is derived from the incident, so a retry cannot duplicate it."""

    name: str
    playbook: str
    dry_run: bool
    incident: str
    reason: str
    predicted: bool = False


@dataclass(frozen=True)
class Skip:
    """No Mission now, and why (a scheduler counter and a log line, never a silent no-op)."""

    reason: str
    detail: str


Chooser = Callable[[str, Sequence[str], random.Random | None], str]
"""(node key, candidate playbooks, rng) -> the chosen playbook; the Learner's Thompson choice."""

ModeOf = Callable[[str], Mode]
"""playbook -> the node's effective mode for it (learning may promote or demote the spec's)."""


def incident_since(previous: HealthNodeStatus, phase: Phase, now: datetime) -> datetime | None:
    """When the current incident began: it starts when a node first goes Degraded or Critical
    and lasts, through Unknown and back, until the node is Healthy again."""
    if phase is Phase.HEALTHY:
        return None
    if previous.incident_since is not None:
        return previous.incident_since
    if phase in (Phase.DEGRADED, Phase.CRITICAL):
        return now
    return None


def incident_of(node: HealthNode) -> tuple[str, bool] | None:
    """The incident a node is in: (key, predicted), or None when there is nothing to remedy.

    The key is the node's uid plus the moment its earliest breach began, so every evaluation of
    the same ongoing breach names the same incident (and so the same Mission).
    """
    status = node.status
    if status.phase in (Phase.DEGRADED, Phase.CRITICAL):
        # One incident from leaving Healthy until Healthy again (a signal's own `since` moves
        # when it escalates, and Ready flips through Unknown, so neither can be the key).
        starts = [s.since for s in status.signals if s.state in BREACHED and s.since is not None]
        onset = status.incident_since or (min(starts) if starts else status.last_evaluated)
        stamp = onset.strftime("%Y%m%dT%H%M%SZ") if onset else "unknown"
        return f"{node.metadata.uid}/{stamp}", False
    if status.phase is Phase.HEALTHY:
        predicted = find_condition(status.conditions, "PredictedBreach")
        if predicted is not None and predicted.status == "True":
            since = predicted.last_transition_time
            stamp = since.strftime("%Y%m%dT%H%M%SZ") if since else "unknown"
            return f"{node.metadata.uid}/predicted/{stamp}", True
    return None


def mission_name(node: str, incident: str) -> str:
    digest = hashlib.sha256(incident.encode()).hexdigest()[:10]
    return f"{node[:200]}-{digest}"


def breached_signals(node: HealthNode) -> set[str]:
    return {s.name for s in node.status.signals if s.state in BREACHED}


def matches(playbook: Playbook, node: HealthNode, predicted: bool) -> bool:
    """Does the playbook's `match` cover the node's current (or predicted) distress?"""
    m = playbook.spec.match
    if predicted:
        return m.predicted
    if node.status.phase.value not in m.phases:
        return False
    return not m.signals or bool(set(m.signals) & breached_signals(node))


def in_cooldown(
    playbook: Playbook, node: str, missions: Sequence[Mission], now: datetime
) -> timedelta | None:
    """Time left before this node may run this playbook again (None when free)."""
    window = timedelta(seconds=parse_duration(playbook.spec.cooldown))
    latest: datetime | None = None
    for m in missions:
        if m.spec.health_node != node or m.spec.playbook != playbook.metadata.name:
            continue
        if m.spec.dry_run:
            continue
        ended = m.status.finished_at or m.metadata.creation_timestamp
        if ended is not None and (latest is None or ended > latest):
            latest = ended
    if latest is None or now - latest >= window:
        return None
    return window - (now - latest)


def propose(
    node: HealthNode,
    playbooks: Mapping[str, Playbook],
    missions: Sequence[Mission],
    choose: Chooser,
    now: datetime,
    rng: random.Random | None = None,
    mode_of: ModeOf | None = None,
) -> Proposal | Skip:
    """One decision for one node: the inputs are what the cluster holds, nothing in memory."""
    name = node.metadata.name
    found = incident_of(node)
    if found is None:
        return Skip("healthy", f"{name} is {node.status.phase.value}")
    incident, predicted = found
    if node.status.root_cause:
        return Skip(
            "symptom",
            f"{name} is a symptom of {node.status.root_cause}: remediate the cause, not the symptom",
        )
    active = [
        m for m in missions if m.spec.health_node == name and m.status.phase not in TERMINAL_PHASES
    ]
    if active:
        return Skip("active", f"Mission {active[0].metadata.name} is already working on {name}")
    proposed_name = mission_name(name, incident)
    if any(m.metadata.name == proposed_name for m in missions):
        return Skip("duplicate", f"incident {incident} already has Mission {proposed_name}")
    listed = node.spec.remediation.playbooks
    missing = [p for p in listed if p not in playbooks]
    candidates = [p for p in listed if p in playbooks and matches(playbooks[p], node, predicted)]
    if not candidates:
        why = f"no playbook of {name} matches its state"
        if missing:
            why += f" (missing: {', '.join(missing)})"
        return Skip("no-match", why)
    free = [p for p in candidates if in_cooldown(playbooks[p], name, missions, now) is None]
    if not free:
        left = min(
            in_cooldown(playbooks[p], name, missions, now) or timedelta() for p in candidates
        )
        return Skip(
            "cooldown",
            f"every matching playbook is cooling down ({int(left.total_seconds())}s left)",
        )
    # A playbook written for the breached signal beats a catch-all; learning chooses within the
    # most specific tier, so evidence decides between remedies made for the same symptom.
    breached = breached_signals(node)
    specific = [p for p in free if set(playbooks[p].spec.match.signals) & breached]
    tier = specific or free
    key = f"{node.metadata.namespace}/{name}"
    chosen = choose(key, tier, rng)
    mode = mode_of(chosen) if mode_of is not None else node.spec.remediation.mode
    dry_run = mode is Mode.OBSERVE
    what = "predicted breach" if predicted else f"{node.status.phase.value}"
    signals = ", ".join(sorted(breached_signals(node))) or "forecast"
    return Proposal(
        name=proposed_name,
        playbook=chosen,
        dry_run=dry_run,
        incident=incident,
        reason=f"{name} {what} ({signals}); chose {chosen} from {', '.join(tier)}"
        + cause_note(node),
        predicted=predicted,
    )


def cause_note(node: HealthNode) -> str:
    """How sure detection is that the node is its own cause, for the Mission's reason (the
    policy reads the same confidence and may ask a human when it is low)."""
    analysis = node.status.root_cause_analysis
    if analysis is None:
        return ""
    mine = analysis.confidence_of(node.metadata.name)
    if analysis.cause == node.metadata.name:
        return f"; root cause: itself ({mine:.0%} sure)"
    return (
        f"; root cause: itself only {mine:.0%} sure, "
        f"likelier {analysis.cause} ({analysis.confidence:.0%}, not yet unhealthy)"
    )
