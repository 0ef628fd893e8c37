"""Graduated autonomy: how measured outcomes move one playbook on one HealthNode between modes.

The level is a pure function of (outcomes from the ledger, the spec's mode and ceiling, now),
computed by replaying the outcomes in time order from the spec's mode, so a restarted operator
lands on the same level and the same list of changes. Changing the spec's mode or ceiling
re-evaluates the same history from the new starting point.

Rules (defaults of `AutonomyRules`), checked after each outcome, in this order:

* **Evidence** is the outcomes since the last change (the current *stint*) that are at most
  7 days older than the outcome being judged. Every change starts a new stint, so each step up
  or down needs fresh evidence at the new level: two failures demote one level, not two.
  While at ``observe`` the evidence is dry runs (shadow Missions, verified against what then
  really happened) and real runs alike; at ``propose`` and ``autonomous`` only real runs count.
* **Demote** one level, never below ``observe``, when the last 2 outcomes of the evidence both
  failed, or when the evidence of the last 24 h holds at least 3 attempts with a success rate
  below 50 % (this catches alternating failures that never come two in a row).
* **Promote** one level, never above the ceiling, when the evidence holds at least 5 attempts,
  at least 80 % of them succeeded, and the last 3 all succeeded.
* The ceiling is the spec's ``autonomyCeiling``, or its ``mode`` when unset; a ceiling below the
  mode caps the mode itself (the human's stricter word wins), and that cap is not a change.

Each change is an `AutonomyChange`, which the operator writes to the ledger and as an Event.
Whether a change is new is for the caller to tell, e.g. by comparing `autonomy_for`'s mode with
the last ``autonomy.changed`` entry it wrote for that node and playbook; the entries it writes are
never read back by `grace.learn`, so they cannot feed back into the level.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from grace.api.healthnode import Mode
from grace.learn.aggregate import DAY, WEEK, Tally, in_window
from grace.learn.outcome import Outcome, as_utc

LEVELS: Final = (Mode.OBSERVE, Mode.PROPOSE, Mode.AUTONOMOUS)


def level(mode: Mode) -> int:
    """0 for observe, 1 for propose, 2 for autonomous."""
    return LEVELS.index(mode)


@dataclass(frozen=True, slots=True)
class AutonomyRules:
    promote_min_attempts: int = 5
    promote_min_rate: float = 0.8
    promote_clean_streak: int = 3
    evidence_window: timedelta = WEEK
    demote_consecutive_failures: int = 2
    demote_below_rate: float = 0.5
    demote_rate_window: timedelta = DAY
    demote_rate_min_attempts: int = 3


DEFAULT_RULES: Final = AutonomyRules()


@dataclass(frozen=True, slots=True)
class AutonomyChange:
    """One promotion or demotion, stamped with the outcome that caused it."""

    node: str
    playbook: str
    at: datetime
    previous: Mode
    mode: Mode
    reason: str

    @property
    def promoted(self) -> bool:
        return level(self.mode) > level(self.previous)

    @property
    def event_reason(self) -> str:
        """The Kubernetes Event reason (CamelCase, as kubectl shows it)."""
        return "AutonomyPromoted" if self.promoted else "AutonomyDemoted"

    def ledger_data(self) -> dict[str, Any]:
        """The `data` of the ``autonomy.changed`` ledger entry (subject: the HealthNode)."""
        return {
            "healthNode": self.node.partition("/")[2],
            "playbook": self.playbook,
            "from": self.previous.value,
            "to": self.mode.value,
            "reason": self.reason,
            "outcomeTime": self.at.isoformat(),
        }


def effective_ceiling(base_mode: Mode, ceiling: Mode | None) -> Mode:
    return Mode(base_mode) if ceiling is None else Mode(ceiling)


def starting_mode(base_mode: Mode, ceiling: Mode | None) -> Mode:
    """The spec's mode, capped by the ceiling."""
    top = effective_ceiling(base_mode, ceiling)
    return Mode(base_mode) if level(base_mode) <= level(top) else top


def autonomy_changes(
    outcomes: Iterable[Outcome],
    base_mode: Mode,
    ceiling: Mode | None,
    now: datetime,
    rules: AutonomyRules = DEFAULT_RULES,
) -> list[AutonomyChange]:
    """Every promotion and demotion of one node's playbook, oldest first, up to `now`.

    `outcomes` must all be of the same node and playbook; those stamped after `now` are left out.
    """
    ordered = _one_series(outcomes, now)
    top = effective_ceiling(base_mode, ceiling)
    current = starting_mode(base_mode, ceiling)
    stint: deque[Outcome] = deque()
    changes: list[AutonomyChange] = []
    for outcome in ordered:
        if outcome.dry_run and current is not Mode.OBSERVE:
            continue
        stint.append(outcome)
        while stint and not in_window(stint[0].at, outcome.at, rules.evidence_window):
            stint.popleft()
        decided = _decide(list(stint), current, top, outcome.at, rules)
        if decided is None:
            continue
        new_mode, reason = decided
        changes.append(
            AutonomyChange(
                node=outcome.node,
                playbook=outcome.playbook,
                at=outcome.at,
                previous=current,
                mode=new_mode,
                reason=reason,
            )
        )
        current = new_mode
        stint.clear()
    return changes


def autonomy_for(
    outcomes: Iterable[Outcome],
    base_mode: Mode,
    ceiling: Mode | None,
    now: datetime,
    rules: AutonomyRules = DEFAULT_RULES,
) -> tuple[Mode, str]:
    """The mode this playbook may run in on this node now, and a sentence saying why."""
    changes = autonomy_changes(outcomes, base_mode, ceiling, now, rules)
    if changes:
        last = changes[-1]
        return last.mode, f"{last.reason} (at {last.at.isoformat()})"
    start = starting_mode(base_mode, ceiling)
    if start != base_mode:
        return start, f"spec mode {base_mode.value} capped by autonomy ceiling {start.value}"
    top = effective_ceiling(base_mode, ceiling)
    if start is top:
        return start, f"spec mode {start.value}, which is the autonomy ceiling"
    return start, (
        f"spec mode {start.value}; promotion to {LEVELS[level(start) + 1].value} needs "
        f"{rules.promote_min_attempts} verified attempts with >= {rules.promote_min_rate:.0%} "
        f"success in {_days(rules.evidence_window)}"
    )


def _decide(
    evidence: Sequence[Outcome],
    current: Mode,
    top: Mode,
    at: datetime,
    rules: AutonomyRules,
) -> tuple[Mode, str] | None:
    if current is not Mode.OBSERVE:
        lower = LEVELS[level(current) - 1]
        streak = rules.demote_consecutive_failures
        if len(evidence) >= streak and not any(o.success for o in evidence[-streak:]):
            return lower, f"demoted to {lower.value}: {streak} consecutive failures"
        recent = _tally(o for o in evidence if in_window(o.at, at, rules.demote_rate_window))
        if (
            recent.attempts >= rules.demote_rate_min_attempts
            and recent.rate is not None
            and recent.rate < rules.demote_below_rate
        ):
            return lower, (
                f"demoted to {lower.value}: {recent.successes} of {recent.attempts} succeeded in "
                f"{_days(rules.demote_rate_window)} (< {rules.demote_below_rate:.0%})"
            )
    if level(current) < level(top):
        higher = LEVELS[level(current) + 1]
        seen = _tally(evidence)
        clean = rules.promote_clean_streak
        if (
            seen.attempts >= rules.promote_min_attempts
            and seen.rate is not None
            and seen.rate >= rules.promote_min_rate
            and len(evidence) >= clean
            and all(o.success for o in evidence[-clean:])
        ):
            return higher, (
                f"promoted to {higher.value}: {seen.successes} of {seen.attempts} verified "
                f"attempts succeeded in {_days(rules.evidence_window)}, last {clean} succeeded"
            )
    return None


def _one_series(outcomes: Iterable[Outcome], now: datetime) -> list[Outcome]:
    every = list(outcomes)
    if len({(o.node, o.playbook) for o in every}) > 1:
        raise ValueError("autonomy is per HealthNode and playbook: outcomes mix several")
    now = as_utc(now)
    return sorted((o for o in every if o.at <= now), key=lambda o: o.at)


def _tally(outcomes: Iterable[Outcome]) -> Tally:
    attempts = successes = 0
    for outcome in outcomes:
        attempts += 1
        successes += outcome.success
    return Tally(attempts, successes)


def _days(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours / 24:g}d" if hours > 24 and hours % 24 == 0 else f"{hours:g}h"
