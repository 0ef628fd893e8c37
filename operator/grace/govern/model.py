"""The policy contract: the one input document the Rego policy reads, its data, and its answer."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

Result = Literal["allow", "require_approval", "deny"]
Level = Literal["low", "medium", "high", "critical"]
Mode = Literal["observe", "propose", "autonomous"]
HealthPhase = Literal["Healthy", "Degraded", "Critical", "Unknown"]
GitOpsTool = Literal["none", "argocd", "flux", "helm", "argo-rollouts"]
Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

WEEK: tuple[Weekday, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CONFIDENCE_DIGITS = 4
"""Confidence is rounded so that every engine prints it the same way in a reason."""

_CLOCK = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


class Wire(BaseModel):
    """camelCase on the wire (what Rego and the CRDs see), snake_case in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
    )

    def wire(self) -> dict[str, Any]:
        """The JSON document handed to a policy engine."""
        return self.model_dump(mode="json", by_alias=True)


# ---------------------------------------------------------------- input


class MissionFacts(Wire):
    """The Mission being decided (its spec plus identity)."""

    name: str
    namespace: str
    uid: str = ""
    playbook: str
    health_node: str
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    trigger: Literal["automatic", "manual"] = "automatic"
    dry_run: bool = False
    reason: str = ""


class ParameterSpec(Wire):
    """One whitelisted Playbook parameter, as the policy re-checks it."""

    name: str
    type: Literal["integer", "number", "string", "boolean"]
    minimum: int | float | None = None
    maximum: int | float | None = None
    enum: list[str] | None = None
    default: JsonValue = None


class PlaybookFacts(Wire):
    """What the policy needs of the Playbook: its risk, its whitelist, its actions (catalog
    names, in step order), its GitOps stance."""

    name: str
    risk: Level
    parameters: list[ParameterSpec] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)
    require_approval_for_git_ops: bool = Field(default=True, alias="requireApprovalForGitOps")


class RootCauseFacts(Wire):
    """How sure detection is that the Mission's node is the cause of its own trouble."""

    cause: str = Field(description="The likeliest cause: this node or another one.")
    confidence: float = Field(ge=0.0, le=1.0, description="Confidence that `cause` is the cause.")
    self_confidence: float = Field(
        ge=0.0, le=1.0, description="Confidence that the Mission's node itself is the cause."
    )

    @field_validator("confidence", "self_confidence")
    @classmethod
    def _rounded(cls, value: float) -> float:
        return round(value, CONFIDENCE_DIGITS)


class HealthNodeFacts(Wire):
    """The service the Mission heals."""

    name: str
    namespace: str
    criticality: Level
    phase: HealthPhase
    root_cause: RootCauseFacts | None = Field(
        default=None,
        description="None when the node has no root-cause analysis (no dependsOn graph).",
    )


class TargetFacts(Wire):
    """The workload the Mission changes, who owns it in Git, and what it looked like before."""

    kind: str
    name: str
    namespace: str
    git_ops_owner: GitOpsTool = Field(default="none", alias="gitOpsOwner")
    snapshot: dict[str, JsonValue] = Field(default_factory=dict)


class MissionCounts(Wire):
    """Durable budgets, counted from the cluster; the Mission being decided is not counted."""

    active_in_namespace: int = Field(ge=0)
    active_in_cluster: int = Field(ge=0)
    recent_in_namespace: int = Field(ge=0, description="Missions started in the last hour.")


class LearningFacts(Wire):
    """How sure learning is that this playbook works on this node (None: no outcomes yet)."""

    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    attempts: int = Field(default=0, ge=0)
    successes: int = Field(default=0, ge=0)

    @field_validator("confidence")
    @classmethod
    def _rounded(cls, value: float | None) -> float | None:
        return None if value is None else round(value, CONFIDENCE_DIGITS)


class GuardFacts(Wire):
    """Facts the proposer gathered: an active duplicate, and the cooldown still to run."""

    duplicate_of: str | None = None
    cooldown_remaining_seconds: int = Field(default=0, ge=0)


class ChangeWindow(Wire):
    """A weekly window in which medium-and-above risk may run without approval.

    `start` is inclusive and `end` exclusive, to the second; `end` before `start` runs overnight
    into the next day, and "24:00" means the end of the day.
    """

    days: list[Weekday] = Field(min_length=1)
    start: str
    end: str
    timezone: str = "UTC"

    @field_validator("days", mode="before")
    @classmethod
    def _day_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            return value
        days: list[Any] = []
        for day in value:
            if isinstance(day, str) and day.strip() == "*":
                days.extend(WEEK)
            elif isinstance(day, str):
                days.append(day.strip()[:3].capitalize())
            else:
                days.append(day)
        return list(dict.fromkeys(days))

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 17:00 as the sexagesimal integer 1020.
        if isinstance(value, int) and not isinstance(value, bool):
            value = f"{value // 60:02d}:{value % 60:02d}"
        if isinstance(value, str) and not _CLOCK.match(value):
            raise ValueError(f"{value!r} is not a time of day HH:MM (00:00 to 24:00)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> ChangeWindow:
        if self.start == self.end:
            raise ValueError(f"window {self.start}-{self.end} is empty: start must differ from end")
        if self.start == "24:00":
            raise ValueError("a window cannot start at 24:00")
        return self


class PolicyInput(Wire):
    """The one document `data.grace.decision` is asked about."""

    mission: MissionFacts
    playbook: PlaybookFacts
    health_node: HealthNodeFacts
    target: TargetFacts
    mode: Mode
    now: AwareDatetime
    change_windows: list[ChangeWindow] | None = Field(
        default=None, description="Replaces the configured windows for this Mission when set."
    )
    counts: MissionCounts
    learning: LearningFacts = Field(default_factory=LearningFacts)
    facts: GuardFacts = Field(default_factory=GuardFacts)

    @field_serializer("now")
    def _rfc3339(self, now: AwareDatetime) -> str:
        return now.astimezone(UTC).isoformat()


# ---------------------------------------------------------------- data


class PolicyData(Wire):
    """data.grace.config: what an operator team tunes in the grace-policy ConfigMap.

    The defaults equal policies/grace/config/data.json, the data `opa run policies/` loads.
    """

    change_windows: list[ChangeWindow] = Field(
        default_factory=lambda: [
            ChangeWindow(days=["Mon", "Tue", "Wed", "Thu", "Fri"], start="09:00", end="17:00")
        ]
    )
    protected_namespaces: list[str] = Field(
        default_factory=lambda: ["kube-system", "kube-public", "kube-node-lease"]
    )
    max_concurrent_per_namespace: int = Field(default=1, ge=0)
    max_concurrent_cluster: int = Field(default=5, ge=0)
    max_per_namespace_per_hour: int = Field(default=6, ge=0)


# ---------------------------------------------------------------- answer

Reasons = Annotated[list[str], Field(min_length=1)]


class PolicyAnswer(Wire):
    """Exactly what the Rego returns; anything else is a malformed answer and fails closed."""

    result: Result
    tier: str = Field(min_length=1)
    reasons: Reasons


class Decision(Wire):
    """A policy answer plus the engine and policy digest that gave it: Mission.status.decision."""

    result: Result
    tier: str
    reasons: list[str]
    engine: str
    policy_digest: str

    @property
    def verdict(self) -> tuple[str, str, tuple[str, ...]]:
        """What must be identical across engines: result, tier and reasons."""
        return (self.result, self.tier, tuple(self.reasons))
