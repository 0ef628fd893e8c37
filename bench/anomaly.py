"""Precision and recall of GRACE's anomaly detector on labelled synthetic series, vs baselines.

Series (seeded): a level, Gaussian or heavy-tailed (Student t, 5 dof) noise, sometimes a slow
seasonal wave, and one kind of fault per series — spikes, level shifts or drifts — plus clean
series that only measure false alarms. Scoring is event-based, as in NAB: consecutive flagged
samples (gaps of up to MERGE_GAP allowed) form one alarm; an alarm that starts inside a labelled
window detects that event (true positive), an alarm that starts anywhere else is a false
positive, and further alarms inside an already-detected window count neither way.

    precision = true-positive alarms / all alarms      recall = detected events / all events

Every detector sees the same series and gets the same warm-up (the first WARMUP samples are
learnt, never scored). The naive baseline is the fixed 3-sigma rule over a trailing window of
the same length; river's GaussianScorer and HalfSpaceTrees are run too, so the choice of
detector stays reproducible. Thresholds of GRACE's detector were chosen on seed 7; the reported
figures use the seed given (default 1), i.e. series never used for tuning.

    .venv/bin/python bench/anomaly.py [--quick] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

sys.path.insert(0, "operator")

from grace.detect.anomaly import AnomalyDetector, AnomalySettings

LENGTH = 1000
WARMUP = 120
WINDOW = 60
MERGE_GAP = 3
KINDS = ("spike", "level_shift", "drift")


@dataclass
class Series:
    kind: str  # one of KINDS or "clean"
    values: list[float]
    events: list[tuple[int, int]] = field(default_factory=list)
    """Labelled windows [start, end] in which an alarm counts as detecting the fault."""


def generate(rng: random.Random, kind: str) -> Series:
    level = rng.uniform(10, 100)
    sigma = level * rng.uniform(0.02, 0.1)
    heavy = rng.random() < 0.5
    wave = sigma * rng.uniform(0.5, 2.0) if rng.random() < 0.5 else 0.0
    period = rng.uniform(200, 600)
    phase = rng.uniform(0, 2 * math.pi)

    def noise() -> float:
        if heavy:  # Student t with 5 dof, rescaled to unit variance
            t = rng.gauss(0, 1) / math.sqrt(sum(rng.gauss(0, 1) ** 2 for _ in range(5)) / 5)
            return sigma * t / math.sqrt(5 / 3)
        return rng.gauss(0, sigma)

    offset = [0.0] * LENGTH
    events: list[tuple[int, int]] = []
    if kind != "clean":
        starts = [WARMUP + 80 + i * 260 + rng.randrange(0, 60) for i in range(3)]
        for t0 in starts:
            sign = rng.choice((-1.0, 1.0))
            if kind == "spike":
                width = rng.choice((1, 1, 2))
                size = rng.uniform(5, 12) * sigma * sign
                for t in range(t0, t0 + width):
                    offset[t] += size
                events.append((t0, t0 + width + 2))
            elif kind == "level_shift":
                size = rng.uniform(3, 8) * sigma * sign
                for t in range(t0, LENGTH):
                    offset[t] += size
                events.append((t0, t0 + 15))
            else:
                duration = rng.randrange(30, 91)
                size = rng.uniform(5, 10) * sigma * sign
                for t in range(t0, LENGTH):
                    offset[t] += size * min(1.0, (t - t0 + 1) / duration)
                events.append((t0, t0 + duration + 15))
    values = [
        level + wave * math.sin(2 * math.pi * t / period + phase) + offset[t] + noise()
        for t in range(LENGTH)
    ]
    return Series(kind, values, events)


Flagger = Callable[[list[float]], list[bool]]


def grace_flags(values: list[float], settings: AnomalySettings | None = None) -> list[bool]:
    det = AnomalyDetector(settings)
    det.warm_up(values[:WARMUP])
    out = []
    for v in values[WARMUP:]:
        det.observe(v)
        out.append(det.is_anomaly)
    return out


def naive_flags(values: list[float]) -> list[bool]:
    """The fixed 3-sigma rule: |x - mean| > 3·std over the trailing WINDOW samples."""
    window: deque[float] = deque(values[WARMUP - WINDOW : WARMUP], maxlen=WINDOW)
    out = []
    for v in values[WARMUP:]:
        mean = statistics.fmean(window)
        std = statistics.pstdev(window)
        out.append(abs(v - mean) > 3 * std)
        window.append(v)
    return out


def river_gaussian_flags(values: list[float]) -> list[bool]:
    from river import anomaly

    det = anomaly.GaussianScorer(window_size=WINDOW, grace_period=20)
    for v in values[:WARMUP]:
        det.learn_one(None, v)
    out = []
    for v in values[WARMUP:]:
        out.append(det.score_one(None, v) > 0.9973)  # the same 3-sigma, as a two-sided CDF
        det.learn_one(None, v)
    return out


def river_hst_flags(values: list[float]) -> list[bool]:
    from river import anomaly

    head = values[:WARMUP]
    lo, hi = min(head), max(head)
    span = hi - lo or 1.0
    det = anomaly.HalfSpaceTrees(
        n_trees=10, height=8, window_size=WINDOW, limits={"y": (lo - span, hi + span)}, seed=42
    )
    for v in head:
        det.learn_one({"y": v})
    out = []
    for v in values[WARMUP:]:
        out.append(det.score_one({"y": v}) > 0.9)
        det.learn_one({"y": v})
    return out


def alarms(flags: list[bool]) -> list[int]:
    """Start indices (in series time) of alarms, merging gaps of up to MERGE_GAP samples."""
    starts: list[int] = []
    last = -(10**9)
    for i, flagged in enumerate(flags):
        if not flagged:
            continue
        t = i + WARMUP
        if t - last > MERGE_GAP + 1:
            starts.append(t)
        last = t
    return starts


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    detected: int = 0
    events: int = 0
    series: int = 0

    def add(self, other: Tally) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.detected += other.detected
        self.events += other.events
        self.series += other.series

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.detected / self.events if self.events else 1.0

    def figures(self) -> dict[str, float | int]:
        if not self.events:  # clean series: only false alarms can happen
            scored = self.series * (LENGTH - WARMUP)
            return {
                "false_alarms": self.fp,
                "false_alarms_per_1000_samples": round(1000 * self.fp / scored, 3) if scored else 0,
            }
        return {
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "alarms": self.tp + self.fp,
            "false_alarms": self.fp,
            "events": self.events,
        }


def score(series: Series, flags: list[bool]) -> Tally:
    tally = Tally(events=len(series.events), series=1)
    hit = [False] * len(series.events)
    for t in alarms(flags):
        inside = [i for i, (a, b) in enumerate(series.events) if a <= t <= b]
        if not inside:
            tally.fp += 1
        elif not hit[inside[0]]:
            hit[inside[0]] = True
            tally.tp += 1
    tally.detected = sum(hit)
    return tally


def run(dataset: list[Series], flagger: Flagger) -> dict[str, Tally]:
    by_kind: dict[str, Tally] = {k: Tally() for k in (*KINDS, "clean", "overall")}
    for s in dataset:
        t = score(s, flagger(s.values))
        by_kind[s.kind].add(t)
        by_kind["overall"].add(t)
    return by_kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer series (< 1 min)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    per_kind = 20 if args.quick else 60
    rng = random.Random(args.seed)
    dataset = [generate(rng, k) for k in (*KINDS, "clean") for _ in range(per_kind)]

    detectors: dict[str, Flagger] = {
        "grace": grace_flags,
        "naive_3sigma": naive_flags,
        "river_gaussian": river_gaussian_flags,
        "river_hst": river_hst_flags,
    }
    results: dict[str, dict[str, Tally]] = {}
    timings: dict[str, float] = {}
    for name, flagger in detectors.items():
        t0 = time.perf_counter()
        results[name] = run(dataset, flagger)
        samples = len(dataset) * (LENGTH - WARMUP)
        timings[name] = round((time.perf_counter() - t0) / samples * 1e6, 1)

    for name, by_kind in results.items():
        print(f"{name:15s} ({timings[name]:6.1f} µs/sample)")
        for kind, tally in by_kind.items():
            f = tally.figures()
            if "precision" not in f:
                print(f"  {kind:12s} false alarms {f['false_alarms']:4d}")
                continue
            print(
                f"  {kind:12s} precision {f['precision']:.3f} recall {f['recall']:.3f} "
                f"alarms {f['alarms']:4d} false {f['false_alarms']:4d} events {f['events']}"
            )

    grace = results["grace"]["overall"]
    naive = results["naive_3sigma"]["overall"]
    summary = {
        "bench": "anomaly",
        "quick": args.quick,
        "seed": args.seed,
        "series": len(dataset),
        "samples_per_series": LENGTH,
        "detector": "grace robust z: point, level and drift views",
        "precision": round(grace.precision, 3),
        "recall": round(grace.recall, 3),
        "per_kind": {k: results["grace"][k].figures() for k in (*KINDS, "clean")},
        "baseline_naive_3sigma": {
            "precision": round(naive.precision, 3),
            "recall": round(naive.recall, 3),
            "per_kind": {k: results["naive_3sigma"][k].figures() for k in (*KINDS, "clean")},
        },
        "ratio_vs_naive": {
            "precision": round(grace.precision / naive.precision, 2) if naive.precision else None,
            "recall": round(grace.recall / naive.recall, 2) if naive.recall else None,
        },
        "river": {
            name: {
                "precision": round(results[name]["overall"].precision, 3),
                "recall": round(results[name]["overall"].recall, 3),
            }
            for name in ("river_gaussian", "river_hst")
        },
        "us_per_sample": timings,
        "target": {"precision": 0.75, "recall": 0.75},
        "meets_target": grace.precision > 0.75 and grace.recall > 0.75,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
