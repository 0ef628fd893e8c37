"""A bad release drives checkout Critical; GRACE rolls it back (with a human's approval) and proves it."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tests.conftest import ClusterUnderTest
from tests.e2e.scenario import (
    BAD_IMAGE,
    GOOD_IMAGE,
    approve,
    checkout_node,
    get,
    image_of,
    playbook,
    set_image,
    the_mission,
    wait_phase,
)
from tests.support.kube import apply, wait_for
from tests.support.stack import OperatorProcess, grant


def test_bad_release_is_rolled_back_and_verified(
    cluster: ClusterUnderTest, api: Any, dyn: Any, shop: str, operator: OperatorProcess
) -> None:
    ns = shop
    grant(api, ns, "alice", "grace-approver")
    apply(dyn, [playbook("rollback-bad-release", [{"name": "undo", "action": "rollback"}])], ns)
    apply(dyn, [checkout_node(ns, ["rollback-bad-release"])], ns)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=30)

    set_image(api, ns, BAD_IMAGE)
    node = wait_phase(dyn, "HealthNode", ns, "checkout", "Critical", timeout=40)
    assert node.status.signals[0].state == "Critical"

    mission = the_mission(dyn, ns)
    assert mission.spec.playbook == "rollback-bad-release"
    assert mission.spec.trigger == "automatic"
    waiting = wait_phase(dyn, "Mission", ns, mission.metadata.name, "AwaitingApproval")
    assert waiting.status.decision.result == "require_approval"
    request = waiting.status.approval.request
    assert get(dyn, "ApprovalRequest", ns, request).spec.mission == mission.metadata.name

    approve(cluster, ns, request, "alice")
    done = wait_phase(
        dyn, "Mission", ns, mission.metadata.name, "Succeeded", "Failed", "RolledBack", timeout=90
    )
    assert done.status.phase == "Succeeded", done.status.timeline
    assert done.status.verification.outcome == "Passed"
    assert done.status.approval.decidedBy == "alice"
    assert image_of(api, ns) == GOOD_IMAGE
    assert done.status.snapshot, "the safe-hold snapshot was taken before the first step"
    types = [ref.type for ref in done.status.ledger]
    for expected in (
        "mission.proposed",
        "policy.decided",
        "approval.decided",
        "step.started",
        "step.finished",
        "verification.finished",
        "mission.finished",
    ):
        assert expected in types, types
    node = wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=40)
    wait_for(
        "the node to point at its last Mission",
        lambda: (
            (n := get(dyn, "HealthNode", ns, "checkout")).status.get("lastMission")
            == mission.metadata.name
            and not n.status.get("activeMission")
        ),
    )
    ready = {c.type: c.status for c in done.status.conditions}
    assert ready.get("Ready") == "True" and "Reconciling" not in ready  # kstatus: done and good

    def reasons() -> set[str]:
        events = client.CoreV1Api(api).list_namespaced_event(
            ns, field_selector=f"involvedObject.name={mission.metadata.name}"
        )
        return {e.reason for e in events.items}

    wait_for("a MissionSucceeded event", lambda: "MissionSucceeded" in reasons())
    assert {"MissionAwaitingApproval", "MissionRunning"} <= reasons()

    verify = operator.verify_ledger()
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_playbook_that_does_not_help_is_rolled_back(
    cluster: ClusterUnderTest, api: Any, dyn: Any, shop: str, operator: OperatorProcess
) -> None:
    ns = shop
    grant(api, ns, "alice", "grace-approver")
    useless = playbook(
        "scale-up",
        [{"name": "scale", "action": "scale", "with": {"replicas": 5}}],
        verify={
            "timeout": "12s",
            "interval": "1s",
            "failureLimit": 2,
            "stableFor": "3s",
            "checks": [{"signal": "error-rate", "below": 0.02}],
        },
    )
    apply(dyn, [useless, checkout_node(ns, ["scale-up"])], ns)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=30)
    set_image(api, ns, BAD_IMAGE)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Critical", timeout=40)
    mission = the_mission(dyn, ns)
    waiting = wait_phase(dyn, "Mission", ns, mission.metadata.name, "AwaitingApproval")
    approve(cluster, ns, waiting.status.approval.request)
    done = wait_phase(
        dyn, "Mission", ns, mission.metadata.name, "RolledBack", "Succeeded", "Failed", timeout=90
    )
    assert done.status.phase == "RolledBack", done.status.timeline
    assert done.status.verification.outcome == "Failed"
    apps = client.AppsV1Api(api)
    wait_for(
        "replicas restored to the snapshot",
        lambda: apps.read_namespaced_deployment("checkout", ns).spec.replicas == 3,
    )
    assert image_of(api, ns) == BAD_IMAGE  # the snapshot is what was there before the Mission
