"""The Mission state machine: stored status + facts -> the next status and the one effect to perform.

Pure and level-triggered: the next effect is a function of the stored status (and the facts),
so an operator restarted at any point calls `advance` with what it reads back and carries on
where it stopped. A step is recorded Running, with its intent, before it executes, and
Succeeded or Failed after; a finished step is never executed again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from grace.api.approval import ApprovalPurpose
from grace.api.common import Condition, find_condition, set_condition
from grace.api.duration import parse_duration
from grace.api.healthnode import HealthNodeSpec, Target
from grace.api.mission import (
    TERMINAL_PHASES,
    TIMELINE_LIMIT,
    ApprovalStatus,
    CheckResult,
    Mission,
    MissionPhase,
    MissionStatus,
    PlaybookRecord,
    StepPhase,
    StepStatus,
    TimelineEvent,
    Verification,
    VerificationOutcome,
)
from grace.api.playbook import OnFailure, PlaybookSpec
from grace.run import gitops, snapshot, verify
from grace.run.actions import ResolvedStep, describe
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
from grace.run.params import Refusal, parse_node, parse_playbook, preflight

REFUSED_CONDITION = "Refused"
ROLLBACK_CONDITION = "RollbackRequested"
"""Its reason says why the run is being rolled back, which decides the final phase."""
PLAYBOOK_CHANGED_CONDITION = "PlaybookChanged"
"""True while the live Playbook differs from the one the run started with (and keeps)."""
SHADOW_CONDITION = "ShadowVerified"
"""A dry run's verdict on the metrics: False when the playbook would not have helped."""

_FINAL_AFTER_ROLLBACK = {
    "Timeout": MissionPhase.TIMED_OUT,
    "Aborted": MissionPhase.ABORTED,
    "Deleted": MissionPhase.ABORTED,
    "ApprovalExpired": MissionPhase.EXPIRED,
}
_MAX_TRANSITIONS = 64

AnswerT = TypeVar("AnswerT", Inspected, Snapshotted, Prepared, Executed, Sampled, Restored)


@dataclass(frozen=True)
class Transition:
    """Write `status` (when `changed`) first, then perform `effect`."""

    status: MissionStatus
    effect: Effect
    changed: bool


def request_name(mission: str, purpose: str) -> str:
    """The ApprovalRequest a Mission opens for a purpose: one name, so creating it is idempotent."""
    suffix = "run" if purpose == ApprovalPurpose.RUN.value else "keep"
    return f"{mission[:240]}-{suffix}"


def advance(
    mission: Mission,
    playbook: PlaybookSpec | Mapping[str, Any] | None,
    node: HealthNodeSpec | Mapping[str, Any] | None,
    facts: Facts,
) -> Transition:
    """The next status and effect. `playbook`/`node` are their specs (raw dicts are best: the
    whitelist then also sees fields the typed models would drop); None when not found."""
    run = _Run(mission, playbook, node, facts)
    for _ in range(_MAX_TRANSITIONS):
        effect = run.step()
        if effect is not None:
            return Transition(run.status, effect, run.status != mission.status)
    raise RuntimeError(f"mission {mission.metadata.name}: state machine did not settle")


@dataclass(frozen=True)
class _Context:
    playbook: PlaybookSpec
    node: HealthNodeSpec


@dataclass(frozen=True)
class _Lost:
    """Why the run cannot go on; `playbook` is the one it started with, when known (its
    onFailure still decides whether the target is restored)."""

    reason: str
    message: str
    playbook: PlaybookSpec | None


def playbook_digest(spec: Mapping[str, Any]) -> str:
    """A short digest of a Playbook spec, to tell whether the live one is the recorded one."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _spec_dict(raw: PlaybookSpec | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(raw, PlaybookSpec):
        return raw.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dict(raw)


class _Run:
    def __init__(
        self,
        mission: Mission,
        playbook: PlaybookSpec | Mapping[str, Any] | None,
        node: HealthNodeSpec | Mapping[str, Any] | None,
        facts: Facts,
    ) -> None:
        self.mission = mission
        self.spec = mission.spec
        self.name = mission.metadata.name
        self.namespace = mission.metadata.namespace
        self.status = mission.status.model_copy(deep=True)
        self.raw_playbook = playbook
        self.raw_node = node
        self.facts = facts
        self.now: datetime = facts.now
        self.outcome: Outcome | None = facts.outcome
        self._context: _Context | _Lost | None = None

    # ------------------------------------------------------------ plumbing

    def take(self, kind: type[AnswerT], index: int | None = None) -> AnswerT | None:
        """The answer to the current effect, consumed once; a stale or foreign answer is None."""
        o = self.outcome
        if not isinstance(o, kind):
            return None
        if index is not None and getattr(o, "index", None) != index:
            return None
        self.outcome = None
        return o

    def event(self, event: str, message: str) -> None:
        timeline = [
            *self.status.timeline,
            TimelineEvent(time=self.now, event=event, message=message),
        ]
        self.status.timeline = timeline[-TIMELINE_LIMIT:]

    def target(self) -> Target:
        return Target.model_validate(
            {"kind": self.status.target["kind"], "name": self.status.target["name"]}
        )

    def ref(self) -> str:
        return f"{self.status.target.get('kind')}/{self.status.target.get('name')}"

    def context(self) -> _Context | _Lost:
        """The playbook (as the run started with it) and node of an accepted Mission, or why
        the run cannot go on."""
        if self._context is None:
            self._context = self._load_context()
        return self._context

    def _load_context(self) -> _Context | _Lost:
        recorded = self.status.playbook
        source = recorded.spec if recorded else self.raw_playbook
        pb = parse_playbook(source, self.namespace) if source is not None else None
        if isinstance(pb, Refusal):
            return _Lost(
                "Lost",
                f"playbook {self.spec.playbook!r} became invalid during the run: {pb.message}",
                None,
            )
        if self.raw_playbook is None:
            return _Lost(
                "Deleted", f"playbook {self.spec.playbook!r} was deleted during the run", pb
            )
        if self.raw_node is None:
            return _Lost(
                "Deleted", f"HealthNode {self.spec.health_node!r} was deleted during the run", pb
            )
        node = parse_node(self.raw_node)
        if isinstance(node, Refusal):
            return _Lost("Lost", f"HealthNode became invalid during the run: {node.message}", pb)
        assert pb is not None
        return _Context(pb, node)

    def note_playbook_change(self) -> None:
        """Say so (once) when the live Playbook is not the one this run started with."""
        st = self.status
        if st.playbook is None or self.raw_playbook is None:
            return
        live = playbook_digest(_spec_dict(self.raw_playbook))
        shown = find_condition(st.conditions, PLAYBOOK_CHANGED_CONDITION)
        if live == st.playbook.digest:
            if shown is not None and shown.status == "True":
                st.conditions = set_condition(
                    st.conditions,
                    Condition(
                        type=PLAYBOOK_CHANGED_CONDITION,
                        status="False",
                        reason="Unchanged",
                        message="the live Playbook is again the one this run started with",
                    ),
                    self.now,
                )
            return
        if shown is not None and shown.status == "True":
            return
        was = st.playbook.generation
        now = self.facts.playbook_generation
        generations = f" (generation {was} -> {now})" if was and now and was != now else ""
        message = (
            f"playbook {self.spec.playbook} changed since this run started{generations}; "
            "the run keeps the spec it started with (status.playbook)"
        )
        st.conditions = set_condition(
            st.conditions,
            Condition(
                type=PLAYBOOK_CHANGED_CONDITION,
                status="True",
                reason="LivePlaybookDiffers",
                message=message,
            ),
            self.now,
        )
        self.event("PlaybookChanged", message)

    def progress(self) -> None:
        done = sum(
            s.phase is StepPhase.SUCCEEDED
            or (s.phase is StepPhase.SKIPPED and bool(s.intent and "action" in s.intent))
            for s in self.status.steps
        )
        self.status.progress = f"{done}/{len(self.status.steps)}"

    def started_steps(self) -> list[StepStatus]:
        return [s for s in self.status.steps if s.started_at is not None]

    def finish(self, phase: MissionPhase, message: str) -> None:
        for s in self.status.steps:
            if s.phase is StepPhase.PENDING:
                s.phase, s.message = StepPhase.SKIPPED, "not run"
        self.progress()
        self.status.phase = phase
        self.status.finished_at = self.now
        self.status.message = message
        self.event(phase.value, message)

    # ------------------------------------------------------------ dispatch

    def step(self) -> Effect | None:
        st = self.status
        if st.phase in TERMINAL_PHASES:
            return self.final_effect()
        if not st.target:
            self.accept()
            return None
        if st.phase is not MissionPhase.ROLLING_BACK:
            ctx = self.context()
            if isinstance(ctx, _Lost):
                self.fail_or_rollback(ctx.reason, ctx.message)
                return None
            self.note_playbook_change()
            if self.facts.abort:
                self.absorb_executed()
                self.abort()
                return None
            if self.watchdog_expired(ctx.playbook):
                self.absorb_executed()
                self.rollback(
                    "Timeout",
                    f"watchdog: the run exceeded the playbook timeout {ctx.playbook.timeout}",
                )
                return None
            if st.phase is MissionPhase.PENDING:
                return self.pending(ctx)
            if st.phase is MissionPhase.AWAITING_APPROVAL:
                return self.awaiting_approval(ctx)
            if st.phase is MissionPhase.RUNNING:
                return self.running(ctx)
            if st.phase is MissionPhase.VERIFYING:
                return self.verifying(ctx)
        return self.rolling_back()

    def final_effect(self) -> Effect:
        refused = find_condition(self.status.conditions, REFUSED_CONDITION)
        if refused is not None and refused.status == "True":
            return Refuse(refused.reason, refused.message)
        v = self.status.verification
        return Finish(
            phase=self.status.phase,
            message=self.status.message or "",
            verification=v.outcome if v else None,
            dry_run=self.spec.dry_run,
        )

    # ------------------------------------------------------------ Pending

    def accept(self) -> None:
        pre = preflight(
            self.raw_playbook,
            self.raw_node,
            self.spec.parameters,
            self.namespace,
            playbook_name=self.spec.playbook,
            node_name=self.spec.health_node,
        )
        if isinstance(pre, Refusal):
            self.refuse(pre)
            return
        st = self.status
        st.target = {"kind": pre.target.kind, "name": pre.target.name, "namespace": self.namespace}
        if self.raw_playbook is not None:
            spec = _spec_dict(self.raw_playbook)
            st.playbook = PlaybookRecord(
                generation=self.facts.playbook_generation,
                digest=playbook_digest(spec),
                spec=spec,
            )
        st.steps = [
            StepStatus(name=s.name, action=s.action.value, intent={"plan": s.wire()})
            for s in pre.plan.steps
        ]
        self.progress()
        params = ", ".join(f"{k}={v}" for k, v in sorted(pre.plan.parameters.items()))
        actions = ", ".join(s.action.value for s in pre.plan.steps)
        st.message = (
            f"playbook {self.spec.playbook} on {self.ref()}: {len(st.steps)} step(s) ({actions})"
            + (f", parameters {params}" if params else "")
            + (" [dry run: nothing will be changed]" if self.spec.dry_run else "")
        )
        self.event("Accepted", st.message)

    def refuse(self, refusal: Refusal) -> None:
        st = self.status
        st.conditions = set_condition(
            st.conditions,
            Condition(
                type=REFUSED_CONDITION,
                status="True",
                reason=refusal.reason,
                message=refusal.message,
            ),
            self.now,
        )
        self.finish(MissionPhase.FAILED, f"refused: {refusal.message}")

    def pending(self, ctx: _Context) -> Effect | None:
        st = self.status
        if st.gitops is None:
            inspected = self.take(Inspected)
            if inspected is None:
                return Inspect(self.target(), self.namespace)
            if inspected.obj is None:
                self.refuse(
                    Refusal(
                        "TargetNotFound", f"{self.ref()} not found in namespace {self.namespace}"
                    )
                )
                return None
            meta = inspected.obj.get("metadata") or {}
            st.target = {**st.target, "uid": str(meta.get("uid", ""))}
            st.gitops = gitops.detect(inspected.obj)
            owner = (
                f"owner: {st.gitops.tool} {st.gitops.detail}"
                if st.gitops.tool != "none"
                else "no GitOps owner"
            )
            self.event("Inspected", f"{self.ref()} (uid {st.target['uid']}), {owner}")
            return None
        if st.decision is None:
            if self.facts.decision is None:
                return AskPolicy()
            st.decision = self.facts.decision.model_copy(
                update={"decided_at": self.facts.decision.decided_at or self.now}
            )
            d = st.decision
            why = "; ".join(d.reasons) or "no reasons given"
            tier = f" (tier {d.tier})" if d.tier else ""
            self.event("Decided", f"policy: {d.result}{tier}: {why}")
            return None
        if st.decision.result == "deny":
            self.finish(
                MissionPhase.DENIED,
                f"denied by policy: {'; '.join(st.decision.reasons) or 'no reasons given'}",
            )
            return None
        reasons = self.run_approval_reasons(ctx)
        if reasons and not self.spec.dry_run:
            st.phase = MissionPhase.AWAITING_APPROVAL
            st.approval = ApprovalStatus(
                request=request_name(self.name, ApprovalPurpose.RUN.value),
                purpose=ApprovalPurpose.RUN.value,
            )
            st.message = f"waiting for approval: {'; '.join(reasons)}"
            self.event("ApprovalRequested", f"ApprovalRequest {st.approval.request}: {st.message}")
            return None
        if reasons:
            self.event(
                "WouldAskApproval", f"dry run: a real run would need approval: {'; '.join(reasons)}"
            )
        self.start()
        return None

    def run_approval_reasons(self, ctx: _Context) -> list[str]:
        st = self.status
        reasons: list[str] = []
        if st.decision is not None and st.decision.result == "require_approval":
            reasons.extend(st.decision.reasons or ["policy requires approval"])
        if (
            st.gitops is not None
            and st.gitops.tool != "none"
            and ctx.playbook.require_approval_for_git_ops
        ):
            reasons.append(
                f"target is owned by {st.gitops.tool} {st.gitops.detail} and the playbook "
                "requires approval for GitOps-owned targets"
            )
        return reasons

    def start(self) -> None:
        st = self.status
        st.phase = MissionPhase.RUNNING
        st.started_at = self.now
        st.message = (
            "dry run: recording what would be done"
            if self.spec.dry_run
            else f"running on {self.ref()}"
        )
        self.event("Started", st.message)

    # ------------------------------------------------------------ AwaitingApproval

    def awaiting_approval(self, ctx: _Context) -> Effect | None:
        st = self.status
        if st.approval is None:
            st.approval = ApprovalStatus(
                request=request_name(self.name, ApprovalPurpose.RUN.value),
                purpose=ApprovalPurpose.RUN.value,
            )
        ap = st.approval
        answer = self.facts.approval
        if answer is None or answer.request != ap.request or answer.state == "Pending":
            return self.open_approval(ctx, ap)
        st.approval = ap.model_copy(
            update={
                "state": answer.state,
                "decided_by": answer.decided_by,
                "decided_at": answer.decided_at or self.now,
                "reason": answer.reason,
            }
        )
        who = answer.decided_by or "an approver"
        why = f": {answer.reason}" if answer.reason else ""
        keep = ap.purpose == ApprovalPurpose.KEEP.value
        outcome = (
            st.verification.outcome.value if st.verification and st.verification.outcome else ""
        )
        if answer.state == "Approved":
            if keep:
                self.finish(
                    MissionPhase.SUCCEEDED, f"kept by {who} after verification {outcome}{why}"
                )
            else:
                self.event("Approved", f"approved by {who}{why}")
                self.start()
        elif answer.state == "Denied":
            if keep:
                self.rollback(
                    "RollbackChosen", f"{who} chose to roll back after verification {outcome}{why}"
                )
            else:
                self.finish(MissionPhase.DENIED, f"denied by {who}{why}")
        elif keep and ctx.playbook.on_failure is OnFailure.ROLLBACK:
            self.rollback(
                "ApprovalExpired",
                f"nobody decided to keep the change after verification {outcome}; "
                "rolling back (onFailure: rollback)",
            )
        elif keep:
            self.finish(
                MissionPhase.EXPIRED,
                f"nobody decided after verification {outcome}; the change is kept (onFailure: keep)",
            )
        else:
            self.finish(
                MissionPhase.EXPIRED,
                f"the approval request expired: {answer.reason}"
                if answer.reason
                else "the approval request expired before anyone decided",
            )
        return None

    def open_approval(self, ctx: _Context, ap: ApprovalStatus) -> OpenApproval:
        st = self.status
        if ap.purpose == ApprovalPurpose.KEEP.value:
            v = st.verification
            outcome = v.outcome.value if v and v.outcome else "unknown"
            reasons: tuple[str, ...] = (f"verification {outcome}: {v.message if v else ''}",)
            question = (
                f"Mission {self.name} changed {self.ref()} but its verification was {outcome}. "
                "Approve to keep the change, deny to roll it back to the safe-hold."
            )
        else:
            reasons = tuple(self.run_approval_reasons(ctx)) or ("approval requested",)
            question = (
                f"May Mission {self.name} run playbook {self.spec.playbook} on {self.ref()}"
                f" (reason: {self.spec.reason or 'none given'})?"
            )
        return OpenApproval(
            request=ap.request, purpose=ap.purpose, reasons=reasons, question=question
        )

    # ------------------------------------------------------------ Running

    def running(self, ctx: _Context) -> Effect | None:
        st = self.status
        if st.snapshot is None:
            return self.take_snapshot(ctx)
        index = next(
            (
                i
                for i, s in enumerate(st.steps)
                if s.phase in (StepPhase.PENDING, StepPhase.RUNNING)
            ),
            None,
        )
        if index is None:
            self.begin_verification(ctx)
            return None
        if st.steps[index].phase is StepPhase.RUNNING:
            return self.execute(index)
        return self.prepare(ctx, index)

    def take_snapshot(self, ctx: _Context) -> Effect | None:
        st = self.status
        taken = self.take(Snapshotted)
        if taken is None:
            signals = tuple(s.name for s in ctx.node.signals)
            actions = tuple(s.action for s in st.steps)
            return TakeSnapshot(self.target(), self.namespace, signals, actions)
        if taken.obj is None:
            self.finish(MissionPhase.FAILED, f"{self.ref()} disappeared before the first step")
            return None
        st.snapshot = snapshot.take(taken.obj, st.target["kind"], taken.held)
        st.target = {**st.target, "uid": str(st.snapshot.get("uid") or "")}
        st.baseline = {
            k: float(v)
            for k, v in taken.baseline.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and v == v
        }
        base = ", ".join(f"{k}={v:.6g}" for k, v in sorted(st.baseline.items()))
        self.event(
            "SafeHold",
            f"snapshot of {snapshot.summary(st.snapshot)}"
            + (f"; baseline {base}" if base else "; no baseline data"),
        )
        return None

    def prepare(self, ctx: _Context, index: int) -> Effect | None:
        st = self.status
        step = st.steps[index]
        n = len(st.steps)
        prepared = self.take(Prepared, index)
        if prepared is None:
            plan = ResolvedStep.from_wire((step.intent or {})["plan"])
            return PrepareStep(index, plan, self.target(), self.namespace)
        label = f"step {index + 1}/{n} {step.name}"
        intent = prepared.intent
        error = prepared.error
        if error is None and intent is None:
            error = "the executor returned no intent"
        if error is None and intent is not None:
            uid = str((intent.get("target") or {}).get("uid", ""))
            if st.target.get("uid") and uid != st.target["uid"]:
                error = (
                    f"{self.ref()} was replaced during the run (uid {st.target['uid']} -> {uid})"
                )
        if error is not None or intent is None:
            step.phase, step.finished_at = StepPhase.FAILED, self.now
            step.message = f"could not prepare: {error}"
            self.event("StepFailed", f"{label}: {step.message}")
            self.fail_or_rollback("StepFailed", f"{label} failed: {step.message}")
            return None
        step.intent = intent
        what = describe(intent)
        if self.spec.dry_run:
            step.phase, step.message = StepPhase.SKIPPED, f"dry run: would {what}"
            self.progress()
            self.event("WouldRun", f"{label}: would {what}")
            return None
        if not self.started_steps():
            note = gitops.drift_note(st.gitops)
            if note:
                self.event("Drift", note)
        step.phase, step.started_at, step.message = StepPhase.RUNNING, self.now, what
        st.message = f"{label}: {what}"
        self.event("StepStarted", st.message)
        return None

    def execute(self, index: int) -> Effect | None:
        step = self.status.steps[index]
        executed = self.take(Executed, index)
        if executed is None or executed.result.phase == "Waiting":
            retry = executed.result.retry_after if executed else 0.0
            intent = dict(step.intent or {})
            return ExecuteStep(
                index, intent, self.target(), self.namespace, self.delay(intent, retry)
            )
        if not self.record_result(index, executed.result):
            label = f"step {index + 1}/{len(self.status.steps)} {step.name}"
            self.fail_or_rollback("StepFailed", f"{label} failed: {executed.result.message}")
        return None

    def delay(self, intent: Mapping[str, Any], retry_after: float) -> float:
        """How long a step waits before running again: a wait step until its recorded deadline."""
        deadline = intent.get("deadline")
        if not isinstance(deadline, str):
            return retry_after
        until = datetime.fromisoformat(deadline.replace("Z", "+00:00"))
        return max(0.0, (until - self.now).total_seconds())

    def record_result(self, index: int, result: StepResult) -> bool:
        """Record a finished step (Succeeded or Failed); True when it succeeded."""
        step = self.status.steps[index]
        label = f"step {index + 1}/{len(self.status.steps)} {step.name}"
        step.finished_at, step.message = self.now, result.message
        if result.phase == "Succeeded":
            step.phase = StepPhase.SUCCEEDED
            self.progress()
            self.event("StepSucceeded", f"{label}: {result.message}")
            return True
        step.phase = StepPhase.FAILED
        self.event("StepFailed", f"{label}: {result.message}")
        return False

    def absorb_executed(self) -> None:
        """Record a step that did run before an abort or a timeout decides what comes next."""
        for i, s in enumerate(self.status.steps):
            if s.phase is StepPhase.RUNNING:
                executed = self.take(Executed, i)
                if executed is not None and executed.result.phase != "Waiting":
                    self.record_result(i, executed.result)

    # ------------------------------------------------------------ Verifying

    def begin_verification(self, ctx: _Context) -> None:
        st = self.status
        v = ctx.playbook.verify
        st.phase = MissionPhase.VERIFYING
        st.verification = Verification(started_at=self.now)
        checks = ", ".join(
            f"{c.signal} {c.expected}" for c in verify.criteria(v, ctx.node.signals, st.baseline)
        )
        st.message = f"verifying every {v.interval} for up to {v.timeout} (stable for {v.stable_for}): {checks}"
        self.event("Verifying", st.message)

    def verifying(self, ctx: _Context) -> Effect | None:
        st = self.status
        v = ctx.playbook.verify
        state = st.verification or Verification(started_at=self.now)
        started = state.started_at or self.now
        sampled = self.take(Sampled)
        timed_out = self.now >= started + timedelta(seconds=parse_duration(v.timeout))
        signals = tuple(s.name for s in ctx.node.signals)
        if sampled is None and not timed_out:
            delay = parse_duration(v.interval)
            if not state.checks:  # nothing judged yet: let windowed metrics see the change first
                settle = started + timedelta(seconds=parse_duration(v.initial_delay)) - self.now
                delay = max(delay, settle.total_seconds())
            return SampleMetrics(signals, delay)
        new = verify.evaluate(
            state, v, ctx.node.signals, sampled.values if sampled else None, st.baseline, self.now
        )
        st.verification = new
        if new.outcome is None:
            if new.failures > state.failures:
                self.event(
                    "CheckFailed",
                    f"sample failed ({new.failures} of {v.failure_limit} allowed): {new.message}",
                )
            return SampleMetrics(signals, parse_duration(v.interval))
        self.verified(ctx, new)
        return None

    def verified(self, ctx: _Context, v: Verification) -> None:
        outcome = v.outcome
        assert outcome is not None
        self.event("Verified", f"verification {outcome.value}: {v.message}")
        if self.spec.dry_run:
            passed = outcome is VerificationOutcome.PASSED
            self.status.conditions = set_condition(
                self.status.conditions,
                Condition(
                    type=SHADOW_CONDITION,
                    status="True" if passed else "False",
                    reason=outcome.value,
                    message=(
                        f"the playbook would have helped: {v.message}"
                        if passed
                        else f"the playbook would NOT have helped ({outcome.value}): {v.message}"
                    ),
                ),
                self.now,
            )
            self.finish(
                MissionPhase.SUCCEEDED,
                f"dry run, nothing was changed; shadow verification {outcome.value}: {v.message}",
            )
        elif outcome is VerificationOutcome.PASSED:
            self.finish(MissionPhase.SUCCEEDED, f"verified: {v.message}")
        elif outcome is VerificationOutcome.FAILED:
            if ctx.playbook.on_failure is OnFailure.ROLLBACK:
                self.rollback("VerificationFailed", f"verification failed: {v.message}")
            else:
                self.finish(
                    MissionPhase.FAILED, f"verification failed (onFailure: keep): {v.message}"
                )
        else:
            st = self.status
            st.phase = MissionPhase.AWAITING_APPROVAL
            st.approval = ApprovalStatus(
                request=request_name(self.name, ApprovalPurpose.KEEP.value),
                purpose=ApprovalPurpose.KEEP.value,
            )
            st.message = (
                f"verification {outcome.value}: approve to keep the change, deny to roll it back"
            )
            self.event("ApprovalRequested", f"ApprovalRequest {st.approval.request}: {st.message}")

    # ------------------------------------------------------------ failure, abort, timeout, rollback

    def watchdog_expired(self, playbook: PlaybookSpec) -> bool:
        st = self.status
        if st.phase not in (MissionPhase.RUNNING, MissionPhase.VERIFYING) or st.started_at is None:
            return False
        return self.now >= st.started_at + timedelta(seconds=parse_duration(playbook.timeout))

    def abort(self) -> None:
        st = self.status
        before_run = st.phase is MissionPhase.PENDING or (
            st.phase is MissionPhase.AWAITING_APPROVAL
            and (st.approval is None or st.approval.purpose == ApprovalPurpose.RUN.value)
        )
        if before_run:
            self.finish(MissionPhase.ABORTED, "aborted (grace.dev/abort) before anything ran")
        else:
            self.rollback("Aborted", "aborted (grace.dev/abort)")

    def fail_or_rollback(self, reason: str, message: str) -> None:
        playbook = self.context().playbook
        if playbook is not None and playbook.on_failure is OnFailure.KEEP:
            final = _FINAL_AFTER_ROLLBACK.get(reason, MissionPhase.FAILED)
            self.finish(final, f"{message} (onFailure: keep)")
        else:
            self.rollback(reason, message)

    def rollback(self, reason: str, message: str) -> None:
        st = self.status
        for s in st.steps:
            if s.phase is StepPhase.RUNNING:
                s.phase, s.finished_at, s.message = (
                    StepPhase.FAILED,
                    self.now,
                    f"interrupted: {message}",
                )
        final = _FINAL_AFTER_ROLLBACK.get(reason, MissionPhase.FAILED)
        if self.spec.dry_run:
            self.finish(final, f"{message} (dry run: nothing was changed)")
            return
        if not self.started_steps() or st.snapshot is None:
            self.finish(final, f"{message} (nothing was changed, nothing to roll back)")
            return
        for s in st.steps:
            if s.phase is StepPhase.PENDING:
                s.phase, s.message = StepPhase.SKIPPED, "not run"
        st.phase = MissionPhase.ROLLING_BACK
        st.rollback = Verification(started_at=self.now, message=message)
        st.conditions = set_condition(
            st.conditions,
            Condition(type=ROLLBACK_CONDITION, status="True", reason=reason, message=message),
            self.now,
        )
        st.message = f"{message}; restoring the safe-hold"
        self.event("RollingBack", f"{message}: restoring {snapshot.summary(st.snapshot)}")

    def rolling_back(self) -> Effect | None:
        st = self.status
        cond = find_condition(st.conditions, ROLLBACK_CONDITION)
        reason = cond.reason if cond else "Lost"
        why = cond.message if cond else "rollback"
        if st.snapshot is None:
            self.finish(_FINAL_AFTER_ROLLBACK.get(reason, MissionPhase.FAILED), why)
            return None
        restored = self.take(Restored)
        if restored is None:
            undo = tuple(
                dict(s.intent) for s in self.started_steps() if s.intent and "target" in s.intent
            )
            return Restore(dict(st.snapshot), self.target(), self.namespace, undo)
        started = st.rollback.started_at if st.rollback else self.now
        if restored.error is not None or restored.live is None:
            problem = restored.error or f"{self.ref()} no longer exists"
            result = Verification(
                outcome=VerificationOutcome.FAILED,
                started_at=started,
                finished_at=self.now,
                message=f"restore failed: {problem}",
            )
        else:
            diffs = snapshot.differences(st.snapshot, restored.live)
            result = Verification(
                outcome=VerificationOutcome.FAILED if diffs else VerificationOutcome.PASSED,
                started_at=started,
                finished_at=self.now,
                checks=_restore_checks(st.snapshot, restored.live),
                message=(
                    "restore NOT verified: " + "; ".join(diffs)
                    if diffs
                    else f"restore verified: {snapshot.summary(st.snapshot)}"
                ),
            )
        st.rollback = result
        ok = result.outcome is VerificationOutcome.PASSED
        self.event("Restored" if ok else "RestoreFailed", result.message or "")
        phase = _FINAL_AFTER_ROLLBACK.get(
            reason, MissionPhase.ROLLED_BACK if ok else MissionPhase.FAILED
        )
        self.finish(phase, f"{why}; {result.message}")
        return None


def _restore_checks(snap: Mapping[str, Any], live: Mapping[str, Any]) -> list[CheckResult]:
    now = snapshot.take(live, snap.get("kind"))
    replicas = now.get("replicas")
    out = [
        CheckResult(
            signal="replicas",
            expected=str(snap.get("replicas")),
            observed=float(replicas) if isinstance(replicas, int) else None,
            passed=replicas == snap.get("replicas"),
        )
    ]
    live_images = {c["name"]: c["image"] for c in now["containers"]}
    for c in snap.get("containers") or []:
        out.append(
            CheckResult(
                signal=f"image/{c['name']}",
                expected=str(c["image"]),
                passed=live_images.get(c["name"]) == c["image"],
            )
        )
    out.append(
        CheckResult(
            signal="podTemplate",
            expected=f"revision {snap.get('revision')} template",
            passed=snapshot.normalize(snap.get("template")) == now["template"],
        )
    )
    return out
