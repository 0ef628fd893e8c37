"""The health graph of a namespace: which unhealthy node is a cause and which only a symptom.

A node whose dependency is itself unhealthy is probably a symptom; remediating it would treat
the symptom. Bad graphs (cycles, names of HealthNodes that do not exist) are reported as
conditions a user can read, never raised: one user's typo must not stop the detector.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from grace.api.common import Condition, find_condition
from grace.api.healthnode import HealthNode, Phase, SignalState

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
    return GraphNode(
        name=node.metadata.name,
        depends_on=tuple(node.spec.depends_on),
        phase=status.phase,
        unhealthy_since=since,
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


class HealthGraph:
    """An immutable snapshot of one namespace's HealthNodes and their phases."""

    def __init__(self, nodes: Iterable[GraphNode]) -> None:
        self._nodes: dict[str, GraphNode] = {n.name: n for n in nodes}
        self._cycles = self._find_cycles()

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
        """The deepest unhealthy dependency reachable through unhealthy ones, or None.

        None when the node is Healthy or none of its dependencies is unhealthy. Among several
        candidates, one that no unhealthy node explains wins, then the deepest, then the one
        that went bad first, then the name (so the answer is stable).
        """
        node = self._nodes.get(name)
        if node is None or node.phase is Phase.HEALTHY:
            return None
        reach = self._reach(name)
        if not reach:
            return None
        leaves = [n for n in reach if not any(self._unhealthy(d) for d in self._deps(n))]
        candidates = leaves or list(reach)  # an all-unhealthy cycle has no leaf
        return min(
            candidates,
            key=lambda n: (-reach[n], _time_key(self._nodes[n].unhealthy_since), n),
        )

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


def _time_key(when: datetime | None) -> tuple[int, float]:
    """Known times first (earliest first), unknown last."""
    return (0, when.timestamp()) if when is not None else (1, 0.0)
