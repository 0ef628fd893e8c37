"""`grace status` and `grace focus`: what every HealthNode looks like, and where to look first.

`status` is `kubectl get healthnodes` plus the one thing it cannot show: the worst signal of each
node (its state, value and the threshold it is measured against). `focus` lists only the nodes
that need a human, most distressed first, each with why: the signal, value and threshold, the
root cause from the health graph, and what the forecast predicts.

Focus order, and why: known-bad causes first (Degraded/Critical with no unhealthy dependency:
fixing them may fix their symptoms), then symptoms, then nodes GRACE cannot see (Unknown: metrics
missing, never acted on), then Healthy nodes at risk (a predicted breach, an anomaly, a breach
still settling). Inside a tier: Critical before Degraded, then the node's criticality, then the
namespace's own health-graph ranking (who went bad first, who explains more), then the name.

The reading and printing are thin; everything from HealthNodes to rows is a pure function.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from grace.api.common import Condition, find_condition
from grace.api.duration import format_duration, parse_duration
from grace.api.healthnode import (
    Criticality,
    HealthNode,
    Phase,
    RootCauseAnalysis,
    Signal,
    SignalState,
    SignalStatus,
    Threshold,
)
from grace.cli.table import human_age, render
from grace.detect.graph import HealthGraph, RankedCause

NONE = "<none>"
"""What kubectl prints for an empty cell."""

_STATE_WEIGHT = {
    SignalState.CRITICAL: 5,
    SignalState.DEGRADED: 4,
    SignalState.ERROR: 3,
    SignalState.NO_DATA: 2,
    SignalState.PENDING: 1,
    SignalState.OK: 0,
}
"""Which signal explains a node best: a breach, then what hides the truth, then what settles."""

_PHASE_SEVERITY = {Phase.CRITICAL: 3, Phase.DEGRADED: 2, Phase.UNKNOWN: 1, Phase.HEALTHY: 0}
_CRITICALITY = {
    Criticality.CRITICAL: 3,
    Criticality.HIGH: 2,
    Criticality.MEDIUM: 1,
    Criticality.LOW: 0,
}

TIER_CAUSE, TIER_SYMPTOM, TIER_UNKNOWN, TIER_AT_RISK = 0, 1, 2, 3
TIER_NAMES = {
    TIER_CAUSE: "cause",
    TIER_SYMPTOM: "symptom",
    TIER_UNKNOWN: "unknown",
    TIER_AT_RISK: "at-risk",
}


# -- the pure part ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SignalView:
    """One signal as a human reads it: what it is at, and against which bound."""

    name: str
    state: SignalState
    value: float | None
    threshold: str
    """The bound the state is measured against, e.g. ">0.1" (empty when none applies)."""
    since: datetime | None
    message: str | None
    forecast: float | None
    horizon: str | None
    """How far ahead `forecast` looks (the signal's `forecast`), when it forecasts."""

    def json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state.value,
            "value": self.value,
            "threshold": self.threshold or None,
            "since": _iso(self.since),
            "message": self.message,
            "forecast": self.forecast,
            "horizon": self.horizon,
        }


@dataclass(frozen=True)
class Prediction:
    signal: str
    value: float
    horizon: str
    breach: bool
    """The node's PredictedBreach condition names this signal (critical will be crossed)."""

    def text(self) -> str:
        out = f"{self.signal} {_num(self.value)} in {self.horizon}"
        return out + " (breach)" if self.breach else out

    def json(self) -> dict[str, Any]:
        return {
            "signal": self.signal,
            "value": self.value,
            "horizon": self.horizon,
            "breach": self.breach,
        }


@dataclass(frozen=True)
class NodeView:
    """One HealthNode, reduced to what `status` and `focus` print."""

    namespace: str
    name: str
    criticality: Criticality
    mode: str
    phase: Phase
    phase_since: datetime | None
    signals_ok: int
    signals_total: int
    worst: SignalView | None
    root_cause: str | None
    analysis: RootCauseAnalysis | None
    active_mission: str | None
    last_evaluated: datetime | None
    prediction: Prediction | None
    ready_message: str
    notes: tuple[str, ...]
    """Why a Healthy node may still need a look: predicted breach, anomaly, a breach settling."""

    def json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "phase": self.phase.value,
            "phaseSince": _iso(self.phase_since),
            "criticality": self.criticality.value,
            "mode": self.mode,
            "signals": {"ok": self.signals_ok, "total": self.signals_total},
            "worstSignal": self.worst.json() if self.worst else None,
            "rootCause": self.root_cause,
            "rootCauseAnalysis": (
                self.analysis.model_dump(mode="json", by_alias=True) if self.analysis else None
            ),
            "activeMission": self.active_mission,
            "lastEvaluated": _iso(self.last_evaluated),
            "prediction": self.prediction.json() if self.prediction else None,
            "message": self.ready_message or None,
        }


def threshold_text(threshold: Threshold | None) -> str:
    if threshold is None:
        return ""
    if threshold.above is not None:
        return f">{_num(threshold.above)}"
    if threshold.below is not None:
        return f"<{_num(threshold.below)}"
    return ""


def _bound_of(signal: Signal | None, state: SignalState) -> Threshold | None:
    """The threshold a state is measured against: the crossed one, else the first to cross."""
    if signal is None:
        return None
    if state is SignalState.CRITICAL:
        return signal.critical
    return signal.degraded or signal.critical


def _excess(signal: Signal | None, status: SignalStatus) -> float:
    """How far past its bound a signal is (ties between equally bad signals), 0 if unknown."""
    bound = _bound_of(signal, status.state)
    if bound is None or status.value is None:
        return 0.0
    limit = bound.above if bound.above is not None else bound.below
    if not limit:
        return 0.0
    ratio = status.value / limit
    return ratio if bound.above is not None else (1 / ratio if ratio else float("inf"))


def signal_view(spec: Signal | None, status: SignalStatus) -> SignalView:
    return SignalView(
        name=status.name,
        state=status.state,
        value=status.value,
        threshold=threshold_text(_bound_of(spec, status.state)),
        since=status.since,
        message=status.message,
        forecast=status.forecast,
        horizon=(
            format_duration(parse_duration(spec.forecast)) if spec and spec.forecast else None
        ),
    )


def worst_signal(node: HealthNode) -> SignalView | None:
    """The signal that explains the node's phase best (spec order breaks exact ties)."""
    specs = {s.name: s for s in node.spec.signals}
    order = {s.name: i for i, s in enumerate(node.spec.signals)}
    statuses = list(node.status.signals)
    if not statuses:
        return None
    best = min(
        statuses,
        key=lambda s: (
            -_STATE_WEIGHT[s.state],
            -_excess(specs.get(s.name), s),
            order.get(s.name, len(order)),
        ),
    )
    return signal_view(specs.get(best.name), best)


def _true(conditions: Sequence[Condition], type_: str) -> Condition | None:
    cond = find_condition(list(conditions), type_)
    return cond if cond is not None and cond.status == "True" else None


def prediction_of(node: HealthNode) -> Prediction | None:
    """The forecast worth showing: one the PredictedBreach condition names, else the worst's."""
    specs = {s.name: s for s in node.spec.signals}
    forecasting = [
        s for s in node.status.signals if s.forecast is not None and specs.get(s.name) is not None
    ]
    if not forecasting:
        return None
    breach = _true(node.status.conditions, "PredictedBreach")
    named = [s for s in forecasting if breach is not None and f"{s.name}:" in breach.message]
    worst = worst_signal(node)
    chosen = (
        named[0]
        if named
        else next((s for s in forecasting if worst and s.name == worst.name), forecasting[0])
    )
    spec = specs[chosen.name]
    assert chosen.forecast is not None and spec.forecast is not None
    return Prediction(
        signal=chosen.name,
        value=chosen.forecast,
        horizon=format_duration(parse_duration(spec.forecast)),
        breach=bool(named) and chosen is named[0],
    )


def node_view(node: HealthNode) -> NodeView:
    status = node.status
    ready = find_condition(list(status.conditions), "Ready")
    notes: list[str] = []
    for type_ in ("PredictedBreach", "AnomalyDetected"):
        cond = _true(status.conditions, type_)
        if cond is not None and cond.message:
            notes.append(cond.message)
    notes.extend(
        f"{s.name}: {s.message}"
        for s in status.signals
        if s.message and s.state in (SignalState.OK, SignalState.PENDING) and "pending" in s.message
    )
    return NodeView(
        namespace=node.metadata.namespace,
        name=node.metadata.name,
        criticality=node.spec.criticality,
        mode=node.spec.remediation.mode.value,
        phase=status.phase,
        phase_since=ready.last_transition_time if ready is not None else None,
        signals_ok=sum(1 for s in status.signals if s.state is SignalState.OK),
        signals_total=len(node.spec.signals),
        worst=worst_signal(node),
        root_cause=status.root_cause,
        analysis=status.root_cause_analysis,
        active_mission=status.active_mission,
        last_evaluated=status.last_evaluated,
        prediction=prediction_of(node),
        ready_message=ready.message if ready is not None else "",
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class FocusEntry:
    """One node that needs a look, where it ranks, and why."""

    rank: int
    tier: int
    view: NodeView
    reason: str
    is_root: bool
    explains: tuple[str, ...]

    def json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "tier": TIER_NAMES[self.tier],
            "isRootCause": self.is_root,
            "explains": list(self.explains),
            "reason": self.reason,
            **self.view.json(),
        }


def _time_key(when: datetime | None) -> tuple[int, float]:
    return (0, when.timestamp()) if when is not None else (1, 0.0)


def focus(nodes: Iterable[HealthNode]) -> list[FocusEntry]:
    """The nodes that need a human, most distressed first (see the module docstring)."""
    by_namespace: dict[str, list[HealthNode]] = {}
    for node in nodes:
        by_namespace.setdefault(node.metadata.namespace, []).append(node)
    candidates: list[tuple[tuple[object, ...], FocusEntry]] = []
    for members in by_namespace.values():
        ranked: dict[str, RankedCause] = {r.name: r for r in HealthGraph.of(members).ranking()}
        for node in members:
            view = node_view(node)
            cause = ranked.get(node.metadata.name)
            if cause is not None:
                tier = TIER_CAUSE if cause.is_root else TIER_SYMPTOM
                reason, is_root, explains = cause.reason, cause.is_root, cause.explains
                ns_rank = cause.rank
                since = cause.unhealthy_since
            elif view.phase is Phase.UNKNOWN:
                tier, is_root, explains, ns_rank = TIER_UNKNOWN, False, (), 0
                reason = view.ready_message or "no signal has been evaluated yet"
                since = view.phase_since
            elif view.notes:
                tier, is_root, explains, ns_rank = TIER_AT_RISK, False, (), 0
                reason = "; ".join(view.notes)
                since = None
            else:
                continue
            key = (
                tier,
                -_PHASE_SEVERITY[view.phase],
                -_CRITICALITY[view.criticality],
                ns_rank,
                _time_key(since),
                view.namespace,
                view.name,
            )
            entry = FocusEntry(0, tier, view, reason, is_root, explains)
            candidates.append((key, entry))
    candidates.sort(key=lambda pair: pair[0])
    return [
        FocusEntry(i, e.tier, e.view, e.reason, e.is_root, e.explains)
        for i, (_, e) in enumerate(candidates, start=1)
    ]


def sort_for_status(views: Iterable[NodeView]) -> list[NodeView]:
    """kubectl's order: by namespace, then name."""
    return sorted(views, key=lambda v: (v.namespace, v.name))


def _age(when: datetime | None, now: datetime) -> str:
    return human_age((now - when).total_seconds()) if when is not None else NONE


def _num(value: float | None) -> str:
    return NONE if value is None else f"{value:.4g}"


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z") if when else None


def cause_cell(v: NodeView) -> str:
    """ROOT CAUSE: the cause and how sure detection is ("payments-db 93%"); "self 97%" when the
    node is its own likeliest cause; "payments-db? 70%" when the likeliest cause is departing
    from its baseline but not unhealthy yet (so it is not `rootCause`)."""
    a = v.analysis
    if a is None:
        return _cell(v.root_cause)
    if v.root_cause:
        return f"{v.root_cause} {a.confidence_of(v.root_cause):.0%}"
    if a.cause == v.name:
        return f"self {a.confidence:.0%}"
    return f"{a.cause}? {a.confidence:.0%}"


def cause_why(v: NodeView) -> str:
    """The evidence behind the likeliest cause, for focus's WHY."""
    a = v.analysis
    if a is None or not a.evidence:
        return ""
    who = "itself" if a.cause == v.name else a.cause
    return f"; cause {who} ({a.confidence:.0%}): " + "; ".join(a.evidence[:4])


def _cell(text: str | None) -> str:
    return text if text else NONE


def status_table(
    views: Iterable[NodeView], now: datetime, all_namespaces: bool, wide: bool = False
) -> list[list[str]]:
    """Header and rows of `grace status`."""
    header = ["NAME", "PHASE", "SIGNALS", "WORST SIGNAL", "STATE", "VALUE", "THRESHOLD"]
    header += ["ROOT CAUSE", "MISSION", "SINCE"]
    if wide:
        header += ["CRITICALITY", "MODE", "EVALUATED", "MESSAGE"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    rows = [header]
    for v in sort_for_status(views):
        w = v.worst
        row = [
            v.name,
            v.phase.value,
            f"{v.signals_ok}/{v.signals_total}",
            w.name if w else NONE,
            w.state.value if w else NONE,
            _num(w.value) if w else NONE,
            _cell(w.threshold) if w else NONE,
            cause_cell(v),
            _cell(v.active_mission),
            _age(v.phase_since, now),
        ]
        if wide:
            message = (w.message if w and w.message else "") or v.ready_message
            row += [v.criticality.value, v.mode, _age(v.last_evaluated, now), _cell(message)]
        if all_namespaces:
            row.insert(0, v.namespace)
        rows.append(row)
    return rows


def focus_table(
    entries: Iterable[FocusEntry], now: datetime, all_namespaces: bool
) -> list[list[str]]:
    """Header and rows of `grace focus`; WHY comes last because it is free text."""
    header = ["#", "NAME", "PHASE", "SIGNAL", "VALUE", "THRESHOLD", "SINCE"]
    header += ["ROOT CAUSE", "PREDICTION", "WHY"]
    if all_namespaces:
        header.insert(1, "NAMESPACE")
    rows = [header]
    for e in entries:
        v, w = e.view, e.view.worst
        row = [
            str(e.rank),
            v.name,
            v.phase.value,
            f"{w.name} {w.state.value}" if w else NONE,
            _num(w.value) if w else NONE,
            _cell(w.threshold) if w else NONE,
            _age(w.since if w else None, now),
            cause_cell(v),
            v.prediction.text() if v.prediction else NONE,
            e.reason + cause_why(v),
        ]
        if all_namespaces:
            row.insert(1, v.namespace)
        rows.append(row)
    return rows


# -- the thin edge ---------------------------------------------------------------------------


def _parse_nodes(items: Iterable[dict[str, Any]]) -> tuple[list[HealthNode], list[str]]:
    nodes: list[HealthNode] = []
    skipped: list[str] = []
    for item in items:
        try:
            nodes.append(HealthNode.model_validate(item))
        except ValidationError as e:
            meta = item.get("metadata") or {}
            skipped.append(
                f"{meta.get('namespace')}/{meta.get('name')}: unreadable "
                f"({e.error_count()} validation errors)"
            )
    return nodes, skipped


def current_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace of the kube context in use, as kubectl picks it ("default" if unset)."""
    from grace.runtime.kube import context_namespace

    return context_namespace(kubeconfig, context)


def load_nodes(
    namespace: str | None, kubeconfig: str | None, context: str | None
) -> list[dict[str, Any]]:
    """Every HealthNode in `namespace` (None: all namespaces), as the API server returns them
    (a refusal or an unreachable server is said in one line by grace.cli.errors)."""
    from grace.runtime.kube import Kube

    kube = Kube.connect(kubeconfig, context)
    try:
        return kube.list("HealthNode", namespace)
    finally:
        kube.api_client.close()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser(
        "status",
        help="every HealthNode: phase, worst signal, root cause, mission",
        description="Like `kubectl get healthnodes`, plus each node's worst signal "
        "(state, value and the threshold it is measured against).",
    )
    _common_args(status, outputs=["wide", "json"])
    status.set_defaults(func=_status)
    focus_p = sub.add_parser(
        "focus",
        help="the most distressed HealthNodes first, with why",
        description="Only the nodes that need a human, causes before symptoms, Critical "
        "before Degraded: the signal, value and threshold, the root cause from the health "
        "graph, and the forecast.",
    )
    _common_args(focus_p, outputs=["json"])
    focus_p.add_argument("--limit", type=int, default=0, help="show at most N nodes (0: all)")
    focus_p.set_defaults(func=_focus)


def _common_args(p: argparse.ArgumentParser, outputs: list[str]) -> None:
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    p.add_argument("-o", "--output", choices=outputs, default=None, help="output format")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG)")
    p.add_argument("--context", default=None, help="kube context (default: the current one)")


def read_nodes(args: argparse.Namespace) -> tuple[list[HealthNode], str | None]:
    namespace: str | None = None
    if not args.all_namespaces:
        namespace = args.namespace or current_namespace(args.kubeconfig, args.context)
    items = load_nodes(namespace, args.kubeconfig, args.context)
    nodes, skipped = _parse_nodes(items)
    for line in skipped:
        print(f"warning: skipped HealthNode {line}", file=sys.stderr)
    return nodes, namespace


def _nothing(namespace: str | None) -> str:
    where = f"in {namespace} namespace" if namespace else "in any namespace"
    return f"No HealthNodes found {where}."


def _status(args: argparse.Namespace) -> int:
    nodes, namespace = read_nodes(args)
    views = [node_view(n) for n in nodes]
    if args.output == "json":
        print(json.dumps({"items": [v.json() for v in sort_for_status(views)]}, indent=2))
        return 0
    if not views:
        print(_nothing(namespace), file=sys.stderr)
        return 0
    now = datetime.now(UTC)
    rows = status_table(views, now, args.all_namespaces, wide=args.output == "wide")
    sys.stdout.write(render(rows))
    return 0


def _focus(args: argparse.Namespace) -> int:
    nodes, namespace = read_nodes(args)
    entries = focus(nodes)
    if args.limit > 0:
        entries = entries[: args.limit]
    if args.output == "json":
        print(json.dumps({"items": [e.json() for e in entries]}, indent=2))
        return 0
    if not nodes:
        print(_nothing(namespace), file=sys.stderr)
        return 0
    if not entries:
        print(f"All {len(nodes)} HealthNodes are Healthy, with nothing predicted.")
        return 0
    sys.stdout.write(render(focus_table(entries, datetime.now(UTC), args.all_namespaces)))
    return 0
