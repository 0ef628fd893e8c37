"""GRACE learns from verified outcomes: it promotes a reliable playbook up to the human's ceiling,
demotes one that keeps failing, and a restarted operator knows exactly what the one before knew.

The thresholds come from `grace.learn.autonomy.DEFAULT_RULES` and the policy's 0.8 confidence
bar on the posterior mean (1 + successes) / (2 + attempts): five verified successes in a row
promote propose -> autonomous, four lift confidence to 5/6 > 0.8 (which auto-approves only in
autonomous mode), and two failures in a row demote one level.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from grace.learn.autonomy import DEFAULT_RULES
from grace_lab.localcluster.install import OPEN_POLICY
from tests.conftest import ClusterUnderTest
from tests.e2e.learning_kit import (
    MODE_PROPOSE,
    Runs,
    autonomy_entries,
    break_canary,
    entry_of,
    event_messages,
    grace_cli,
    health_node,
    learning,
    remedy,
    set_query,
    set_up,
    wait_learned,
    workload,
)
from tests.e2e.scenario import items
from tests.support.kube import wait_for
from tests.support.stack import OperatorProcess, ensure_policy_configmap, grant

PROMOTE_AFTER = DEFAULT_RULES.promote_min_attempts
DEMOTE_AFTER = DEFAULT_RULES.demote_consecutive_failures
ROOMY = {**OPEN_POLICY, "maxConcurrentPerNamespace": "10", "maxPerNamespacePerHour": "500"}
"""Budgets that a few dozen quick Missions never reach: only learning decides here."""


@pytest.fixture
def learning_ns(api: Any, namespace: str, operator: OperatorProcess) -> Iterator[str]:
    """The test's namespace, alice allowed to approve there, roomy budgets while it runs."""
    ensure_policy_configmap(api, ROOMY)
    grant(api, namespace, "alice", "grace-approver")
    yield namespace
    ensure_policy_configmap(api)


def test_a_reliable_playbook_is_promoted_up_to_its_ceiling_and_not_beyond(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    learning_ns: str,
    operator: OperatorProcess,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ns = learning_ns
    assert PROMOTE_AFTER == 5, "the rounds below follow the default promotion rule"
    set_up(
        dyn,
        api,
        ns,
        [
            workload("rising"),
            workload("capped"),
            remedy("steady"),
            health_node("rising", ["steady"], "propose", ceiling="autonomous"),
            health_node("capped", ["steady"], "propose", ceiling="propose"),
        ],
    )
    runs = Runs(cluster, dyn, ns)

    for attempt in range(1, PROMOTE_AFTER + 1):
        done = runs.round(("rising", "steady"), ("capped", "steady"))
        for node, run in done.items():
            assert (run.phase, run.verification) == ("Succeeded", "Passed"), run
            assert run.result == "require_approval" and run.asked_a_human, run
            assert MODE_PROPOSE in run.reasons, run
            if attempt == 1:
                assert any("confidence" in r for r in run.reasons), run
            wait_learned(dyn, ns, node, "steady", attempts=attempt, successes=attempt)

    # Five verified successes: promoted one level, to the ceiling...
    rising = wait_learned(dyn, ns, "rising", "steady", autonomy="autonomous")
    assert entry_of(rising, "steady")["confidence"] == pytest.approx(6 / 7, abs=1e-3)
    # ...while the same record cannot lift a node past the propose ceiling its human set.
    assert entry_of(learning(dyn, ns, "capped"), "steady")["autonomy"] == "propose"
    promoted = wait_for(
        "an AutonomyPromoted event on rising",
        lambda: event_messages(api, ns, "rising", "AutonomyPromoted"),
    )
    assert promoted == [promoted[0]] and "steady: propose -> autonomous" in promoted[0]
    assert event_messages(api, ns, "capped", "AutonomyPromoted") == []

    # Confidence is now above 0.8 on both nodes: the promoted one runs without a human; the
    # capped one still asks, for its mode alone.
    done = runs.round(("rising", "steady"), ("capped", "steady"))
    auto, capped = done["rising"], done["capped"]
    assert (auto.result, auto.tier, auto.asked_a_human) == ("allow", "auto", False), auto
    assert (auto.phase, auto.verification) == ("Succeeded", "Passed")
    assert capped.result == "require_approval" and capped.asked_a_human, capped
    assert capped.reasons == [MODE_PROPOSE], capped

    # A sixth success keeps rising at its ceiling: no second promotion.
    rows = wait_learned(dyn, ns, "rising", "steady", attempts=6, successes=6)
    assert entry_of(rows, "steady") == {
        "playbook": "steady",
        "attempts": 6,
        "successes": 6,
        "successRate24h": 1.0,
        "successRate7d": 1.0,
        "confidence": pytest.approx(7 / 8, abs=1e-3),
        "autonomy": "autonomous",
    }
    changes = autonomy_entries(operator.ledger, ns)
    assert [(c["subject"]["name"], c["data"]["from"], c["data"]["to"]) for c in changes] == [
        ("rising", "propose", "autonomous")
    ]
    assert changes[0]["data"]["playbook"] == "steady"
    assert event_messages(api, ns, "rising", "AutonomyPromoted") == promoted

    wait_learned(dyn, ns, "capped", "steady", attempts=6, successes=6, autonomy="propose")
    code, out = grace_cli(capsys, "learning", "-n", ns, "--kubeconfig", cluster.kubeconfig)
    assert code == 0
    table = [line.split() for line in out.splitlines()]
    assert table[0][:3] == ["HEALTHNODE", "#", "PLAYBOOK"]
    assert [
        "capped",
        "1",
        "steady",
        "6",
        "6",
        "100%",
        "100%",
        "0.88",
        "propose",
        "propose",
    ] in table
    assert [
        "rising",
        "1",
        "steady",
        "6",
        "6",
        "100%",
        "100%",
        "0.88",
        "autonomous",
        "autonomous",
    ] in table

    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    code, out = grace_cli(capsys, "stats", "--metrics-url", url, "-o", "json")
    assert code == 0
    stats = {(i["area"], i["name"]): i["value"] for i in json.loads(out)["items"]}
    assert stats[("policy", "allow")] >= 1
    assert stats[("policy", "require_approval")] >= 2 * PROMOTE_AFTER + 1
    assert stats[("missions", "Succeeded")] >= 2 * PROMOTE_AFTER + 2


def test_shadow_runs_promote_an_observed_node_to_propose_and_it_then_acts(
    cluster: ClusterUnderTest, api: Any, dyn: Any, learning_ns: str, operator: OperatorProcess
) -> None:
    ns = learning_ns
    set_up(
        dyn,
        api,
        ns,
        [
            workload("watched"),
            remedy("steady"),
            health_node("watched", ["steady"], "observe", ceiling="propose"),
        ],
    )
    runs = Runs(cluster, dyn, ns)
    for attempt in range(1, PROMOTE_AFTER + 1):
        run = runs.round(("watched", "steady"), dry_run=True)["watched"]
        assert (run.result, run.tier, run.asked_a_human) == ("allow", "observe", False), run
        assert (run.phase, run.verification) == ("Succeeded", "Passed"), run
        if attempt < PROMOTE_AFTER:
            rows = learning(dyn, ns, "watched")
            assert entry_of(rows, "steady")["autonomy"] == "observe"

    # Shadow evidence promotes one level, to the ceiling; it never counts as real attempts.
    rows = wait_learned(dyn, ns, "watched", "steady", autonomy="propose")
    assert (entry_of(rows, "steady")["attempts"], entry_of(rows, "steady")["confidence"]) == (
        0,
        0.5,
    )
    promoted = wait_for(
        "an AutonomyPromoted event on watched",
        lambda: event_messages(api, ns, "watched", "AutonomyPromoted"),
    )
    assert "steady: observe -> propose" in promoted[0]

    # A real run is no longer refused for observe mode: a human is asked, as in propose.
    real = runs.round(("watched", "steady"), approve_asks=False)["watched"]
    assert real.result == "require_approval" and MODE_PROPOSE in real.reasons, real

    # And when the node breaks, what GRACE proposes by itself is a real run, not a shadow.
    set_query(dyn, ns, "watched", "errors", "vector(5)", reads=5)
    proposed = wait_for(
        "a Mission GRACE proposed for watched",
        lambda: next(
            (
                m
                for m in items(dyn, "Mission", ns)
                if m.spec.trigger == "automatic" and m.spec.healthNode == "watched"
            ),
            None,
        ),
        timeout=40,
    )
    assert proposed.spec.dryRun is False, "promoted to propose, yet proposing dry runs"


def test_a_playbook_that_keeps_failing_is_demoted_and_no_longer_auto_approved(
    cluster: ClusterUnderTest, api: Any, dyn: Any, learning_ns: str, operator: OperatorProcess
) -> None:
    ns = learning_ns
    assert DEMOTE_AFTER == 2, "the rounds below follow the default demotion rule"
    set_up(
        dyn,
        api,
        ns,
        [workload("shaky"), remedy("steady"), health_node("shaky", ["steady"], "autonomous")],
    )
    runs = Runs(cluster, dyn, ns)

    # Earn trust: autonomous mode, but no auto-approval until confidence is above 0.8.
    for attempt in range(1, 5):
        run = runs.round(("shaky", "steady"))["shaky"]
        assert (run.phase, run.verification) == ("Succeeded", "Passed"), run
        assert run.result == "require_approval" and run.asked_a_human, run
        assert MODE_PROPOSE not in run.reasons and any("confidence" in r for r in run.reasons)
        wait_learned(dyn, ns, "shaky", "steady", attempts=attempt, successes=attempt)
    run = runs.round(("shaky", "steady"))["shaky"]
    assert (run.result, run.tier, run.asked_a_human, run.phase) == (
        "allow",
        "auto",
        False,
        "Succeeded",
    ), run
    wait_learned(dyn, ns, "shaky", "steady", attempts=5, successes=5)

    # The world changes: the same remedy no longer verifies. GRACE still trusts it once...
    break_canary(dyn, ns, "shaky")
    first = runs.round(("shaky", "steady"))["shaky"]
    assert (first.result, first.tier, first.asked_a_human) == ("allow", "auto", False), first
    assert (first.phase, first.verification) == ("RolledBack", "Failed"), first
    # ...then confidence 6/8 drops below the bar, and a human lets it try again: it fails again.
    rows = wait_learned(dyn, ns, "shaky", "steady", attempts=6, successes=5)
    assert entry_of(rows, "steady")["confidence"] == pytest.approx(0.75, abs=1e-3)
    second = runs.round(("shaky", "steady"))["shaky"]
    assert second.result == "require_approval" and second.asked_a_human, second
    assert (second.phase, second.verification) == ("RolledBack", "Failed"), second

    # Two failures in a row: demoted from autonomous to propose, recorded and announced.
    rows = wait_learned(dyn, ns, "shaky", "steady", attempts=7, successes=5, autonomy="propose")
    assert entry_of(rows, "steady")["successRate24h"] == pytest.approx(5 / 7, abs=1e-3)
    demoted = wait_for(
        "an AutonomyDemoted event on shaky",
        lambda: event_messages(api, ns, "shaky", "AutonomyDemoted"),
    )
    assert len(demoted) == 1 and "steady: autonomous -> propose" in demoted[0], demoted
    changes = autonomy_entries(operator.ledger, ns)
    assert [(c["subject"]["name"], c["data"]["from"], c["data"]["to"]) for c in changes] == [
        ("shaky", "autonomous", "propose")
    ]
    assert "consecutive failures" in changes[0]["data"]["reason"]

    # From now on every run of it asks a human, because of the mode it was demoted to.
    after = runs.round(("shaky", "steady"), approve_asks=False)["shaky"]
    assert after.result == "require_approval" and after.asked_a_human, after
    assert MODE_PROPOSE in after.reasons, after
    assert after.phase == "Denied", after


def test_a_restarted_operator_rebuilds_the_same_learning_from_the_ledger(
    cluster: ClusterUnderTest, api: Any, dyn: Any, learning_ns: str, operator: OperatorProcess
) -> None:
    ns = learning_ns
    # Listed worst first, so the ranking in status can only come from learning.
    set_up(
        dyn,
        api,
        ns,
        [
            workload("ranked"),
            remedy("steady"),
            remedy("hopeless", never_verifies=True),
            health_node("ranked", ["hopeless", "steady"], "propose"),
        ],
    )
    runs = Runs(cluster, dyn, ns)
    for playbook, phase in (
        ("steady", "Succeeded"),
        ("hopeless", "RolledBack"),
        ("steady", "Succeeded"),
    ):
        assert runs.round(("ranked", playbook))["ranked"].phase == phase
    before = wait_learned(dyn, ns, "ranked", "steady", attempts=2, successes=2)
    before = wait_learned(dyn, ns, "ranked", "hopeless", attempts=1, successes=0)
    assert [row["playbook"] for row in before] == ["steady", "hopeless"]
    assert [row["confidence"] for row in before] == pytest.approx([3 / 4, 1 / 3], abs=1e-3)

    # kill -9; while it is down, wipe what it wrote, so whatever comes back was rebuilt.
    operator.kill()
    try:
        res = dyn.resources.get(api_version="grace.dev/v1alpha1", kind="HealthNode")
        res.status.patch(
            name="ranked",
            namespace=ns,
            body={"status": {"learning": []}},
            content_type="application/merge-patch+json",
        )
        assert learning(dyn, ns, "ranked") == []
    finally:
        operator.start()
    after = wait_for(
        "status.learning written by the restarted operator",
        lambda: learning(dyn, ns, "ranked"),
        timeout=60,
    )
    assert after == before

    # The rebuilt Learner goes on from there: the finished Missions are not counted twice.
    assert runs.round(("ranked", "steady"))["ranked"].phase == "Succeeded"
    rows = wait_learned(dyn, ns, "ranked", "steady", attempts=3, successes=3)
    assert [row["playbook"] for row in rows] == ["steady", "hopeless"]
    assert entry_of(rows, "hopeless") == entry_of(before, "hopeless")
