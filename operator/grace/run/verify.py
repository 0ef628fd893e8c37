"""Did the remedy work? One metrics sample at a time against the Playbook's verification contract.

Four outcomes, stricter than a pass/fail: Passed only when every check held continuously for
`stableFor`; Failed when more than `failureLimit` samples broke a check; NoData when, at the
timeout, a check still had nothing to judge (an empty, NaN or failed query is never a pass);
Inconclusive when data was there but neither happened before the timeout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from grace.api.duration import parse_duration
from grace.api.healthnode import Signal, Threshold
from grace.api.mission import CheckResult, Verification, VerificationOutcome
from grace.api.playbook import Check, Verify


@dataclass(frozen=True)
class NoData:
    """The query answered, with nothing (an empty vector, or NaN)."""


@dataclass(frozen=True)
class QueryError:
    """The query could not be answered (Prometheus unreachable, bad query...)."""

    message: str = ""


Reading = float | NoData | QueryError
"""One signal's value in one sample."""

Op = Literal["<", "<=", ">", ">="]


@dataclass(frozen=True)
class Criterion:
    """A check made concrete: the bound is known once the baseline is."""

    signal: str
    op: Op
    bound: float | None
    expected: str
    baseline: float | None = None

    def holds(self, value: float) -> bool:
        assert self.bound is not None
        return {
            "<": value < self.bound,
            "<=": value <= self.bound,
            ">": value > self.bound,
            ">=": value >= self.bound,
        }[self.op]


def _num(x: float) -> str:
    return f"{x:.6g}"


def _percent(text: str) -> float:
    return float(text.rstrip("%")) / 100.0


def _relative(check: Check, baseline: Mapping[str, float]) -> Criterion:
    text = check.below_baseline or check.above_baseline or "+0%"
    op: Op = "<=" if check.below_baseline is not None else ">="
    base = baseline.get(check.signal)
    if base is None or not math.isfinite(base):
        return Criterion(check.signal, op, None, f"{op} baseline {text} (no baseline recorded)")
    bound = base + abs(base) * _percent(text)
    return Criterion(
        check.signal, op, bound, f"{op} {_num(bound)} (baseline {_num(base)} {text})", base
    )


def _from_check(check: Check, baseline: Mapping[str, float]) -> Criterion:
    if check.below is not None:
        return Criterion(check.signal, "<", check.below, f"< {_num(check.below)}")
    if check.above is not None:
        return Criterion(check.signal, ">", check.above, f"> {_num(check.above)}")
    return _relative(check, baseline)


def _healthy(signal: Signal) -> Criterion | None:
    """Back to OK: no longer past the first threshold that would make it Degraded (or Critical)."""
    for label, t in (("degraded", signal.degraded), ("critical", signal.critical)):
        if isinstance(t, Threshold):
            if t.above is not None:
                return Criterion(
                    signal.name, "<=", t.above, f"<= {_num(t.above)} ({label} threshold)"
                )
            if t.below is not None:
                return Criterion(
                    signal.name, ">=", t.below, f">= {_num(t.below)} ({label} threshold)"
                )
    return None


def criteria(
    verify: Verify, signals: Sequence[Signal], baseline: Mapping[str, float]
) -> list[Criterion]:
    """The checks to judge: the playbook's, or by default every signal back to healthy."""
    if verify.checks:
        return [_from_check(c, baseline) for c in verify.checks]
    return [c for c in (_healthy(s) for s in signals) if c is not None]


def _reading_value(reading: Reading | None) -> float | None:
    if isinstance(reading, float | int) and not isinstance(reading, bool):
        value = float(reading)
        return None if math.isnan(value) else value
    return None


def judge(c: Criterion, reading: Reading | None) -> CheckResult:
    value = _reading_value(reading)
    passed = None if value is None or c.bound is None else c.holds(value)
    return CheckResult(
        signal=c.signal, expected=c.expected, observed=value, baseline=c.baseline, passed=passed
    )


def _describe_sample(results: Sequence[CheckResult], sample: Mapping[str, Reading]) -> str:
    parts = []
    for r in results:
        if r.passed is None:
            reading = sample.get(r.signal)
            why = (
                f"query error: {reading.message}" if isinstance(reading, QueryError) else "no data"
            )
            if r.observed is not None:
                why = "no baseline"
            parts.append(f"{r.signal}: {why}")
        else:
            verdict = "ok" if r.passed else "FAILS"
            parts.append(f"{r.signal} {_num(r.observed or 0.0)} {verdict} ({r.expected})")
    return "; ".join(parts)


def evaluate(
    state: Verification | None,
    verify: Verify,
    signals: Sequence[Signal],
    sample: Mapping[str, Reading] | None,
    baseline: Mapping[str, float],
    now: datetime,
) -> Verification:
    """Fold one sample (or, with None, only the passing of time) into the verification state."""
    state = state or Verification()
    if state.outcome is not None:
        return state
    started = state.started_at or now
    failures = state.failures
    passing_since = state.passing_since
    checks = list(state.checks)
    message = state.message
    if sample is not None:
        checks = [judge(c, sample.get(c.signal)) for c in criteria(verify, signals, baseline)]
        if any(r.passed is False for r in checks):
            failures += 1
            passing_since = None
        elif checks and all(r.passed is True for r in checks):
            passing_since = passing_since or now
        else:
            passing_since = None
        message = _describe_sample(checks, sample)

    outcome: VerificationOutcome | None = None
    stable = timedelta(seconds=parse_duration(verify.stable_for))
    deadline = started + timedelta(seconds=parse_duration(verify.timeout))
    if failures > verify.failure_limit:
        outcome = VerificationOutcome.FAILED
        message = (
            f"{failures} failed samples, more than failureLimit {verify.failure_limit}: {message}"
        )
    elif passing_since is not None and now - passing_since >= stable:
        outcome = VerificationOutcome.PASSED
        message = f"all checks held for {verify.stable_for}: {message}"
    elif now >= deadline:
        if not checks or any(r.passed is None for r in checks):
            outcome = VerificationOutcome.NO_DATA
            message = f"no data to judge by the {verify.timeout} timeout: {message or 'no sample'}"
        else:
            outcome = VerificationOutcome.INCONCLUSIVE
            message = (
                f"neither stable for {verify.stable_for} nor failed by the {verify.timeout} "
                f"timeout: {message}"
            )
    return Verification(
        outcome=outcome,
        started_at=started,
        finished_at=now if outcome is not None else None,
        failures=failures,
        passing_since=passing_since,
        checks=checks,
        message=message,
    )
