"""The Mission state machine, driven end to end by a scripted handler (see world.py)."""

from __future__ import annotations

import itertools
from datetime import timedelta

from grace.api.mission import (
    TIMELINE_LIMIT,
    Decision,
    MissionPhase,
    StepPhase,
    TimelineEvent,
    VerificationOutcome,
)
from grace.run.effects import (
    Effect,
    Executed,
    ExecuteStep,
    Facts,
    Finish,
    OpenApproval,
    Outcome,
    Prepared,
    PrepareStep,
    Refuse,
    Restore,
    Restored,
    StepResult,
    TakeSnapshot,
)
from grace.run.machine import advance
from tests.unit.run.world import (
    BROKEN,
    HEALTHY,
    T0,
    World,
    answer,
    approve,
    deployment,
    events,
    kinds,
    mission,
    playbook,
)


def healthy_forever() -> World:
    return World(mission(), samples=itertools.repeat(HEALTHY))


# ---------------------------------------------------------------- the happy path


def test_a_run_goes_from_pending_to_succeeded() -> None:
    w = healthy_forever()
    m = w.run()

    assert m.status.phase is MissionPhase.SUCCEEDED
    assert kinds(w.effects) == [
        "Inspect",
        "AskPolicy",
        "TakeSnapshot",
        "PrepareStep",
        "ExecuteStep",
        "PrepareStep",
        "ExecuteStep",
        "SampleMetrics",
        "Finish",
    ]
    assert w.executions == [0, 1], "each step executes exactly once"
    assert m.status.progress == "2/2"
    assert [s.phase for s in m.status.steps] == [StepPhase.SUCCEEDED, StepPhase.SUCCEEDED]
    assert m.status.steps[0].intent is not None and m.status.steps[0].intent["action"] == "scale"
    assert m.status.snapshot is not None and m.status.snapshot["replicas"] == 3
    assert m.status.baseline == {"error-rate": 0.08}
    assert m.status.target == {
        "kind": "Deployment",
        "name": "checkout",
        "namespace": "shop",
        "uid": "uid-1",
    }
    v = m.status.verification
    assert v is not None and v.outcome is VerificationOutcome.PASSED
    assert v.checks[0].expected == "< 0.02" and v.checks[0].passed is True
    assert m.status.rollback is None
    assert events(m) == [
        "Accepted",
        "Inspected",
        "Decided",
        "Started",
        "SafeHold",
        "StepStarted",
        "StepSucceeded",
        "StepStarted",
        "StepSucceeded",
        "Verifying",
        "Verified",
        "Succeeded",
    ]
    assert isinstance(w.effects[-1], Finish) and w.effects[-1].verification is (
        VerificationOutcome.PASSED
    )


def test_parameters_reach_the_step_the_executor_prepares() -> None:
    w = World(mission(replicas=8), samples=itertools.repeat(HEALTHY))
    w.run()
    prepare = next(e for e in w.effects if isinstance(e, PrepareStep))
    assert prepare.step.args.replicas == 8
    assert prepare.target.name == "checkout" and prepare.namespace == "shop"


def test_a_finished_mission_keeps_answering_finish() -> None:
    w = healthy_forever()
    m = w.run()
    for _ in range(2):
        t = advance(m, w.playbook, w.node, Facts(now=w.now + timedelta(hours=1)))
        assert isinstance(t.effect, Finish) and not t.changed


# ---------------------------------------------------------------- refusals


def test_out_of_bounds_parameters_are_refused_before_anything_runs() -> None:
    w = World(mission(replicas=50))
    m = w.run()
    assert kinds(w.effects) == ["Refuse"]
    refuse = w.effects[0]
    assert isinstance(refuse, Refuse) and refuse.reason == "ParameterOutOfBounds"
    assert m.status.phase is MissionPhase.FAILED
    assert m.status.message is not None and "maximum 20" in m.status.message
    assert m.status.conditions[0].type == "Refused"


def test_an_unknown_action_is_refused_with_the_catalog() -> None:
    w = World(mission(), playbook=playbook(steps=[{"action": "exec"}]))
    w.run()
    refuse = w.effects[0]
    assert isinstance(refuse, Refuse) and refuse.reason == "UnknownAction"


def test_a_target_in_another_namespace_is_refused() -> None:
    w = World(mission())
    assert w.node is not None
    w.node["target"] = {"kind": "Deployment", "name": "checkout", "namespace": "payments"}
    m = w.run()
    assert isinstance(w.effects[0], Refuse) and w.effects[0].reason == "TargetOutOfScope"
    assert "'payments'" in (m.status.message or "")


def test_a_missing_target_is_refused() -> None:
    w = World(mission(), target=None)
    w.run()
    assert kinds(w.effects) == ["Inspect", "Refuse"]


# ---------------------------------------------------------------- governance


def test_a_denied_mission_ends_without_running() -> None:
    w = World(mission(), decision=Decision(result="deny", reasons=["protected namespace"]))
    m = w.run()
    assert m.status.phase is MissionPhase.DENIED
    assert "protected namespace" in (m.status.message or "")
    assert w.executions == []
    assert all(s.phase is StepPhase.SKIPPED for s in m.status.steps)


def test_require_approval_waits_for_a_human_then_runs() -> None:
    w = World(
        mission(),
        decision=Decision(result="require_approval", reasons=["outside change window"]),
        approver=approve("alice"),
        samples=itertools.repeat(HEALTHY),
    )
    m = w.run()
    ask = next(e for e in w.effects if isinstance(e, OpenApproval))
    assert ask.request == "checkout-fix-run" and ask.purpose == "run"
    assert ask.reasons == ("outside change window",)
    assert m.status.phase is MissionPhase.SUCCEEDED
    assert m.status.approval is not None and m.status.approval.decided_by == "alice"
    assert "Approved" in events(m)


def test_an_approval_that_is_denied_or_expires_ends_the_mission() -> None:
    deny = World(
        mission(), decision=Decision(result="require_approval"), approver=answer("Denied", "bob")
    )
    assert deny.run().status.phase is MissionPhase.DENIED
    expire = World(
        mission(), decision=Decision(result="require_approval"), approver=answer("Expired")
    )
    assert expire.run().status.phase is MissionPhase.EXPIRED
    assert deny.executions == expire.executions == []


def test_a_gitops_owned_target_needs_approval_and_is_marked_as_drift() -> None:
    w = World(
        mission(),
        target=deployment(**{"argocd.argoproj.io/instance": "shop"}),
        approver=approve(),
        samples=itertools.repeat(HEALTHY),
    )
    m = w.run()
    assert m.status.gitops is not None and m.status.gitops.tool == "argocd"
    ask = next(e for e in w.effects if isinstance(e, OpenApproval))
    assert "owned by argocd app shop" in ask.reasons[0]
    drift = [e.message for e in m.status.timeline if e.event == "Drift"]
    assert drift == ["live change is drift from Git (owner: argocd app shop)"]


# ---------------------------------------------------------------- failure and rollback


def test_failed_verification_rolls_back_to_the_snapshot() -> None:
    w = World(mission(), samples=itertools.repeat(BROKEN))
    m = w.run()
    assert kinds(w.effects)[-3:] == ["SampleMetrics", "Restore", "Finish"]
    assert m.status.phase is MissionPhase.ROLLED_BACK
    assert m.status.verification is not None
    assert m.status.verification.outcome is VerificationOutcome.FAILED
    assert m.status.rollback is not None
    assert m.status.rollback.outcome is VerificationOutcome.PASSED
    assert {c.signal for c in m.status.rollback.checks} >= {"replicas", "image/app", "podTemplate"}
    restore = next(e for e in w.effects if isinstance(e, Restore))
    assert restore.snapshot == m.status.snapshot
    assert "CheckFailed" in events(m) and "RolledBack" in events(m)


def test_a_restore_that_does_not_verify_ends_failed() -> None:
    w = World(
        mission(),
        samples=itertools.repeat(BROKEN),
        restored=lambda r: Restored(deployment(image="shop/checkout:1.5-bad")),
    )
    m = w.run()
    assert m.status.phase is MissionPhase.FAILED
    assert m.status.rollback is not None
    assert "image: expected shop/checkout:1.4" in (m.status.rollback.message or "")


def test_on_failure_keep_does_not_roll_back() -> None:
    w = World(mission(), playbook=playbook(onFailure="keep"), samples=itertools.repeat(BROKEN))
    m = w.run()
    assert m.status.phase is MissionPhase.FAILED
    assert not any(isinstance(e, Restore) for e in w.effects)


def test_a_failed_step_rolls_back_and_skips_the_rest() -> None:
    w = World(mission(), step_result=lambda e: StepResult("Failed", "API error 422: Invalid"))
    m = w.run()
    assert m.status.phase is MissionPhase.ROLLED_BACK
    assert [s.phase for s in m.status.steps] == [StepPhase.FAILED, StepPhase.SKIPPED]
    assert w.executions == [0]


def test_a_step_that_cannot_be_prepared_fails_without_touching_anything() -> None:
    class Refusing(World):
        def perform(self, effect: Effect) -> Outcome | None:
            if isinstance(effect, PrepareStep):
                return Prepared(effect.index, error="no revision before 1")
            return super().perform(effect)

    w = Refusing(mission())
    m = w.run()
    assert m.status.phase is MissionPhase.FAILED
    assert not any(isinstance(e, ExecuteStep | Restore) for e in w.effects)
    assert "no revision before 1" in (m.status.message or "")


# ---------------------------------------------------------------- NoData / Inconclusive


def test_no_data_asks_a_human_who_may_keep_the_change() -> None:
    w = World(mission(), samples=itertools.repeat({}), approver=approve("carol"))
    m = w.run()
    ask = next(e for e in w.effects if isinstance(e, OpenApproval))
    assert ask.purpose == "keepOrRollback" and ask.request == "checkout-fix-keep"
    assert "NoData" in ask.reasons[0]
    assert m.status.phase is MissionPhase.SUCCEEDED
    assert "kept by carol after verification NoData" in (m.status.message or "")
    assert not any(isinstance(e, Restore) for e in w.effects)


def test_inconclusive_denied_by_the_human_rolls_back() -> None:
    flapping = itertools.cycle([HEALTHY, BROKEN])
    w = World(
        mission(),
        playbook=playbook(
            verify={"timeout": "1m", "interval": "15s", "stableFor": "30s", "failureLimit": 5}
        ),
        samples=flapping,
        approver=answer("Denied", "dave"),
    )
    m = w.run()
    assert m.status.verification is not None
    assert m.status.verification.outcome is VerificationOutcome.INCONCLUSIVE
    assert m.status.phase is MissionPhase.ROLLED_BACK
    assert any(isinstance(e, Restore) for e in w.effects)


# ---------------------------------------------------------------- watchdog and abort


def test_the_watchdog_times_out_and_rolls_back() -> None:
    slow = playbook(timeout="1m", verify={"timeout": "3m", "interval": "20s", "stableFor": "2m"})
    w = World(mission(), playbook=slow, samples=itertools.repeat(HEALTHY))
    m = w.run()
    assert m.status.phase is MissionPhase.TIMED_OUT
    assert kinds(w.effects)[-2:] == ["Restore", "Finish"]
    assert m.status.rollback is not None
    assert m.status.rollback.outcome is VerificationOutcome.PASSED
    assert "exceeded the playbook timeout 1m" in (m.status.message or "")


def test_abort_during_the_run_rolls_back() -> None:
    w = World(
        mission(), samples=itertools.repeat(HEALTHY), abort_when=lambda w: len(w.executions) >= 1
    )
    m = w.run()
    assert m.status.phase is MissionPhase.ABORTED
    assert w.executions == [0]
    assert kinds(w.effects)[-2:] == ["Restore", "Finish"]
    assert [s.phase for s in m.status.steps] == [StepPhase.SUCCEEDED, StepPhase.SKIPPED]


def test_abort_before_the_run_changes_nothing() -> None:
    w = World(mission(), abort_when=lambda w: True)
    m = w.run()
    assert m.status.phase is MissionPhase.ABORTED
    assert kinds(w.effects) == ["Finish"]


def test_a_rollback_hands_the_executor_every_started_step_to_undo() -> None:
    steps = [{"action": "cordonNode"}, {"action": "scale", "with": {"replicas": 2}}]
    w = World(mission(), playbook=playbook(steps=steps), samples=itertools.repeat(BROKEN))
    w.run()
    restore = next(e for e in w.effects if isinstance(e, Restore))
    assert [i["action"] for i in restore.undo] == ["cordonNode", "scale"]
    assert restore.undo[0]["nodes"] == [{"name": "node-1", "uid": "n1"}]


def test_the_snapshot_keeps_what_the_plans_actions_hold() -> None:
    steps = [{"action": "scaleHPA", "with": {"maxReplicas": 9}}]
    held = {"scaleHPA": {"name": "web", "uid": "h1", "minReplicas": 2, "maxReplicas": 4}}
    w = World(
        mission(), playbook=playbook(steps=steps), held=held, samples=itertools.repeat(HEALTHY)
    )
    m = w.run()
    ask = next(e for e in w.effects if isinstance(e, TakeSnapshot))
    assert ask.actions == ("scaleHPA",)
    assert m.status.snapshot is not None and m.status.snapshot["held"] == held


# ---------------------------------------------------------------- dry run


def test_a_dry_run_never_executes_and_reports_the_shadow_outcome() -> None:
    w = World(
        mission(dry_run=True),
        decision=Decision(result="require_approval", reasons=["high risk"]),
        samples=itertools.repeat(BROKEN),
    )
    m = w.run()
    assert not any(isinstance(e, ExecuteStep | Restore | OpenApproval) for e in w.effects)
    assert w.executions == []
    assert [s.phase for s in m.status.steps] == [StepPhase.SKIPPED, StepPhase.SKIPPED]
    assert m.status.steps[0].message is not None
    assert m.status.steps[0].message.startswith("dry run: would scale Deployment/checkout")
    assert m.status.progress == "2/2"
    assert m.status.phase is MissionPhase.SUCCEEDED
    assert m.status.verification is not None
    assert m.status.verification.outcome is VerificationOutcome.FAILED
    assert "shadow verification Failed" in (m.status.message or "")
    assert "WouldAskApproval" in events(m)
    finish = w.effects[-1]
    assert isinstance(finish, Finish) and finish.dry_run


# ---------------------------------------------------------------- crash safety


def test_a_restart_after_recording_a_step_repeats_the_same_intent() -> None:
    w = healthy_forever()
    m = w.mission
    intents = []
    outcome = None
    while True:
        t = advance(m, w.playbook, w.node, w.facts(outcome))
        m = m.model_copy(update={"status": t.status})
        if isinstance(t.effect, ExecuteStep):
            intents.append(t.effect.intent)
            break
        outcome = w.perform(t.effect)
    # the operator crashes now: the status says step 1 is Running with its intent
    assert m.status.steps[0].phase is StepPhase.RUNNING
    restarted = advance(m, w.playbook, w.node, w.facts(None))
    assert isinstance(restarted.effect, ExecuteStep)
    assert restarted.effect.intent == intents[0] == m.status.steps[0].intent
    # a stale answer for another step is ignored
    stale = advance(m, w.playbook, w.node, w.facts(Executed(1, StepResult("Succeeded", "x"))))
    assert stale.effect == restarted.effect and not stale.changed


def test_a_crash_between_prepare_and_record_prepares_again() -> None:
    w = healthy_forever()
    m = w.mission
    outcome = None
    while True:
        t = advance(m, w.playbook, w.node, w.facts(outcome))
        m = m.model_copy(update={"status": t.status})
        if isinstance(t.effect, PrepareStep):
            break
        outcome = w.perform(t.effect)
    again = advance(m, w.playbook, w.node, w.facts(None))
    assert again.effect == t.effect and m.status.steps[0].phase is StepPhase.PENDING


def test_an_edited_playbook_does_not_change_an_accepted_plan() -> None:
    w = healthy_forever()
    outcome = None
    while True:
        t = w.advance(outcome)
        w.mission = w.mission.model_copy(update={"status": t.status})
        if isinstance(t.effect, PrepareStep):
            break
        outcome = w.perform(t.effect)
    w.playbook = playbook(
        steps=[{"name": "scale-out", "action": "scale", "with": {"replicas": 1}}],
    )
    again = w.advance(None)
    assert isinstance(again.effect, PrepareStep) and again.effect.step.args.replicas == 5


def test_a_wait_step_is_asked_again_after_its_retry_delay() -> None:
    results = iter([StepResult("Waiting", "29s left", retry_after=29.0)])
    w = World(
        mission(),
        playbook=playbook(steps=[{"action": "wait", "with": {"duration": "30s"}}]),
        samples=itertools.repeat(HEALTHY),
        step_result=lambda e: next(results, StepResult("Succeeded", "waited 30s")),
    )
    m = w.run()
    executes = [e for e in w.effects if isinstance(e, ExecuteStep)]
    assert [e.delay for e in executes] == [30.0, 29.0]
    assert m.status.phase is MissionPhase.SUCCEEDED


def test_the_timeline_is_bounded() -> None:
    w = healthy_forever()
    old = [TimelineEvent(time=T0, event="Old", message=str(i)) for i in range(TIMELINE_LIMIT)]
    w.mission = w.mission.model_copy(
        update={"status": w.mission.status.model_copy(update={"timeline": old})}
    )
    m = w.run()
    assert len(m.status.timeline) == TIMELINE_LIMIT
    assert m.status.timeline[-1].event == "Succeeded"


def test_a_playbook_deleted_mid_run_rolls_back_what_was_done() -> None:
    w = healthy_forever()
    outcome = None
    while not w.executions:
        t = w.advance(outcome)
        w.mission = w.mission.model_copy(update={"status": t.status})
        outcome = w.perform(t.effect)
    w.playbook = None
    m = w.run()
    assert any(isinstance(e, Restore) for e in w.effects)
    assert m.status.phase is MissionPhase.ABORTED
    assert "was deleted during the run" in (m.status.message or "")
    assert "restore verified" in (m.status.message or "")


def run_until_first_execution(w: World) -> None:
    outcome = None
    while not w.executions:
        t = w.advance(outcome)
        w.mission = w.mission.model_copy(update={"status": t.status})
        outcome = w.perform(t.effect)


def test_a_healthnode_deleted_mid_run_aborts_and_restores_the_target() -> None:
    w = healthy_forever()
    run_until_first_execution(w)
    w.node = None
    m = w.run()
    assert any(isinstance(e, Restore) for e in w.effects)
    assert m.status.phase is MissionPhase.ABORTED
    assert "HealthNode 'checkout' was deleted during the run" in (m.status.message or "")
    assert m.status.rollback is not None
    assert m.status.rollback.outcome is VerificationOutcome.PASSED


def test_a_healthnode_deleted_mid_run_keeps_the_change_under_onfailure_keep() -> None:
    w = World(mission(), playbook=playbook(onFailure="keep"), samples=itertools.repeat(HEALTHY))
    run_until_first_execution(w)
    w.node = None
    m = w.run()
    assert not any(isinstance(e, Restore) for e in w.effects)
    assert m.status.phase is MissionPhase.ABORTED
    assert "(onFailure: keep)" in (m.status.message or "")


def test_a_healthnode_deleted_before_the_run_changes_nothing() -> None:
    w = World(
        mission(),
        decision=Decision(result="require_approval"),
        approver=lambda ask: None,
    )
    outcome = None
    while not isinstance((t := w.advance(outcome)).effect, OpenApproval):
        w.mission = w.mission.model_copy(update={"status": t.status})
        outcome = w.perform(t.effect)
    w.mission = w.mission.model_copy(update={"status": t.status})
    w.node = None
    m = w.run()
    assert m.status.phase is MissionPhase.ABORTED
    assert "nothing was changed" in (m.status.message or "")
    assert w.executions == []


def test_an_edited_playbook_keeps_the_contract_the_run_started_with() -> None:
    w = World(mission(), samples=itertools.repeat(HEALTHY), now=T0)
    run_until_first_execution(w)
    recorded = w.mission.status.playbook
    assert recorded is not None and recorded.spec["verify"]["checks"][0]["below"] == 0.02
    edited = playbook(onFailure="keep")
    edited["verify"] = {**edited["verify"], "checks": [{"signal": "error-rate", "below": 0.001}]}
    w.playbook = edited
    m = w.run()
    assert m.status.phase is MissionPhase.SUCCEEDED, "judged by the checks it started with"
    changed = [c for c in m.status.conditions if c.type == "PlaybookChanged"]
    assert changed and changed[0].status == "True"
    assert "keeps the spec it started with" in changed[0].message
    assert events(m).count("PlaybookChanged") == 1


def test_a_shadow_run_that_would_not_have_helped_says_so_in_a_condition() -> None:
    broken = World(mission(dry_run=True), samples=itertools.repeat(BROKEN)).run()
    shadow = [c for c in broken.status.conditions if c.type == "ShadowVerified"]
    assert shadow and shadow[0].status == "False" and shadow[0].reason == "Failed"
    assert "would NOT have helped" in shadow[0].message
    healthy = World(mission(dry_run=True), samples=itertools.repeat(HEALTHY)).run()
    shadow = [c for c in healthy.status.conditions if c.type == "ShadowVerified"]
    assert shadow and shadow[0].status == "True" and shadow[0].reason == "Passed"
