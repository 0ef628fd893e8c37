"""The Learner: ranking, Thompson choice, rebuild from the ledger, and HealthNode status."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from grace.api.healthnode import Mode, PlaybookLearning
from grace.learn import Learner, Outcome, outcomes_from_entries
from tests.unit.learn.history import NODE, T0, finished, series

CANDIDATES = ["restart-pods", "rollback-image", "scale-up"]


def _ledger() -> list[dict[str, object]]:
    """A small mixed ledger: two nodes, all outcome kinds, a dry run and a retried entry."""
    kinds = [
        ("rollback-image", "Succeeded", "Passed"),
        ("restart-pods", "RolledBack", "Failed"),
        ("rollback-image", "Succeeded", "Passed"),
        ("restart-pods", "Denied", None),
        ("rollback-image", "Failed", None),
        ("restart-pods", "Succeeded", "Passed"),
        ("rollback-image", "Succeeded", "Passed"),
        ("scale-up", "Succeeded", "NoData"),
    ]
    entries = [
        finished(seq, playbook=p, outcome=o, verification=v) for seq, (p, o, v) in enumerate(kinds)
    ]
    entries.append(finished(20, playbook="scale-up", dry_run=True))
    entries.append(finished(21, namespace="billing", playbook="restart-pods"))
    entries.append(finished(22, uid="uid-0", outcome="Failed"))  # retried write of seq 0
    return entries


def test_rebuilding_from_the_ledger_equals_recording_as_it_happened() -> None:
    entries = _ledger()
    live = Learner(seed=7)
    for entry in entries:
        for outcome in outcomes_from_entries([entry]):
            if entry["seq"] != 22:  # the live operator wrote seq 0 once
                live.record(outcome)
    rebuilt = Learner.from_entries(entries, seed=7)
    now = T0 + timedelta(hours=1)
    for node in (NODE, "billing/checkout"):
        assert rebuilt.rank(node, CANDIDATES) == live.rank(node, CANDIDATES)
        assert rebuilt.choose(node, CANDIDATES) == live.choose(node, CANDIDATES)
        for base in Mode:
            assert rebuilt.learning_status(
                node, CANDIDATES, now, base, Mode.AUTONOMOUS
            ) == live.learning_status(node, CANDIDATES, now, base, Mode.AUTONOMOUS)


def test_status_reports_verified_real_runs_best_first() -> None:
    learner = Learner.from_entries(_ledger())
    now = T0 + timedelta(hours=1)
    status = learner.learning_status(NODE, CANDIDATES, now, Mode.PROPOSE, None)
    assert status == [
        PlaybookLearning(
            playbook="rollback-image",
            attempts=4,
            successes=3,
            success_rate24h=0.75,
            success_rate7d=0.75,
            confidence=round(4 / 6, 4),
            autonomy=Mode.PROPOSE,
        ),
        PlaybookLearning(
            playbook="restart-pods",
            attempts=2,
            successes=1,
            success_rate24h=0.5,
            success_rate7d=0.5,
            confidence=0.5,
            autonomy=Mode.PROPOSE,
        ),
        PlaybookLearning(
            playbook="scale-up",
            attempts=0,
            successes=0,
            success_rate24h=None,
            success_rate7d=None,
            confidence=0.5,
            autonomy=Mode.PROPOSE,
        ),
    ]
    wire = status[0].wire()
    assert (wire["autonomy"], wire["confidence"], wire["attempts"]) == ("propose", 0.6667, 4)


def test_confidence_is_the_beta_posterior_mean() -> None:
    learner = Learner.from_outcomes(series("SSSF"))
    assert learner.confidence(NODE, "rollback-image") == pytest.approx(4 / 6)
    assert learner.confidence(NODE, "never-tried") == 0.5
    assert learner.confidence("other/node", "rollback-image") == 0.5


def test_ranking_is_by_posterior_mean_and_ties_keep_the_spec_order() -> None:
    learner = Learner.from_outcomes(
        series("S", playbook="restart-pods") + series("S" * 9 + "F", playbook="rollback-image")
    )
    # 1 of 1 (mean 2/3) ranks below 9 of 10 (mean 10/12), unlike a maximum-likelihood ranking
    assert [name for name, _ in learner.rank(NODE, CANDIDATES)] == [
        "rollback-image",
        "restart-pods",
        "scale-up",
    ]
    fresh = Learner()
    assert fresh.rank(NODE, ["b", "a", "b", "c"]) == [("b", 0.5), ("a", 0.5), ("c", 0.5)]


def test_ranking_and_choice_are_the_same_after_a_restart() -> None:
    history = series("SFSSF") + series("FFSF", playbook="restart-pods")
    first = Learner.from_outcomes(history, seed=3)
    again = Learner.from_outcomes(history, seed=3)
    assert first.rank(NODE, CANDIDATES) == again.rank(NODE, CANDIDATES)
    assert [first.choose(NODE, CANDIDATES) for _ in range(5)] == [
        again.choose(NODE, CANDIDATES) for _ in range(5)
    ]
    # no new evidence: the proposer keeps proposing the same playbook on every reconcile
    assert len({first.choose(NODE, CANDIDATES) for _ in range(20)}) == 1


def test_thompson_sampling_prefers_the_better_playbook_after_evidence() -> None:
    good = series("SSSSSSSSFS", playbook="rollback-image")
    bad = series("FFSFFFSFFF", playbook="restart-pods")
    learner = Learner.from_outcomes(good + bad)
    rng = random.Random(1)
    picks = [learner.choose(NODE, ["restart-pods", "rollback-image"], rng) for _ in range(500)]
    assert picks.count("rollback-image") > 480
    fresh = Learner()
    untried = [fresh.choose(NODE, ["restart-pods", "rollback-image"], rng) for _ in range(500)]
    assert 150 < untried.count("rollback-image") < 350  # no evidence: both get explored


def test_choice_is_restricted_to_the_candidates_of_the_decision() -> None:
    learner = Learner.from_outcomes(series("S" * 10, playbook="rollback-image"))
    rng = random.Random(0)
    assert {learner.choose(NODE, ["restart-pods", "scale-up"], rng) for _ in range(50)} == {
        "restart-pods",
        "scale-up",
    }
    with pytest.raises(ValueError, match="no candidate"):
        learner.choose(NODE, [])


def test_dry_runs_feed_autonomy_but_not_the_ranking() -> None:
    shadow = series("SSSSS", playbook="scale-up", dry_run=True)
    learner = Learner.from_outcomes(shadow)
    assert learner.confidence(NODE, "scale-up") == 0.5
    [row] = learner.learning_status(
        NODE, ["scale-up"], T0 + timedelta(days=1), Mode.OBSERVE, Mode.PROPOSE
    )
    assert (row.attempts, row.success_rate7d, row.autonomy) == (0, None, Mode.PROPOSE)
    assert learner.autonomy(NODE, "scale-up", T0 + timedelta(days=1), Mode.OBSERVE, None)[0] is (
        Mode.OBSERVE
    )


def test_autonomy_changes_of_a_node_come_oldest_first() -> None:
    early = series("SSSSS", playbook="restart-pods", start=T0)
    late = series("SSSSS", playbook="rollback-image", start=T0 - timedelta(days=1))
    learner = Learner.from_outcomes(early + late)
    changes = learner.autonomy_changes(
        NODE, CANDIDATES, T0 + timedelta(days=2), Mode.OBSERVE, Mode.PROPOSE
    )
    assert [(c.playbook, c.mode) for c in changes] == [
        ("rollback-image", Mode.PROPOSE),
        ("restart-pods", Mode.PROPOSE),
    ]


def test_outcomes_are_kept_per_node_and_playbook() -> None:
    a = Outcome(NODE, "rollback-image", True, T0)
    b = Outcome("billing/checkout", "rollback-image", False, T0)
    learner = Learner.from_outcomes([a, b])
    assert learner.outcomes(NODE, "rollback-image") == [a]
    assert learner.outcomes("billing/checkout", "rollback-image") == [b]
    assert learner.outcomes("nowhere/x", "rollback-image") == []
