"""The conversation between the Mission state machine and its handler: effects asked, answers given.

The machine never does I/O. It returns one effect; the handler first writes the returned
status, then performs the effect and calls the machine again with the answer in
`Facts.outcome`. Every effect is safe to perform twice: a restart between writing the status
and recording the answer simply repeats it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from grace.api.healthnode import Target
from grace.api.mission import ApprovalStatus, Decision, MissionPhase, VerificationOutcome
from grace.run.actions import ResolvedStep, StepResult
from grace.run.verify import Reading

__all__ = ["StepResult"]  # what the executor reports, re-exported beside the other answers

# ---------------------------------------------------------------- effects (machine -> handler)


@dataclass(frozen=True)
class Refuse:
    """The Mission was refused before anything ran: emit a Warning event, ledger it, stop."""

    reason: str
    message: str


@dataclass(frozen=True)
class Inspect:
    """Read the target; answer `Inspected(obj)` (None when it does not exist)."""

    target: Target
    namespace: str


@dataclass(frozen=True)
class AskPolicy:
    """Ask the Governor; answer with `Facts.decision`. status.gitOps and target are filled in."""


@dataclass(frozen=True)
class OpenApproval:
    """Make sure ApprovalRequest `request` exists (create if absent), then wait for `Facts.approval`."""

    request: str
    purpose: str
    reasons: tuple[str, ...]
    question: str


@dataclass(frozen=True)
class TakeSnapshot:
    """`ActionExecutor.hold(target, namespace, actions)` (the target, and what the plan's
    actions need kept to be undone) and sample `signals` for the baseline; answer `Snapshotted`."""

    target: Target
    namespace: str
    signals: tuple[str, ...]
    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class PrepareStep:
    """`ActionExecutor.prepare(step, target, namespace)`; answer `Prepared` (error if refused)."""

    index: int
    step: ResolvedStep
    target: Target
    namespace: str


@dataclass(frozen=True)
class ExecuteStep:
    """`ActionExecutor.execute(intent, target, namespace)` after `delay` s; answer `Executed`."""

    index: int
    intent: dict[str, Any]
    target: Target
    namespace: str
    delay: float = 0.0


@dataclass(frozen=True)
class SampleMetrics:
    """Query `signals` after `delay` seconds (never sooner: failures count samples); `Sampled`."""

    signals: tuple[str, ...]
    delay: float


@dataclass(frozen=True)
class Restore:
    """`ActionExecutor.restore(snapshot, target, namespace, undo)`; answer `Restored(live)`.
    `undo`: the intents of the steps that started, which the executor undoes last first."""

    snapshot: dict[str, Any]
    target: Target
    namespace: str
    undo: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Finish:
    """The Mission is over: release the lease, ledger the outcome, emit the event (idempotently)."""

    phase: MissionPhase
    message: str
    verification: VerificationOutcome | None = None
    dry_run: bool = False


Effect = (
    Refuse
    | Inspect
    | AskPolicy
    | OpenApproval
    | TakeSnapshot
    | PrepareStep
    | ExecuteStep
    | SampleMetrics
    | Restore
    | Finish
)

# ---------------------------------------------------------------- answers (handler -> machine)


@dataclass(frozen=True)
class Inspected:
    obj: Mapping[str, Any] | None


@dataclass(frozen=True)
class Snapshotted:
    obj: Mapping[str, Any] | None
    baseline: Mapping[str, Reading] = field(default_factory=dict)
    held: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Prepared:
    index: int
    intent: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class Executed:
    index: int
    result: StepResult


@dataclass(frozen=True)
class Sampled:
    values: Mapping[str, Reading]


@dataclass(frozen=True)
class Restored:
    live: Mapping[str, Any] | None
    error: str | None = None


Outcome = Inspected | Snapshotted | Prepared | Executed | Sampled | Restored


@dataclass(frozen=True)
class Facts:
    """What the handler knows now. `decision`/`approval` are standing facts; `outcome` answers
    the effect last returned (a stale answer that no longer fits the status is ignored)."""

    now: datetime
    abort: bool = False
    decision: Decision | None = None
    approval: ApprovalStatus | None = None
    outcome: Outcome | None = None
    playbook_generation: int | None = None
    """metadata.generation of the live Playbook, recorded when the run starts."""
