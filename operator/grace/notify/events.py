"""Which notifications an ApprovalRequest or a Mission owes, from its stored state alone.

Pure: the input is the object as stored (including `status.notified`, the keys already
delivered) and the time; the output is what to send now. Each notification is one Alertmanager
alert whose labels identify the object, so that posting it again (a crash between sending and
recording) updates the same alert in Alertmanager instead of raising a second one: together with
the record in the object's status, a human is told once.

- An ApprovalRequest fires `GraceApprovalPending` while it waits (endsAt = its expiry, so the
  alert resolves by itself if GRACE is gone), then the same alert again with endsAt = the
  decision when it is decided or expires: Alertmanager's `send_resolved` tells the outcome.
- A Mission's end fires `GraceMissionFinished` (phase and outcome in labels and annotations),
  resolving after `hold`.
- An autonomy promotion or demotion (an ``autonomy.changed`` ledger entry) fires
  `GraceAutonomyChanged`; a ledger that refuses entries fires `GraceLedgerUnavailable` once
  per episode, resolved when an entry is recorded again. These have no object of their own:
  what was sent is recorded in the operator's `grace-notifications` ConfigMap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from grace.api.approval import ApprovalPurpose, ApprovalRequest, ApprovalState
from grace.api.mission import TERMINAL_PHASES, Mission, MissionPhase

APPROVAL_OPENED = "approval.opened"
APPROVAL_SETTLED = "approval.settled"
MISSION_FINISHED = "mission.finished"

SEVERITY_OF_RISK = {"low": "info", "medium": "warning", "high": "critical", "critical": "critical"}
SEVERITY_OF_PHASE = {
    MissionPhase.SUCCEEDED: "info",
    MissionPhase.DENIED: "info",
    MissionPhase.ABORTED: "info",
    MissionPhase.ROLLED_BACK: "warning",
    MissionPhase.EXPIRED: "warning",
    MissionPhase.TIMED_OUT: "critical",
    MissionPhase.FAILED: "critical",
}
MAX_ANNOTATION = 1024


@dataclass(frozen=True)
class Notification:
    """One alert to post, and the key recorded in the object's status once it is delivered."""

    key: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    generator_url: str = field(default="")

    def alert(self) -> dict[str, Any]:
        """The body Alertmanager's `POST /api/v2/alerts` takes (one element of its array)."""
        out: dict[str, Any] = {
            "labels": self.labels,
            "annotations": {k: v[:MAX_ANNOTATION] for k, v in self.annotations.items()},
            "startsAt": self.starts_at.isoformat(),
            "endsAt": self.ends_at.isoformat(),
        }
        if self.generator_url:
            out["generatorURL"] = self.generator_url
        return out


def _approval_labels(request: ApprovalRequest) -> dict[str, str]:
    spec = request.spec
    return {
        "alertname": "GraceApprovalPending",
        "namespace": request.metadata.namespace,
        "approvalrequest": request.metadata.name,
        "mission": spec.mission,
        "healthnode": spec.health_node,
        "playbook": spec.playbook,
        "purpose": spec.purpose.value,
        "severity": SEVERITY_OF_RISK[spec.risk],
        "source": "grace",
    }


def approval_commands(request: ApprovalRequest) -> tuple[str, str]:
    """The exact commands that answer the request (the plugin signs with the caller's name)."""
    where = f"{request.metadata.name} -n {request.metadata.namespace}"
    return (
        f'kubectl grace approve {where} --reason "..."',
        f'kubectl grace deny {where} --reason "..."',
    )


def _question(request: ApprovalRequest) -> str:
    spec = request.spec
    if spec.question:
        return spec.question
    if spec.purpose is ApprovalPurpose.KEEP:
        return f"Keep the change {spec.playbook} made to {spec.health_node}, or roll it back?"
    return f"Run playbook {spec.playbook} on {spec.health_node}?"


def approval_notifications(
    request: ApprovalRequest, now: datetime, sent: Collection[str] | None = None
) -> list[Notification]:
    """The request's notifications due now: opened while it waits, settled once it is decided or
    expired (only if its opening was told: a resolved alert nobody saw fire says nothing)."""
    sent = request.status.notified if sent is None else sent
    spec, status = request.spec, request.status
    created = request.metadata.creation_timestamp or now
    approve, deny = approval_commands(request)
    labels = _approval_labels(request)
    expired = status.state is ApprovalState.EXPIRED or (
        status.state is ApprovalState.PENDING and now >= spec.expires_at
    )
    annotations = {
        "summary": f"GRACE asks: {_question(request)} (risk {spec.risk})",
        "description": "; ".join(spec.reasons) or _question(request),
        "risk": spec.risk,
        "expires": spec.expires_at.isoformat(),
        "approve": approve,
        "deny": deny,
        "requestedBy": spec.requested_by or "",
    }
    if status.state is ApprovalState.PENDING and not expired:
        if APPROVAL_OPENED in sent:
            return []
        return [Notification(APPROVAL_OPENED, labels, annotations, created, spec.expires_at)]
    if APPROVAL_OPENED not in sent or APPROVAL_SETTLED in sent:
        return []
    if expired:
        outcome, ended = "Expired: nobody decided in time", min(spec.expires_at, now)
    else:
        who = status.decided_by or "someone"
        outcome = f"{status.state.value} by {who}" + (f": {status.reason}" if status.reason else "")
        ended = status.decided_at or now
    settled = {**annotations, "summary": f"GRACE's question was answered: {outcome}"}
    settled["outcome"] = outcome
    return [Notification(APPROVAL_SETTLED, labels, settled, created, max(ended, created))]


def mission_notifications(
    mission: Mission,
    now: datetime,
    sent: Collection[str] | None = None,
    *,
    hold: timedelta = timedelta(minutes=15),
    recent: timedelta = timedelta(hours=1),
) -> list[Notification]:
    """A Mission's end, once; Missions that ended longer than `recent` ago are history, not
    news (turning notifications on must not page about last week). Dry runs (shadow Missions
    of `observe` mode) are not worth a human's attention."""
    sent = mission.status.notified if sent is None else sent
    status = mission.status
    if status.phase not in TERMINAL_PHASES or MISSION_FINISHED in sent or mission.spec.dry_run:
        return []
    ended = status.finished_at or now
    if now - ended > recent:
        return []
    what = status.message or (status.timeline[-1].message if status.timeline else "")
    outcome = (
        status.verification.outcome.value
        if status.verification and status.verification.outcome
        else ""
    )
    labels = {
        "alertname": "GraceMissionFinished",
        "namespace": mission.metadata.namespace,
        "mission": mission.metadata.name,
        "healthnode": mission.spec.health_node,
        "playbook": mission.spec.playbook,
        "phase": status.phase.value,
        "severity": SEVERITY_OF_PHASE.get(status.phase, "warning"),
        "source": "grace",
    }
    annotations = {
        "summary": f"Mission {mission.metadata.name} ({mission.spec.playbook} on "
        f"{mission.spec.health_node}) ended {status.phase.value}"
        + (f", verification {outcome}" if outcome else ""),
        "description": what,
        "reason": mission.spec.reason,
        "details": f"kubectl grace missions -n {mission.metadata.namespace}; "
        f"kubectl describe mission {mission.metadata.name} -n {mission.metadata.namespace}",
    }
    return [Notification(MISSION_FINISHED, labels, annotations, ended, ended + hold)]


# ---------------------------------------------------------------- no object of their own

AUTONOMY_CHANGED = "autonomy.changed"
LEDGER_UNAVAILABLE = "ledger.unavailable"
LEDGER_RESTORED = "ledger.restored"


@dataclass(frozen=True)
class AutonomyChanged:
    """One ``autonomy.changed`` ledger entry, as a human should hear of it."""

    key: str
    """The entry's idempotency key: one change, however often it is read back."""
    namespace: str
    health_node: str
    playbook: str
    previous: str
    mode: str
    reason: str
    at: datetime

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> AutonomyChanged | None:
        """From a ledger entry as JSON (None for any other entry, or one it cannot read)."""
        if entry.get("type") != AUTONOMY_CHANGED or not entry.get("idempotency_key"):
            return None
        data, subject = entry.get("data") or {}, entry.get("subject") or {}
        try:
            at = datetime.fromisoformat(str(entry["time"]).replace("Z", "+00:00"))
            return cls(
                key=str(entry["idempotency_key"]),
                namespace=str(subject["namespace"]),
                health_node=str(data.get("healthNode") or subject["name"]),
                playbook=str(data["playbook"]),
                previous=str(data["from"]),
                mode=str(data["to"]),
                reason=str(data.get("reason", "")),
                at=at,
            )
        except (KeyError, ValueError):
            return None

    @property
    def promoted(self) -> bool:
        order = ("observe", "propose", "autonomous")
        return (
            self.mode in order
            and self.previous in order
            and (order.index(self.mode) > order.index(self.previous))
        )

    @property
    def record_id(self) -> str:
        """A short, ConfigMap-key-safe name of this change (its key may hold '/' and ':')."""
        return "autonomy." + hashlib.sha256(self.key.encode()).hexdigest()[:20]


def autonomy_notification(
    change: AutonomyChanged,
    now: datetime,
    *,
    hold: timedelta = timedelta(minutes=15),
    recent: timedelta = timedelta(hours=1),
) -> Notification | None:
    """A promotion or demotion, as news: None once it is older than `recent` (turning
    notifications on must not page about last week's changes)."""
    if now - change.at > recent:
        return None
    verb = "promoted" if change.promoted else "demoted"
    labels = {
        "alertname": "GraceAutonomyChanged",
        "namespace": change.namespace,
        "healthnode": change.health_node,
        "playbook": change.playbook,
        "from": change.previous,
        "to": change.mode,
        "direction": verb,
        "severity": "info" if change.promoted else "warning",
        "source": "grace",
    }
    annotations = {
        "summary": f"GRACE {verb} playbook {change.playbook} on {change.health_node}: "
        f"{change.previous} -> {change.mode}",
        "description": change.reason,
        "details": f"kubectl grace status -n {change.namespace}; the ledger entry "
        f"{change.key} (grace ledger show)",
    }
    return Notification(AUTONOMY_CHANGED, labels, annotations, change.at, change.at + hold)


@dataclass(frozen=True)
class LedgerEpisode:
    """A stretch of time in which the ledger refused entries (nothing acts meanwhile)."""

    started: datetime
    error: str
    ended: datetime | None = None

    @property
    def record_id(self) -> str:
        return "ledger." + self.started.strftime("%Y%m%dT%H%M%S")


def ledger_notification(
    episode: LedgerEpisode, *, firing_for: timedelta = timedelta(days=1)
) -> Notification:
    """`ledger.unavailable` while the episode lasts (endsAt a day on, so the alert resolves by
    itself if GRACE is gone), `ledger.restored` (the same alert, resolved) once it ended."""
    labels = {
        "alertname": "GraceLedgerUnavailable",
        "severity": "critical",
        "source": "grace",
    }
    annotations = {
        "summary": "GRACE's ledger cannot be extended: no Mission acts until it can",
        "description": episode.error,
        "details": "grace ledger verify --from-cluster (or --file); the operator's log and "
        "grace_ledger_append_failures_total",
    }
    if episode.ended is None:
        return Notification(
            LEDGER_UNAVAILABLE, labels, annotations, episode.started, episode.started + firing_for
        )
    restored = {**annotations, "summary": "GRACE's ledger takes entries again"}
    restored["outcome"] = f"restored at {episode.ended.isoformat()}"
    ended = max(episode.ended, episode.started)
    return Notification(LEDGER_RESTORED, labels, restored, episode.started, ended)


def ledger_due(
    failing: tuple[datetime, str] | None,
    episode: LedgerEpisode | None,
    now: datetime,
) -> LedgerEpisode | None:
    """The episode as it stands now, from the ledger's health (`failing`: since when, why; None
    when the last append worked) and the episode recorded in the cluster: a failure opens one
    (unless one is open: once per episode, not per failed append), a success ends it."""
    if failing is not None:
        if episode is None or episode.ended is not None:
            since, error = failing
            return LedgerEpisode(started=min(since, now), error=error[:MAX_ANNOTATION])
        return episode
    if episode is not None and episode.ended is None:
        return LedgerEpisode(episode.started, episode.error, ended=now)
    return episode
