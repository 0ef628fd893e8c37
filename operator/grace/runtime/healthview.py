"""The health graph as the detection loops last saw it, one namespace at a time.

Each HealthNode's loop keeps its own entry up to date after every evaluation and drops it when
the node goes; the graph a loop evaluates with (root cause across `dependsOn`) is built from
its namespace's entries. In memory: rebuilt by the loops within one interval of a start.
"""

from __future__ import annotations

from grace.api.healthnode import HealthNode
from grace.detect.graph import GraphNode, HealthGraph, node_of


class HealthGraphView:
    def __init__(self) -> None:
        self._nodes: dict[str, dict[str, GraphNode]] = {}
        """namespace -> HealthNode name -> its latest (spec, status), as the graph sees it."""

    def graph_for(self, node: HealthNode) -> HealthGraph | None:
        """`node`'s namespace's graph, `node` as it stands now included.

        None when no node of the namespace declares dependsOn (and this one has no root cause
        to clear): building the graph every round would cost O(nodes) per node for nothing.
        """
        peers = self._nodes.setdefault(node.metadata.namespace, {})
        peers[node.metadata.name] = node_of(node)
        if not node.status.root_cause and not any(p.depends_on for p in peers.values()):
            return None
        return HealthGraph(list(peers.values()))

    def update(self, node: HealthNode) -> None:
        """`node` as just evaluated (its new status): what its peers' next rounds see."""
        self._nodes.setdefault(node.metadata.namespace, {})[node.metadata.name] = node_of(node)

    def forget(self, namespace: str, name: str) -> None:
        self._nodes.get(namespace, {}).pop(name, None)
