"""Success rates over 24 h and 7 d windows, and where their edges are."""

from __future__ import annotations

from datetime import timedelta

from grace.learn import DAY, WEEK, Outcome, success_rate, tally
from tests.unit.learn.history import NODE, T0


def _at(offset: timedelta, success: bool, dry_run: bool = False) -> Outcome:
    return Outcome(NODE, "rollback-image", success, T0 - offset, dry_run)


def test_an_outcome_exactly_one_window_old_has_left_it() -> None:
    outcomes = [_at(DAY, False), _at(DAY - timedelta(seconds=1), True)]
    assert tally(outcomes, T0, DAY).attempts == 1
    assert success_rate(outcomes, T0, DAY) == 1.0
    assert success_rate(outcomes, T0, WEEK) == 0.5


def test_the_week_window_edges() -> None:
    outcomes = [_at(WEEK, True), _at(WEEK - timedelta(seconds=1), False), _at(timedelta(0), True)]
    assert tally(outcomes, T0, WEEK) == tally(outcomes[1:], T0, WEEK)
    assert success_rate(outcomes, T0, WEEK) == 0.5


def test_outcomes_after_now_are_in_no_window() -> None:
    outcomes = [_at(-timedelta(seconds=1), False), _at(timedelta(0), True)]
    assert success_rate(outcomes, T0, DAY) == 1.0
    assert tally(outcomes, T0).attempts == 1


def test_no_attempt_is_no_rate_rather_than_zero() -> None:
    assert success_rate([_at(timedelta(days=2), True)], T0, DAY) is None


def test_dry_runs_never_make_a_reported_rate() -> None:
    outcomes = [_at(timedelta(hours=1), False, dry_run=True), _at(timedelta(hours=2), True)]
    assert success_rate(outcomes, T0, DAY) == 1.0
    assert tally(outcomes, T0, DAY, dry_run=True).successes == 0
