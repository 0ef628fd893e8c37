"""Mission safety under real faults: kill -9 of the operator at every step boundary, 50 degradations
against a budget of 5, and input that must be refused before anything runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client

from tests.conftest import ClusterUnderTest
from tests.e2e.safety_kit import (
    TERMINAL,
    Kill,
    MissionWatch,
    PodDeletions,
    duplicate_keys,
    entries_about,
    explain,
    lease_holder,
    ledger_entries,
    phase_of,
    status_of,
    verify_ledger,
)
from tests.e2e.scenario import (
    BAD_IMAGE,
    GOOD_IMAGE,
    approve,
    checkout_node,
    get,
    image_of,
    items,
    playbook,
    set_image,
    wait_phase,
)
from tests.support.kube import apply, create, wait_for
from tests.support.stack import OperatorProcess, grant

REVISION = "deployment.kubernetes.io/revision"


# ---------------------------------------------------------------- kill -9 at every step boundary


def _steps(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list(status_of(obj).get("steps") or [])


def _step(i: int, phase: str) -> Callable[[dict[str, Any]], bool]:
    def at(obj: dict[str, Any]) -> bool:
        steps = _steps(obj)
        return len(steps) > i and steps[i].get("phase") == phase

    return at


def _accepted(obj: dict[str, Any]) -> bool:
    st = status_of(obj)
    return bool(st.get("target")) and not st.get("decision") and phase_of(obj) == "Pending"


def _approved_not_snapshotted(obj: dict[str, Any]) -> bool:
    return phase_of(obj) == "Running" and not status_of(obj).get("snapshot")


def _safe_hold(obj: dict[str, Any]) -> bool:
    steps = _steps(obj)
    return bool(status_of(obj).get("snapshot")) and bool(steps) and steps[0]["phase"] == "Pending"


def _verification_started(obj: dict[str, Any]) -> bool:
    v = status_of(obj).get("verification") or {}
    return phase_of(obj) == "Verifying" and not v.get("checks")


def _verification_sampled(obj: dict[str, Any]) -> bool:
    v = status_of(obj).get("verification") or {}
    return phase_of(obj) == "Verifying" and bool(v.get("checks")) and not v.get("outcome")


def _between(first: int) -> Callable[[dict[str, Any]], bool]:
    def at(obj: dict[str, Any]) -> bool:
        steps = _steps(obj)
        return (
            len(steps) > first + 1
            and steps[first]["phase"] == "Succeeded"
            and steps[first + 1]["phase"] == "Pending"
        )

    return at


def _phase(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda obj: phase_of(obj) == name


@dataclass(frozen=True)
class Boundary:
    id: str
    when: Callable[[dict[str, Any]], bool]
    what: str


ROLLBACK_BOUNDARIES = [
    Boundary("accepted", _accepted, "accepted and inspected, policy not yet asked"),
    Boundary("awaiting-approval", _phase("AwaitingApproval"), "decided: waits for a human"),
    Boundary("approved", _approved_not_snapshotted, "approved, Running, no safe-hold yet"),
    Boundary("safe-hold", _safe_hold, "safe-hold snapshot stored, step 1 not started"),
    Boundary("step-running", _step(0, "Running"), "step 1 Running with its intent recorded"),
    Boundary(
        "step-done", _verification_started, "step 1 Succeeded, verification started, no sample"
    ),
    Boundary("verifying", _verification_sampled, "verification sampled at least once"),
    Boundary("finished", _phase("Succeeded"), "Succeeded written, before the wrap-up"),
]

TRIM_BOUNDARIES = [
    Boundary("first-step-running", _step(0, "Running"), "step 1 deletePods Running"),
    Boundary("between-steps", _between(0), "step 1 Succeeded, step 2 not started"),
    Boundary("wait-running", _step(1, "Running"), "step 2 wait Running (its deadline recorded)"),
    Boundary("last-step-running", _step(2, "Running"), "step 3 deletePods Running"),
    Boundary("rolling-back", _phase("RollingBack"), "verification failed, restoring the snapshot"),
]


def _drive(
    cluster: ClusterUnderTest,
    dyn: Any,
    ns: str,
    operator: OperatorProcess,
    kill: Kill,
    boundary: Boundary,
    timeout: float = 150,
) -> Any:
    """Approve what asks, restart the operator once it was killed, until the Mission is over."""
    deadline = time.monotonic() + timeout
    approved: set[str] = set()
    restarted = False
    while time.monotonic() < deadline:
        if kill.fired.is_set() and not restarted:
            operator.kill()  # reap it
            operator.start()
            restarted = True
        for request in items(dyn, "ApprovalRequest", ns):
            name = request.metadata.name
            state = (request.get("status") or {}).get("state")
            if name not in approved and state in (None, "Pending"):
                approve(cluster, ns, name)
                approved.add(name)
        missions = items(dyn, "Mission", ns)
        if missions and all(m.status and m.status.phase in TERMINAL for m in missions):
            if restarted:
                return missions
            if not kill.fired.is_set():
                raise AssertionError(
                    f"boundary {boundary.id!r} ({boundary.what}) was never observed: the Mission "
                    f"went past it; timeline: {missions[0].status.timeline}"
                )
        time.sleep(0.2)
    raise AssertionError(
        f"the Mission did not finish after a kill at {boundary.id!r}:\n{operator.tail(40)}"
    )


def _assert_ledger_clean(operator: OperatorProcess, mission: Any) -> list[dict[str, Any]]:
    entries = ledger_entries(operator.ledger)
    mine = entries_about(entries, mission.metadata.uid)
    assert not duplicate_keys(mine), duplicate_keys(mine)
    types = [e["type"] for e in mine]
    assert types.count("mission.proposed") == 1, types
    assert types.count("mission.finished") == 1, types
    refs = [r.seq for r in mission.status.ledger]
    assert len(refs) == len(set(refs)), f"ledger refs repeated on the Mission: {refs}"
    assert set(refs) == {e["seq"] for e in mine}, "the Mission's refs are its ledger entries"
    verify = verify_ledger(operator)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    return mine


def _assert_each_step_once(mission: Any, ledger: list[dict[str, Any]]) -> None:
    for i, step in enumerate(mission.status.steps):
        started = [e for e in ledger if e["idempotency_key"].endswith(f"/step/{i}/started")]
        finished = [e for e in ledger if e["idempotency_key"].endswith(f"/step/{i}/finished")]
        assert len(finished) == 1, f"step {i + 1} finished {len(finished)} times"
        ran = step.phase == "Succeeded" or (step.startedAt is not None)
        assert len(started) == (1 if ran else 0), f"step {i + 1} started {len(started)} times"
        events = [e for e in mission.status.timeline if e.event == "StepStarted"]
        mine = [e for e in events if e.message.startswith(f"step {i + 1}/")]
        assert len(mine) <= 1, f"step {i + 1} was started {len(mine)} times: {mine}"


def _rollback_playbook() -> dict[str, Any]:
    return playbook(
        "rollback-bad-release",
        [{"name": "undo", "action": "rollback"}],
        verify={
            "timeout": "60s",
            "interval": "1s",
            "initialDelay": "8s",
            "checks": [{"signal": "error-rate", "below": 0.02}],
            "failureLimit": 3,
            "stableFor": "3s",
        },
    )


@pytest.mark.parametrize("boundary", ROLLBACK_BOUNDARIES, ids=lambda b: b.id)
def test_kill_9_during_a_rollback_mission(
    boundary: Boundary,
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    shop: str,
    operator: OperatorProcess,
) -> None:
    """A bad release rolled back with the operator SIGKILLed at one boundary: the rollback is
    applied once (exactly one new revision, the good image), the Mission ends Succeeded, and the
    ledger holds every event once."""
    ns = shop
    apps = client.AppsV1Api(api)
    grant(api, ns, "alice", "grace-approver")
    apply(dyn, [_rollback_playbook(), checkout_node(ns, ["rollback-bad-release"])], ns)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=30)
    with MissionWatch(api, [ns]) as missions:
        kill = missions.kill_when(boundary.id, boundary.when, operator)
        set_image(api, ns, BAD_IMAGE)
        wait_for(
            "the bad release to become revision 2",
            lambda: (
                apps.read_namespaced_deployment("checkout", ns).metadata.annotations.get(REVISION)
                == "2"
            ),
        )
        done = _drive(cluster, dyn, ns, operator, kill, boundary)
    assert len(done) == 1, f"one incident, one Mission: {[m.metadata.name for m in done]}"
    mission = get(dyn, "Mission", ns, done[0].metadata.name)
    assert mission.status.phase == "Succeeded", explain(mission)
    assert mission.status.verification.outcome == "Passed"

    dep = apps.read_namespaced_deployment("checkout", ns)
    assert image_of(api, ns) == GOOD_IMAGE
    assert dep.metadata.annotations[REVISION] == "3", (
        "exactly one new revision: 1 good, 2 bad, 3 the rollback (a second rollback would be 4)"
    )
    replica_sets = apps.list_namespaced_replica_set(ns, label_selector="app=checkout").items
    assert len(replica_sets) == 2, [rs.metadata.name for rs in replica_sets]

    ledger = _assert_ledger_clean(operator, mission)
    _assert_each_step_once(mission, ledger)
    wait_for(
        "the target Lease to be released",
        lambda: lease_holder(api, ns, "Deployment", "checkout") is None,
        timeout=20,
    )
    wait_for(
        "the HealthNode to point at its last Mission, with none active",
        lambda: (
            (s := get(dyn, "HealthNode", ns, "checkout").status).get("lastMission")
            == mission.metadata.name
            and not s.get("activeMission")
        ),
        timeout=20,
    )
    print(
        f"\n[{boundary.id}] killed at: phase={phase_of(kill.seen or {})} "
        f"progress={status_of(kill.seen or {}).get('progress')} -> {mission.status.phase}"
    )


def _trim_playbook(verify_below: float) -> dict[str, Any]:
    return playbook(
        "trim",
        [
            {"name": "trim", "action": "deletePods", "with": {"count": 1}},
            {"name": "settle", "action": "wait", "with": {"duration": "3s"}},
            {"name": "trim-again", "action": "deletePods", "with": {"count": 1}},
        ],
        verify={
            "timeout": "20s",
            "interval": "1s",
            "initialDelay": "1s",
            "checks": [{"signal": "error-rate", "below": verify_below}],
            "failureLimit": 1,
            "stableFor": "2s",
        },
    )


@pytest.mark.parametrize("boundary", TRIM_BOUNDARIES, ids=lambda b: b.id)
def test_kill_9_during_a_multi_step_mission(
    boundary: Boundary,
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    shop: str,
    operator: OperatorProcess,
) -> None:
    """deletePods, wait, deletePods with the operator SIGKILLed at one boundary: exactly two pods
    are deleted in all (a step run twice would delete a third), and the Mission ends Succeeded,
    or RolledBack when its verification cannot pass."""
    ns = shop
    apps = client.AppsV1Api(api)
    grant(api, ns, "alice", "grace-approver")
    rolls_back = boundary.id == "rolling-back"
    # error-rate is ~0.005 when healthy: below 0.0001 can never pass, so the run is rolled back
    apply(dyn, [_trim_playbook(0.0001 if rolls_back else 0.02), checkout_node(ns, ["trim"])], ns)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=30)
    generation = apps.read_namespaced_deployment("checkout", ns).metadata.generation
    with MissionWatch(api, [ns]) as missions, PodDeletions(api, ns, "checkout") as pods:
        kill = missions.kill_when(boundary.id, boundary.when, operator)
        create(
            dyn,
            {
                "apiVersion": "grace.dev/v1alpha1",
                "kind": "Mission",
                "metadata": {"name": "trim-by-hand"},
                "spec": {
                    "healthNode": "checkout",
                    "playbook": "trim",
                    "trigger": "manual",
                    "reason": "recycle two pods",
                },
            },
            ns,
        )
        _drive(cluster, dyn, ns, operator, kill, boundary)
        wait_for(
            "checkout back to 3 available replicas",
            lambda: apps.read_namespaced_deployment("checkout", ns).status.available_replicas == 3,
        )
        time.sleep(1)  # let the pod watch deliver the last events
        deleted = sorted(pods.names.get(uid, uid) for uid in pods.deleted)
    mission = get(dyn, "Mission", ns, "trim-by-hand")
    expected = "RolledBack" if rolls_back else "Succeeded"
    assert mission.status.phase == expected, explain(mission)
    assert len(deleted) == 2, f"exactly two pods deleted (one per deletePods step): {deleted}"
    dep = apps.read_namespaced_deployment("checkout", ns)
    assert dep.metadata.generation == generation, "no step and no restore changed the spec"
    assert dep.spec.replicas == 3
    ledger = _assert_ledger_clean(operator, mission)
    _assert_each_step_once(mission, ledger)
    if rolls_back:
        assert mission.status.rollback.outcome == "Passed"
        assert [e["type"] for e in ledger].count("rollback.finished") == 1
    print(
        f"\n[{boundary.id}] killed at: phase={phase_of(kill.seen or {})} "
        f"progress={status_of(kill.seen or {}).get('progress')} -> {mission.status.phase}, "
        f"pods deleted {deleted}"
    )
