"""Signals to phase: thresholds with `for` hysteresis, node phase, conditions, write decisions.

Everything here is a pure function of (spec, previous status, sample, now) plus a small
`SignalMemory` the caller keeps in memory between evaluations.

Where the hysteresis bookkeeping lives (the choice, and why):
  The status holds the *settled* state of each signal and `since`. The candidate level that is
  still waiting for `for` (when its unbroken run started) lives in `SignalMemory`, in memory
  only, because writing it to the status would mean a status write on every evaluation. After
  an operator restart `SignalMemory.from_status` rebuilds the settled level from the status and
  starts every pending run afresh from the next sample: a transition that was pending at the
  crash is delayed by at most `for`, never taken early. That errs on the side of not acting.

Rules:
  - A level (OK < Degraded < Critical) replaces the settled one only after it has held,
    unbroken, for `for`. Getting worse needs the value to stay *at least* that bad for `for`;
    getting better needs it to stay *at most* that bad for `for` (recovery respects `for` too).
    While waiting, `state` stays the settled one and `message` names the pending level.
  - `since` is when the settled level's run began (the start of the breach, not the moment
    `for` elapsed): that is what a human and the root-cause ranking want to know.
  - NoData and Error are their own states, applied at once: a missing sample is never treated
    as the old level nor as a pass. A gap no longer than `for` keeps the settled level in memory,
    so a one-scrape blip neither resets nor short-cuts the hysteresis; a longer gap forgets it.
  - With nothing settled (a new node, or after a long gap) OK is taken at once, but a breach
    still has to hold for `for`; meanwhile the signal is Pending and the node Unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from grace.api.common import Condition, set_condition
from grace.api.duration import format_duration, parse_duration
from grace.api.healthnode import (
    HealthNodeSpec,
    HealthNodeStatus,
    Phase,
    Signal,
    SignalState,
    SignalStatus,
    Threshold,
)
from grace.detect.sample import Error, NoData, Sample, Unreachable, Value

LEVELS: tuple[SignalState, SignalState, SignalState] = (
    SignalState.OK,
    SignalState.DEGRADED,
    SignalState.CRITICAL,
)
"""Threshold levels in order of severity; a level's index is its rank."""

GAP_STATES = frozenset({SignalState.NO_DATA, SignalState.ERROR})

READY = "Ready"
SIGNALS_AVAILABLE = "SignalsAvailable"
STALLED = "Stalled"
RECONCILING = "Reconciling"
PREDICTED_BREACH = "PredictedBreach"
ANOMALY_DETECTED = "AnomalyDetected"

_Runs = tuple[datetime | None, datetime | None, datetime | None]
_NO_RUNS: _Runs = (None, None, None)


def raw_level(signal: Signal, value: float) -> SignalState:
    """The level a single value is at, before any hysteresis."""
    if signal.critical is not None and signal.critical.crossed(value):
        return SignalState.CRITICAL
    if signal.degraded is not None and signal.degraded.crossed(value):
        return SignalState.DEGRADED
    return SignalState.OK


def hold_for(signal: Signal) -> timedelta:
    return timedelta(seconds=parse_duration(signal.for_))


@dataclass(frozen=True)
class SignalMemory:
    """Hysteresis bookkeeping that the status does not carry (see the module docstring)."""

    settled: SignalState | None = None
    """The last settled threshold level (OK/Degraded/Critical), kept across short gaps."""
    settled_since: datetime | None = None
    at_least: _Runs = _NO_RUNS
    """Start of the unbroken run of samples at least as bad as each level (index = rank)."""
    at_most: _Runs = _NO_RUNS
    """Start of the unbroken run of samples at most as bad as each level (index = rank)."""
    gap_since: datetime | None = None
    """When the current run of NoData/Error samples began (None while data flows)."""

    @classmethod
    def from_status(cls, status: SignalStatus | None) -> SignalMemory:
        """What can be known after a restart: the settled level, no pending runs."""
        if status is None:
            return cls()
        if status.state in LEVELS:
            return cls(settled=status.state, settled_since=status.since)
        if status.state in GAP_STATES:
            return cls(gap_since=status.since)
        return cls()


@dataclass(frozen=True)
class SignalEvaluation:
    """The next status of one signal, the memory to keep, and the sample it came from."""

    signal: Signal
    status: SignalStatus
    memory: SignalMemory
    sample: Sample
    pending: SignalState | None = None
    """A level that is past its threshold but has not yet held for `for`."""


def _threshold_text(threshold: Threshold | None) -> str:
    if threshold is None:
        return ""
    if threshold.above is not None:
        return f"above {threshold.above:g}"
    return f"below {threshold.below:g}"


def _stamp(when: datetime | None) -> str:
    if when is None:
        return "?"
    return when.isoformat().replace("+00:00", "Z")


def _extend(runs: _Runs, holds: Sequence[bool], now: datetime) -> _Runs:
    out = [(start or now) if ok else None for start, ok in zip(runs, holds, strict=True)]
    return (out[0], out[1], out[2])


def evaluate_signal(
    signal: Signal,
    previous: SignalStatus | None,
    sample: Sample,
    now: datetime,
    memory: SignalMemory | None = None,
) -> SignalEvaluation:
    """The next SignalStatus for `signal` given the new sample; see the module rules.

    `memory` is what the previous call returned; pass None after a restart and it is rebuilt
    from `previous`. The returned status carries no anomaly score or forecast: the Detector adds
    those.
    """
    mem = memory if memory is not None else SignalMemory.from_status(previous)
    hold = hold_for(signal)

    if not isinstance(sample, Value):
        return _evaluate_gap(signal, previous, sample, now, mem)

    settled = mem.settled
    settled_since = mem.settled_since
    if mem.gap_since is not None and now - mem.gap_since > hold:
        settled, settled_since = None, None  # the gap outlasted `for`: what we knew is stale

    level = raw_level(signal, sample.value)
    rank = LEVELS.index(level)
    at_least = _extend(mem.at_least, [rank >= j for j in range(3)], now)
    at_most = _extend(mem.at_most, [rank <= j for j in range(3)], now)

    def held(start: datetime | None) -> bool:
        return start is not None and now - start >= hold

    new_level: SignalState | None = None
    new_since: datetime | None = None
    pending: SignalState | None = None
    pending_since: datetime | None = None

    if settled is None:
        if level is SignalState.OK:
            new_level, new_since = level, at_most[0]
        else:
            worse = [j for j in (2, 1) if j <= rank and held(at_least[j])]
            if worse:
                new_level, new_since = LEVELS[worse[0]], at_least[worse[0]]
            else:
                pending, pending_since = level, at_least[rank]
    else:
        s = LEVELS.index(settled)
        worse = [j for j in (2, 1) if j > s and held(at_least[j])]
        better = [j for j in (0, 1) if j < s and held(at_most[j])]
        if worse:
            new_level, new_since = LEVELS[worse[0]], at_least[worse[0]]
        elif better:
            new_level, new_since = LEVELS[better[0]], at_most[better[0]]
        else:
            new_level, new_since = settled, settled_since or now
            if rank > s:
                pending, pending_since = level, at_least[rank]
            elif rank < s:
                pending, pending_since = level, at_most[rank]

    message: str | None = None
    if pending is not None:
        message = (
            f"{pending.value} ({_threshold_text(_threshold(signal, pending))}) pending since "
            f"{_stamp(pending_since)}, must hold for {format_duration(hold.total_seconds())}"
        )
        if pending is SignalState.OK:
            message = (
                f"back within thresholds since {_stamp(pending_since)}, "
                f"must hold for {format_duration(hold.total_seconds())}"
            )

    if new_level is None:
        state, since = SignalState.PENDING, pending_since  # a first breach, not yet held
    else:
        state, since = new_level, new_since
    status = SignalStatus(
        name=signal.name, value=sample.value, state=state, since=since, message=message
    )
    new_mem = SignalMemory(
        settled=new_level,
        settled_since=new_since,
        at_least=at_least,
        at_most=at_most,
        gap_since=None,
    )
    return SignalEvaluation(
        signal=signal, status=status, memory=new_mem, sample=sample, pending=pending
    )


def _threshold(signal: Signal, level: SignalState) -> Threshold | None:
    if level is SignalState.CRITICAL:
        return signal.critical
    if level is SignalState.DEGRADED:
        return signal.degraded
    return None


def _evaluate_gap(
    signal: Signal,
    previous: SignalStatus | None,
    sample: NoData | Error | Unreachable,
    now: datetime,
    mem: SignalMemory,
) -> SignalEvaluation:
    if isinstance(sample, NoData):
        state, message = SignalState.NO_DATA, sample.reason
    elif isinstance(sample, Error):
        state, message = SignalState.ERROR, sample.message
    else:
        state, message = SignalState.ERROR, f"Prometheus unreachable: {sample.message}"
    keep_since = previous is not None and previous.state is state and previous.since is not None
    since = previous.since if keep_since and previous is not None else now
    new_mem = SignalMemory(
        settled=mem.settled,
        settled_since=mem.settled_since,
        gap_since=mem.gap_since or now,
    )
    status = SignalStatus(name=signal.name, value=None, state=state, since=since, message=message)
    return SignalEvaluation(signal=signal, status=status, memory=new_mem, sample=sample)


def node_phase(states: Iterable[SignalState]) -> Phase:
    """Unknown when anything is missing or unsettled (never Healthy on missing data), else worst."""
    seen = list(states)
    if not seen or any(s not in LEVELS for s in seen):
        return Phase.UNKNOWN
    if SignalState.CRITICAL in seen:
        return Phase.CRITICAL
    if SignalState.DEGRADED in seen:
        return Phase.DEGRADED
    return Phase.HEALTHY


@dataclass(frozen=True)
class ConditionFacts:
    """What the node-level conditions are built from, besides the signal evaluations."""

    interval: str = "15s"
    generation: int | None = None
    predicted_breaches: Sequence[str] | None = None
    """Messages of signals whose forecast crosses `critical`; None when no signal forecasts."""
    anomalies: Sequence[str] | None = None
    """Messages of signals scored anomalous; None when no signal has `anomaly: true`."""
    extra: Sequence[Condition] = field(default_factory=tuple)
    """Conditions owned by other parts (e.g. GraphValid), set as given."""


def node_conditions(
    previous: Sequence[Condition],
    evaluations: Sequence[SignalEvaluation],
    phase: Phase,
    now: datetime,
    facts: ConditionFacts | None = None,
) -> list[Condition]:
    """kstatus-compatible conditions; abnormal-true ones (Stalled, Reconciling) only when true.

    Messages carry no live values, only states, thresholds and start times, so that they change
    when something a human cares about changes, not on every evaluation.
    """
    facts = facts or ConditionFacts()
    gen = facts.generation
    out = list(previous)

    def put(type_: str, status: str, reason: str, message: str) -> None:
        nonlocal out
        cond = Condition.model_validate(
            {
                "type": type_,
                "status": status,
                "reason": reason,
                "message": message,
                "observedGeneration": gen,
            }
        )
        out = set_condition(out, cond, now)

    def drop(type_: str) -> None:
        nonlocal out
        out = [c for c in out if c.type != type_]

    statuses = [e.status for e in evaluations]
    breaching = [
        f"{e.status.name} {e.status.state.value} "
        f"({_threshold_text(_threshold(e.signal, e.status.state))}) since {_stamp(e.status.since)}"
        for e in evaluations
        if e.status.state in (SignalState.DEGRADED, SignalState.CRITICAL)
    ]
    unreachable = [e for e in evaluations if isinstance(e.sample, Unreachable)]
    errors = [e for e in evaluations if isinstance(e.sample, Error)]
    nodata = [e for e in evaluations if isinstance(e.sample, NoData)]
    pending_first = [e for e in evaluations if e.status.state is SignalState.PENDING]

    if phase is Phase.HEALTHY:
        put(READY, "True", "Healthy", f"all {len(statuses)} signals within thresholds")
    elif phase is Phase.UNKNOWN:
        why = "; ".join(f"{e.status.name}: {e.status.message}" for e in evaluations if _gap(e))
        put(READY, "Unknown", "Unknown", why or "no signal has settled yet")
    else:
        put(READY, "False", phase.value, "; ".join(breaching))

    if unreachable:
        put(
            SIGNALS_AVAILABLE,
            "False",
            "PrometheusUnreachable",
            f"Prometheus unreachable: {_unreachable_message(unreachable[0])}",
        )
    elif errors or nodata:
        reason = "QueryError" if errors else "NoData"
        put(
            SIGNALS_AVAILABLE,
            "False",
            reason,
            "; ".join(f"{e.status.name}: {e.status.message}" for e in errors + nodata),
        )
    else:
        put(
            SIGNALS_AVAILABLE,
            "True",
            "AllSignalsAvailable",
            f"all {len(statuses)} signals returned a value",
        )

    if errors:
        put(
            STALLED,
            "True",
            "QueryError",
            "Prometheus rejects the query of "
            + "; ".join(f"{e.status.name}: {e.status.message}" for e in errors)
            + " (fix the HealthNode spec)",
        )
    else:
        drop(STALLED)

    if unreachable:
        put(
            RECONCILING,
            "True",
            "PrometheusUnreachable",
            f"retrying every {facts.interval}",
        )
    elif pending_first:
        put(
            RECONCILING,
            "True",
            "Settling",
            "; ".join(f"{e.status.name}: {e.status.message}" for e in pending_first),
        )
    else:
        drop(RECONCILING)

    if facts.predicted_breaches is None:
        drop(PREDICTED_BREACH)
    elif facts.predicted_breaches:
        put(
            PREDICTED_BREACH, "True", "ForecastCrossesCritical", "; ".join(facts.predicted_breaches)
        )
    else:
        put(
            PREDICTED_BREACH,
            "False",
            "NoBreachForecast",
            "no forecast crosses a critical threshold",
        )

    if facts.anomalies is None:
        drop(ANOMALY_DETECTED)
    elif facts.anomalies:
        put(ANOMALY_DETECTED, "True", "AnomalousSignal", "; ".join(facts.anomalies))
    else:
        put(ANOMALY_DETECTED, "False", "NoAnomaly", "every scored signal looks usual")

    for cond in facts.extra:
        out = set_condition(out, cond, now)
    return out


def _gap(e: SignalEvaluation) -> bool:
    return e.status.state in GAP_STATES or e.status.state is SignalState.PENDING


def _unreachable_message(e: SignalEvaluation) -> str:
    return e.sample.message if isinstance(e.sample, Unreachable) else ""


@dataclass(frozen=True)
class WritePolicy:
    """When a freshly computed status is worth a PATCH (the operator never writes for nothing).

    A write happens when anything a human or another controller acts on changed — phase, root
    cause, observed generation, a condition (type/status/reason/message), a signal's state,
    `since` or message — or when a number moved enough to matter: a value or forecast by more
    than `value_epsilon` of its scale (the larger of the old value, the new value and the
    signal's smallest threshold, so jitter near zero under a 0.02 threshold is not "100%"), an
    anomaly score by more than `score_epsilon`. Pure jitter is otherwise not written, but the
    status is refreshed at least every `max_stale_intervals` intervals so that `lastEvaluated`
    proves the detector is alive.
    """

    value_epsilon: float = 0.05
    score_epsilon: float = 0.1
    max_stale_intervals: int = 20

    def worth_writing(
        self, stored: HealthNodeStatus, new: HealthNodeStatus, spec: HealthNodeSpec
    ) -> bool:
        if (stored.phase, stored.root_cause, stored.observed_generation) != (
            new.phase,
            new.root_cause,
            new.observed_generation,
        ):
            return True
        if _analysis_key(stored) != _analysis_key(new):
            return True
        if _condition_keys(stored.conditions) != _condition_keys(new.conditions):
            return True
        if [s.name for s in stored.signals] != [s.name for s in new.signals]:
            return True
        scales = {sig.name: _threshold_scale(sig) for sig in spec.signals}
        for old, cur in zip(stored.signals, new.signals, strict=True):
            if (old.state, old.since, old.message, old.anomaly_since) != (
                cur.state,
                cur.since,
                cur.message,
                cur.anomaly_since,
            ):
                return True
            floor = scales.get(cur.name, 0.0)
            if _moved(old.value, cur.value, self.value_epsilon, floor):
                return True
            if _moved(old.forecast, cur.forecast, self.value_epsilon, floor):
                return True
            if (old.anomaly_score is None) != (cur.anomaly_score is None) or (
                old.anomaly_score is not None
                and cur.anomaly_score is not None
                and abs(old.anomaly_score - cur.anomaly_score) > self.score_epsilon
            ):
                return True
        if stored.last_evaluated is None or new.last_evaluated is None:
            return new.last_evaluated is not None
        stale_after = timedelta(seconds=parse_duration(spec.interval) * self.max_stale_intervals)
        return new.last_evaluated - stored.last_evaluated >= stale_after


def _analysis_key(status: HealthNodeStatus) -> tuple[str, float] | None:
    """The likeliest cause, and its confidence to 0.1: a write when either changes that much."""
    a = status.root_cause_analysis
    return (a.cause, round(a.confidence, 1)) if a is not None else None


def _condition_keys(conditions: Sequence[Condition]) -> list[tuple[object, ...]]:
    return sorted(
        (c.type, c.status, c.reason, c.message, c.observed_generation) for c in conditions
    )


def _threshold_scale(signal: Signal) -> float:
    bounds = [
        abs(b)
        for t in (signal.degraded, signal.critical)
        if t is not None
        for b in (t.above, t.below)
        if b is not None and b != 0
    ]
    return min(bounds) if bounds else 0.0


def _moved(old: float | None, new: float | None, epsilon: float, floor: float) -> bool:
    if old is None or new is None:
        return (old is None) != (new is None)
    scale = max(abs(old), abs(new), floor)
    return abs(new - old) > epsilon * scale
