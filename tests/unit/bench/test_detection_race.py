"""The detection benchmark's race: what it creates is valid, and how it scores a race.

No cluster: the objects go through the same models the API server's schemas come from, and the
scoring is a pure function of when things happened.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from bench import detection
from bench.detection import RampResult, race_summary

from grace.api.healthnode import HealthNode
from grace.api.playbook import Playbook
from grace.detect.alerts import alert_matches

PLAN = detection.Plan(
    quick=True,
    faults=2,
    interval=1,
    hold=2,
    rate_window="10s",
    nodes=1,
    window=1.0,
    overlap=False,
    profile=False,
)


def ramp(breaches: bool, headroom: float = 0.5, **at: float | None) -> RampResult:
    base = RampResult(
        namespace="bench-ramp-00",
        breaches=breaches,
        seconds_to_threshold=30.0,
        peak_fraction=1.5 if breaches else 0.9,
        headroom_horizons=0.0 if breaches else headroom,
        began=1000.0,
        crossed=None,
        peak_value=None,
        mission=None,
        predicted=None,
        critical=None,
        tuned_alert=None,
        default_alert=None,
    )
    return replace(base, **at)


def test_the_race_nodes_and_playbook_are_what_the_api_accepts() -> None:
    node = HealthNode.model_validate(detection.ramp_node("bench-ramp-03", PLAN))
    (signal,) = node.spec.signals
    assert signal.forecast == PLAN.forecast
    assert signal.critical is not None and signal.critical.above == detection.LEAK_THRESHOLD
    assert 'namespace="bench-ramp-03"' in (signal.query or "")
    assert node.spec.remediation.playbooks == [detection.LEAK_PLAYBOOK]
    playbook = Playbook.model_validate(detection.leak_playbook())
    assert playbook.spec.match.predicted  # a predicted breach may propose it


def test_only_the_push_node_is_woken_by_what_grace_is_sent() -> None:
    """GRACE's receiver is posted the fault alert only; the pull node reads its twin."""
    nodes = [HealthNode.model_validate(b) for b in detection.latency_nodes("bench-lat-01", PLAN)]
    by_name = {n.metadata.name: n for n in nodes}
    posted = {"alertname": detection.FAULT_ALERT, "namespace": "bench-lat-01"}
    push = by_name[detection.PUSH_NODE].spec.signals[0].alert
    pull = by_name[detection.PULL_NODE].spec.signals[0].alert
    assert push is not None and pull is not None
    assert alert_matches(push, posted)
    assert not alert_matches(pull, posted)
    rules = {r["alert"]: r for g in detection.alert_rules(PLAN) for r in g["rules"]}
    twin, fault = rules[detection.PULL_ALERT], rules[detection.FAULT_ALERT]
    assert (twin["expr"], twin["for"]) == (fault["expr"], fault["for"])


def test_a_mission_before_the_alert_is_a_positive_lead() -> None:
    results = [
        ramp(True, crossed=1030, predicted=1020, mission=1022, critical=1033, tuned_alert=1034),
        ramp(True, crossed=1040, predicted=1027, mission=1030, critical=1043, tuned_alert=1045),
        ramp(True, crossed=1025.0, mission=None, critical=1028.0, tuned_alert=1029.0),
    ]
    race = race_summary(results)
    assert race["leaks"] == 3
    assert race["leaks_with_predicted_mission"] == 2
    assert race["leaks_mission_before_tuned_alert"] == 2
    assert race["lead_vs_tuned_alert"]["n"] == 2
    assert race["lead_vs_tuned_alert"]["p50_s"] == pytest.approx(13.5)
    assert race["lead_vs_tuned_alert"]["min_s"] == 12.0
    assert race["mission_before_crossing"]["p50_s"] == pytest.approx(9.0)
    assert race["prediction_lead_vs_tuned_alert"]["p50_s"] == pytest.approx(16.0)
    assert race["mission_after_prediction"]["p50_s"] == pytest.approx(2.5)
    assert race["threshold_critical_before_tuned_alert"]["p50_s"] == pytest.approx(1.0)
    assert race["lead_vs_default_alert"]["n"] == 0  # no default alert arrived: no figure


def test_a_mission_on_a_near_miss_is_a_false_alarm_told_apart_by_headroom() -> None:
    results = [
        ramp(False, headroom=0.4, mission=1020.0, predicted=1019.0),
        ramp(False, headroom=0.8, predicted=1021.0),  # predicted, not (yet) acted on
        ramp(False, headroom=1.5),
        ramp(False, headroom=2.0, mission=1030.0),
    ]
    race = race_summary(results)
    assert race["near_misses"] == 4
    assert race["false_alarms"] == 2
    assert race["false_alarm_rate"] == 0.5
    assert race["false_alarms_headroom_under_one_horizon"] == "1/2"
    assert race["false_alarms_headroom_one_horizon_or_more"] == "1/2"
    assert race["near_misses_predicted_without_mission"] == 1
    assert race["near_misses_that_breached"] == 0
    assert race["leaks"] == 0 and race["lead_vs_tuned_alert"]["p50_s"] is None


def test_a_near_miss_that_breached_after_all_is_reported() -> None:
    race = race_summary([ramp(False, crossed=1050.0, tuned_alert=1054.0)])
    assert race["near_misses_that_breached"] == 1
    assert race["near_misses_alerted"] == 1


def test_onset_is_the_last_crossing_that_stayed_above() -> None:
    values = [[1.0, "5"], [2.0, "12"], [3.0, "8"], [4.0, "11"], [5.0, "13"]]
    assert detection.onset_of(values, 10) == 4.0
    assert detection.onset_of(values[:3], 10) is None
    assert detection.onset_of([], 10) is None


def test_the_tuned_alertmanager_sends_grace_only_the_fault_alert(tmp_path: Path) -> None:
    token = tmp_path / "token"
    am = detection.TunedAlertmanager("http://127.0.0.1:1/hook", "http://127.0.0.1:2/alerts", token)
    try:
        cfg = am.config()
    finally:
        am.close()
    route = cfg["route"]
    assert (route["group_wait"], route["group_interval"]) == ("1s", "10s")
    grace, rest = route["routes"]
    assert grace == {
        "receiver": "grace",
        "matchers": [f'alertname="{detection.FAULT_ALERT}"'],
        "continue": True,
    }
    assert rest == {"receiver": "webhook"}  # and every alert to the bench's own receiver
    receivers = {r["name"]: r["webhook_configs"][0] for r in cfg["receivers"]}
    assert receivers["grace"]["url"] == "http://127.0.0.1:2/alerts"
    assert receivers["grace"]["http_config"]["authorization"]["credentials_file"] == str(token)
