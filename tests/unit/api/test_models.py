"""Model behaviour the operator relies on: aliases, durations, conditions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from grace.api.common import Condition, set_condition
from grace.api.duration import format_duration, parse_duration
from grace.api.healthnode import Signal, Threshold
from grace.api.playbook import PlaybookSpec


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("1m30s", 90), ("250ms", 0.25), ("2h", 7200), ("1.5m", 90), ("0s", 0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "30", "30 s", "1d", "-5s", "s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for seconds in (0.25, 1, 59, 61, 3600, 3725):
        assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


def test_signal_reads_for_alias_and_writes_it_back() -> None:
    signal = Signal.model_validate(
        {"name": "error-rate", "query": "up", "degraded": {"above": 0.1}, "for": "30s"}
    )
    assert signal.for_ == "30s"
    assert signal.wire()["for"] == "30s"


def test_threshold_direction() -> None:
    assert Threshold(above=0.1).crossed(0.2)
    assert not Threshold(above=0.1).crossed(0.1)
    assert Threshold(below=5).crossed(4)
    assert not Threshold(below=5).crossed(5)


def test_step_with_alias() -> None:
    spec = PlaybookSpec.model_validate(
        {"steps": [{"action": "scale", "with": {"replicas": "${replicas}"}}]}
    )
    assert spec.steps[0].with_ is not None
    assert spec.steps[0].with_.replicas == "${replicas}"
    assert spec.wire()["steps"][0]["with"] == {"replicas": "${replicas}"}


def test_set_condition_keeps_transition_time_unless_status_flips() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    t1 = t0 + timedelta(minutes=1)
    conds = set_condition([], Condition(type="Ready", status="True", reason="A"), t0)
    conds = set_condition(conds, Condition(type="Ready", status="True", reason="B"), t1)
    assert conds[0].last_transition_time == t0 and conds[0].reason == "B"
    conds = set_condition(conds, Condition(type="Ready", status="False", reason="C"), t1)
    assert conds[0].last_transition_time == t1 and len(conds) == 1
