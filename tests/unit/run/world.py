"""A scripted stand-in for the handler: performs each effect the machine asks for, on fakes.

`World.run` plays the handler loop (write status, perform effect, answer) and, at every step
boundary, checks level-triggering: asking again with the stored status and no answer gives
the same effect and no change.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from grace.api.mission import ApprovalStatus, Decision, Mission, MissionPhase
from grace.run.effects import (
    AskPolicy,
    Effect,
    Executed,
    ExecuteStep,
    Facts,
    Finish,
    Inspect,
    Inspected,
    OpenApproval,
    Outcome,
    Prepared,
    PrepareStep,
    Refuse,
    Restore,
    Restored,
    Sampled,
    SampleMetrics,
    Snapshotted,
    StepResult,
    TakeSnapshot,
)
from grace.run.machine import Transition, advance
from grace.run.verify import Reading

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def deployment(image: str = "shop/checkout:1.4", **labels: str) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {
            "name": "checkout",
            "namespace": "shop",
            "uid": "uid-1",
            "labels": {"app": "checkout", **labels},
            "annotations": {"deployment.kubernetes.io/revision": "4"},
        },
        "spec": {
            "replicas": 3,
            "template": {
                "metadata": {"labels": {"app": "checkout"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def playbook(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "parameters": [
            {"name": "replicas", "type": "integer", "minimum": 1, "maximum": 20, "default": 5}
        ],
        "steps": [
            {"name": "scale-out", "action": "scale", "with": {"replicas": "${replicas}"}},
            {"action": "rolloutRestart"},
        ],
        "verify": {
            "timeout": "2m",
            "interval": "15s",
            "stableFor": "30s",
            "failureLimit": 1,
            "checks": [{"signal": "error-rate", "below": 0.02}],
        },
        "onFailure": "rollback",
        "timeout": "5m",
        "requireApprovalForGitOps": True,
    }
    spec.update(overrides)
    return spec


NODE: dict[str, Any] = {
    "criticality": "high",
    "target": {"kind": "Deployment", "name": "checkout"},
    "signals": [
        {"name": "error-rate", "query": "q", "degraded": {"above": 0.02}},
        {"name": "latency", "query": "q2", "degraded": {"above": 0.5}},
    ],
}


def mission(dry_run: bool = False, **parameters: Any) -> Mission:
    return Mission.model_validate(
        {
            "metadata": {"name": "checkout-fix", "namespace": "shop", "uid": "m-1"},
            "spec": {
                "healthNode": "checkout",
                "playbook": "scale-out",
                "parameters": parameters,
                "reason": "error rate high",
                "dryRun": dry_run,
            },
        }
    )


ALLOW = Decision(result="allow", tier="auto", reasons=["low risk"], engine="embedded")
HEALTHY: dict[str, Reading] = {"error-rate": 0.01, "latency": 0.2}
BROKEN: dict[str, Reading] = {"error-rate": 0.09, "latency": 0.2}


@dataclass
class World:
    """The fake cluster, Prometheus, policy and approver the machine talks to."""

    mission: Mission
    playbook: dict[str, Any] | None = field(default_factory=playbook)
    node: dict[str, Any] | None = field(default_factory=lambda: copy.deepcopy(NODE))
    target: dict[str, Any] | None = field(default_factory=deployment)
    decision: Decision | None = field(default_factory=lambda: ALLOW)
    approver: Callable[[OpenApproval], ApprovalStatus | None] = lambda ask: None
    samples: Iterator[dict[str, Reading]] = field(default_factory=lambda: iter(()))
    baseline: dict[str, Reading] = field(default_factory=lambda: {"error-rate": 0.08})
    held: dict[str, Any] = field(default_factory=dict)
    step_result: Callable[[ExecuteStep], StepResult] = lambda e: StepResult(
        "Succeeded", f"did {e.intent['action']}", True
    )
    restored: Callable[[Restore], Restored] | None = None
    abort_when: Callable[[World], bool] = lambda w: False
    now: datetime = T0
    effects: list[Effect] = field(default_factory=list)
    executions: list[int] = field(default_factory=list)
    approval: ApprovalStatus | None = None
    policy_asked: bool = False

    def facts(self, outcome: Outcome | None) -> Facts:
        return Facts(
            now=self.now,
            abort=self.abort_when(self),
            decision=self.decision if self.policy_asked else None,
            approval=self.approval,
            outcome=outcome,
        )

    def advance(self, outcome: Outcome | None) -> Transition:
        return advance(self.mission, self.playbook, self.node, self.facts(outcome))

    def run(self, limit: int = 200) -> Mission:
        outcome: Outcome | None = None
        for _ in range(limit):
            t = self.advance(outcome)
            self.mission = self.mission.model_copy(update={"status": t.status})
            again = self.advance(None)
            assert again.effect == t.effect, (t.effect, again.effect)
            assert not again.changed, "the same stored status must not change again"
            self.effects.append(t.effect)
            if isinstance(t.effect, Finish | Refuse):
                return self.mission
            outcome = self.perform(t.effect)
        raise AssertionError(f"no Finish after {limit} effects: {self.effects[-5:]}")

    def perform(self, effect: Effect) -> Outcome | None:
        if isinstance(effect, Inspect):
            return Inspected(copy.deepcopy(self.target))
        if isinstance(effect, AskPolicy):
            self.policy_asked = True
            return None
        if isinstance(effect, OpenApproval):
            self.approval = self.approver(effect)
            if self.approval is None:
                raise AssertionError(f"nobody answers approval {effect}")
            return None
        if isinstance(effect, TakeSnapshot):
            return Snapshotted(copy.deepcopy(self.target), dict(self.baseline), dict(self.held))
        if isinstance(effect, PrepareStep):
            intent: dict[str, Any] = {
                "action": effect.step.action.value,
                "step": effect.step.name,
                "target": {
                    "kind": effect.target.kind,
                    "name": effect.target.name,
                    "namespace": effect.namespace,
                    "uid": "uid-1",
                },
                "plan": effect.step.wire(),
                **effect.step.args.wire(),
            }
            duration = getattr(effect.step.args, "duration", None)
            if duration is not None:
                until = self.now + timedelta(seconds=duration)
                intent["deadline"] = until.strftime("%Y-%m-%dT%H:%M:%SZ")
            if effect.step.action.value == "cordonNode":
                intent["nodes"] = [{"name": "node-1", "uid": "n1"}]
            return Prepared(effect.index, intent)
        if isinstance(effect, ExecuteStep):
            self.now += timedelta(seconds=1)  # an eager handler: runs it before the delay is up
            self.executions.append(effect.index)
            return Executed(effect.index, self.step_result(effect))
        if isinstance(effect, SampleMetrics):
            self.now += timedelta(seconds=effect.delay)
            return Sampled(next(self.samples, {}))
        if isinstance(effect, Restore):
            if self.restored is not None:
                return self.restored(effect)
            return Restored(copy.deepcopy(self.target))
        raise AssertionError(f"unexpected effect {effect}")


def kinds(effects: list[Effect]) -> list[str]:
    """Effect names with consecutive repeats collapsed: the shape of a run."""
    out: list[str] = []
    for e in effects:
        name = type(e).__name__
        if not out or out[-1] != name:
            out.append(name)
    return out


def approve(by: str = "alice") -> Callable[[OpenApproval], ApprovalStatus]:
    return lambda ask: ApprovalStatus(
        request=ask.request, purpose=ask.purpose, state="Approved", decided_by=by
    )


def answer(state: str, by: str = "alice") -> Callable[[OpenApproval], ApprovalStatus]:
    return lambda ask: ApprovalStatus(
        request=ask.request, purpose=ask.purpose, state=state, decided_by=by
    )


def events(m: Mission) -> list[str]:
    return [e.event for e in m.status.timeline]


def phase(m: Mission) -> MissionPhase:
    return m.status.phase
