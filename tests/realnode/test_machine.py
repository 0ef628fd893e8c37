"""`down` leaves the machine as it was: sysctls, iptables chains, netns, mounts, cgroups, links."""

from __future__ import annotations

from typing import Any

from grace_lab.localcluster.node import BRIDGE, RealNode, machine_snapshot
from tests.realnode.conftest import ON_NODE, pod_phase, wait_for


def test_down_restores_the_machine(node_owner: RealNode, core: Any, namespace: str) -> None:
    node_owner.down()
    before = machine_snapshot()
    node_owner.up()
    # A pod with a network (sandbox, veth, bridge, netns, iptables masquerade) that is still
    # running when the node goes down: the hardest case for `down`.
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "sleeper"},
            "spec": {
                **ON_NODE,
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {"name": "pause", "image": "localhost/pause:grace", "imagePullPolicy": "Never"}
                ],
            },
        },
    )
    wait_for("the pod Running", lambda: pod_phase(core, namespace, "sleeper") == "Running", 60)
    during = machine_snapshot()
    assert BRIDGE in during.links and during.differences(before), "the node changed nothing?"
    assert any(ns.startswith("cni-") for ns in during.netns)
    assert any(c.startswith("KUBE-") for chains in during.chains.values() for c in chains)

    node_owner.down()
    after = machine_snapshot()
    node_owner.up()  # for the rest of the tier

    assert before.differences(after) == []
