"""Benchmark: does GRACE's playbook ranking find the better remedy, and survive a restart?

A simulated HealthNode has two candidate playbooks whose remedies truly work 80 % and 30 % of
the time. Each seeded run lets the real `Learner` choose (Thompson sampling, as the proposer
does), draws the outcome, and records it, for N steps. Reported over all runs:

* P(best chosen) at steps 31..N (after 30 outcomes), and per step bucket;
* cumulative regret (sum over steps of 0.8 - true rate of the chosen playbook);
* overall success rate against a uniform-random proposer run on the same seeds, and against
  river's own `bandit.ThompsonSampling` as a reference;
* rebuild: each run's outcomes are written as ``mission.finished`` ledger entries, replayed into
  a fresh `Learner`, and its ranking, confidences, next choice and status must equal the
  incrementally built one's;
* graduated autonomy on the same histories (spec mode propose, ceiling autonomous): the share
  of runs in which each playbook ends in each mode.

Usage: .venv/bin/python bench/learning.py [--quick] [--runs R] [--steps N]
The last line of stdout is one JSON object with the figures; the exit status is 1 when the
acceptance bar (P(best) >= 0.9, >= 10 points over uniform, identical rebuild) is missed.
"""

from __future__ import annotations

import sys

sys.path.insert(0, "operator")

import argparse
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from river import bandit, proba

from grace.api.healthnode import Mode
from grace.learn import Learner, Outcome

TRUE_RATES = {"rollback-image": 0.8, "restart-pods": 0.3}
CANDIDATES = ["restart-pods", "rollback-image"]  # the worse one listed first, on purpose
BEST = max(TRUE_RATES, key=lambda name: TRUE_RATES[name])
NODE = "shop/checkout"
WARMUP = 30
START = datetime(2025, 1, 1, tzinfo=UTC)
SPACING = timedelta(hours=1)


def entry(seq: int, outcome: Outcome) -> dict[str, Any]:
    """The ``mission.finished`` ledger entry the operator writes for this outcome."""
    namespace, _, node = outcome.node.partition("/")
    return {
        "seq": seq,
        "time": outcome.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "type": "mission.finished",
        "subject": {
            "kind": "Mission",
            "namespace": namespace,
            "name": f"m-{seq}",
            "uid": f"uid-{seq}",
        },
        "data": {
            "healthNode": node,
            "playbook": outcome.playbook,
            "outcome": "Succeeded" if outcome.success else "RolledBack",
            "dryRun": outcome.dry_run,
            "verification": "Passed" if outcome.success else "Failed",
        },
    }


def thompson_run(seed: int, steps: int) -> tuple[list[str], list[bool], Learner]:
    learner = Learner(seed=seed)
    env = random.Random(10_000_019 * seed + 1)
    chosen: list[str] = []
    results: list[bool] = []
    for step in range(steps):
        playbook = learner.choose(NODE, CANDIDATES)
        success = env.random() < TRUE_RATES[playbook]
        learner.record(Outcome(NODE, playbook, success, START + step * SPACING))
        chosen.append(playbook)
        results.append(success)
    return chosen, results, learner


def uniform_run(seed: int, steps: int) -> list[bool]:
    env = random.Random(10_000_019 * seed + 1)
    pick = random.Random(seed)
    return [env.random() < TRUE_RATES[pick.choice(CANDIDATES)] for _ in range(steps)]


def river_run(seed: int, steps: int) -> tuple[list[str], list[bool]]:
    """River's own policy on the same environment, as a reference for the wrapper."""
    policy = bandit.ThompsonSampling(reward_obj=proba.Beta(), seed=seed)
    arms: list[int | str] = list(CANDIDATES)
    env = random.Random(10_000_019 * seed + 1)
    chosen: list[str] = []
    results: list[bool] = []
    for _ in range(steps):
        playbook = str(policy.pull(arms))
        success = env.random() < TRUE_RATES[playbook]
        policy.update(playbook, success)  # type: ignore[no-untyped-call]
        chosen.append(playbook)
        results.append(success)
    return chosen, results


def regret(chosen: list[str]) -> float:
    return sum(TRUE_RATES[BEST] - TRUE_RATES[name] for name in chosen)


def rebuilt_matches(learner: Learner, seed: int, steps: int) -> bool:
    history = learner.outcomes(NODE, CANDIDATES[0]) + learner.outcomes(NODE, CANDIDATES[1])
    history.sort(key=lambda o: o.at)
    entries = [entry(seq, outcome) for seq, outcome in enumerate(history)]
    rebuilt = Learner.from_entries(entries, seed=seed)
    now = START + steps * SPACING
    return (
        rebuilt.rank(NODE, CANDIDATES) == learner.rank(NODE, CANDIDATES)
        and all(rebuilt.confidence(NODE, p) == learner.confidence(NODE, p) for p in CANDIDATES)
        and rebuilt.choose(NODE, CANDIDATES) == learner.choose(NODE, CANDIDATES)
        and rebuilt.learning_status(NODE, CANDIDATES, now, Mode.OBSERVE, Mode.AUTONOMOUS)
        == learner.learning_status(NODE, CANDIDATES, now, Mode.OBSERVE, Mode.AUTONOMOUS)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, well under a minute")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    runs = args.runs or (1000 if args.quick else 5000)
    steps: int = args.steps
    if steps <= WARMUP:
        parser.error(f"--steps must exceed the {WARMUP}-outcome warm-up")

    began = time.perf_counter()
    after_warmup: list[float] = []
    buckets: dict[str, list[float]] = {}
    regrets: list[float] = []
    thompson_rates: list[float] = []
    uniform_rates: list[float] = []
    river_rates: list[float] = []
    river_after: list[float] = []
    rebuilt_ok = 0
    final_modes = {name: {mode.value: 0 for mode in Mode} for name in CANDIDATES}
    decide_seconds = 0.0
    decisions = 0
    for seed in range(runs):
        t0 = time.perf_counter()
        chosen, results, learner = thompson_run(seed, steps)
        decide_seconds += time.perf_counter() - t0
        decisions += steps
        late = chosen[WARMUP:]
        after_warmup.append(sum(name == BEST for name in late) / len(late))
        for lo in range(0, steps, 10):
            window = chosen[lo : lo + 10]
            share = sum(name == BEST for name in window) / len(window)
            buckets.setdefault(f"{lo + 1}-{lo + len(window)}", []).append(share)
        regrets.append(regret(chosen))
        thompson_rates.append(sum(results) / steps)
        uniform_rates.append(sum(uniform_run(seed, steps)) / steps)
        river_chosen, river_results = river_run(seed, steps)
        river_rates.append(sum(river_results) / steps)
        river_after.append(sum(n == BEST for n in river_chosen[WARMUP:]) / (steps - WARMUP))
        rebuilt_ok += rebuilt_matches(learner, seed, steps)
        now = START + steps * SPACING
        for name in CANDIDATES:
            mode, _ = learner.autonomy(NODE, name, now, Mode.PROPOSE, Mode.AUTONOMOUS)
            final_modes[name][mode.value] += 1

    p_best = statistics.fmean(after_warmup)
    thompson = statistics.fmean(thompson_rates)
    uniform = statistics.fmean(uniform_rates)
    figures: dict[str, Any] = {
        "bench": "learning",
        "mode": "quick" if args.quick else "full",
        "runs": runs,
        "steps": steps,
        "true_rates": TRUE_RATES,
        "p_best_after_30": round(p_best, 4),
        "p_best_after_30_p10_of_runs": round(sorted(after_warmup)[max(0, runs // 10 - 1)], 4),
        "p_best_by_step": {k: round(statistics.fmean(v), 4) for k, v in buckets.items()},
        "cumulative_regret_mean": round(statistics.fmean(regrets), 3),
        "cumulative_regret_uniform_expected": round(
            steps * (TRUE_RATES[BEST] - uniform_expected()), 3
        ),
        "success_rate_thompson": round(thompson, 4),
        "success_rate_uniform": round(uniform, 4),
        "success_points_over_uniform": round(100 * (thompson - uniform), 2),
        "success_ratio_over_uniform": round(thompson / uniform, 3),
        "river_reference_success_rate": round(statistics.fmean(river_rates), 4),
        "river_reference_p_best_after_30": round(statistics.fmean(river_after), 4),
        "rebuilt_from_ledger_identical_runs": rebuilt_ok,
        "rebuilt_from_ledger_identical": rebuilt_ok == runs,
        "autonomy_final_mode_share_from_propose": {
            name: {mode: round(count / runs, 4) for mode, count in modes.items()}
            for name, modes in final_modes.items()
        },
        "choose_record_us": round(1e6 * decide_seconds / decisions, 2),
        "seconds": round(time.perf_counter() - began, 2),
    }
    figures["pass"] = (
        p_best >= 0.9 and figures["success_points_over_uniform"] >= 10 and rebuilt_ok == runs
    )
    print(
        f"P(best) after {WARMUP} outcomes {p_best:.3f}; success {thompson:.3f} vs uniform "
        f"{uniform:.3f}; regret {figures['cumulative_regret_mean']}; "
        f"rebuilt identical {rebuilt_ok}/{runs}"
    )
    print(json.dumps(figures, sort_keys=False))
    if not figures["pass"]:
        sys.exit(1)


def uniform_expected() -> float:
    return statistics.fmean(TRUE_RATES.values())


if __name__ == "__main__":
    main()
