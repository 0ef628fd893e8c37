"""The policy input built from a Mission, its Playbook and its HealthNode decides as expected."""

from __future__ import annotations

from datetime import UTC, datetime

from grace.api.healthnode import HealthNode
from grace.api.mission import Mission
from grace.api.playbook import Playbook
from grace.govern import (
    EmbeddedEngine,
    GuardFacts,
    MissionCounts,
    build_policy_input,
)

HEALTH_NODE = HealthNode.model_validate(
    {
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {
            "criticality": "high",
            "target": {"kind": "Deployment", "name": "checkout"},
            "signals": [
                {"name": "error-rate", "query": "sum(rate(x[1m]))", "critical": {"above": 0.1}}
            ],
            "remediation": {"mode": "autonomous", "playbooks": ["scale-out"]},
        },
        "status": {
            "phase": "Critical",
            "learning": [
                {"playbook": "scale-out", "attempts": 12, "successes": 11, "confidence": 0.91}
            ],
        },
    }
)
PLAYBOOK = Playbook.model_validate(
    {
        "metadata": {"name": "scale-out", "namespace": "shop"},
        "spec": {
            "risk": "medium",
            "parameters": [{"name": "replicas", "type": "integer", "minimum": 1, "maximum": 20}],
            "steps": [{"action": "scale", "with": {"replicas": "${replicas}"}}],
        },
    }
)


def mission(**spec: object) -> Mission:
    return Mission.model_validate(
        {
            "metadata": {"name": "checkout-scale-out-7", "namespace": "shop", "uid": "u-7"},
            "spec": {"healthNode": "checkout", "playbook": "scale-out", "trigger": "automatic"}
            | spec,
        }
    )


NOW = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
QUIET = MissionCounts(active_in_namespace=0, active_in_cluster=0, recent_in_namespace=0)


def test_input_carries_the_resources_and_their_learning() -> None:
    policy_input = build_policy_input(
        mission(parameters={"replicas": 6}), PLAYBOOK, HEALTH_NODE, now=NOW, counts=QUIET
    )
    wire = policy_input.wire()
    assert wire["mission"]["parameters"] == {"replicas": 6}
    assert wire["playbook"]["parameters"][0]["maximum"] == 20
    assert wire["playbook"]["requireApprovalForGitOps"] is True
    assert wire["playbook"]["actions"] == ["scale"]
    assert wire["healthNode"] == {
        "name": "checkout",
        "namespace": "shop",
        "criticality": "high",
        "phase": "Critical",
        "rootCause": None,
    }
    assert wire["target"]["kind"] == "Deployment" and wire["target"]["namespace"] == "shop"
    assert wire["mode"] == "autonomous"
    assert wire["learning"] == {"confidence": 0.91, "attempts": 12, "successes": 11}
    assert EmbeddedEngine().decide(policy_input).result == "allow"


def test_an_unsure_root_cause_reaches_the_policy_and_asks_a_human() -> None:
    analysis = {
        "cause": "payments-db",
        "confidence": 0.68,
        "evidence": ["Degraded", "first to depart from its baseline (2025-01-06T09:59:40Z)"],
        "candidates": [
            {"node": "payments-db", "confidence": 0.68},
            {"node": "checkout", "confidence": 0.3},
        ],
    }
    unsure = HEALTH_NODE.model_copy(
        update={
            "status": HEALTH_NODE.status.model_validate(
                HEALTH_NODE.status.model_dump(by_alias=True) | {"rootCauseAnalysis": analysis}
            )
        }
    )
    policy_input = build_policy_input(mission(), PLAYBOOK, unsure, now=NOW, counts=QUIET)
    assert policy_input.wire()["healthNode"]["rootCause"] == {
        "cause": "payments-db",
        "confidence": 0.68,
        "selfConfidence": 0.3,
    }
    decision = EmbeddedEngine().decide(policy_input)
    assert decision.result == "require_approval"
    assert decision.reasons == [
        "root cause: checkout is the cause of its own trouble with confidence 0.3 only "
        "(likeliest cause: payments-db), below 0.5: a human confirms"
    ]


def test_gathered_facts_reach_the_policy() -> None:
    policy_input = build_policy_input(
        mission(parameters={"replicas": 60}),
        PLAYBOOK,
        HEALTH_NODE,
        now=NOW,
        counts=QUIET,
        mode="propose",
        gitops_owner="argocd",
        facts=GuardFacts(duplicate_of="checkout-scale-out-6"),
    )
    decision = EmbeddedEngine().decide(policy_input)
    assert decision.result == "deny"
    assert decision.reasons == [
        "duplicate: Mission checkout-scale-out-6 is already running playbook scale-out on checkout",
        "parameter replicas=60 is above its maximum 20",
        "mode propose: every Mission asks a human first",
        "target Deployment/checkout is managed by argocd: a live change is drift from Git",
    ]


def test_a_playbook_without_learning_has_no_confidence() -> None:
    other = PLAYBOOK.model_copy(
        update={"metadata": PLAYBOOK.metadata.model_copy(update={"name": "restart"})}
    )
    policy_input = build_policy_input(
        mission(playbook="restart"), other, HEALTH_NODE, now=NOW, counts=QUIET
    )
    assert policy_input.learning.confidence is None
    assert EmbeddedEngine().decide(policy_input).result == "require_approval"
