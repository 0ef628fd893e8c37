"""Reading outcomes out of ledger entries: which entries count, and how."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from grace.learn import Outcome, outcomes_from_entries
from tests.unit.learn.history import T0, finished


def test_a_verified_success_and_each_failure_kind_become_outcomes() -> None:
    entries = [
        finished(0, outcome="Succeeded", verification="Passed"),
        finished(1, outcome="RolledBack", verification="Failed"),
        finished(2, outcome="Failed", verification=None),
        finished(3, outcome="TimedOut", verification="NoData"),
        finished(4, outcome="Succeeded", verification="Failed"),
    ]
    outcomes = outcomes_from_entries(entries)
    assert [o.success for o in outcomes] == [True, False, False, False, False]
    assert outcomes[0] == Outcome(
        node="shop/checkout",
        playbook="rollback-image",
        success=True,
        at=datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
        dry_run=False,
    )


@pytest.mark.parametrize("outcome", ["Denied", "Expired", "Aborted", "Pending", "Running"])
def test_missions_that_never_ran_the_playbook_are_ignored(outcome: str) -> None:
    assert outcomes_from_entries([finished(0, outcome=outcome, verification=None)]) == []


@pytest.mark.parametrize("verification", ["NoData", "Inconclusive", None])
def test_a_success_nobody_verified_is_no_evidence(verification: str | None) -> None:
    assert outcomes_from_entries([finished(0, verification=verification)]) == []


@pytest.mark.parametrize(
    "entry_type",
    ["verification.finished", "mission.proposed", "autonomy.changed", "step.finished"],
)
def test_only_mission_finished_entries_are_read(entry_type: str) -> None:
    assert outcomes_from_entries([finished(0, type_=entry_type)]) == []


def test_dry_runs_are_kept_and_marked() -> None:
    [shadow] = outcomes_from_entries([finished(0, dry_run=True)])
    assert shadow.dry_run and shadow.success
    [missing] = outcomes_from_entries([finished(1, dry_run=None)])
    assert not missing.dry_run


def test_a_mission_finished_twice_counts_once() -> None:
    first = finished(0, uid="abc")
    retried = finished(1, uid="abc", outcome="Failed")
    unnamed = [finished(2, uid=""), finished(3, uid="")]
    unnamed[1]["subject"]["name"] = unnamed[0]["subject"]["name"]
    outcomes = outcomes_from_entries([first, retried, *unnamed])
    assert [o.success for o in outcomes] == [True, True]


def test_nodes_of_the_same_name_in_two_namespaces_stay_apart() -> None:
    outcomes = outcomes_from_entries([finished(0), finished(1, namespace="billing")])
    assert [o.node for o in outcomes] == ["shop/checkout", "billing/checkout"]


def test_malformed_entries_are_skipped_without_stopping_the_replay() -> None:
    broken_time = finished(0)
    broken_time["time"] = "yesterday"
    no_playbook = finished(1)
    del no_playbook["data"]["playbook"]
    string_dry_run = finished(2)
    string_dry_run["data"]["dryRun"] = "false"
    no_subject = finished(3)
    del no_subject["subject"]
    outcomes = outcomes_from_entries([broken_time, no_playbook, string_dry_run, no_subject])
    assert outcomes == []
    assert len(outcomes_from_entries([broken_time, finished(4)])) == 1


def test_times_are_read_as_utc() -> None:
    [outcome] = outcomes_from_entries([finished(0, at=T0)])
    assert outcome.at == T0 and outcome.at.tzinfo is not None
    naive = Outcome("shop/checkout", "p", True, datetime(2025, 3, 1, 12, 0))
    assert naive.at == T0
