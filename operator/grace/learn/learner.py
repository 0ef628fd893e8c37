"""The Learner: per HealthNode, which playbook to propose and how far to trust it.

A `Learner` holds nothing the ledger does not: build it with `Learner.from_outcomes` (or
`from_entries`) on start, then `record` each outcome as its ``mission.finished`` entry is written.
Both paths give identical posteriors, rankings, choices and autonomy.

Two orderings, on purpose:

* `rank` orders candidates by posterior mean (ties keep the spec's order). It is deterministic,
  and it is the ranking shown in HealthNode status and the CLI.
* `choose` is Thompson sampling: one Beta draw per candidate, highest wins. It is what the
  proposer uses, so a playbook with thin evidence still gets tried now and then. Without an
  explicit generator the draw is seeded from (learner seed, node, evidence count on that node):
  the same ledger gives the same choice after a restart, and repeated reconciles with no new
  evidence keep proposing the same playbook instead of flapping between candidates.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from grace.api.healthnode import Mode, PlaybookLearning
from grace.learn.aggregate import DAY, WEEK, success_rate
from grace.learn.autonomy import (
    DEFAULT_RULES,
    AutonomyChange,
    AutonomyRules,
    autonomy_changes,
    autonomy_for,
)
from grace.learn.outcome import Outcome, outcomes_from_entries
from grace.learn.posterior import Posterior, rank_by_mean, thompson_choice, unique

_DIGITS = 4
"""Rates and confidence are rounded for status, so that a re-render does not churn the object."""


class Learner:
    """Thompson sampling over each HealthNode's candidate playbooks, from verified outcomes."""

    def __init__(self, seed: int = 0, rules: AutonomyRules = DEFAULT_RULES) -> None:
        self.seed = seed
        self.rules = rules
        self._posteriors: defaultdict[str, dict[str, Posterior]] = defaultdict(dict)
        self._outcomes: defaultdict[str, defaultdict[str, list[Outcome]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self._evidence: defaultdict[str, int] = defaultdict(int)

    @classmethod
    def from_outcomes(
        cls, outcomes: Iterable[Outcome], seed: int = 0, rules: AutonomyRules = DEFAULT_RULES
    ) -> Learner:
        learner = cls(seed, rules)
        for outcome in outcomes:
            learner.record(outcome)
        return learner

    @classmethod
    def from_entries(
        cls,
        entries: Iterable[Mapping[str, Any]],
        seed: int = 0,
        rules: AutonomyRules = DEFAULT_RULES,
    ) -> Learner:
        """Rebuild from ledger entries in ledger order (see `grace.learn.outcome` for which)."""
        return cls.from_outcomes(outcomes_from_entries(entries), seed, rules)

    def record(self, outcome: Outcome) -> None:
        self._outcomes[outcome.node][outcome.playbook].append(outcome)
        self._evidence[outcome.node] += 1
        if outcome.dry_run:
            return
        posteriors = self._posteriors[outcome.node]
        if outcome.playbook not in posteriors:
            posteriors[outcome.playbook] = Posterior()
        posteriors[outcome.playbook].update(outcome.success)

    def outcomes(self, node: str, playbook: str) -> list[Outcome]:
        """Real and dry-run outcomes of one playbook on one node, in recording order."""
        by_playbook = self._outcomes.get(node)
        return list(by_playbook.get(playbook, ())) if by_playbook is not None else []

    def posterior(self, node: str, playbook: str) -> Posterior:
        """The live posterior (update it only through `record`), or the Beta(1, 1) prior."""
        found = self._posteriors.get(node, {}).get(playbook)
        return found if found is not None else Posterior()

    def confidence(self, node: str, playbook: str) -> float:
        """Posterior mean of Beta(1 + successes, 1 + failures): 0.5 before any evidence."""
        return self.posterior(node, playbook).mean

    def rank(self, node: str, candidates: Sequence[str]) -> list[tuple[str, float]]:
        return rank_by_mean(self._posteriors.get(node, {}), candidates)

    def choose(self, node: str, candidates: Sequence[str], rng: random.Random | None = None) -> str:
        if rng is None:
            rng = self.decision_rng(node)
        return thompson_choice(self._posteriors.get(node, {}), candidates, rng)

    def decision_rng(self, node: str) -> random.Random:
        """The generator `choose` uses by default: a function of seed, node and evidence only."""
        key = f"{self.seed}\x00{node}\x00{self._evidence.get(node, 0)}".encode()
        return random.Random(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big"))

    def autonomy(
        self, node: str, playbook: str, now: datetime, base_mode: Mode, ceiling: Mode | None
    ) -> tuple[Mode, str]:
        return autonomy_for(self.outcomes(node, playbook), base_mode, ceiling, now, self.rules)

    def autonomy_changes(
        self,
        node: str,
        candidates: Sequence[str],
        now: datetime,
        base_mode: Mode,
        ceiling: Mode | None,
    ) -> list[AutonomyChange]:
        """All changes of every candidate on this node, oldest first (ties: spec order)."""
        changes = [
            change
            for playbook in unique(candidates)
            for change in autonomy_changes(
                self.outcomes(node, playbook), base_mode, ceiling, now, self.rules
            )
        ]
        return sorted(changes, key=lambda change: change.at)

    def learning_status(
        self,
        node: str,
        candidates: Sequence[str],
        now: datetime,
        base_mode: Mode,
        ceiling: Mode | None,
    ) -> list[PlaybookLearning]:
        """HealthNode ``status.learning``, best first (the `rank` order)."""
        rows = []
        for playbook, mean in self.rank(node, candidates):
            posterior = self.posterior(node, playbook)
            history = self.outcomes(node, playbook)
            rate24h = success_rate(history, now, DAY)
            rate7d = success_rate(history, now, WEEK)
            mode, _ = autonomy_for(history, base_mode, ceiling, now, self.rules)
            rows.append(
                PlaybookLearning(
                    playbook=playbook,
                    attempts=posterior.attempts,
                    successes=posterior.successes,
                    success_rate24h=None if rate24h is None else round(rate24h, _DIGITS),
                    success_rate7d=None if rate7d is None else round(rate7d, _DIGITS),
                    confidence=round(mean, _DIGITS),
                    autonomy=mode,
                )
            )
        return rows
