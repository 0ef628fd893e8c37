"""The central whitelist: a Mission's parameters and a Playbook's steps, checked before anything runs.

Everything a run will do is decided here from declared values only: a parameter outside its
declared bounds, an argument no action takes, an action outside the catalog or a target in
another namespace is a `Refusal` with a reason a user can act on, never a partial run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from grace.api.duration import parse_duration
from grace.api.healthnode import TARGET_KINDS, HealthNodeSpec, Target
from grace.api.playbook import (
    ACTIONS,
    MAX_DELETE_PODS,
    Action,
    Parameter,
    ParamValue,
    PlaybookSpec,
    ResourceList,
    Step,
)

MAX_REPLICAS = 1000
MAX_CORDON_NODES = 3
"""cordonNode never takes more than this many nodes out of scheduling in one step."""

STEP_ARGUMENTS = ("replicas", "toRevision", "container", "requests", "limits", "count", "duration")
"""Every key a step's `with` may hold; anything else is refused rather than ignored."""

_REF = re.compile(r"^\$\{([a-zA-Z][a-zA-Z0-9_]*)\}$")
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
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
_CONTAINER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class Refusal:
    """Why a Mission may not run; `reason` is a CamelCase word for conditions and events."""

    reason: str
    message: str


@dataclass(frozen=True)
class ResolvedStep:
    """One step with every parameter substituted and every bound checked: exactly what may run."""

    index: int
    name: str
    action: Action
    replicas: int | None = None
    count: int | None = None
    to_revision: int | None = None
    container: str | None = None
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)
    duration: float | None = None
    """wait: seconds."""

    def wire(self) -> dict[str, Any]:
        """JSON form stored in the Mission status, so a restart runs the plan it accepted."""
        out: dict[str, Any] = {"index": self.index, "name": self.name, "action": self.action.value}
        for key, value in (
            ("replicas", self.replicas),
            ("count", self.count),
            ("toRevision", self.to_revision),
            ("container", self.container),
            ("duration", self.duration),
        ):
            if value is not None:
                out[key] = value
        if self.requests:
            out["requests"] = dict(self.requests)
        if self.limits:
            out["limits"] = dict(self.limits)
        return out

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> ResolvedStep:
        return cls(
            index=int(data["index"]),
            name=str(data["name"]),
            action=Action(data["action"]),
            replicas=data.get("replicas"),
            count=data.get("count"),
            to_revision=data.get("toRevision"),
            container=data.get("container"),
            requests=dict(data.get("requests") or {}),
            limits=dict(data.get("limits") or {}),
            duration=data.get("duration"),
        )


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


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _bounds(p: Parameter) -> str:
    lo = _fmt(p.minimum) if p.minimum is not None else "-inf"
    hi = _fmt(p.maximum) if p.maximum is not None else "+inf"
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
            f"{name} = {number} is below its minimum {_fmt(p.minimum)} (allowed: {_bounds(p)})",
        )
    if p.maximum is not None and number > p.maximum:
        return Refusal(
            "ParameterOutOfBounds",
            f"{name} = {number} is above its maximum {_fmt(p.maximum)} (allowed: {_bounds(p)})",
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


def parse_quantity(text: str) -> float | None:
    """A Kubernetes resource quantity in base units, or None when it is not one."""
    m = _QUANTITY.match(text)
    if not m:
        return None
    return float(m.group(1)) * _SUFFIX[m.group(2)]


class _StepError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _substitute(label: str, field_name: str, value: Any, params: Mapping[str, ParamValue]) -> Any:
    if not isinstance(value, str):
        return value
    m = _REF.match(value)
    if m:
        if m.group(1) not in params:
            raise _StepError(
                "UnknownParameter",
                f"{label}: with.{field_name} refers to ${{{m.group(1)}}}, which "
                "spec.parameters does not declare",
            )
        return params[m.group(1)]
    if "${" in value:
        raise _StepError(
            "InvalidStep",
            f"{label}: with.{field_name} {value!r} mixes text and a parameter reference; "
            "write exactly ${name}",
        )
    return value


def _int_in(label: str, field_name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _StepError(
            "InvalidStep", f"{label}: with.{field_name} must be an integer, got {value!r}"
        )
    if not lo <= value <= hi:
        raise _StepError(
            "ParameterOutOfBounds",
            f"{label}: with.{field_name} = {value} is outside [{lo}, {hi}]",
        )
    return value


def _resources(
    label: str, field_name: str, rl: ResourceList | None, params: Mapping[str, ParamValue]
) -> dict[str, str]:
    out: dict[str, str] = {}
    if rl is None:
        return out
    for res in ("cpu", "memory"):
        raw = getattr(rl, res)
        if raw is None:
            continue
        value = _substitute(label, f"{field_name}.{res}", raw, params)
        text = (
            _fmt(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )
        if not isinstance(text, str) or parse_quantity(text) is None or parse_quantity(text) == 0:
            raise _StepError(
                "InvalidStep",
                f"{label}: with.{field_name}.{res} {value!r} is not a positive resource quantity "
                "(e.g. 250m, 1, 512Mi)",
            )
        out[res] = text
    return out


def _resolve_step(
    i: int, step: Step, params: Mapping[str, ParamValue], timeout: float
) -> ResolvedStep:
    name = step.display_name(i)
    label = f"step {i + 1} ({name})"
    w = step.with_
    action = step.action
    base = ResolvedStep(index=i, name=name, action=action)

    def need(field_name: str, value: Any) -> Any:
        if value is None:
            raise _StepError(
                "InvalidStep", f"{label}: action {action.value} needs with.{field_name}"
            )
        return _substitute(label, field_name, value, params)

    if action is Action.SCALE:
        replicas = need("replicas", w.replicas if w else None)
        return _replace(base, replicas=_int_in(label, "replicas", replicas, 0, MAX_REPLICAS))
    if action is Action.DELETE_PODS:
        count = need("count", w.count if w else None)
        return _replace(base, count=_int_in(label, "count", count, 1, MAX_DELETE_PODS))
    if action is Action.CORDON_NODE:
        raw = w.count if w and w.count is not None else 1
        count = _substitute(label, "count", raw, params)
        return _replace(base, count=_int_in(label, "count", count, 1, MAX_CORDON_NODES))
    if action is Action.WAIT:
        text = need("duration", w.duration if w else None)
        seconds = parse_duration(str(text))
        if seconds > timeout:
            raise _StepError(
                "InvalidStep",
                f"{label}: wait {text} is longer than the playbook timeout; it could never finish",
            )
        return _replace(base, duration=seconds)
    if action is Action.ROLLBACK:
        return _replace(base, to_revision=w.to_revision if w else None)
    container = _substitute(label, "container", w.container, params) if w else None
    if container is not None and (
        not isinstance(container, str) or not _CONTAINER_NAME.match(container)
    ):
        raise _StepError("InvalidStep", f"{label}: with.container {container!r} is not a name")
    if action is Action.SET_RESOURCES:
        requests = _resources(label, "requests", w.requests if w else None, params)
        limits = _resources(label, "limits", w.limits if w else None, params)
        if not requests and not limits:
            raise _StepError(
                "InvalidStep", f"{label}: action setResources needs with.requests or with.limits"
            )
        for res in set(requests) & set(limits):
            req, lim = parse_quantity(requests[res]), parse_quantity(limits[res])
            if req is not None and lim is not None and req > lim:
                raise _StepError(
                    "InvalidStep",
                    f"{label}: {res} request {requests[res]} is above its limit {limits[res]}",
                )
        return _replace(base, container=container, requests=requests, limits=limits)
    return _replace(base, container=container)


def _replace(step: ResolvedStep, **changes: Any) -> ResolvedStep:
    return replace(step, **changes)


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
        except _StepError as e:
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


_STATEFULSET_ACTIONS = {
    Action.SCALE,
    Action.ROLLOUT_RESTART,
    Action.SET_RESOURCES,
    Action.DELETE_PODS,
    Action.CORDON_NODE,
    Action.WAIT,
}


def _unsupported(target: Target, plan: ResolvedPlan) -> Refusal | None:
    if target.kind != "StatefulSet":
        return None
    for step in plan.steps:
        if step.action not in _STATEFULSET_ACTIONS:
            return Refusal(
                "UnsupportedAction",
                f"step {step.index + 1} ({step.name}): {step.action.value} is not supported "
                f"on a StatefulSet (only on a Deployment)",
            )
    return None
