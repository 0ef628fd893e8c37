"""Governance: the policy input, the Rego decision, and the two engines that must agree on it."""

from __future__ import annotations

from grace.govern.configmap import (
    POLICY_CONFIGMAP,
    PolicyDataError,
    PolicyDataReloader,
    policy_data_from_configmap,
    read_policy_configmap,
)
from grace.govern.engines import (
    ENGINE_KINDS,
    UNAVAILABLE,
    EmbeddedEngine,
    FailClosed,
    OpaServerEngine,
    PolicyEngine,
    PolicyEngineError,
    make_engine,
)
from grace.govern.governor import Governor
from grace.govern.inputs import build_policy_input, learning_for
from grace.govern.model import (
    ChangeWindow,
    Decision,
    GuardFacts,
    HealthNodeFacts,
    LearningFacts,
    MissionCounts,
    MissionFacts,
    ParameterSpec,
    PlaybookFacts,
    PolicyData,
    PolicyInput,
    RootCauseFacts,
    TargetFacts,
)
from grace.govern.policy import PolicyBundle, default_policy_dir, policy_digest

__all__ = [
    "ENGINE_KINDS",
    "POLICY_CONFIGMAP",
    "UNAVAILABLE",
    "ChangeWindow",
    "Decision",
    "EmbeddedEngine",
    "FailClosed",
    "Governor",
    "GuardFacts",
    "HealthNodeFacts",
    "LearningFacts",
    "MissionCounts",
    "MissionFacts",
    "OpaServerEngine",
    "ParameterSpec",
    "PlaybookFacts",
    "PolicyBundle",
    "PolicyData",
    "PolicyDataError",
    "PolicyDataReloader",
    "PolicyEngine",
    "PolicyEngineError",
    "PolicyInput",
    "RootCauseFacts",
    "TargetFacts",
    "build_policy_input",
    "default_policy_dir",
    "learning_for",
    "make_engine",
    "policy_data_from_configmap",
    "policy_digest",
    "read_policy_configmap",
]
