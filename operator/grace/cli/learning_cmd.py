"""`grace learning` and `grace stats`: what GRACE has learned per playbook, and what it has done.

`learning` prints each HealthNode's ``status.learning`` (best playbook first, as the operator
ranks them by posterior mean): attempts, successes, success rates over 24 h and 7 d, the
confidence handed to the policy, and the autonomy the outcomes earned under the human's ceiling.
It reads the cluster only, so it shows what the operator last wrote, not a local recomputation.

`stats` reads the operator's own Prometheus endpoint and prints its scheduler, policy, approval
and Mission counters as one table, so "how often did GRACE propose, get denied, skip, roll back"
needs no Prometheus server. Counters restart from zero with the operator process.

Everything from HealthNodes or exposition text to rows is a pure function; reading is thin.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client.parser import text_string_to_metric_families

from grace.api.healthnode import HealthNode
from grace.cli.errors import CommandError, http_url, positive
from grace.cli.status_cmd import NONE, read_nodes
from grace.cli.table import render

DEFAULT_METRICS_URL: Final = "http://127.0.0.1:8080/metrics"

# -- `grace learning`: the pure part ---------------------------------------------------------


@dataclass(frozen=True)
class LearningRow:
    """One playbook on one HealthNode, as the operator last reported it."""

    namespace: str
    node: str
    rank: int
    """1 for the playbook GRACE trusts most on this node (the order of status.learning)."""
    playbook: str
    attempts: int
    successes: int
    rate24h: float | None
    rate7d: float | None
    confidence: float | None
    autonomy: str | None
    """The mode the outcomes earned this playbook here (None before the operator said)."""
    ceiling: str
    """How far outcomes may promote it: the spec's autonomyCeiling, or its mode when unset."""

    def json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "healthNode": self.node,
            "rank": self.rank,
            "playbook": self.playbook,
            "attempts": self.attempts,
            "successes": self.successes,
            "successRate24h": self.rate24h,
            "successRate7d": self.rate7d,
            "confidence": self.confidence,
            "autonomy": self.autonomy,
            "autonomyCeiling": self.ceiling,
        }


def learning_rows(nodes: Iterable[HealthNode]) -> list[LearningRow]:
    """Every node's learning, by namespace and node name, each node's playbooks best first."""
    rows: list[LearningRow] = []
    for node in sorted(nodes, key=lambda n: (n.metadata.namespace, n.metadata.name)):
        remediation = node.spec.remediation
        ceiling = (remediation.autonomy_ceiling or remediation.mode).value
        for rank, entry in enumerate(node.status.learning, start=1):
            rows.append(
                LearningRow(
                    namespace=node.metadata.namespace,
                    node=node.metadata.name,
                    rank=rank,
                    playbook=entry.playbook,
                    attempts=entry.attempts,
                    successes=entry.successes,
                    rate24h=entry.success_rate24h,
                    rate7d=entry.success_rate7d,
                    confidence=entry.confidence,
                    autonomy=entry.autonomy.value if entry.autonomy is not None else None,
                    ceiling=ceiling,
                )
            )
    return rows


def percent(rate: float | None) -> str:
    """A success rate as people say it; <none> (not 0%) when nothing was tried in the window."""
    return NONE if rate is None else f"{rate * 100:.0f}%"


def learning_table(rows: Iterable[LearningRow], all_namespaces: bool) -> list[list[str]]:
    """Header and rows of `grace learning`."""
    header = ["HEALTHNODE", "#", "PLAYBOOK", "ATTEMPTS", "SUCCESSES", "24H", "7D"]
    header += ["CONFIDENCE", "AUTONOMY", "CEILING"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    table = [header]
    for r in rows:
        line = [
            r.node,
            str(r.rank),
            r.playbook,
            str(r.attempts),
            str(r.successes),
            percent(r.rate24h),
            percent(r.rate7d),
            NONE if r.confidence is None else f"{r.confidence:.2f}",
            r.autonomy or NONE,
            r.ceiling,
        ]
        if all_namespaces:
            line.insert(0, r.namespace)
        table.append(line)
    return table


# -- `grace stats`: the pure part ------------------------------------------------------------


@dataclass(frozen=True)
class Area:
    """How one operator metric family reads as rows of `grace stats`."""

    title: str
    row: Callable[[Mapping[str, str]], str]
    """Labels of one sample -> the row it adds to (samples naming the same row are summed)."""
    always: tuple[str, ...] = ()
    """Rows shown as 0 before the operator first counts them (a labelled counter exports
    nothing until then, and "0 denials" is an answer, a missing line is not)."""


def _scheduler_row(labels: Mapping[str, str]) -> str:
    if labels.get("outcome") == "skip":
        return f"skipped: {labels.get('reason') or 'unknown'}"
    return labels.get("outcome") or "unknown"


AREAS: Final[dict[str, Area]] = {
    "grace_scheduler": Area("scheduler", _scheduler_row, ("proposed",)),
    "grace_policy_decisions": Area(
        "policy",
        lambda labels: labels.get("result") or "unknown",
        ("allow", "require_approval", "deny"),
    ),
    "grace_approvals_pending": Area("approvals", lambda _: "pending"),
    "grace_missions": Area(
        "missions",
        lambda labels: labels.get("phase") or "unknown",
        ("Succeeded", "Failed", "RolledBack"),
    ),
}
"""The operator's own families, in the order a reader follows a Mission: proposed, decided,
approved, finished. Any other grace_* counter is listed after them by its labels."""


@dataclass(frozen=True)
class StatRow:
    area: str
    name: str
    value: float

    def json(self) -> dict[str, Any]:
        return {"area": self.area, "name": self.name, "value": self.value}


class MetricsError(CommandError):
    """The operator's metrics could not be read or parsed: printed as one line, exit 1."""


def stat_rows(exposition: str) -> list[StatRow]:
    """The operator's counters (and pending approvals) out of Prometheus text exposition."""
    try:
        families = list(text_string_to_metric_families(exposition))
    except ValueError as e:
        raise MetricsError(f"not Prometheus text exposition: {e}") from e
    known: dict[str, dict[str, float]] = {name: {} for name in AREAS}
    other: dict[str, dict[str, float]] = {}
    for family in families:
        area = AREAS.get(family.name)
        if area is not None:
            wanted = f"{family.name}_total" if family.type == "counter" else family.name
            rows = known[family.name]
            for sample in family.samples:
                if sample.name == wanted:
                    key = area.row(sample.labels)
                    rows[key] = rows.get(key, 0.0) + sample.value
        elif family.type == "counter" and family.name.startswith("grace_"):
            rows = other.setdefault(family.name.removeprefix("grace_"), {})
            for sample in family.samples:
                if sample.name == f"{family.name}_total":
                    key = _labels_text(sample.labels)
                    rows[key] = rows.get(key, 0.0) + sample.value
    out: list[StatRow] = []
    for name, area in AREAS.items():
        rows = known[name]
        for key in area.always:
            rows.setdefault(key, 0.0)
        first = [k for k in area.always if k in rows]
        rest = sorted(k for k in rows if k not in area.always)
        out += [StatRow(area.title, key, rows[key]) for key in [*first, *rest]]
    for title in sorted(other):
        out += [StatRow(title, key, other[title][key]) for key in sorted(other[title])]
    return out


def _labels_text(labels: Mapping[str, str]) -> str:
    shown = [f"{k}={v}" for k, v in sorted(labels.items()) if v]
    return ", ".join(shown) if shown else "total"


def count_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


def stats_table(rows: Iterable[StatRow]) -> list[list[str]]:
    """Header and rows of `grace stats`."""
    return [["AREA", "COUNTER", "VALUE"]] + [[r.area, r.name, count_text(r.value)] for r in rows]


# -- the thin edge ---------------------------------------------------------------------------


def fetch_metrics(url: str, timeout: float) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body: bytes = response.read()
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise MetricsError(f"cannot read the operator's metrics at {url}: {e}") from e
    return body.decode("utf-8", errors="replace")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    learning = sub.add_parser(
        "learning",
        help="per HealthNode, each playbook's outcomes, success rates, confidence and autonomy",
        description="What GRACE has learned (HealthNode status.learning): per node, its "
        "playbooks best first, with attempts, successes, success rates over 24 h and 7 d, "
        "the confidence the policy sees, and the autonomy earned under the ceiling.",
    )
    scope = learning.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    learning.add_argument("-o", "--output", choices=["json"], default=None, help="output format")
    learning.add_argument("--kubeconfig", default=None, help="kubeconfig (default: $KUBECONFIG)")
    learning.add_argument("--context", default=None, help="kube context (default: the current)")
    learning.set_defaults(func=_learning)

    stats = sub.add_parser(
        "stats",
        help="the operator's counters: proposals, skips, policy decisions, approvals, Missions",
        description="Reads the operator's /metrics endpoint and prints its scheduler, policy, "
        "approval and Mission counters (they count since the operator process started).",
    )
    stats.add_argument(
        "--metrics-url",
        type=http_url,
        default=DEFAULT_METRICS_URL,
        help=f"the operator's metrics endpoint (default: {DEFAULT_METRICS_URL})",
    )
    stats.add_argument("--timeout", type=positive(float), default=5.0, help="seconds (default: 5)")
    stats.add_argument("-o", "--output", choices=["json"], default=None, help="output format")
    stats.set_defaults(func=_stats)


def _learning(args: argparse.Namespace) -> int:
    nodes, namespace = read_nodes(args)
    rows = learning_rows(nodes)
    if args.output == "json":
        print(json.dumps({"items": [r.json() for r in rows]}, indent=2))
        return 0
    if not rows:
        where = f"in {namespace} namespace" if namespace else "in any namespace"
        print(f"No learning yet {where}: no HealthNode lists playbooks, or none was evaluated.")
        return 0
    sys.stdout.write(render(learning_table(rows, args.all_namespaces)))
    return 0


def _stats(args: argparse.Namespace) -> int:
    rows = stat_rows(fetch_metrics(args.metrics_url, args.timeout))
    if args.output == "json":
        print(
            json.dumps(
                {"metricsUrl": args.metrics_url, "items": [r.json() for r in rows]}, indent=2
            )
        )
        return 0
    sys.stdout.write(render(stats_table(rows)))
    return 0
