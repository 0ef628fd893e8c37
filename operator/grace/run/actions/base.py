"""What every catalog action is: checked arguments, a typed intent, and four verbs.

An action is one module holding one `ActionKind`:
- `resolve` checks a step's `with` against the whitelist (declared parameters substituted,
  hard bounds applied) and returns its typed arguments, stored in the Mission as its plan;
- `prepare` reads the live state and decides the exact change, as a typed intent the Mission
  records before anything changes;
- `execute` makes exactly that change, idempotently (running it twice changes nothing more);
- `describe` says in words what the intent does, for the timeline;
- `hold` names what the safe-hold snapshot must keep beyond the workload itself, and `undo`
  puts that back on rollback (most actions only change the workload, which the snapshot
  restores as a whole, and need neither).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import Field
from pydantic.alias_generators import to_camel

from grace.api.common import Model
from grace.api.playbook import Action, ParamValue, StepWith

if TYPE_CHECKING:
    from grace.run.workload import Workload


_REF = re.compile(r"^\$\{([a-zA-Z][a-zA-Z0-9_]*)\}$")
_QUANTITY = re.compile(
    r"^([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
)
"""A non-negative Kubernetes quantity: decimal (with an optional exponent, as the API server
accepts: "1e9") and a decimal or binary suffix."""
_SUFFIX = {
    None: 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}


class ActionRefusedError(Exception):
    """The action cannot be prepared or run against this target; nothing was changed."""


class StepError(Exception):
    """A step's arguments break the whitelist; `reason` is a CamelCase word for conditions."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class StepResult:
    """How executing an intent went. Waiting: call again after `retry_after` seconds."""

    phase: Literal["Succeeded", "Failed", "Waiting"]
    message: str
    changed: bool = False
    retry_after: float = 0.0


def parse_quantity(text: str) -> float | None:
    """A Kubernetes resource quantity in base units, or None when it is not one. The one parser:
    the simulated shop reads limits with it too."""
    m = _QUANTITY.match(text.strip())
    if not m:
        return None
    return float(m.group(1)) * _SUFFIX[m.group(2)]


def fmt_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- checking a step's arguments


@dataclass(frozen=True)
class StepInput:
    """One playbook step as written, with the Mission's checked parameters: what `resolve` sees."""

    index: int
    name: str
    action: Action
    with_: StepWith | None
    params: Mapping[str, ParamValue]
    timeout: float
    """The playbook's timeout in seconds: nothing may wait longer."""

    @property
    def label(self) -> str:
        return f"step {self.index + 1} ({self.name})"

    def given(self, field_name: str) -> Any:
        """`with.<field>` (snake_case name) with `${param}` substituted; None when unset."""
        raw = getattr(self.with_, field_name) if self.with_ is not None else None
        return self.substitute(to_camel(field_name), raw)

    def need(self, field_name: str) -> Any:
        value = self.given(field_name)
        if value is None:
            raise StepError(
                "InvalidStep",
                f"{self.label}: action {self.action.value} needs with.{to_camel(field_name)}",
            )
        return value

    def substitute(self, field_name: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        m = _REF.match(value)
        if m:
            if m.group(1) not in self.params:
                raise StepError(
                    "UnknownParameter",
                    f"{self.label}: with.{field_name} refers to ${{{m.group(1)}}}, which "
                    "spec.parameters does not declare",
                )
            return self.params[m.group(1)]
        if "${" in value:
            raise StepError(
                "InvalidStep",
                f"{self.label}: with.{field_name} {value!r} mixes text and a parameter reference; "
                "write exactly ${name}",
            )
        return value

    def int_in(self, field_name: str, value: Any, lo: int, hi: int) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise StepError(
                "InvalidStep", f"{self.label}: with.{field_name} must be an integer, got {value!r}"
            )
        if not lo <= value <= hi:
            raise StepError(
                "ParameterOutOfBounds",
                f"{self.label}: with.{field_name} = {value} is outside [{lo}, {hi}]",
            )
        return value


class StepArgs(Model):
    """A step's checked arguments; stored in the Mission beside index, name and action."""


# ---------------------------------------------------------------- intents


class IntentTarget(Model):
    kind: str
    name: str
    namespace: str
    uid: str


class Intent(Model):
    """The exact change a prepared step makes, recorded before it is made. Subclasses fix
    `action` to their catalog name: that is the discriminator of the intent union."""

    action: str
    step: str = ""
    target: IntentTarget

    @property
    def ref(self) -> str:
        return f"{self.target.kind}/{self.target.name}"


# ---------------------------------------------------------------- the shape of an action

ArgsT = TypeVar("ArgsT", bound=StepArgs)
IntentT = TypeVar("IntentT", bound=Intent)


class ActionKind(Generic[ArgsT, IntentT]):
    """One entry of the catalog. Subclasses set the class variables and the verbs they need."""

    name: ClassVar[Action]
    args: type[ArgsT]
    intent: type[IntentT]
    summary: ClassVar[str]
    """One line for the docs: what the action does."""
    undone: ClassVar[str]
    """One line for the docs and the policy input: what a rollback does about it."""
    statefulset: ClassVar[bool] = True
    """Whether it may act on a StatefulSet target (every action acts on a Deployment)."""

    def resolve(self, step: StepInput) -> ArgsT:
        return self.args()

    def prepare(
        self, w: Workload, obj: Mapping[str, Any], args: ArgsT, head: Intent, now: datetime
    ) -> IntentT:
        raise NotImplementedError

    def execute(self, w: Workload, intent: IntentT, now: datetime) -> StepResult:
        raise NotImplementedError

    def describe(self, intent: IntentT) -> str:
        raise NotImplementedError

    def hold(self, w: Workload, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        """What the snapshot must keep to undo this action (None: the workload is enough)."""
        return None

    def undo(self, w: Workload, intent: IntentT, held: Mapping[str, Any] | None) -> None:
        """Put back what `hold` kept (or what the intent changed outside the workload)."""

    def build(self, head: Intent, **fields: Any) -> IntentT:
        """The typed intent: the shared head (step, target) plus this action's fields."""
        return self.intent.model_validate(
            {**head.model_dump(by_alias=True), **fields, "action": self.name.value}
        )


# ---------------------------------------------------------------- shared reads of live objects


def live_target(w: Workload, uid: str) -> dict[str, Any]:
    """The target as it is now, refusing when it is gone or was replaced since the intent."""
    obj = w.read()
    if obj is None:
        raise ActionRefusedError(f"{w.ref} no longer exists")
    if obj["metadata"]["uid"] != uid:
        raise ActionRefusedError(
            f"{w.ref} was replaced (uid {uid} is now {obj['metadata']['uid']})"
        )
    return obj


class CountArgs(StepArgs):
    count: int = Field(ge=1)
