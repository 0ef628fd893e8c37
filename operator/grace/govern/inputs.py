"""Build the policy input from the custom resources plus the facts gathered around them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import JsonValue

from grace.api.healthnode import HealthNode
from grace.api.mission import Mission
from grace.api.playbook import Playbook
from grace.govern.model import (
    ChangeWindow,
    GitOpsTool,
    GuardFacts,
    HealthNodeFacts,
    LearningFacts,
    MissionCounts,
    MissionFacts,
    Mode,
    ParameterSpec,
    PlaybookFacts,
    PolicyInput,
    RootCauseFacts,
    TargetFacts,
)


def _value(field: Any) -> Any:
    """An enum member as its wire value (str enums compare equal, but Literal wants the str)."""
    return getattr(field, "value", field)


def learning_for(health_node: HealthNode, playbook: str) -> LearningFacts:
    """What HealthNode.status.learning says about this playbook (nothing: no confidence yet)."""
    for entry in health_node.status.learning:
        if entry.playbook == playbook:
            return LearningFacts(
                confidence=entry.confidence, attempts=entry.attempts, successes=entry.successes
            )
    return LearningFacts()


def root_cause_for(health_node: HealthNode) -> RootCauseFacts | None:
    """What the HealthNode's root-cause analysis says about the node itself being the cause."""
    analysis = health_node.status.root_cause_analysis
    if analysis is None:
        return None
    return RootCauseFacts(
        cause=analysis.cause,
        confidence=analysis.confidence,
        self_confidence=analysis.confidence_of(health_node.metadata.name),
    )


def build_policy_input(
    mission: Mission,
    playbook: Playbook,
    health_node: HealthNode,
    *,
    now: datetime,
    counts: MissionCounts,
    mode: Mode | None = None,
    gitops_owner: GitOpsTool = "none",
    snapshot: Mapping[str, JsonValue] | None = None,
    learning: LearningFacts | None = None,
    facts: GuardFacts | None = None,
    change_windows: Sequence[ChangeWindow] | None = None,
) -> PolicyInput:
    """The one document data.grace.decision reads, from plain values: no I/O here.

    `mode` is the effective mode (learning may have promoted or demoted the node below its
    ceiling); by default the HealthNode's spec.remediation.mode. The target is the
    HealthNode's, in its namespace (playbooks act in the same namespace only).
    """
    namespace = mission.metadata.namespace or health_node.metadata.namespace
    spec = playbook.spec
    return PolicyInput(
        mission=MissionFacts(
            name=mission.metadata.name,
            namespace=namespace,
            uid=mission.metadata.uid,
            playbook=mission.spec.playbook,
            health_node=mission.spec.health_node,
            parameters=dict(mission.spec.parameters),
            trigger=_value(mission.spec.trigger),
            dry_run=mission.spec.dry_run,
            reason=mission.spec.reason,
        ),
        playbook=PlaybookFacts(
            name=playbook.metadata.name,
            risk=_value(spec.risk),
            parameters=[
                ParameterSpec(
                    name=p.name,
                    type=p.type,
                    minimum=p.minimum,
                    maximum=p.maximum,
                    enum=list(p.enum) if p.enum is not None else None,
                    default=p.default,
                )
                for p in spec.parameters
            ],
            actions=[_value(s.action) for s in spec.steps],
            require_approval_for_git_ops=spec.require_approval_for_git_ops,
        ),
        health_node=HealthNodeFacts(
            name=health_node.metadata.name,
            namespace=health_node.metadata.namespace or namespace,
            criticality=_value(health_node.spec.criticality),
            phase=_value(health_node.status.phase),
            root_cause=root_cause_for(health_node),
        ),
        target=TargetFacts(
            kind=health_node.spec.target.kind,
            name=health_node.spec.target.name,
            namespace=health_node.metadata.namespace or namespace,
            git_ops_owner=gitops_owner,
            snapshot=dict(snapshot or {}),
        ),
        mode=mode or _value(health_node.spec.remediation.mode),
        now=now,
        change_windows=list(change_windows) if change_windows is not None else None,
        counts=counts,
        learning=learning or learning_for(health_node, playbook.metadata.name),
        facts=facts or GuardFacts(),
    )
