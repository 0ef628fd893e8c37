"""The Proposer: one Mission per incident, never for a symptom, specific remedies first."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from grace.api.healthnode import HealthNode
from grace.api.mission import Mission
from grace.api.playbook import Playbook
from grace.propose.proposer import Proposal, Skip, mission_name, propose

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(minutes=2)
STATE = {"Healthy": "OK", "Degraded": "Degraded", "Critical": "Critical", "Unknown": "NoData"}


def node(
    phase: str = "Critical", root_cause: str | None = None, mode: str = "autonomous"
) -> HealthNode:
    ready = "True" if phase == "Healthy" else "False"
    return HealthNode.model_validate(
        {
            "metadata": {"name": "checkout", "namespace": "shop", "uid": "u-1"},
            "spec": {
                "target": {"kind": "Deployment", "name": "checkout"},
                "signals": [{"name": "error-rate", "query": "x", "critical": {"above": 0.1}}],
                "remediation": {"mode": mode, "playbooks": ["restart", "rollback"]},
            },
            "status": {
                "phase": phase,
                "rootCause": root_cause,
                "signals": [
                    {
                        "name": "error-rate",
                        "state": STATE[phase],
                        "since": SINCE.isoformat(),
                    }
                ],
                "conditions": [
                    {"type": "Ready", "status": ready, "lastTransitionTime": SINCE.isoformat()}
                ],
            },
        }
    )


def playbook(name: str, signals: Sequence[str] = (), cooldown: str = "10m") -> Playbook:
    return Playbook.model_validate(
        {
            "metadata": {"name": name},
            "spec": {
                "match": {"phases": ["Degraded", "Critical"], "signals": list(signals)},
                "steps": [{"action": "rolloutRestart"}],
                "cooldown": cooldown,
            },
        }
    )


PLAYBOOKS = {"restart": playbook("restart"), "rollback": playbook("rollback", ["error-rate"])}


def first(_: str, candidates: Sequence[str], __: Any = None) -> str:
    return candidates[0]


def mission(name: str, playbook_name: str, phase: str, finished: datetime | None = None) -> Mission:
    return Mission.model_validate(
        {
            "metadata": {"name": name, "namespace": "shop", "creationTimestamp": NOW.isoformat()},
            "spec": {"healthNode": "checkout", "playbook": playbook_name},
            "status": {"phase": phase, "finishedAt": finished.isoformat() if finished else None},
        }
    )


def test_a_specific_playbook_beats_a_catch_all() -> None:
    out = propose(node(), PLAYBOOKS, [], first, NOW, random.Random(0))
    assert isinstance(out, Proposal) and out.playbook == "rollback"


def test_same_incident_same_name_from_degraded_to_critical() -> None:
    a = propose(node("Degraded"), PLAYBOOKS, [], first, NOW)
    b = propose(node("Critical"), PLAYBOOKS, [], first, NOW)
    assert isinstance(a, Proposal) and isinstance(b, Proposal) and a.name == b.name
    again = propose(node(), PLAYBOOKS, [mission(a.name, "rollback", "RolledBack", NOW)], first, NOW)
    assert isinstance(again, Skip) and again.reason == "duplicate"


def test_symptoms_and_unknown_and_healthy_are_skipped() -> None:
    assert propose(node(root_cause="payments-db"), PLAYBOOKS, [], first, NOW) == Skip(
        "symptom",
        "checkout is a symptom of payments-db: remediate the cause, not the symptom",
    )
    assert isinstance(propose(node("Healthy"), PLAYBOOKS, [], first, NOW), Skip)
    assert isinstance(propose(node("Unknown"), PLAYBOOKS, [], first, NOW), Skip)


def test_one_active_mission_per_node() -> None:
    out = propose(node(), PLAYBOOKS, [mission("other", "restart", "Running")], first, NOW)
    assert isinstance(out, Skip) and out.reason == "active"


def test_cooldown_counts_from_the_last_finish() -> None:
    recent = [mission("m1", "rollback", "Succeeded", NOW - timedelta(minutes=1))]
    out = propose(node(), PLAYBOOKS, recent, first, NOW)
    assert isinstance(out, Proposal) and out.playbook == "restart"  # rollback is cooling down
    both = [*recent, mission("m2", "restart", "Succeeded", NOW - timedelta(minutes=1))]
    skip = propose(node(), PLAYBOOKS, both, first, NOW)
    assert isinstance(skip, Skip) and skip.reason == "cooldown"


def test_observe_mode_proposes_a_dry_run() -> None:
    out = propose(node(mode="observe"), PLAYBOOKS, [], first, NOW)
    assert isinstance(out, Proposal) and out.dry_run


def test_mission_names_are_valid_and_stable() -> None:
    name = mission_name("checkout", "u-1/20261121T115800Z")
    assert name == mission_name("checkout", "u-1/20261121T115800Z")
    assert len(name) <= 253 and name.startswith("checkout-")


def test_an_incident_lasts_through_unknown_until_healthy() -> None:
    from grace.api.healthnode import HealthNodeStatus, Phase
    from grace.propose.proposer import incident_since

    start = incident_since(HealthNodeStatus(phase=Phase.HEALTHY), Phase.DEGRADED, NOW)
    assert start == NOW
    later = NOW + timedelta(minutes=3)
    for phase in (Phase.CRITICAL, Phase.UNKNOWN, Phase.DEGRADED):
        assert incident_since(HealthNodeStatus(incident_since=start), phase, later) == start
    assert incident_since(HealthNodeStatus(incident_since=start), Phase.HEALTHY, later) is None
    assert incident_since(HealthNodeStatus(), Phase.UNKNOWN, later) is None


def test_a_predicted_breach_proposes_only_a_playbook_that_accepts_predictions() -> None:
    healthy = node("Healthy")
    healthy.status.conditions.append(
        healthy.status.conditions[0].model_copy(
            update={"type": "PredictedBreach", "status": "True", "last_transition_time": NOW}
        )
    )
    assert isinstance(propose(healthy, PLAYBOOKS, [], first, NOW), Skip)  # none accepts them
    proactive = {**PLAYBOOKS, "scale": playbook("scale")}
    proactive["scale"].spec.match.predicted = True
    healthy.spec.remediation.playbooks.append("scale")
    out = propose(healthy, proactive, [], first, NOW)
    assert isinstance(out, Proposal) and out.playbook == "scale" and out.predicted
    assert "predicted" in out.incident


def with_analysis(cause: str, candidates: dict[str, float]) -> HealthNode:
    n = node()
    status = n.status.model_dump(by_alias=True) | {
        "rootCauseAnalysis": {
            "cause": cause,
            "confidence": candidates[cause],
            "evidence": ["Critical"],
            "candidates": [{"node": k, "confidence": v} for k, v in candidates.items()],
        }
    }
    return n.model_copy(update={"status": n.status.model_validate(status)})


def test_the_mission_reason_says_how_sure_detection_is_that_the_node_is_the_cause() -> None:
    sure = propose(with_analysis("checkout", {"checkout": 0.93}), PLAYBOOKS, [], first, NOW)
    assert isinstance(sure, Proposal)
    assert sure.reason.endswith("; root cause: itself (93% sure)")
    # A dependency departing from its baseline first, not unhealthy yet: no symptom skip (only
    # a known-bad cause is named), but the doubt is written down and the policy sees it.
    unsure = with_analysis("payments-db", {"payments-db": 0.7, "checkout": 0.3})
    out = propose(unsure, PLAYBOOKS, [], first, NOW)
    assert isinstance(out, Proposal)
    assert out.reason.endswith(
        "; root cause: itself only 30% sure, likelier payments-db (70%, not yet unhealthy)"
    )
