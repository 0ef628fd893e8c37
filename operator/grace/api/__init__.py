"""The contract: pydantic models of GRACE's four kinds, and the CRD generator that publishes them."""

from __future__ import annotations

from grace.api.approval import ApprovalRequest, ApprovalRequestSpec, ApprovalRequestStatus
from grace.api.common import GROUP, VERSION, Condition, ObjectMeta
from grace.api.healthnode import HealthNode, HealthNodeSpec, HealthNodeStatus
from grace.api.mission import Mission, MissionSpec, MissionStatus
from grace.api.playbook import Playbook, PlaybookSpec

__all__ = [
    "GROUP",
    "VERSION",
    "ApprovalRequest",
    "ApprovalRequestSpec",
    "ApprovalRequestStatus",
    "Condition",
    "HealthNode",
    "HealthNodeSpec",
    "HealthNodeStatus",
    "Mission",
    "MissionSpec",
    "MissionStatus",
    "ObjectMeta",
    "Playbook",
    "PlaybookSpec",
]
