"""Graduated autonomy: promotion on measured success, demotion on failure, the human's ceiling."""

from __future__ import annotations

from datetime import timedelta

import pytest

from grace.api.healthnode import Mode
from grace.learn import Outcome, autonomy_changes, autonomy_for
from tests.unit.learn.history import T0, series

LATER = T0 + timedelta(days=30)


def _mode(outcomes: list[Outcome], base: Mode, ceiling: Mode | None) -> Mode:
    return autonomy_for(outcomes, base, ceiling, LATER)[0]


def test_five_clean_successes_promote_one_level_and_say_why() -> None:
    outcomes = series("SSSSS")
    mode, reason = autonomy_for(outcomes, Mode.PROPOSE, Mode.AUTONOMOUS, LATER)
    assert mode is Mode.AUTONOMOUS
    assert reason.startswith("promoted to autonomous: 5 of 5 verified attempts succeeded in 7d")
    [change] = autonomy_changes(outcomes, Mode.PROPOSE, Mode.AUTONOMOUS, LATER)
    assert (change.previous, change.mode, change.at) == (
        Mode.PROPOSE,
        Mode.AUTONOMOUS,
        outcomes[4].at,
    )
    assert change.event_reason == "AutonomyPromoted"
    assert change.ledger_data() == {
        "healthNode": "checkout",
        "playbook": "rollback-image",
        "from": "propose",
        "to": "autonomous",
        "reason": change.reason,
        "outcomeTime": outcomes[4].at.isoformat(),
    }


def test_four_successes_are_not_enough() -> None:
    assert _mode(series("SSSS"), Mode.PROPOSE, Mode.AUTONOMOUS) is Mode.PROPOSE


def test_a_recent_failure_holds_promotion_back_until_three_clean_successes() -> None:
    held = series("SSSFSS")  # 5 of 6 succeeded, but a failure among the last 3
    assert _mode(held, Mode.OBSERVE, Mode.PROPOSE) is Mode.OBSERVE
    assert _mode(series("SSSFSSS"), Mode.OBSERVE, Mode.PROPOSE) is Mode.PROPOSE


def test_success_below_eighty_percent_in_the_week_does_not_promote() -> None:
    assert _mode(series("FSFSSSS"), Mode.OBSERVE, Mode.PROPOSE) is Mode.OBSERVE
    assert _mode(series("FSSSSSSSS"), Mode.OBSERVE, Mode.PROPOSE) is Mode.PROPOSE


def test_evidence_older_than_a_week_does_not_count_towards_promotion() -> None:
    stale = series("SSSS", start=T0)
    fresh = series("S", start=T0 + timedelta(days=8))
    assert _mode(stale + fresh, Mode.OBSERVE, Mode.PROPOSE) is Mode.OBSERVE


def test_promotion_climbs_one_level_at_a_time_with_fresh_evidence() -> None:
    outcomes = series("S" * 10)
    changes = autonomy_changes(outcomes, Mode.OBSERVE, Mode.AUTONOMOUS, LATER)
    assert [(c.previous, c.mode) for c in changes] == [
        (Mode.OBSERVE, Mode.PROPOSE),
        (Mode.PROPOSE, Mode.AUTONOMOUS),
    ]
    assert [c.at for c in changes] == [outcomes[4].at, outcomes[9].at]


def test_never_above_the_ceiling() -> None:
    assert _mode(series("S" * 20), Mode.OBSERVE, Mode.PROPOSE) is Mode.PROPOSE
    assert _mode(series("S" * 20), Mode.PROPOSE, None) is Mode.PROPOSE
    assert autonomy_changes(series("S" * 20), Mode.AUTONOMOUS, None, LATER) == []


def test_a_ceiling_below_the_mode_caps_the_mode_itself() -> None:
    mode, reason = autonomy_for([], Mode.AUTONOMOUS, Mode.PROPOSE, LATER)
    assert mode is Mode.PROPOSE
    assert "capped" in reason


def test_two_consecutive_failures_demote_one_level() -> None:
    outcomes = series("SSFF")
    mode, reason = autonomy_for(outcomes, Mode.AUTONOMOUS, None, LATER)
    assert mode is Mode.PROPOSE
    assert reason.startswith("demoted to propose: 2 consecutive failures")
    [change] = autonomy_changes(outcomes, Mode.AUTONOMOUS, None, LATER)
    assert change.event_reason == "AutonomyDemoted" and change.at == outcomes[3].at


def test_each_demotion_needs_fresh_failures_and_stops_at_observe() -> None:
    assert _mode(series("FFF"), Mode.AUTONOMOUS, None) is Mode.PROPOSE
    assert _mode(series("FFFF"), Mode.AUTONOMOUS, None) is Mode.OBSERVE
    assert _mode(series("F" * 10), Mode.AUTONOMOUS, None) is Mode.OBSERVE
    assert autonomy_changes(series("F" * 10), Mode.OBSERVE, Mode.AUTONOMOUS, LATER) == []


def test_a_low_day_success_rate_demotes_even_without_two_failures_in_a_row() -> None:
    mode, reason = autonomy_for(series("FSF"), Mode.AUTONOMOUS, None, LATER)
    assert mode is Mode.PROPOSE
    assert "1 of 3 succeeded in 24h (< 50%)" in reason
    spread = series("FSF", step=timedelta(hours=13))  # never 3 attempts within 24 h
    assert _mode(spread, Mode.AUTONOMOUS, None) is Mode.AUTONOMOUS


def test_dry_runs_are_evidence_only_while_observing() -> None:
    shadow = series("SSSSS", dry_run=True)
    assert _mode(shadow, Mode.OBSERVE, Mode.AUTONOMOUS) is Mode.PROPOSE
    shadow_failures = series("FFFF", dry_run=True)
    assert _mode(shadow_failures, Mode.AUTONOMOUS, None) is Mode.AUTONOMOUS
    more_shadow = series("S" * 10, dry_run=True)
    assert _mode(more_shadow, Mode.OBSERVE, Mode.AUTONOMOUS) is Mode.PROPOSE


def test_outcomes_after_now_are_not_yet_seen() -> None:
    outcomes = series("SSSSS")
    assert autonomy_for(outcomes, Mode.PROPOSE, Mode.AUTONOMOUS, outcomes[3].at)[0] is Mode.PROPOSE
    assert autonomy_for(outcomes, Mode.PROPOSE, Mode.AUTONOMOUS, outcomes[4].at)[0] is (
        Mode.AUTONOMOUS
    )


def test_the_replay_is_in_time_order_whatever_the_input_order() -> None:
    outcomes = series("SSSSSFF")
    forward = autonomy_changes(outcomes, Mode.PROPOSE, Mode.AUTONOMOUS, LATER)
    assert autonomy_changes(outcomes[::-1], Mode.PROPOSE, Mode.AUTONOMOUS, LATER) == forward
    assert [c.mode for c in forward] == [Mode.AUTONOMOUS, Mode.PROPOSE]


def test_outcomes_of_several_playbooks_are_refused() -> None:
    mixed = series("S") + series("S", playbook="restart-pods")
    with pytest.raises(ValueError, match="per HealthNode and playbook"):
        autonomy_for(mixed, Mode.PROPOSE, None, LATER)


def test_without_evidence_the_reason_says_what_promotion_needs() -> None:
    mode, reason = autonomy_for([], Mode.OBSERVE, Mode.PROPOSE, LATER)
    assert mode is Mode.OBSERVE
    assert "promotion to propose needs 5 verified attempts" in reason
    assert autonomy_for([], Mode.PROPOSE, None, LATER)[1] == (
        "spec mode propose, which is the autonomy ceiling"
    )
