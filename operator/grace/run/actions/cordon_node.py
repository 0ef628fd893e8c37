"""cordonNode: take the nodes running the target's least healthy pods out of scheduling."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from grace.api.common import Model
from grace.api.playbook import Action
from grace.run.actions.base import (
    ActionKind,
    ActionRefusedError,
    CountArgs,
    Intent,
    StepInput,
    StepResult,
)
from grace.run.actions.pods import ready
from grace.run.workload import Workload

MAX_CORDON_NODES = 3
"""cordonNode never takes more than this many nodes out of scheduling in one step."""


class NodeRef(Model):
    name: str
    uid: str
    pods: int = 0


class CordonNodeIntent(Intent):
    action: Literal["cordonNode"] = "cordonNode"
    nodes: list[NodeRef] = Field(default_factory=list)


class CordonNode(ActionKind[CountArgs, CordonNodeIntent]):
    name = Action.CORDON_NODE
    args = CountArgs
    intent = CordonNodeIntent
    summary = (
        f"cordon the `with.count` (default 1, at most {MAX_CORDON_NODES}) nodes running the "
        "target's least healthy pods, never the last schedulable node"
    )
    undone = "the nodes it cordoned are uncordoned"

    def resolve(self, step: StepInput) -> CountArgs:
        count = step.given("count")
        return CountArgs(
            count=step.int_in("count", 1 if count is None else count, 1, MAX_CORDON_NODES)
        )

    def prepare(
        self, w: Workload, obj: Mapping[str, Any], args: CountArgs, head: Intent, now: datetime
    ) -> CordonNodeIntent:
        """The nodes hosting the target's least healthy pods, never the last schedulable one."""
        score: dict[str, tuple[int, int]] = {}
        for p in w.pods(obj):
            node = (p.get("spec") or {}).get("nodeName")
            if node:
                bad, total = score.get(node, (0, 0))
                score[node] = (bad + (not ready(p)), total + 1)
        nodes = {n["metadata"]["name"]: n for n in w.nodes()}
        schedulable = {
            name for name, n in nodes.items() if not (n.get("spec") or {}).get("unschedulable")
        }
        candidates = sorted(
            (name for name in score if name in schedulable),
            key=lambda name: (-score[name][0], -score[name][1], name),
        )
        if not candidates:
            raise ActionRefusedError(f"no schedulable node runs pods of {w.ref}")
        chosen = candidates[: min(args.count, MAX_CORDON_NODES)]
        if len(schedulable) - len(chosen) < 1:
            raise ActionRefusedError(
                f"cordoning {', '.join(chosen)} would leave no schedulable node in the cluster"
            )
        return self.build(
            head,
            nodes=[
                NodeRef(name=name, uid=nodes[name]["metadata"]["uid"], pods=score[name][1])
                for name in chosen
            ],
        )

    def execute(self, w: Workload, intent: CordonNodeIntent, now: datetime) -> StepResult:
        done: list[str] = []
        already: list[str] = []
        for ref in intent.nodes:
            node = w.read_node(ref.name)
            if node is None or node["metadata"]["uid"] != ref.uid:
                raise ActionRefusedError(f"node {ref.name} no longer exists or was replaced")
            if (node.get("spec") or {}).get("unschedulable"):
                already.append(ref.name)
                continue
            w.set_unschedulable(ref.name, ref.uid, True)
            done.append(ref.name)
        message = f"cordoned {', '.join(done) or 'no node'}"
        if already:
            message += f" ({', '.join(already)} already unschedulable)"
        return StepResult("Succeeded", message, bool(done))

    def describe(self, intent: CordonNodeIntent) -> str:
        names = ", ".join(n.name for n in intent.nodes)
        return f"cordon node(s) {names} running pods of {intent.ref}"

    def undo(self, w: Workload, intent: CordonNodeIntent, held: Mapping[str, Any] | None) -> None:
        for ref in intent.nodes:
            node = w.read_node(ref.name)
            if node is not None and (node.get("spec") or {}).get("unschedulable"):
                w.set_unschedulable(ref.name, node["metadata"]["uid"], False)
