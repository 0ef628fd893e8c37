"""What the other Missions in the cluster mean for the one being decided: pure, one definition.

"Active" is the one definition the budget slots and the policy counts share: a Mission that was
let through to act (allowed, or approved to run) and is not finished. A dry run never is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from grace.api.mission import TERMINAL_PHASES, Mission, MissionPhase
from grace.govern.model import GuardFacts, MissionCounts

ACTING = (MissionPhase.RUNNING, MissionPhase.VERIFYING, MissionPhase.ROLLING_BACK)


def is_active(m: Mission) -> bool:
    """Was this stored Mission let through to act (and is it not finished)?"""
    if m.spec.dry_run or m.status.phase in TERMINAL_PHASES:
        return False
    if m.status.phase in ACTING:
        return True
    if m.status.decision is not None and m.status.decision.result == "allow":
        return True
    a = m.status.approval
    return a is not None and a.purpose == "run" and a.state == "Approved"


def counts(mission: Mission, missions: Iterable[Mission], now: dt.datetime) -> MissionCounts:
    """The budget counts the policy reads; `mission` itself is never counted."""
    others = [m for m in missions if m.metadata.uid != mission.metadata.uid]
    active = [m for m in others if is_active(m)]
    here = mission.metadata.namespace
    hour_ago = now - dt.timedelta(hours=1)
    return MissionCounts(
        active_in_namespace=sum(m.metadata.namespace == here for m in active),
        active_in_cluster=len(active),
        recent_in_namespace=sum(
            m.metadata.namespace == here
            and not m.spec.dry_run
            and m.metadata.creation_timestamp is not None
            and m.metadata.creation_timestamp >= hour_ago
            for m in others
        ),
    )


def guard(mission: Mission, missions: Iterable[Mission]) -> GuardFacts:
    """An active Mission for the same HealthNode, if any: two remedies never race on one node."""
    duplicate = next(
        (
            m.metadata.name
            for m in missions
            if m.metadata.uid != mission.metadata.uid
            and m.metadata.namespace == mission.metadata.namespace
            and m.spec.health_node == mission.spec.health_node
            and is_active(m)
        ),
        None,
    )
    return GuardFacts(duplicate_of=duplicate)
