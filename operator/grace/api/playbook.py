"""Playbook: a remedy from a fixed action catalog, with its parameter whitelist and verification contract."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from grace.api.common import (
    API_VERSION,
    NAME_PATTERN,
    Condition,
    Model,
    ObjectMeta,
    cel,
    validations,
)
from grace.api.duration import DURATION_PATTERN

PARAM_REF_PATTERN = r"^\$\{[a-zA-Z][a-zA-Z0-9_]*\}$"
"""A step value that takes a declared parameter: `${replicas}`."""

MAX_STEPS = 10
MAX_PARAMETERS = 8
MAX_CHECKS = 16
MAX_DELETE_PODS = 10
"""deletePods and evictPods never take more pods than this in one step."""
MAX_REPLICAS = 1000


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


# The catalog's names: the CRD's enum. Each one is a module in `grace.run.actions`, registered
# there (`grace.run.actions.CATALOG`, which refuses to import when the two disagree).
class Action(StrEnum):
    SCALE = "scale"
    ROLLOUT_RESTART = "rolloutRestart"
    ROLLBACK = "rollback"
    SET_RESOURCES = "setResources"
    DELETE_PODS = "deletePods"
    EVICT_PODS = "evictPods"
    CORDON_NODE = "cordonNode"
    SCALE_HPA = "scaleHPA"
    WAIT = "wait"


ACTIONS = tuple(a.value for a in Action)


class OnFailure(StrEnum):
    ROLLBACK = "rollback"
    KEEP = "keep"


ParamValue = int | str

_INT_OR_REF = {"x-kubernetes-int-or-string": True}
_INT_OR_PARAM_REF: dict[str, Any] = {
    "x-kubernetes-int-or-string": True,
    "pattern": PARAM_REF_PATTERN,
    "maxLength": 66,
}


class Match(Model):
    phases: list[Literal["Degraded", "Critical"]] = Field(
        default_factory=lambda: ["Degraded", "Critical"],  # type: ignore[arg-type]
        max_length=2,
    )
    signals: list[Annotated[str, StringConstraints(max_length=63)]] = Field(
        default_factory=list,
        max_length=16,
        description="Only match when one of these signals is breached (empty: any signal).",
    )
    predicted: bool = Field(
        default=False,
        description="Also match a predicted breach (PredictedBreach), before it happens.",
    )


class Parameter(Model):
    """One whitelisted parameter: nothing outside these bounds ever runs."""

    model_config = Model.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.minimum) || !has(self.maximum) || self.minimum <= self.maximum",
                "minimum must not be greater than maximum",
                field_path=".minimum",
            ),
            cel(
                "!has(self.default) || (self.type == 'integer') == (type(self.default) == int)",
                "default must have the parameter's type",
                field_path=".default",
            ),
            cel(
                "!has(self.default) || !has(self.minimum) || type(self.default) != int || "
                "int(self.default) >= self.minimum",
                "default must be within [minimum, maximum]: it is below minimum",
                field_path=".default",
            ),
            cel(
                "!has(self.default) || !has(self.maximum) || type(self.default) != int || "
                "int(self.default) <= self.maximum",
                "default must be within [minimum, maximum]: it is above maximum",
                field_path=".default",
            ),
            cel(
                "!has(self.default) || !has(self.enum) || type(self.default) != string || "
                "self.enum.exists(e, e == string(self.default))",
                "default must be one of enum",
                field_path=".default",
            ),
            cel(
                "!has(self.enum) || self.type == 'string'",
                "enum is only allowed for string parameters",
                field_path=".enum",
            ),
            cel(
                "(!has(self.minimum) && !has(self.maximum)) || self.type == 'integer'",
                "minimum/maximum are only allowed for integer parameters",
                field_path=".type",
            ),
        )
    }

    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-zA-Z][a-zA-Z0-9_]*$")
    type: Literal["integer", "string"]
    minimum: int | None = None
    maximum: int | None = None
    enum: list[Annotated[str, StringConstraints(max_length=253)]] | None = Field(
        default=None, max_length=32
    )
    default: ParamValue | None = Field(
        default=None, json_schema_extra={"x-kubernetes-int-or-string": True, "maxLength": 253}
    )
    description: str | None = Field(default=None, max_length=1024)


class ResourceList(Model):
    cpu: str | None = Field(default=None, max_length=64)
    memory: str | None = Field(default=None, max_length=64)


class StepWith(Model):
    """Arguments of a step; values written `${name}` take a declared parameter."""

    replicas: int | str | None = Field(
        default=None, json_schema_extra=_INT_OR_PARAM_REF, description="scale: desired replicas."
    )
    to_revision: int | None = Field(
        default=None, ge=1, description="rollback: revision to return to (default: previous)."
    )
    container: str | None = Field(default=None, max_length=63)
    requests: ResourceList | None = None
    limits: ResourceList | None = None
    count: int | str | None = Field(
        default=None,
        json_schema_extra=_INT_OR_PARAM_REF,
        description="deletePods, evictPods, cordonNode: how many pods (nodes).",
    )
    duration: str | None = Field(default=None, max_length=32, pattern=DURATION_PATTERN)
    min_replicas: int | str | None = Field(
        default=None,
        json_schema_extra=_INT_OR_PARAM_REF,
        description="scaleHPA: the HorizontalPodAutoscaler's new minReplicas.",
    )
    max_replicas: int | str | None = Field(
        default=None,
        json_schema_extra=_INT_OR_PARAM_REF,
        description="scaleHPA: the HorizontalPodAutoscaler's new maxReplicas.",
    )


def _bounded(field: str, lo: int, hi: int) -> dict[str, Any]:
    return cel(
        f"!has(self.with) || !has(self.with.{field}) || type(self.with.{field}) != int || "
        f"(int(self.with.{field}) >= {lo} && int(self.with.{field}) <= {hi})",
        f"with.{field} must be between {lo} and {hi}",
        field_path=f".with.{field}",
    )


def _declared(field: str) -> dict[str, Any]:
    return cel(
        f"self.steps.all(s, !has(s.with) || !has(s.with.{field}) || "
        f"type(s.with.{field}) == int || (has(self.parameters) && "
        f"self.parameters.exists(p, '${{' + p.name + '}}' == string(s.with.{field}))))",
        "a step refers to a parameter that is not declared in spec.parameters",
        field_path=".steps",
    )


class Step(Model):
    model_config = Model.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.action != 'scale' || (has(self.with) && has(self.with.replicas))",
                "action scale needs with.replicas",
                field_path=".with",
            ),
            cel(
                "self.action != 'deletePods' || (has(self.with) && has(self.with.count))",
                "action deletePods needs with.count",
                field_path=".with",
            ),
            cel(
                "self.action != 'evictPods' || (has(self.with) && has(self.with.count))",
                "action evictPods needs with.count",
                field_path=".with",
            ),
            cel(
                "self.action != 'scaleHPA' || "
                "(has(self.with) && (has(self.with.minReplicas) || has(self.with.maxReplicas)))",
                "action scaleHPA needs with.minReplicas or with.maxReplicas",
                field_path=".with",
            ),
            cel(
                "self.action != 'wait' || (has(self.with) && has(self.with.duration))",
                "action wait needs with.duration",
                field_path=".with",
            ),
            cel(
                "self.action != 'setResources' || "
                "(has(self.with) && (has(self.with.requests) || has(self.with.limits)))",
                "action setResources needs with.requests or with.limits",
                field_path=".with",
            ),
            _bounded("replicas", 0, MAX_REPLICAS),
            _bounded("count", 1, MAX_DELETE_PODS),
            _bounded("minReplicas", 1, MAX_REPLICAS),
            _bounded("maxReplicas", 1, MAX_REPLICAS),
        )
    }

    name: str | None = Field(default=None, max_length=63, pattern=NAME_PATTERN)
    action: Action
    with_: StepWith | None = Field(default=None, alias="with")

    def display_name(self, index: int) -> str:
        return self.name or f"{index + 1}-{self.action.value}"


class Check(Model):
    """One expected effect, checked against real metrics after the steps."""

    model_config = Model.model_config | {
        "json_schema_extra": validations(
            cel(
                "(has(self.below) ? 1 : 0) + (has(self.above) ? 1 : 0) + "
                "(has(self.belowBaseline) ? 1 : 0) + (has(self.aboveBaseline) ? 1 : 0) == 1",
                "a check sets exactly one of below, above, belowBaseline, aboveBaseline",
            )
        )
    }

    signal: str = Field(min_length=1, max_length=63)
    below: float | None = None
    above: float | None = None
    below_baseline: str | None = Field(
        default=None,
        max_length=16,
        pattern=r"^[+-]?[0-9]+(\.[0-9]+)?%$",
        description='Relative to the pre-run baseline, e.g. "+10%".',
    )
    above_baseline: str | None = Field(
        default=None, max_length=16, pattern=r"^[+-]?[0-9]+(\.[0-9]+)?%$"
    )


class Verify(Model):
    model_config = Model.model_config | {
        "json_schema_extra": validations(
            cel(
                "duration(self.interval) <= duration(self.timeout)",
                "verify.interval must not be longer than verify.timeout",
                field_path=".interval",
            ),
            cel(
                "duration(self.initialDelay) < duration(self.timeout)",
                "verify.initialDelay must be shorter than verify.timeout",
                field_path=".initialDelay",
            ),
            cel(
                "duration(self.stableFor) < duration(self.timeout)",
                "verify.stableFor must be shorter than verify.timeout",
                field_path=".stableFor",
            ),
        )
    }

    timeout: str = Field(default="3m", max_length=32, pattern=DURATION_PATTERN)
    interval: str = Field(default="15s", max_length=32, pattern=DURATION_PATTERN)
    initial_delay: str = Field(
        default="0s",
        max_length=32,
        pattern=DURATION_PATTERN,
        description="Wait this long after the last step before the first sample counts "
        "(metrics computed over a window need it to see the change).",
    )
    checks: list[Check] = Field(
        default_factory=list,
        max_length=MAX_CHECKS,
        description="Empty: every signal of the HealthNode back to healthy.",
    )
    failure_limit: int = Field(default=2, ge=0, le=100)
    stable_for: str = Field(default="0s", max_length=32, pattern=DURATION_PATTERN)


class PlaybookSpec(Model):
    model_config = Model.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.parameters) || "
                "self.parameters.all(p, self.parameters.exists_one(q, q.name == p.name))",
                "parameter names must be unique",
                field_path=".parameters",
            ),
            cel(
                "self.steps.all(s, !has(s.name) || self.steps.exists_one(t, has(t.name) && t.name == s.name))",
                "step names must be unique",
                field_path=".steps",
            ),
            _declared("replicas"),
            _declared("count"),
            _declared("minReplicas"),
            _declared("maxReplicas"),
            cel(
                "duration(self.timeout) >= duration('1s')",
                "timeout must be at least 1s",
                field_path=".timeout",
            ),
        )
    }

    description: str = Field(default="", max_length=4096)
    risk: Risk = Risk.MEDIUM
    match: Match = Field(default_factory=Match)
    parameters: list[Parameter] = Field(default_factory=list, max_length=MAX_PARAMETERS)
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    verify: Verify = Field(default_factory=Verify)
    on_failure: OnFailure = OnFailure.ROLLBACK
    cooldown: str = Field(default="10m", max_length=32, pattern=DURATION_PATTERN)
    timeout: str = Field(default="5m", max_length=32, pattern=DURATION_PATTERN)
    require_approval_for_git_ops: bool = Field(
        default=True,
        alias="requireApprovalForGitOps",
        description="Ask a human before changing a target that Argo CD / Flux / Helm owns.",
    )


class PlaybookStatus(Model):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


class Playbook(Model):
    api_version: str = API_VERSION
    kind: Literal["Playbook"] = "Playbook"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PlaybookSpec
    status: PlaybookStatus = Field(default_factory=PlaybookStatus)
