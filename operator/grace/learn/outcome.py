"""The learning input: verified playbook outcomes, read out of the ledger and nothing else.

Learning keeps no state of its own. On start the operator replays the ledger through
`outcomes_from_entries` and feeds the result to a fresh `Learner`; while running it records each
new outcome as the matching ledger entry is written. Both paths yield the same `Outcome` values,
so a restarted operator ranks and promotes exactly as the one that stopped.

Which ledger entries count, exactly:

* only entries of type ``mission.finished`` (``verification.finished`` and every other type are
  ignored: the finished entry repeats the verification verdict, and reading one entry per
  Mission means a Mission can never count twice);
* the node is ``subject.namespace + "/" + data.healthNode`` (a Mission lives in the namespace of
  its HealthNode), the playbook is ``data.playbook``, the time is the entry's ``time``;
* ``data.outcome`` and ``data.verification`` decide the verdict:

  ==========================================  ==============================================
  outcome / verification                      verdict
  ==========================================  ==============================================
  ``Succeeded`` + ``Passed``                  success (the only verified success)
  ``Succeeded`` + ``Failed``                  failure (ran, but the metrics did not recover)
  ``Succeeded`` + ``NoData``/``Inconclusive``  ignored: nothing was verified either way
  ``Failed``, ``RolledBack``, ``TimedOut``    failure, whatever the verification says
  ``Denied``, ``Expired``, ``Aborted``, other  ignored: the playbook never got to prove itself
  ==========================================  ==============================================

* ``data.dryRun`` (default false) marks a shadow Mission (observe mode): such an outcome is
  kept, with ``dry_run=True``, and counts only as shadow evidence (see `grace.learn.autonomy`),
  never towards the posterior, the ranking or the reported attempts;
* a second ``mission.finished`` for the same Mission (same ``subject.uid``, or namespace/name
  when the uid is empty), as a writer retrying after a crash could leave, is ignored;
* an entry that lacks one of these keys or has a value of the wrong type is skipped rather than
  stopping the replay: the ledger's own verifier is the place that reports malformed entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

MISSION_FINISHED: Final = "mission.finished"

SUCCESS_OUTCOME: Final = "Succeeded"
FAILURE_OUTCOMES: Final = frozenset({"Failed", "RolledBack", "TimedOut"})
IGNORED_OUTCOMES: Final = frozenset({"Denied", "Expired", "Aborted"})
"""Named for documentation; any outcome outside success and failure is ignored alike."""

VERIFICATION_PASSED: Final = "Passed"
VERIFICATION_FAILED: Final = "Failed"


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC so that no comparison ever mixes naive and aware."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One verified result of one playbook on one HealthNode."""

    node: str
    """``namespace/name`` of the HealthNode."""
    playbook: str
    success: bool
    at: datetime
    dry_run: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", as_utc(self.at))


def verdict(outcome: str, verification: str | None) -> bool | None:
    """True for a verified success, False for a failure, None when it is no evidence at all."""
    if outcome in FAILURE_OUTCOMES:
        return False
    if outcome != SUCCESS_OUTCOME:
        return None
    if verification == VERIFICATION_PASSED:
        return True
    if verification == VERIFICATION_FAILED:
        return False
    return None


def outcome_from_entry(entry: Mapping[str, Any]) -> Outcome | None:
    """The outcome one ledger entry records, or None when it records none (see module doc)."""
    if entry.get("type") != MISSION_FINISHED:
        return None
    subject = entry.get("subject")
    data = entry.get("data")
    if not isinstance(subject, Mapping) or not isinstance(data, Mapping):
        return None
    namespace = subject.get("namespace")
    node = data.get("healthNode")
    playbook = data.get("playbook")
    outcome = data.get("outcome")
    verification = data.get("verification")
    dry_run = data.get("dryRun", False)
    if not (
        isinstance(namespace, str)
        and namespace
        and isinstance(node, str)
        and node
        and isinstance(playbook, str)
        and playbook
        and isinstance(outcome, str)
        and (verification is None or isinstance(verification, str))
        and isinstance(dry_run, bool)
    ):
        return None
    success = verdict(outcome, verification)
    if success is None:
        return None
    at = _parse_time(entry.get("time"))
    if at is None:
        return None
    return Outcome(
        node=f"{namespace}/{node}", playbook=playbook, success=success, at=at, dry_run=dry_run
    )


def outcomes_from_entries(entries: Iterable[Mapping[str, Any]]) -> list[Outcome]:
    """Every outcome in ledger order, one per Mission, ready for `Learner.from_outcomes`."""
    seen: set[str] = set()
    outcomes: list[Outcome] = []
    for entry in entries:
        found = outcome_from_entry(entry)
        if found is None:
            continue
        mission = _mission_key(entry)
        if mission in seen:
            continue
        seen.add(mission)
        outcomes.append(found)
    return outcomes


def _mission_key(entry: Mapping[str, Any]) -> str:
    subject = entry["subject"]
    uid = subject.get("uid")
    if isinstance(uid, str) and uid:
        return f"uid:{uid}"
    return f"name:{subject.get('namespace')}/{subject.get('name')}"


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        return None
