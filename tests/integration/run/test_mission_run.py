"""The state machine driven against a real Deployment: the run, the rollback, a crash mid-step."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client

from grace.api.mission import Decision, Mission, MissionPhase, StepPhase, VerificationOutcome
from grace.run.actions import ActionRefusedError
from grace.run.actions.executor import ActionExecutor
from grace.run.effects import (
    AskPolicy,
    Effect,
    Executed,
    ExecuteStep,
    Facts,
    Finish,
    Inspect,
    Inspected,
    Outcome,
    Prepared,
    PrepareStep,
    Refuse,
    Restore,
    Restored,
    Sampled,
    SampleMetrics,
    Snapshotted,
    TakeSnapshot,
)
from grace.run.machine import advance
from grace.run.verify import Reading
from tests.integration.run.conftest import Deploy, autoscale, available, protect

pytestmark = pytest.mark.cluster

NODE = {
    "target": {"kind": "Deployment", "name": "web"},
    "signals": [{"name": "error-rate", "query": "q", "degraded": {"above": 0.02}}],
}
VERIFY = {"timeout": "1m", "interval": "1s", "failureLimit": 0}
HEALTHY: Mapping[str, Reading] = {"error-rate": 0.001}
BROKEN: Mapping[str, Reading] = {"error-rate": 0.3}


def new_mission(namespace: str) -> Mission:
    return Mission.model_validate(
        {
            "metadata": {"name": "fix-web", "namespace": namespace},
            "spec": {"healthNode": "web", "playbook": "pb"},
        }
    )


class Handler:
    """A minimal handler loop: what the kopf handler does, without kopf."""

    def __init__(self, executor: ActionExecutor, samples: Iterator[Mapping[str, Reading]]) -> None:
        self.executor = executor
        self.samples = samples
        self.effects: list[Effect] = []
        self.asked = False

    def facts(self, outcome: Outcome | None) -> Facts:
        decision = Decision(result="allow") if self.asked else None
        return Facts(now=datetime.now(UTC), decision=decision, outcome=outcome)

    def run(self, m: Mission, playbook: dict[str, Any], stop: type | None = None) -> Mission:
        outcome: Outcome | None = None
        for _ in range(100):
            t = advance(m, playbook, NODE, self.facts(outcome))
            m = m.model_copy(update={"status": t.status})
            self.effects.append(t.effect)
            if isinstance(t.effect, Finish | Refuse) or (stop and isinstance(t.effect, stop)):
                return m
            outcome = self.perform(t.effect)
        raise AssertionError("the mission never finished")

    def perform(self, e: Effect) -> Outcome | None:
        x = self.executor
        if isinstance(e, Inspect):
            return Inspected(x.read(e.target, e.namespace))
        if isinstance(e, AskPolicy):
            self.asked = True
            return None
        if isinstance(e, TakeSnapshot):
            obj, held = x.hold(e.target, e.namespace, e.actions)
            return Snapshotted(obj, {}, held)
        if isinstance(e, PrepareStep):
            try:
                return Prepared(e.index, x.prepare(e.step, e.target, e.namespace))
            except ActionRefusedError as err:
                return Prepared(e.index, error=str(err))
        if isinstance(e, ExecuteStep):
            time.sleep(e.delay)
            return Executed(e.index, x.execute(e.intent, e.target, e.namespace))
        if isinstance(e, SampleMetrics):
            return Sampled(next(self.samples))
        if isinstance(e, Restore):
            try:
                return Restored(x.restore(e.snapshot, e.target, e.namespace, e.undo))
            except ActionRefusedError as err:
                return Restored(None, error=str(err))
        raise AssertionError(f"unexpected effect {e}")


def test_a_mission_scales_and_verifies(
    deploy: Deploy, executor: ActionExecutor, apps: client.AppsV1Api, namespace: str
) -> None:
    deploy(replicas=1)
    playbook = {"steps": [{"action": "scale", "with": {"replicas": 2}}], "verify": VERIFY}
    m = Handler(executor, itertools.repeat(HEALTHY)).run(new_mission(namespace), playbook)

    assert m.status.phase is MissionPhase.SUCCEEDED, m.status.message
    assert m.status.progress == "1/1"
    assert available(apps, namespace, "web", 2).spec.replicas == 2


def test_a_failed_verification_restores_the_deployment(
    deploy: Deploy, executor: ActionExecutor, apps: client.AppsV1Api, namespace: str
) -> None:
    deploy(replicas=1)
    playbook = {
        "steps": [
            {"action": "scale", "with": {"replicas": 3}},
            {"action": "setResources", "with": {"limits": {"memory": "512Mi"}}},
        ],
        "verify": VERIFY,
    }
    m = Handler(executor, itertools.repeat(BROKEN)).run(new_mission(namespace), playbook)

    assert m.status.phase is MissionPhase.ROLLED_BACK, m.status.message
    assert m.status.rollback is not None
    assert m.status.rollback.outcome is VerificationOutcome.PASSED
    d = available(apps, namespace, "web", 1)
    assert d.spec.template.spec.containers[0].resources.limits is None


def test_a_restarted_operator_does_not_repeat_a_finished_step(
    deploy: Deploy,
    executor: ActionExecutor,
    apps: client.AppsV1Api,
    namespace: str,
) -> None:
    deploy(replicas=1)
    playbook = {"steps": [{"action": "rolloutRestart"}], "verify": VERIFY}
    first = Handler(executor, itertools.repeat(HEALTHY))
    m = first.run(new_mission(namespace), playbook, stop=ExecuteStep)
    assert m.status.steps[0].phase is StepPhase.RUNNING
    # the change is made, then the operator dies before recording that it finished
    step = first.effects[-1]
    assert isinstance(step, ExecuteStep)
    assert executor.execute(step.intent, step.target, step.namespace).changed

    second = Handler(executor, itertools.repeat(HEALTHY))
    second.asked = True
    m = second.run(m, playbook)

    assert m.status.phase is MissionPhase.SUCCEEDED
    assert "already restarted" in (m.status.steps[0].message or "")
    available(apps, namespace, "web", 1)  # the restart's ReplicaSet exists once it rolled out
    owned = [
        rs
        for rs in apps.list_namespaced_replica_set(namespace, label_selector="app=web").items
        if rs.metadata.owner_references[0].name == "web"
    ]
    assert len(owned) == 2, "one restart, one new ReplicaSet"


def test_an_eviction_a_disruption_budget_refuses_is_reported_on_the_mission_not_forced(
    deploy: Deploy, executor: ActionExecutor, api: Any, core: client.CoreV1Api, namespace: str
) -> None:
    deploy(replicas=2)
    protect(api, namespace, min_available=2)
    pods = {p.metadata.uid for p in core.list_namespaced_pod(namespace).items}
    playbook = {"steps": [{"action": "evictPods", "with": {"count": 1}}], "verify": VERIFY}

    m = Handler(executor, itertools.repeat(HEALTHY)).run(new_mission(namespace), playbook)

    step = m.status.steps[0]
    assert step.phase is StepPhase.FAILED
    assert "eviction refused" in (step.message or "")
    assert "violate the pod's disruption budget" in (step.message or "")  # the API's reason
    assert m.status.phase is MissionPhase.ROLLED_BACK, m.status.message
    assert any("eviction refused" in (e.message or "") for e in m.status.timeline)
    live = core.list_namespaced_pod(namespace).items
    assert {p.metadata.uid for p in live if p.metadata.deletion_timestamp is None} == pods


def test_a_failed_scale_hpa_mission_restores_the_bounds_from_the_snapshot(
    deploy: Deploy, executor: ActionExecutor, api: Any, namespace: str
) -> None:
    deploy(replicas=1)
    autoscale(api, namespace, low=1, high=3)
    playbook = {
        "parameters": [{"name": "most", "type": "integer", "minimum": 2, "maximum": 8}],
        "steps": [{"action": "scaleHPA", "with": {"maxReplicas": "${most}"}}],
        "verify": VERIFY,
    }
    mission = new_mission(namespace)
    mission.spec.parameters = {"most": 8}

    m = Handler(executor, itertools.repeat(BROKEN)).run(mission, playbook)

    assert m.status.steps[0].phase is StepPhase.SUCCEEDED, m.status.steps[0].message
    assert "maxReplicas 8" in (m.status.steps[0].message or "")
    assert m.status.snapshot is not None
    assert m.status.snapshot["held"]["scaleHPA"]["maxReplicas"] == 3
    assert m.status.phase is MissionPhase.ROLLED_BACK, m.status.message
    spec = client.AutoscalingV2Api(api).read_namespaced_horizontal_pod_autoscaler("web", namespace)
    assert (spec.spec.min_replicas, spec.spec.max_replicas) == (1, 3)
