"""Beta posteriors per playbook, and the two ways of ordering candidates by them.

Why river's `proba.Beta` and not `river.bandit.ThompsonSampling` (read in river 0.26):

* `ThompsonSampling.pull(arm_ids)` does take the candidates of each decision, and one policy per
  HealthNode could be seeded; but its randomness lives inside each arm's Beta, whose generator is
  seeded from the policy's generator in the order the arms were first touched, and advances with
  every pull. A choice then depends on how many proposals this process happened to make before
  (including ones the Governor denied, which the ledger records as no outcome), so a restarted
  operator cannot reproduce it from the ledger. Here the caller passes the generator (or the
  `Learner` derives one from the seed and the evidence), so a choice is a pure function of
  (posteriors, candidates, generator).
* `Policy.ranking` orders arms by `Beta.mode`, the maximum-likelihood rate s/(s+f), which puts a
  playbook with 1 success in 1 try above one with 9 in 10. The ranking GRACE reports is the
  posterior mean (1+s)/(2+s+f), which weighs thin evidence towards 1/2.

So `Posterior` keeps river's conjugate Beta (prior Beta(1, 1), one `update` per verified outcome)
and draws Thompson samples itself with the same `betavariate` call river's `Beta.sample` makes.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence

from river import proba


class Posterior:
    """What the verified outcomes of one playbook on one HealthNode say about its success rate."""

    __slots__ = ("_beta",)

    def __init__(self) -> None:
        self._beta = proba.Beta(1, 1)

    def update(self, success: bool) -> None:
        self._beta.update(success)  # type: ignore[no-untyped-call]  # river leaves it untyped

    @property
    def alpha(self) -> int:
        """1 + verified successes."""
        return int(self._beta.alpha)

    @property
    def beta(self) -> int:
        """1 + failures."""
        return int(self._beta.beta)

    @property
    def attempts(self) -> int:
        return self.alpha + self.beta - 2

    @property
    def successes(self) -> int:
        return self.alpha - 1

    @property
    def mean(self) -> float:
        """The posterior success probability: the `confidence` handed to the policy."""
        return self.alpha / (self.alpha + self.beta)

    def sample(self, rng: random.Random) -> float:
        return rng.betavariate(self.alpha, self.beta)


def unique(candidates: Iterable[str]) -> list[str]:
    """Candidates in their given order, each once: the spec order is the tie-break everywhere."""
    return list(dict.fromkeys(candidates))


def rank_by_mean(
    posteriors: Mapping[str, Posterior], candidates: Sequence[str]
) -> list[tuple[str, float]]:
    """Best first by posterior mean; equal means keep the order the human listed them in.

    Deterministic by construction: this is the ranking shown in status and the CLI, and the one a
    restarted operator reproduces from the ledger.
    """
    scored = [(name, _of(posteriors, name).mean) for name in unique(candidates)]
    return sorted(scored, key=lambda pair: -pair[1])


def thompson_choice(
    posteriors: Mapping[str, Posterior], candidates: Sequence[str], rng: random.Random
) -> str:
    """Draw one sample per candidate (in candidate order) and take the highest (first on ties).

    Sampling, not the mean, is what makes the proposer keep trying a playbook whose evidence is
    still thin, in proportion to the chance that it is in fact the best.
    """
    names = unique(candidates)
    if not names:
        raise ValueError("no candidate playbook to choose from")
    best, best_draw = names[0], -1.0
    for name in names:
        draw = _of(posteriors, name).sample(rng)
        if draw > best_draw:
            best, best_draw = name, draw
    return best


def _of(posteriors: Mapping[str, Posterior], name: str) -> Posterior:
    """The candidate's posterior, or the Beta(1, 1) prior when it has no verified outcome yet."""
    found = posteriors.get(name)
    return found if found is not None else Posterior()
