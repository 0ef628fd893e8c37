"""Decision latency, embedded (regopy) versus the OPA server, on the same corpus in one run.

    .venv/bin/python bench/policy.py [--quick] [--decisions N]

Every decision goes through Governor.decide (input serialisation, evaluation, answer parsing,
fail-closed wrapper), i.e. what a Mission pays. The OPA server is a real `opa run --server` on
127.0.0.1 started here; the corpus is tests/unit/govern/cases.yaml. Target: p99 < 5 ms on both.
The last line of stdout is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "operator"))
sys.path.insert(0, str(ROOT))

from tests.unit.govern.corpus import CASES, Case  # noqa: E402

from grace.govern import (  # noqa: E402
    Decision,
    EmbeddedEngine,
    Governor,
    OpaServerEngine,
    PolicyData,
    default_policy_dir,
)
from grace_lab.localcluster.opa import OpaServer  # noqa: E402

TARGET_P99_MS = 5.0


def percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, min(len(sorted_ms), round(q / 100 * len(sorted_ms) + 0.5)))
    return sorted_ms[rank - 1]


def by_data(cases: list[Case]) -> list[tuple[PolicyData, list[Case]]]:
    groups: dict[str, tuple[PolicyData, list[Case]]] = {}
    for case in cases:
        groups.setdefault(case.data.model_dump_json(), (case.data, []))[1].append(case)
    return list(groups.values())


def run(governor: Governor, decisions: int) -> tuple[list[float], list[Decision]]:
    """Time `decisions` decisions cycling through the corpus; data changes are not timed."""
    groups = by_data(CASES)
    timings: list[float] = []
    answers: list[Decision] = []
    i = 0
    while len(timings) < decisions:
        data, cases = groups[i % len(groups)]
        governor.set_data(data)
        share = max(1, len(cases) * decisions // len(CASES))
        for j in range(min(share, decisions - len(timings))):
            case = cases[j % len(cases)]
            start = time.perf_counter()
            decision = governor.decide(case.input)
            timings.append((time.perf_counter() - start) * 1000)
            if j < len(cases):
                answers.append(decision)
        i += 1
    governor.set_data(PolicyData())
    return sorted(timings), answers


def summary(timings: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(timings, 50), 3),
        "p99_ms": round(percentile(timings, 99), 3),
        "mean_ms": round(statistics.fmean(timings), 3),
        "max_ms": round(timings[-1], 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1000 decisions per engine")
    parser.add_argument("--decisions", type=int, default=None, help="decisions per engine")
    args = parser.parse_args()
    decisions = args.decisions or (1000 if args.quick else 10000)

    results: dict[str, object] = {
        "bench": "policy",
        "corpus_cases": len(CASES),
        "decisions_per_engine": decisions,
        "target_p99_ms": TARGET_P99_MS,
        "python": platform.python_version(),
    }
    with OpaServer(default_policy_dir()) as server:
        governors = {
            "embedded": Governor(EmbeddedEngine()),
            "opa_server": Governor(OpaServerEngine(server.url, timeout=2.0)),
        }
        answers: dict[str, list[Decision]] = {}
        for name, governor in governors.items():
            run(governor, min(decisions, 2 * len(CASES)))  # warm-up: caches, connections
            timings, answers[name] = run(governor, decisions)
            figures = summary(timings)
            results[name] = figures
            print(
                f"{name:>10}: p50 {figures['p50_ms']:.3f} ms  p99 {figures['p99_ms']:.3f} ms "
                f"(mean {figures['mean_ms']:.3f}, max {figures['max_ms']:.3f}) over {decisions}"
            )
    embedded, opa = results["embedded"], results["opa_server"]
    assert isinstance(embedded, dict) and isinstance(opa, dict)
    same = [a.verdict for a in answers["embedded"]] == [b.verdict for b in answers["opa_server"]]
    failed = [
        a
        for a in answers["embedded"] + answers["opa_server"]
        if a.tier == "none" and a.reasons[0].startswith("policy engine unavailable")
    ]
    results["p50_ratio_opa_over_embedded"] = round(opa["p50_ms"] / embedded["p50_ms"], 2)
    results["p99_ratio_opa_over_embedded"] = round(opa["p99_ms"] / embedded["p99_ms"], 2)
    results["identical_answers"] = same
    results["engine_failures"] = len(failed)
    results["p99_under_target"] = {
        "embedded": embedded["p99_ms"] < TARGET_P99_MS,
        "opa_server": opa["p99_ms"] < TARGET_P99_MS,
    }
    print(json.dumps(results, sort_keys=True))
    return 0 if same and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
