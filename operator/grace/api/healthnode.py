"""HealthNode: what healthy means for one service, and what GRACE last saw of it."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from grace.api.common import (
    API_VERSION,
    NAME_PATTERN,
    Condition,
    Model,
    ObjectMeta,
    ObjectName,
    cel,
    validations,
)
from grace.api.duration import DURATION_PATTERN

MAX_SIGNALS = 16
MAX_DEPENDENCIES = 32
MAX_PLAYBOOKS = 16
TARGET_KINDS = ("Deployment", "StatefulSet")


class Criticality(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Mode(StrEnum):
    OBSERVE = "observe"
    PROPOSE = "propose"
    AUTONOMOUS = "autonomous"


class Phase(StrEnum):
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    CRITICAL = "Critical"
    UNKNOWN = "Unknown"


class SignalState(StrEnum):
    OK = "OK"
    DEGRADED = "Degraded"
    CRITICAL = "Critical"
    PENDING = "Pending"  # past a threshold, but not yet for `for`
    NO_DATA = "NoData"
    ERROR = "Error"


class Threshold(Model):
    """A bound that is crossed going up (`above`) or going down (`below`): exactly one of them."""

    model_config = Model.model_config | {
        "json_schema_extra": validations(
            cel(
                "has(self.above) != has(self.below)",
                "a threshold sets exactly one of 'above' or 'below'",
            )
        )
    }

    above: float | None = None
    below: float | None = None

    def crossed(self, value: float) -> bool:
        if self.above is not None:
            return value > self.above
        return self.below is not None and value < self.below


class Target(Model):
    kind: Literal["Deployment", "StatefulSet"] = Field(
        description="Kind of the workload playbooks may act on (same namespace only)."
    )
    name: str = Field(min_length=1, max_length=253, pattern=NAME_PATTERN)


LABEL_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
MAX_ALERT_LABELS = 16
ALERT_RESERVED_LABELS = ("alertname", "alertstate")


class AlertRef(Model):
    """A Prometheus alerting rule the team already has, as a signal: its firing series count.

    The value is read from Prometheus' own `ALERTS` series (pull), never from a webhook: a
    webhook only makes GRACE look sooner.
    """

    model_config = Model.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.labels) || self.labels.all(k, k != 'alertname' && k != 'alertstate')",
                "alert.labels must not set 'alertname' or 'alertstate' (use alert.name; GRACE "
                "reads the firing state itself)",
                field_path=".labels",
            ),
            cel(
                "!has(self.labels) || self.labels.all(k, k.matches('" + LABEL_NAME_PATTERN + "'))",
                "alert.labels keys must be Prometheus label names ([a-zA-Z_][a-zA-Z0-9_]*)",
                field_path=".labels",
            ),
        )
    }

    name: str = Field(
        min_length=1,
        max_length=253,
        description="The alert's name (the rule's `alert:`, the `alertname` label).",
    )
    labels: dict[str, Annotated[str, StringConstraints(max_length=1024)]] = Field(
        default_factory=dict,
        max_length=MAX_ALERT_LABELS,
        description="Labels the alert must carry (exact match), e.g. namespace and deployment.",
    )

    @model_validator(mode="after")
    def _labels_are_matchers(self) -> AlertRef:
        bad = sorted(k for k in self.labels if not re.match(LABEL_NAME_PATTERN, k))
        if bad:
            raise ValueError(f"alert.labels keys must be Prometheus label names: {', '.join(bad)}")
        reserved = sorted(set(self.labels) & set(ALERT_RESERVED_LABELS))
        if reserved:
            raise ValueError(f"alert.labels must not set {', '.join(reserved)}")
        return self


class Signal(Model):
    """One health signal (a PromQL query or a Prometheus alert), thresholds and hysteresis."""

    model_config = Model.model_config | {
        "json_schema_extra": validations(
            cel(
                "has(self.query) != has(self.alert)",
                "a signal sets exactly one of 'query' (PromQL) or 'alert' (a Prometheus alert "
                "by name)",
                field_path=".query",
            ),
            cel(
                "has(self.degraded) || has(self.critical) || has(self.alert)",
                "a signal needs a 'degraded' or a 'critical' threshold",
            ),
            cel(
                "!has(self.degraded) || !has(self.critical) || "
                "(has(self.degraded.above) == has(self.critical.above))",
                "'degraded' and 'critical' must bound the same direction (both above or both below)",
                field_path=".critical",
            ),
            cel(
                "!has(self.degraded) || !has(self.critical) || !has(self.degraded.above) || "
                "!has(self.critical.above) || self.critical.above > self.degraded.above",
                "critical.above must be greater than degraded.above (critical is the stricter one)",
                field_path=".critical.above",
            ),
            cel(
                "!has(self.degraded) || !has(self.critical) || !has(self.degraded.below) || "
                "!has(self.critical.below) || self.critical.below < self.degraded.below",
                "critical.below must be less than degraded.below (critical is the stricter one)",
                field_path=".critical.below",
            ),
        )
    }

    name: str = Field(min_length=1, max_length=63, pattern=NAME_PATTERN)
    query: str | None = Field(
        default=None, min_length=1, max_length=4096, description="A PromQL instant query."
    )
    alert: AlertRef | None = Field(
        default=None,
        description="Instead of a query: the number of firing series of this Prometheus alert "
        "(from `ALERTS`); without thresholds, Critical while it fires.",
    )
    degraded: Threshold | None = None
    critical: Threshold | None = None
    for_: str = Field(
        default="0s",
        alias="for",
        max_length=32,
        pattern=DURATION_PATTERN,
        description="Hysteresis: a threshold must hold this long before the state changes.",
    )
    anomaly: bool = False
    forecast: str | None = Field(
        default=None,
        max_length=32,
        pattern=DURATION_PATTERN,
        description="Predict the value this far ahead; a predicted critical breach is flagged.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Signal:
        if (self.query is None) == (self.alert is None):
            raise ValueError(f"signal {self.name}: set exactly one of 'query' or 'alert'")
        if self.alert is not None and self.degraded is None and self.critical is None:
            self.critical = Threshold(above=0)
        return self


class Remediation(Model):
    mode: Mode = Mode.OBSERVE
    playbooks: list[ObjectName] = Field(
        default_factory=list,
        max_length=MAX_PLAYBOOKS,
    )
    autonomy_ceiling: Mode | None = Field(
        default=None,
        description="Highest mode measured success may promote this node to (default: mode).",
    )


class HealthNodeSpec(Model):
    model_config = Model.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.signals.all(s, self.signals.exists_one(t, t.name == s.name))",
                "signal names must be unique",
                field_path=".signals",
            ),
            cel(
                "!has(self.dependsOn) || "
                "self.dependsOn.all(d, self.dependsOn.exists_one(e, e == d))",
                "dependsOn must not list a HealthNode twice",
                field_path=".dependsOn",
            ),
            cel(
                "!has(self.remediation) || !has(self.remediation.playbooks) || "
                "self.remediation.playbooks.all(p, self.remediation.playbooks.exists_one(q, q == p))",
                "remediation.playbooks must not list a Playbook twice",
                field_path=".remediation.playbooks",
            ),
            cel(
                "duration(self.interval) >= duration('1s') && "
                "duration(self.interval) <= duration('1h')",
                "interval must be between 1s and 1h",
                field_path=".interval",
            ),
        )
    }

    criticality: Criticality = Criticality.MEDIUM
    target: Target
    depends_on: list[ObjectName] = Field(
        default_factory=list,
        max_length=MAX_DEPENDENCIES,
    )
    interval: str = Field(default="15s", max_length=32, pattern=DURATION_PATTERN)
    signals: list[Signal] = Field(min_length=1, max_length=MAX_SIGNALS)
    remediation: Remediation = Field(default_factory=Remediation)


class SignalStatus(Model):
    name: str
    value: float | None = None
    state: SignalState = SignalState.NO_DATA
    since: datetime | None = None
    anomaly_score: float | None = None
    anomaly_since: datetime | None = Field(
        default=None,
        description="When the signal's current anomaly alarm began (unset when it looks usual): "
        "the first sign of trouble, often before a threshold is crossed.",
    )
    forecast: float | None = None
    message: str | None = None


class PlaybookLearning(Model):
    playbook: str
    attempts: int = 0
    successes: int = 0
    success_rate24h: float | None = Field(default=None, alias="successRate24h")
    success_rate7d: float | None = Field(default=None, alias="successRate7d")
    confidence: float | None = None
    autonomy: Mode | None = None


class CauseCandidate(Model):
    node: str
    confidence: float = Field(ge=0.0, le=1.0)


class RootCauseAnalysis(Model):
    """Which node most likely causes this node's trouble (possibly itself), how sure, and why.

    Computed from the dependsOn graph and what the detector saw of every node: when each
    departed from its baseline and how far. `rootCause` names `cause` only when it is another
    node that is Degraded or Critical.
    """

    cause: str = Field(description="The likeliest cause: another HealthNode, or this one.")
    confidence: float = Field(
        ge=0.0, le=1.0, description="How sure GRACE is that `cause` is the cause (0..1)."
    )
    evidence: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="The facts that rank `cause` first, readable by a human.",
    )
    candidates: list[CauseCandidate] = Field(
        default_factory=list,
        max_length=3,
        description="The likeliest causes with their confidence, most likely first.",
    )

    def confidence_of(self, node: str) -> float:
        """How sure the analysis is that `node` is the cause (0 when it is not a candidate)."""
        return next((c.confidence for c in self.candidates if c.node == node), 0.0)


class HealthNodeStatus(Model):
    phase: Phase = Phase.UNKNOWN
    observed_generation: int | None = None
    last_evaluated: datetime | None = None
    signals: list[SignalStatus] = Field(default_factory=list)
    root_cause: str | None = None
    root_cause_analysis: RootCauseAnalysis | None = None
    incident_since: datetime | None = Field(
        default=None,
        description="When the node last left Healthy; cleared once it is Healthy again. "
        "Degraded, Critical and Unknown in between are one incident (one Mission).",
    )
    active_mission: str | None = None
    last_mission: str | None = None
    learning: list[PlaybookLearning] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)


class HealthNode(Model):
    model_config = Model.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.spec.dependsOn) || !self.spec.dependsOn.exists(d, d == self.metadata.name)",
                "a HealthNode cannot depend on itself",
                field_path=".spec.dependsOn",
            )
        )
    }

    api_version: str = API_VERSION
    kind: Literal["HealthNode"] = "HealthNode"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: HealthNodeSpec
    status: HealthNodeStatus = Field(default_factory=HealthNodeStatus)
