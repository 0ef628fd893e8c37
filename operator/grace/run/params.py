"""The central whitelist: a Mission's parameters and a Playbook's steps, checked before anything runs.

Everything a run will do is decided here from declared values only: a parameter outside its
declared bounds, an argument no action takes, an action outside the catalog or a target in
another namespace is a `Refusal` with a reason a user can act on, never a partial run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from grace.api.duration import parse_duration
from grace.api.healthnode import TARGET_KINDS, HealthNodeSpec, Target
from grace.api.playbook import ACTIONS, Parameter, ParamValue, PlaybookSpec, Step
from grace.run.actions import CATALOG, ResolvedStep, StepError, StepInput
from grace.run.actions.base import fmt_number

STEP_ARGUMENTS = tuple(
    dict.fromkeys(to_camel(name) for kind in CATALOG.values() for name in kind.args.model_fields)
)
"""Every key a step's `with` may hold; anything else is refused rather than ignored."""


@dataclass(frozen=True)
class Refusal:
    """Why a Mission may not run; `reason` is a CamelCase word for conditions and events."""

    reason: str
    message: str


@dataclass(frozen=True)
class ResolvedPlan:
    parameters: dict[str, ParamValue]
    steps: tuple[ResolvedStep, ...]


@dataclass(frozen=True)
class Preflight:
    """Everything the run needs, validated: the playbook, the node, its target and the plan."""

    playbook: PlaybookSpec
    node: HealthNodeSpec
    target: Target
    plan: ResolvedPlan


# ---------------------------------------------------------------- parsing raw objects


def parse_playbook(raw: PlaybookSpec | Mapping[str, Any], namespace: str) -> PlaybookSpec | Refusal:
    """Validate a Playbook spec as stored, refusing what the typed model would silently drop."""
    if isinstance(raw, PlaybookSpec):
        return raw
    steps = raw.get("steps")
    if isinstance(steps, Sequence) and not isinstance(steps, str):
        for i, step in enumerate(steps):
            refusal = _scan_raw_step(i, step, namespace)
            if refusal:
                return refusal
    try:
        return PlaybookSpec.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        return Refusal("InvalidPlaybook", f"playbook is invalid at {where}: {first['msg']}")


def _scan_raw_step(i: int, step: Any, namespace: str) -> Refusal | None:
    if not isinstance(step, Mapping):
        return Refusal("InvalidPlaybook", f"step {i + 1} is not an object")
    label = f"step {i + 1}" + (f" ({step['name']})" if step.get("name") else "")
    action = step.get("action")
    if action not in ACTIONS:
        return Refusal(
            "UnknownAction",
            f"{label}: unknown action {action!r}; the catalog is {', '.join(ACTIONS)} "
            "(no arbitrary commands)",
        )
    args = step.get("with") or {}
    if not isinstance(args, Mapping):
        return Refusal("InvalidPlaybook", f"{label}: 'with' must be an object")
    scoped = [(k, args[k]) for k in ("namespace", "target", "kind", "name") if k in args]
    scoped += [(k, step[k]) for k in ("namespace", "target", "kind") if k in step]
    if scoped:
        key, where = scoped[0]
        return Refusal(
            "TargetOutOfScope",
            f"{label} names {key} {where!r}: a playbook acts only on its HealthNode's "
            f"target, in namespace {namespace!r}",
        )
    unknown = sorted(k for k in args if k not in STEP_ARGUMENTS)
    if unknown:
        return Refusal(
            "UnknownArgument",
            f"{label}: with.{unknown[0]} is not an argument of any action "
            f"(allowed: {', '.join(STEP_ARGUMENTS)})",
        )
    return None


def parse_node(raw: HealthNodeSpec | Mapping[str, Any]) -> HealthNodeSpec | Refusal:
    if isinstance(raw, HealthNodeSpec):
        return raw
    try:
        return HealthNodeSpec.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        return Refusal("InvalidHealthNode", f"HealthNode is invalid at {where}: {first['msg']}")


def check_target(raw: Target | Mapping[str, Any], namespace: str) -> Target | Refusal:
    """The target must be a supported workload in the Mission's own namespace."""
    if isinstance(raw, Target):
        return raw
    ns = raw.get("namespace")
    if ns not in (None, "", namespace):
        return Refusal(
            "TargetOutOfScope",
            f"target {raw.get('kind')}/{raw.get('name')} is in namespace {ns!r}; GRACE acts "
            f"only in the HealthNode's own namespace {namespace!r}",
        )
    if raw.get("kind") not in TARGET_KINDS:
        return Refusal(
            "UnsupportedTarget",
            f"target kind {raw.get('kind')!r} is not supported (supported: {', '.join(TARGET_KINDS)})",
        )
    try:
        return Target.model_validate(raw)
    except ValidationError as e:
        return Refusal("InvalidTarget", f"target is invalid: {e.errors()[0]['msg']}")


# ---------------------------------------------------------------- parameters


def _bounds(p: Parameter) -> str:
    lo = fmt_number(p.minimum) if p.minimum is not None else "-inf"
    hi = fmt_number(p.maximum) if p.maximum is not None else "+inf"
    return f"[{lo}, {hi}]"


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(
        type(value), type(value).__name__
    )


def check_parameter(p: Parameter, value: Any) -> ParamValue | Refusal:
    """One value against its declaration: type, then bounds or enum."""
    name = f"parameter {p.name!r}"
    shown = repr(value)
    if p.type == "string":
        if not isinstance(value, str):
            return Refusal(
                "ParameterType", f"{name} must be a string, got {shown} ({_type_name(value)})"
            )
        if p.enum is not None and value not in p.enum:
            return Refusal(
                "ParameterNotInEnum", f"{name} = {shown} is not one of {', '.join(p.enum)}"
            )
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return Refusal(
            "ParameterType", f"{name} must be an integer, got {shown} ({_type_name(value)})"
        )
    number: int = value
    if p.minimum is not None and number < p.minimum:
        return Refusal(
            "ParameterOutOfBounds",
            f"{name} = {number} is below its minimum {fmt_number(p.minimum)} (allowed: {_bounds(p)})",
        )
    if p.maximum is not None and number > p.maximum:
        return Refusal(
            "ParameterOutOfBounds",
            f"{name} = {number} is above its maximum {fmt_number(p.maximum)} (allowed: {_bounds(p)})",
        )
    return number


def resolve_parameters(
    declared: Sequence[Parameter], given: Mapping[str, Any]
) -> dict[str, ParamValue] | Refusal:
    names = {p.name for p in declared}
    unknown = sorted(set(given) - names)
    if unknown:
        known = ", ".join(sorted(names)) or "none"
        return Refusal(
            "UnknownParameter",
            f"parameter {unknown[0]!r} is not declared by the playbook (declared: {known})",
        )
    out: dict[str, ParamValue] = {}
    for p in declared:
        value = given.get(p.name, p.default)
        if value is None:
            return Refusal(
                "MissingParameter",
                f"parameter {p.name!r} has no default and the Mission does not set it",
            )
        checked = check_parameter(p, value)
        if isinstance(checked, Refusal):
            return checked
        out[p.name] = checked
    return out


# ---------------------------------------------------------------- steps


def _resolve_step(
    i: int, step: Step, params: Mapping[str, ParamValue], timeout: float
) -> ResolvedStep:
    """The step's arguments, checked by its action (the catalog knows each one's bounds)."""
    kind = CATALOG[step.action]
    given = StepInput(i, step.display_name(i), step.action, step.with_, params, timeout)
    return ResolvedStep(i, given.name, step.action, kind.resolve(given))


def resolve(playbook: PlaybookSpec, given: Mapping[str, Any]) -> ResolvedPlan | Refusal:
    """Apply defaults, check every parameter, substitute `${name}` and re-check every step."""
    params = resolve_parameters(playbook.parameters, given)
    if isinstance(params, Refusal):
        return params
    timeout = parse_duration(playbook.timeout)
    steps: list[ResolvedStep] = []
    for i, step in enumerate(playbook.steps):
        try:
            steps.append(_resolve_step(i, step, params, timeout))
        except StepError as e:
            return Refusal(e.reason, e.message)
    return ResolvedPlan(parameters=params, steps=tuple(steps))


def check_signals(playbook: PlaybookSpec, node: HealthNodeSpec) -> Refusal | None:
    """Verification may only name signals the HealthNode measures."""
    known = [s.name for s in node.signals]
    for check in playbook.verify.checks:
        if check.signal not in known:
            return Refusal(
                "UnknownSignal",
                f"verify check names signal {check.signal!r}, which the HealthNode does not "
                f"measure (signals: {', '.join(known)})",
            )
    return None


def preflight(
    playbook: PlaybookSpec | Mapping[str, Any] | None,
    node: HealthNodeSpec | Mapping[str, Any] | None,
    given: Mapping[str, Any],
    namespace: str,
    *,
    playbook_name: str = "",
    node_name: str = "",
) -> Preflight | Refusal:
    """Every check a Mission passes before it may touch anything, first failure wins."""
    if node is None:
        return Refusal("HealthNodeNotFound", f"HealthNode {node_name!r} not found in {namespace!r}")
    if playbook is None:
        return Refusal("PlaybookNotFound", f"Playbook {playbook_name!r} not found in {namespace!r}")
    if isinstance(node, Mapping) and isinstance(node.get("target"), Mapping):
        scoped = check_target(node["target"], namespace)
        if isinstance(scoped, Refusal):
            return scoped
    node_spec = parse_node(node)
    if isinstance(node_spec, Refusal):
        return node_spec
    target = check_target(node_spec.target, namespace)
    if isinstance(target, Refusal):
        return target
    spec = parse_playbook(playbook, namespace)
    if isinstance(spec, Refusal):
        return spec
    plan = resolve(spec, given)
    if isinstance(plan, Refusal):
        return plan
    unsupported = _unsupported(target, plan)
    if unsupported:
        return unsupported
    signals = check_signals(spec, node_spec)
    if signals:
        return signals
    return Preflight(playbook=spec, node=node_spec, target=target, plan=plan)


def _unsupported(target: Target, plan: ResolvedPlan) -> Refusal | None:
    if target.kind != "StatefulSet":
        return None
    for step in plan.steps:
        if not CATALOG[step.action].statefulset:
            return Refusal(
                "UnsupportedAction",
                f"step {step.index + 1} ({step.name}): {step.action.value} is not supported "
                f"on a StatefulSet (only on a Deployment)",
            )
    return None
