"""The action catalog: one module per action, and this registry, the only list of them.

The Playbook CRD's enum of actions (`grace.api.playbook.Action`: the contract lives in `api`,
which imports nothing of GRACE) must name exactly the actions registered here: importing this
module fails otherwise. The whitelist (`run.params`: arguments and their checks), the machine
(`describe`), the executor and the generated `docs/actions.md` read this registry; the policy
input lists a playbook's actions by these names. Adding an action is one module and one line
below, plus its name in the enum (and, if it takes new arguments, their fields and CEL rules
in `api.playbook.StepWith`/`Step`, which the CRD is generated from).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from grace.api.playbook import Action
from grace.run.actions import (
    cordon_node,
    delete_pods,
    evict_pods,
    rollback,
    rollout_restart,
    scale,
    scale_hpa,
    set_resources,
    wait,
)
from grace.run.actions.base import (
    ActionKind,
    ActionRefusedError,
    Intent,
    StepArgs,
    StepError,
    StepInput,
    StepResult,
)

__all__ = [
    "CATALOG",
    "ActionKind",
    "ActionRefusedError",
    "Intent",
    "ResolvedStep",
    "StepError",
    "StepInput",
    "StepResult",
    "describe",
    "kind_of",
    "parse_intent",
]

CATALOG: dict[Action, ActionKind[Any, Any]] = {
    kind.name: kind
    for kind in (
        scale.Scale(),
        rollout_restart.RolloutRestart(),
        rollback.Rollback(),
        set_resources.SetResources(),
        delete_pods.DeletePods(),
        evict_pods.EvictPods(),
        cordon_node.CordonNode(),
        scale_hpa.ScaleHPA(),
        wait.Wait(),
    )
}
if set(CATALOG) != set(Action):  # pragma: no cover - a developer's mistake, caught on import
    raise ImportError(
        f"the action catalog {sorted(CATALOG)} and the CRD enum {sorted(Action)} disagree"
    )

_INTENT_UNION: Any = Annotated[
    functools.reduce(operator.or_, (kind.intent for kind in CATALOG.values())),
    Field(discriminator="action"),
]
_INTENTS: TypeAdapter[Any] = TypeAdapter(_INTENT_UNION)
"""Intent = ScaleIntent | RolloutRestartIntent | ..., discriminated by `action`."""


def kind_of(action: Action | str) -> ActionKind[Any, Any]:
    return CATALOG[Action(action)]


def parse_intent(data: Mapping[str, Any]) -> Intent:
    """A stored intent as its typed model (the union is discriminated by `action`)."""
    intent: Intent = _INTENTS.validate_python(dict(data))
    return intent


def describe(data: Mapping[str, Any]) -> str:
    """What a stored intent does (or did), for the timeline and `kubectl describe`."""
    try:
        intent = parse_intent(data)
    except ValidationError:
        target = data.get("target") or {}
        return f"{data.get('action')} on {target.get('kind')}/{target.get('name')}"
    return str(kind_of(intent.action).describe(intent))


@dataclass(frozen=True)
class ResolvedStep:
    """One step with every parameter substituted and every bound checked: exactly what may run."""

    index: int
    name: str
    action: Action
    args: StepArgs

    def wire(self) -> dict[str, Any]:
        """JSON form stored in the Mission status, so a restart runs the plan it accepted."""
        return {
            "index": self.index,
            "name": self.name,
            "action": self.action.value,
            **self.args.wire(),
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> ResolvedStep:
        kind = kind_of(str(data["action"]))
        args = {k: v for k, v in data.items() if k not in ("index", "name", "action")}
        return cls(
            index=int(data["index"]),
            name=str(data["name"]),
            action=kind.name,
            args=kind.args.model_validate(args),
        )

    @classmethod
    def of(cls, action: Action, index: int = 0, name: str = "", **args: Any) -> ResolvedStep:
        """A step built directly from checked values (tests, the CLI)."""
        kind = kind_of(action)
        return cls(index, name or f"{index + 1}-{action.value}", action, kind.args(**args))
