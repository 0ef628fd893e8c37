"""Learning from outcomes: playbook ranking (Thompson sampling) and graduated autonomy.

Pure: no Kubernetes, no ledger import. The operator rebuilds a `Learner` from ledger entries on
start (`Learner.from_entries`) and records each new outcome as it writes it.
"""

from __future__ import annotations

from grace.learn.aggregate import DAY, WEEK, Tally, success_rate, tally
from grace.learn.autonomy import (
    DEFAULT_RULES,
    AutonomyChange,
    AutonomyRules,
    autonomy_changes,
    autonomy_for,
)
from grace.learn.learner import Learner
from grace.learn.outcome import MISSION_FINISHED, Outcome, outcome_from_entry, outcomes_from_entries
from grace.learn.posterior import Posterior, rank_by_mean, thompson_choice

__all__ = [
    "DAY",
    "DEFAULT_RULES",
    "MISSION_FINISHED",
    "WEEK",
    "AutonomyChange",
    "AutonomyRules",
    "Learner",
    "Outcome",
    "Posterior",
    "Tally",
    "autonomy_changes",
    "autonomy_for",
    "outcome_from_entry",
    "outcomes_from_entries",
    "rank_by_mean",
    "success_rate",
    "tally",
    "thompson_choice",
]
