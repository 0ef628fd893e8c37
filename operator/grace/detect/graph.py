"""The health graph of a namespace: which unhealthy node is a cause and which only a symptom.

A node whose dependency is itself unhealthy is probably a symptom; remediating it would treat
the symptom. Bad graphs (cycles, names of HealthNodes that do not exist) are reported as
conditions a user can read, never raised: one user's typo must not stop the detector.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from grace.api.common import Condition, find_condition
from grace.api.healthnode import CauseCandidate as CandidateStatus
from grace.api.healthnode import HealthNode, Phase, RootCauseAnalysis, SignalState

GRAPH_VALID = "GraphValid"

UNHEALTHY = frozenset({Phase.DEGRADED, Phase.CRITICAL})
"""Only a known-bad node can be a cause; Unknown means we cannot tell, so it is no cause."""

_SEVERITY = {Phase.CRITICAL: 2, Phase.DEGRADED: 1}


@dataclass(frozen=True)
class GraphNode:
    name: str
    depends_on: tuple[str, ...] = ()
    phase: Phase = Phase.UNKNOWN
    unhealthy_since: datetime | None = None
    """When the node went bad: the start of its earliest breaching signal."""
    departed_since: datetime | None = None
    """When a signal of it started to depart from its own baseline (its anomaly alarm), which
    is usually before any threshold is crossed; None when no signal is anomalous now."""
    deviation: float = 0.0
    """How far its most unusual signal is from its baseline, in units of the anomaly threshold
    (1 = just anomalous); 0 when no signal is scored."""

    @property
    def disturbed(self) -> bool:
        """Past a threshold, or visibly departing from its baseline: it may be part of an incident."""
        return self.phase in UNHEALTHY or (
            self.phase is not Phase.UNKNOWN and self.departed_since is not None
        )

    @property
    def onset(self) -> datetime | None:
        """The earliest sign of trouble: departure from baseline or threshold breach."""
        starts = [t for t in (self.departed_since, self.unhealthy_since) if t is not None]
        return min(starts) if starts else None


def deviation_of(score: float | None) -> float:
    """The anomaly ratio r back from a stored score r^2 / (1 + r^2) (see grace.detect.anomaly)."""
    if score is None or score <= 0:
        return 0.0
    return math.sqrt(score / (1 - score)) if score < 1 else MAX_DEVIATION


MAX_DEVIATION = 50.0
"""Scores are stored with three decimals: 0.999 is r = 31.6, so nothing above this is known."""


def node_of(node: HealthNode) -> GraphNode:
    """The graph's view of a HealthNode as stored in the cluster."""
    status = node.status
    starts = [
        s.since
        for s in status.signals
        if s.since is not None and s.state in (SignalState.DEGRADED, SignalState.CRITICAL)
    ]
    since: datetime | None = min(starts) if starts else None
    if since is None and status.phase in UNHEALTHY:
        ready = find_condition(status.conditions, "Ready")
        since = ready.last_transition_time if ready is not None else None
    departures = [s.anomaly_since for s in status.signals if s.anomaly_since is not None]
    return GraphNode(
        name=node.metadata.name,
        depends_on=tuple(node.spec.depends_on),
        phase=status.phase,
        unhealthy_since=since,
        departed_since=min(departures) if departures else None,
        deviation=max((deviation_of(s.anomaly_score) for s in status.signals), default=0.0),
    )


@dataclass(frozen=True)
class RankedCause:
    """One entry of the likely-root-cause ranking, with the facts that put it there."""

    name: str
    rank: int
    phase: Phase
    is_root: bool
    """No dependency of it is unhealthy: it is not explained by anything upstream."""
    explains: tuple[str, ...]
    """Unhealthy nodes that reach it through unhealthy dependencies (its likely symptoms)."""
    unhealthy_since: datetime | None
    reason: str


@dataclass(frozen=True)
class CauseWeights:
    """Log-odds each fact adds to a candidate cause (set on the bench's tuning seed, 7)."""

    declared: float = 1.5
    depth: float = 0.3
    undeclared: float = -2.0
    missing_edge: float = -1.0
    explained: float = -3.0
    after: float = -3.0
    earliest: float = 1.0
    deviation: float = 0.5
    unhealthy: float = 0.5


CAUSE_WEIGHTS = CauseWeights()
PROPAGATION = timedelta(seconds=60)
"""How much earlier an undeclared node may depart and still be suspected of a missing edge."""


@dataclass(frozen=True)
class CauseCandidate:
    node: str
    confidence: float
    phase: Phase
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class CauseAnalysis:
    """The likely causes of one node's trouble, most likely first, confidences summing to 1."""

    node: str
    candidates: tuple[CauseCandidate, ...]

    @property
    def cause(self) -> CauseCandidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def root_cause(self) -> str | None:
        """Another node, known bad, that is the likeliest cause: this node is its symptom."""
        top = self.cause
        if top is None or top.node == self.node or top.phase not in UNHEALTHY:
            return None
        return top.node

    @property
    def self_confidence(self) -> float | None:
        """How sure the analysis is that the node is its own cause (None: nothing to say)."""
        for c in self.candidates:
            if c.node == self.node:
                return c.confidence
        return None


def analysis_status(analysis: CauseAnalysis) -> RootCauseAnalysis | None:
    """What the HealthNode's status shows of an analysis (None when there is nothing to say).

    Confidences are rounded to two decimals: finer changes are noise, not news.
    """
    top = analysis.cause
    if top is None:
        return None
    return RootCauseAnalysis(
        cause=top.node,
        confidence=round(top.confidence, 2),
        evidence=list(top.evidence[:8]),
        candidates=[
            CandidateStatus(node=c.node, confidence=round(c.confidence, 2))
            for c in analysis.candidates[:3]
        ],
    )


class HealthGraph:
    """An immutable snapshot of one namespace's HealthNodes and their phases."""

    def __init__(self, nodes: Iterable[GraphNode]) -> None:
        self._nodes: dict[str, GraphNode] = {n.name: n for n in nodes}
        self._cycles = self._find_cycles()
        self._callers: dict[str, list[str]] | None = None

    @classmethod
    def of(cls, nodes: Iterable[HealthNode]) -> HealthGraph:
        return cls(node_of(n) for n in nodes)

    @property
    def nodes(self) -> Mapping[str, GraphNode]:
        return self._nodes

    def with_node(self, node: GraphNode) -> HealthGraph:
        """The same graph with one node replaced or added (e.g. its freshly computed phase)."""
        return HealthGraph([*(n for n in self._nodes.values() if n.name != node.name), node])

    def with_phase(self, name: str, phase: Phase, since: datetime | None) -> HealthGraph:
        current = self._nodes.get(name, GraphNode(name))
        return self.with_node(replace(current, phase=phase, unhealthy_since=since))

    # -- validity ---------------------------------------------------------------------------

    def _deps(self, name: str) -> list[str]:
        node = self._nodes.get(name)
        return [d for d in node.depends_on if d in self._nodes] if node else []

    def _find_cycles(self) -> list[tuple[str, ...]]:
        """One cycle per back edge of an iterative DFS, rotated to start at its least name."""
        found: set[tuple[str, ...]] = set()
        color: dict[str, int] = {}  # 1 = on the stack, 2 = done
        for start in sorted(self._nodes):
            if start in color:
                continue
            path: list[str] = [start]
            iters = [iter(self._deps(start))]
            color[start] = 1
            while iters:
                nxt = next(iters[-1], None)
                if nxt is None:
                    color[path.pop()] = 2
                    iters.pop()
                    continue
                state = color.get(nxt)
                if state == 1:
                    cycle = path[path.index(nxt) :]
                    pivot = cycle.index(min(cycle))
                    found.add(tuple(cycle[pivot:] + cycle[:pivot]))
                elif state is None:
                    color[nxt] = 1
                    path.append(nxt)
                    iters.append(iter(self._deps(nxt)))
        return sorted(found)

    @property
    def cycles(self) -> list[tuple[str, ...]]:
        return list(self._cycles)

    def missing(self, name: str) -> list[str]:
        node = self._nodes.get(name)
        return [d for d in node.depends_on if d not in self._nodes] if node else []

    def problems(self, name: str | None = None) -> list[str]:
        """Readable problems of one node's dependencies, or of the whole graph."""
        names = [name] if name is not None else sorted(self._nodes)
        out: list[str] = []
        for cycle in self._cycles:
            if name is None or name in cycle:
                out.append("dependency cycle: " + " -> ".join((*cycle, cycle[0])))
        for n in names:
            for dep in self.missing(n):
                out.append(f"{n}: dependsOn names missing HealthNode {dep}")
        return out

    def condition(self, name: str, generation: int | None = None) -> Condition:
        """GraphValid for one node: False naming its cycles and missing dependencies."""
        node_problems = self.problems(name)
        in_cycle = any(name in c for c in self._cycles)
        missing = self.missing(name)
        if not node_problems:
            return Condition(
                type=GRAPH_VALID,
                status="True",
                reason="DependenciesResolved",
                message="every dependsOn entry names an existing HealthNode, without cycles",
                observed_generation=generation,
            )
        if in_cycle and missing:
            reason = "InvalidDependencies"
        elif in_cycle:
            reason = "DependencyCycle"
        else:
            reason = "MissingDependency"
        return Condition(
            type=GRAPH_VALID,
            status="False",
            reason=reason,
            message="; ".join(node_problems),
            observed_generation=generation,
        )

    # -- root causes ------------------------------------------------------------------------

    def _unhealthy(self, name: str) -> bool:
        node = self._nodes.get(name)
        return node is not None and node.phase in UNHEALTHY

    def _reach(self, name: str) -> dict[str, int]:
        """Unhealthy nodes reachable from `name` through unhealthy nodes, with BFS depth."""
        depth: dict[str, int] = {}
        queue: deque[tuple[str, int]] = deque((d, 1) for d in self._deps(name))
        while queue:
            cur, d = queue.popleft()
            if cur == name or cur in depth or not self._unhealthy(cur):
                continue
            depth[cur] = d
            queue.extend((nxt, d + 1) for nxt in self._deps(cur))
        return depth

    def root_cause(self, name: str) -> str | None:
        """The unhealthy node that most likely causes this node's trouble, or None.

        None when the node is Healthy, is itself the most likely cause, or the most likely cause
        is not unhealthy yet (only departing from its baseline): only a known-bad node is named,
        since naming a cause makes the proposer leave the symptom alone.
        """
        return self.analyze(name).root_cause

    def _reach_any(self, name: str) -> set[str]:
        """Every node `name` depends on, directly or not, whatever its phase."""
        seen: set[str] = set()
        stack = [name]
        while stack:
            for d in self._deps(stack.pop()):
                if d not in seen and d != name:
                    seen.add(d)
                    stack.append(d)
        return seen

    def _dependents(self, name: str) -> set[str]:
        """Every node that depends on `name`, directly or not (its possible symptoms)."""
        if self._callers is None:
            callers: dict[str, list[str]] = {}
            for n in self._nodes:
                for d in self._deps(n):
                    callers.setdefault(d, []).append(n)
            self._callers = callers
        seen: set[str] = set()
        stack = [name]
        while stack:
            for c in self._callers.get(stack.pop(), ()):
                if c not in seen and c != name:
                    seen.add(c)
                    stack.append(c)
        return seen

    def _reach_disturbed(self, name: str) -> dict[str, int]:
        """Disturbed nodes reachable from `name` through disturbed nodes, with BFS depth."""
        depth: dict[str, int] = {}
        queue: deque[tuple[str, int]] = deque((d, 1) for d in self._deps(name))
        while queue:
            cur, d = queue.popleft()
            if cur == name or cur in depth or not self._nodes[cur].disturbed:
                continue
            depth[cur] = d
            queue.extend((nxt, d + 1) for nxt in self._deps(cur))
        return depth

    def analyze(self, name: str, slack: timedelta = timedelta(seconds=5)) -> CauseAnalysis:
        """Which node most likely causes `name`'s trouble, how sure, and why.

        Combines the declared graph with what the detector saw of each node: when it departed
        from its baseline (anomaly onset, else threshold breach) and how far. Candidates are
        `name` itself and every disturbed node that is not a declared dependent of it. Each gets
        a log-score from facts a human can check (CAUSE_WEIGHTS); the confidence is its softmax
        share. `slack` is the onset difference below which two departures count as
        simultaneous (about one evaluation interval).

        - declared: reachable from `name` through disturbed dependencies (+), a dependency
          path being the strongest evidence there is;
        - explained: one of its own disturbed dependencies departed no later than it did (-):
          it is then a symptom itself;
        - undeclared: not in `name`'s dependencies (-), unless it departed before a declared
          root within PROPAGATION and moved at least as far from its baseline: then a dependsOn
          edge is probably missing and it inherits that root's link (minus a penalty), while
          the root counts as explained;
        - departed after `name` did (-): it cannot have caused it;
        - the earliest departure among the candidates (+), and how far it moved (+, log).
        """
        me = self._nodes.get(name)
        if me is None or (me.phase is Phase.HEALTHY and me.departed_since is None):
            return CauseAnalysis(node=name, candidates=())
        w = CAUSE_WEIGHTS
        mine = self._reach_any(name)  # in a cycle a node is both: then it stays a candidate
        dependents = self._dependents(name) - mine
        declared = self._reach_disturbed(name)
        pool = [
            name,
            *sorted(
                n
                for n, gn in self._nodes.items()
                if n != name and n not in dependents and gn.disturbed
            ),
        ]
        onset = {n: self._nodes[n].onset for n in pool}
        dev = {n: max(self._nodes[n].deviation, 1.0) for n in pool}

        def earlier(a: str, b: str) -> bool:
            ta, tb = onset[a], onset[b]
            if ta is None or tb is None:
                return True  # no timing known: the dependency explains it, as a graph alone says
            return ta <= tb + slack

        score: dict[str, float] = {}
        why: dict[str, list[str]] = {n: [] for n in pool}
        explained_by: dict[str, str] = {}
        for n in pool:
            below = [d for d in self._reach_disturbed(n) if d in onset and earlier(d, n)]
            below = [d for d in below if d != n]
            if below:
                first = min(below, key=lambda d: _time_key(onset[d]))
                explained_by[n] = first
        roots = [n for n in pool if n not in explained_by]
        link: dict[str, float] = {}
        for n in pool:
            if n == name:
                link[n] = 0.0
            elif n in declared:
                link[n] = w.declared + w.depth * min(declared[n], 5)
                why[n].append(
                    f"{name} depends on it through {declared[n]} disturbed "
                    + ("dependency" if declared[n] == 1 else "dependencies")
                )
            else:
                link[n] = w.undeclared
        # an undeclared root that departed shortly before a declared root (or `name`) and moved
        # at least as far: a forgotten dependsOn edge, the likelier story than two faults
        for y in roots:
            if y == name or y in declared:
                continue
            ty = onset[y]
            if ty is None:
                continue
            for x in roots:
                tx = onset[x]
                if x == y or (x != name and x not in declared) or tx is None:
                    continue
                lead = (tx - ty).total_seconds()
                if slack.total_seconds() < lead <= PROPAGATION.total_seconds() and dev[y] >= dev[x]:
                    if link[x] + w.missing_edge > link[y]:
                        link[y] = link[x] + w.missing_edge
                        why[y] = [
                            f"departed {lead:.0f}s before {x}, with no dependsOn between them "
                            f"(an edge may be missing)"
                        ]
                    explained_by.setdefault(x, y)
        first_onset = min((t for t in onset.values() if t is not None), default=None)
        for n in pool:
            s = link[n]
            if n in explained_by:
                s += w.explained
                why[n].append(f"{explained_by[n]} departed before it (a symptom of it)")
            t, tn = onset[n], onset[name]
            if n != name and t is not None and tn is not None and t > tn + slack:
                s += w.after
                why[n].append(f"departed {(t - tn).total_seconds():.0f}s after {name}")
            if t is not None and first_onset is not None and t <= first_onset + slack:
                s += w.earliest
                why[n].append(f"first to depart from its baseline ({_stamp(t)})")
            s += w.deviation * math.log(dev[n])
            if self._nodes[n].deviation >= 1:
                why[n].append(f"{self._nodes[n].deviation:.1f}x the anomaly threshold")
            if self._nodes[n].phase in UNHEALTHY:
                s += w.unhealthy
                why[n].insert(0, f"{self._nodes[n].phase.value}")
            else:
                why[n].insert(0, "departing from its baseline, no threshold crossed yet")
            score[n] = s
        top = max(score.values())
        weights = {n: math.exp(s - top) for n, s in score.items()}
        total = sum(weights.values())
        ordered = sorted(pool, key=lambda n: (-score[n], _time_key(onset[n]), n))
        return CauseAnalysis(
            node=name,
            candidates=tuple(
                CauseCandidate(
                    node=n,
                    confidence=weights[n] / total,
                    phase=self._nodes[n].phase,
                    evidence=tuple(why[n]),
                )
                for n in ordered
            ),
        )

    def likely_causes(self) -> list[tuple[str, float]]:
        """The namespace's likely causes, most likely first: each disturbed node's analysis
        votes with its confidences, so a node that many symptoms point to outranks one that
        only explains itself (an unrelated noisy node). Weights sum to the number of voters."""
        votes: dict[str, float] = {}
        onsets: dict[str, datetime | None] = {}
        for name, node in self._nodes.items():
            if not node.disturbed:
                continue
            for c in self.analyze(name).candidates:
                votes[c.node] = votes.get(c.node, 0.0) + c.confidence
                onsets[c.node] = self._nodes[c.node].onset
        return sorted(votes.items(), key=lambda kv: (-kv[1], _time_key(onsets[kv[0]]), kv[0]))

    def root_causes(self) -> dict[str, str | None]:
        return {name: self.root_cause(name) for name in sorted(self._nodes)}

    def ranking(self) -> list[RankedCause]:
        """Unhealthy nodes, most likely cause first.

        Order: roots (nothing unhealthy upstream) before symptoms; then whoever went bad
        first; then whoever explains more unhealthy nodes; then Critical before Degraded; then
        name. Lexicographic on purpose: each place in the list has a reason a human can check.
        """
        bad = [n for n in self._nodes.values() if n.phase in UNHEALTHY]
        explains: dict[str, list[str]] = {n.name: [] for n in bad}
        for n in bad:
            for upstream in self._reach(n.name):
                explains[upstream].append(n.name)

        def key(n: GraphNode) -> tuple[object, ...]:
            is_root = not any(self._unhealthy(d) for d in self._deps(n.name))
            return (
                not is_root,
                _time_key(n.unhealthy_since),
                -len(explains[n.name]),
                -_SEVERITY[n.phase],
                n.name,
            )

        out: list[RankedCause] = []
        for i, n in enumerate(sorted(bad, key=key), start=1):
            upstream_bad = [d for d in self._deps(n.name) if self._unhealthy(d)]
            is_root = not upstream_bad
            symptoms = tuple(sorted(explains[n.name]))
            if is_root:
                reason = f"{n.phase.value} with no unhealthy dependency"
                if symptoms:
                    reason += f"; explains {', '.join(symptoms)}"
            else:
                reason = f"{n.phase.value}, but depends on unhealthy {', '.join(upstream_bad)}"
            out.append(
                RankedCause(
                    name=n.name,
                    rank=i,
                    phase=n.phase,
                    is_root=is_root,
                    explains=symptoms,
                    unhealthy_since=n.unhealthy_since,
                    reason=reason,
                )
            )
        return out


def _stamp(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _time_key(when: datetime | None) -> tuple[int, float]:
    """Known times first (earliest first), unknown last."""
    return (0, when.timestamp()) if when is not None else (1, 0.0)
