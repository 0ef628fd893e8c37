"""Mission safety under real faults: kill -9 of the operator at every step boundary, 50 degradations
against a budget of 5, and input that must be refused before anything runs."""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from grace_lab.localcluster.prometheus import PrometheusServer
from grace_lab.sim import ShopExporter
from tests.conftest import ClusterUnderTest
from tests.e2e.safety_fleet import PLAYBOOK, Fleet, fleet, seed_track_record
from tests.e2e.safety_kit import (
    TERMINAL,
    DeploymentWatch,
    Kill,
    MissionWatch,
    PodDeletions,
    duplicate_keys,
    entries_about,
    explain,
    lease_holder,
    ledger_entries,
    phase_of,
    set_policy,
    status_of,
    verify_ledger,
)
from tests.e2e.scenario import (
    BAD_IMAGE,
    GOOD_IMAGE,
    approve,
    checkout_node,
    error_rate,
    get,
    image_of,
    items,
    playbook,
    set_image,
    wait_phase,
)
from tests.support.kube import apply, create, wait_for
from tests.support.stack import OPEN_POLICY, OperatorProcess, grant

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
    when: Callable[[Any], bool]
    what: str
    source: str = "mission"
    """What the boundary is seen on: the Mission's status, or the effect on the target itself."""


ROLLBACK_BOUNDARIES = [
    Boundary("accepted", _accepted, "accepted and inspected, policy not yet asked"),
    Boundary("awaiting-approval", _phase("AwaitingApproval"), "decided: waits for a human"),
    Boundary("approved", _approved_not_snapshotted, "approved, Running, no safe-hold yet"),
    Boundary("safe-hold", _safe_hold, "safe-hold snapshot stored, step 1 not started"),
    Boundary("step-running", _step(0, "Running"), "step 1 Running with its intent recorded"),
    Boundary(
        "step-applied",
        lambda dep: dep.spec.template.spec.containers[0].image == GOOD_IMAGE,
        "the rollback patch is in the API server, its result not recorded yet",
        source="deployment",
    ),
    Boundary(
        "step-done", _verification_started, "step 1 Succeeded, verification started, no sample"
    ),
    Boundary("verifying", _verification_sampled, "verification sampled at least once"),
    Boundary("finished", _phase("Succeeded"), "Succeeded written, before the wrap-up"),
]

TRIM_BOUNDARIES = [
    Boundary("first-step-running", _step(0, "Running"), "step 1 deletePods Running"),
    Boundary(
        "first-pod-deleted",
        lambda pod: True,
        "step 1 deleted its pod, its result not recorded yet",
        source="pods",
    ),
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
    at_kill: Callable[[], str] = lambda: "",
) -> tuple[Any, str]:
    """Approve what asks, restart the operator once it was killed, until the Mission is over.
    Returns the Missions and what `at_kill` saw while the operator was dead."""
    deadline = time.monotonic() + timeout
    approved: set[str] = set()
    restarted = False
    seen = ""
    try:
        while time.monotonic() < deadline:
            if kill.fired.is_set() and not restarted:
                operator.kill()  # reap it
                seen = at_kill()
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
                    return missions, seen
                # The watch thread delivers each change in order, but may deliver the boundary
                # a moment after this poll read the final state: give it that moment.
                if not kill.fired.wait(10):
                    raise AssertionError(
                        f"boundary {boundary.id!r} ({boundary.what}) was never observed: the "
                        f"Mission went past it; timeline: {missions[0].status.timeline}"
                    )
                continue
            time.sleep(0.2)
        raise AssertionError(
            f"the Mission did not finish after a kill at {boundary.id!r}:\n{operator.tail(40)}"
        )
    finally:
        if kill.fired.is_set() and not restarted:  # never leave the session without its operator
            operator.kill()
            operator.start()


def _killed_at(kill: Kill) -> str:
    if isinstance(kill.seen, dict):
        return f"phase={phase_of(kill.seen)} progress={status_of(kill.seen).get('progress')}"
    return f"{type(kill.seen).__name__} {kill.seen.metadata.name} changed"


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


def _assert_wrapped_up(api: Any, dyn: Any, ns: str, mission: Any) -> None:
    """The (restarted) operator lets go of the target and records the Mission on its node."""
    name = mission.metadata.name

    def wrapped() -> bool:
        status = get(dyn, "HealthNode", ns, "checkout").status
        return (
            lease_holder(api, ns, "Deployment", "checkout") is None
            and status.get("lastMission") == name
            and not status.get("activeMission")
        )

    wait_for(f"{name} wrapped up: target Lease released, HealthNode lastMission", wrapped, 30)


def _rollback_playbook() -> dict[str, Any]:
    return playbook(
        "rollback-bad-release",
        [{"name": "undo", "action": "rollback"}],
        verify={
            "timeout": "60s",
            "interval": "1s",
            "initialDelay": "5s",
            "checks": [{"signal": "error-rate", "below": 0.02}],
            "failureLimit": 10,
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
    with MissionWatch(api, [ns]) as missions, contextlib.ExitStack() as stack:
        if boundary.source == "mission":
            kill = missions.kill_when(boundary.id, boundary.when, operator)
        set_image(api, ns, BAD_IMAGE)
        wait_for(
            "the bad release to become revision 2",
            lambda: (
                apps.read_namespaced_deployment("checkout", ns).metadata.annotations.get(REVISION)
                == "2"
            ),
        )
        if boundary.source == "deployment":
            deployments = stack.enter_context(DeploymentWatch(api, ns))
            kill = deployments.kill_when(boundary.id, boundary.when, operator)

        def while_down() -> str:
            steps = [s.phase for s in (items(dyn, "Mission", ns)[0].status.steps or [])]
            revision = apps.read_namespaced_deployment("checkout", ns).metadata.annotations
            return (
                f"image {image_of(api, ns).rsplit(':', 1)[-1]}, revision {revision[REVISION]}, "
                f"steps {steps}"
            )

        done, seen = _drive(cluster, dyn, ns, operator, kill, boundary, at_kill=while_down)
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
    _assert_wrapped_up(api, dyn, ns, mission)
    print(
        f"\n[{boundary.id}] killed at: {_killed_at(kill)}; while down: {seen}; "
        f"-> {mission.status.phase}"
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
        source = {"mission": missions, "pods": pods}[boundary.source]
        kill = source.kill_when(boundary.id, boundary.when, operator)
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
        _, seen = _drive(
            cluster,
            dyn,
            ns,
            operator,
            kill,
            boundary,
            at_kill=lambda: (
                f"{len(pods.deleted)} pod(s) deleted, steps "
                f"{[s.phase for s in get(dyn, 'Mission', ns, 'trim-by-hand').status.steps]}"
            ),
        )
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
    _assert_wrapped_up(api, dyn, ns, mission)
    if rolls_back:
        assert mission.status.rollback.outcome == "Passed"
        assert [e["type"] for e in ledger].count("rollback.finished") == 1
    print(
        f"\n[{boundary.id}] killed at: {_killed_at(kill)}; while down: {seen}; "
        f"-> {mission.status.phase}, pods deleted {deleted}"
    )


# ---------------------------------------------------------------- a finished Mission lets go


def test_a_finished_mission_lets_go_of_its_target(
    cluster: ClusterUnderTest, api: Any, dyn: Any, shop: str, operator: OperatorProcess
) -> None:
    """No kill at all: once a Mission is over, its target Lease is released (or the next incident
    on the same Deployment waits up to 10 minutes) and the HealthNode names it as its last."""
    ns = shop
    grant(api, ns, "alice", "grace-approver")
    apply(dyn, [_rollback_playbook(), checkout_node(ns, ["rollback-bad-release"])], ns)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=30)
    set_image(api, ns, BAD_IMAGE)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Critical", "Degraded", timeout=40)
    mission = wait_for("a Mission", lambda: items(dyn, "Mission", ns))[0]
    name = mission.metadata.name
    waiting = wait_phase(dyn, "Mission", ns, name, "AwaitingApproval")
    approve(cluster, ns, waiting.status.approval.request)
    done = wait_phase(dyn, "Mission", ns, name, *TERMINAL, timeout=90)
    assert done.status.phase == "Succeeded", explain(done)
    wait_for(
        f"the Lease on Deployment/checkout to be released (holder: "
        f"{lease_holder(api, ns, 'Deployment', 'checkout')})",
        lambda: lease_holder(api, ns, "Deployment", "checkout") is None,
        timeout=20,
    )
    node = wait_for(
        "HealthNode checkout to name its last Mission, with none active",
        lambda: (
            (n := get(dyn, "HealthNode", ns, "checkout")).status.get("lastMission") == name
            and not n.status.get("activeMission")
            and n
        ),
        timeout=20,
    )
    assert node.status.lastMission == name


# ---------------------------------------------------------------- the blast radius

BUDGET = {
    "changeWindows": "[]",
    "protectedNamespaces": "[kube-system]",
    "maxConcurrentPerNamespace": "50",
    "maxConcurrentCluster": "5",
    "maxPerNamespacePerHour": "500",
}


def set_policy_and_wait(api: Any, operator: OperatorProcess, data: dict[str, str]) -> None:
    """Write the policy ConfigMap and wait until the operator says (grace_policy_data_info)
    that the next decision sees it: it re-reads the ConfigMap every few seconds."""
    from grace.govern import policy_data_from_configmap
    from grace.govern.policy import data_digest
    from tests.e2e.detection_support import metric, scrape

    set_policy(api, data)
    digest = data_digest(policy_data_from_configmap(data))
    wait_for(
        f"the operator to take the policy data {digest}",
        lambda: metric(scrape(operator.metrics_port), "grace_policy_data_info", digest=digest),
        timeout=20,
        interval=1,
    )


SETTLE_FIFTY = 300


@contextlib.contextmanager
def budget_of_five(api: Any, operator: OperatorProcess) -> Iterator[None]:
    set_policy_and_wait(api, operator, BUDGET)
    try:
        yield
    finally:
        set_policy(api, OPEN_POLICY)


def _fifty_degradations(
    cluster: ClusterUnderTest,
    dyn: Any,
    fleet_: Fleet,
    operator: OperatorProcess,
    approve_all: bool,
) -> tuple[MissionWatch, list[Any]]:
    fleet_.watch_health()
    approved: set[tuple[str, str]] = set()
    with MissionWatch(fleet_.api, fleet_.namespaces) as watched:
        fleet_.break_all()
        # a settle timeout, not a speed claim (bench/ has those): about 110 s on an idle 2-core
        # machine, 50 Missions five at a time; a busy one needed more than 150
        deadline = time.monotonic() + SETTLE_FIFTY
        while time.monotonic() < deadline:
            if approve_all:
                for ns in fleet_.namespaces:
                    for request in items(dyn, "ApprovalRequest", ns):
                        key = (ns, request.metadata.name)
                        state = (request.get("status") or {}).get("state")
                        if key not in approved and state in (None, "Pending"):
                            approve(cluster, ns, request.metadata.name)
                            approved.add(key)
            missions = fleet_.missions()
            nodes_with_missions = {(m.metadata.namespace, m.spec.healthNode) for m in missions}
            if len(nodes_with_missions) == len(fleet_.nodes) and all(
                (m.get("status") or {}).get("phase") in TERMINAL for m in missions
            ):
                break
            time.sleep(0.5)
        else:
            phases = Counter((m.get("status") or {}).get("phase") for m in fleet_.missions())
            raise AssertionError(
                f"the 50 incidents did not settle in {SETTLE_FIFTY} s: {dict(phases)}, nodes "
                f"{fleet_.phases()}\n{operator.tail(20)}"
            )
        time.sleep(1)  # the watch delivers the last writes
    return watched, fleet_.missions()


def _assert_within_budget(watched: MissionWatch, missions: list[Any]) -> None:
    """Every broken promise at once, so one run tells the whole story."""
    problems: list[str] = []
    phases = Counter(m.status.phase for m in missions)
    if watched.max_active > 5:
        problems.append(
            f"{watched.max_active} Missions acted at once with a budget of 5: {watched.at_max}"
        )
    by_incident = Counter((m.metadata.namespace, m.spec.incident) for m in missions)
    twice = [k for k, n in by_incident.items() if n > 1]
    if twice:
        problems.append(f"duplicate Missions for one incident: {twice}")
    by_node = Counter((m.metadata.namespace, m.spec.healthNode) for m in missions)
    if len(by_node) != 50 or any(n != 1 for n in by_node.values()):
        problems.append(f"not one Mission per degraded node: {by_node}")
    for m in missions:
        phase = m.status.phase
        reasons = "; ".join(m.status.decision.reasons) if m.status.decision else ""
        if phase == "Denied" and "blast radius" not in reasons:
            problems.append(f"{m.metadata.name} Denied for another reason: {reasons}")
        elif phase not in ("Denied", "Succeeded", "RolledBack"):
            problems.append(f"{m.metadata.name} ended {phase}: {m.status.message}")
    if phases["Succeeded"] + phases["RolledBack"] < 1:
        problems.append("no Mission ran at all")
    assert not problems, f"final phases {dict(phases)}:\n" + "\n".join(problems)


def test_fifty_degradations_with_trusted_playbooks_never_exceed_a_budget_of_five(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    exporter: ShopExporter,
    operator: OperatorProcess,
) -> None:
    """A shared bad image breaks 50 services whose rollback has a proven track record (the policy
    allows it without a human): at most 5 Missions act at once, every other incident is Denied
    with its blast-radius reason, and no incident gets two Missions."""
    with budget_of_five(api, operator), fleet(api, dyn, exporter, 5, 10) as f:
        seed_track_record(operator, f.nodes, PLAYBOOK)
        watched, missions = _fifty_degradations(cluster, dyn, f, operator, approve_all=False)
        allowed = [m for m in missions if m.status.decision.result == "allow"]
        print(
            f"\nmax active {watched.max_active}; phases "
            f"{dict(Counter(m.status.phase for m in missions))}; allowed {len(allowed)}"
        )
        _assert_within_budget(watched, missions)
    verify = verify_ledger(operator)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert not duplicate_keys(ledger_entries(operator.ledger))


def test_fifty_degradations_approved_at_once_never_exceed_a_budget_of_five(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    exporter: ShopExporter,
    operator: OperatorProcess,
) -> None:
    """The same 50 incidents on services with no track record: each asks a human, and a human
    approves them all as they arrive. Approval must not bypass the budget: at most 5 act at
    once; the rest wait or are Denied with the reason recorded."""
    with budget_of_five(api, operator), fleet(api, dyn, exporter, 5, 10) as f:
        watched, missions = _fifty_degradations(cluster, dyn, f, operator, approve_all=True)
        print(
            f"\nmax active {watched.max_active}; phases "
            f"{dict(Counter(m.status.phase for m in missions))}"
        )
        _assert_within_budget(watched, missions)
    verify = verify_ledger(operator)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_budgets_come_from_the_grace_policy_configmap(
    api: Any, dyn: Any, shop: str, operator: OperatorProcess
) -> None:
    """policies/README.md: policy data lives in ConfigMap grace-system/grace-policy and applies
    to the next decision without a restart. Protecting this namespace there must deny a run."""
    ns = shop
    apply(dyn, [_rollback_playbook(), checkout_node(ns, ["rollback-bad-release"])], ns)
    try:
        set_policy_and_wait(
            api, operator, {**OPEN_POLICY, "protectedNamespaces": f"[kube-system, {ns}]"}
        )
        create(dyn, _manual("undo-by-hand", "rollback-bad-release"), ns)
        done = wait_phase(dyn, "Mission", ns, "undo-by-hand", "Denied", "AwaitingApproval")
    finally:
        set_policy(api, OPEN_POLICY)
    assert done.status.phase == "Denied", explain(done)
    assert any("is protected" in r for r in done.status.decision.reasons), explain(done)


# ---------------------------------------------------------------- refused before anything runs


def _manual(name: str, playbook_name: str, **parameters: Any) -> dict[str, Any]:
    return {
        "apiVersion": "grace.dev/v1alpha1",
        "kind": "Mission",
        "metadata": {"name": name},
        "spec": {
            "healthNode": "checkout",
            "playbook": playbook_name,
            "trigger": "manual",
            "reason": "by hand",
            "parameters": parameters,
        },
    }


def _scale_within_bounds() -> dict[str, Any]:
    return playbook(
        "scale-within-bounds",
        [{"name": "scale", "action": "scale", "with": {"replicas": "${replicas}"}}],
        parameters=[
            {"name": "replicas", "type": "integer", "minimum": 1, "maximum": 5, "default": 3}
        ],
    )


@pytest.mark.parametrize(
    ("parameters", "reason", "message"),
    [
        ({"replicas": 50}, "ParameterOutOfBounds", "'replicas' = 50 is above its maximum 5"),
        ({"replicas": 0}, "ParameterOutOfBounds", "'replicas' = 0 is below its minimum 1"),
        ({"replicas": "lots"}, "ParameterType", "'replicas' must be an integer"),
        ({"surge": 2}, "UnknownParameter", "'surge' is not declared by the playbook"),
    ],
    ids=["above-maximum", "below-minimum", "wrong-type", "undeclared"],
)
def test_a_manual_mission_outside_the_playbook_bounds_is_refused(
    parameters: dict[str, Any],
    reason: str,
    message: str,
    api: Any,
    dyn: Any,
    shop: str,
    operator: OperatorProcess,
) -> None:
    """The API server accepts the Mission (parameters are free-form there); the operator refuses
    it before the policy, an approval or any step, and says why on the Mission."""
    ns = shop
    apps = client.AppsV1Api(api)
    apply(dyn, [_scale_within_bounds(), checkout_node(ns, ["scale-within-bounds"])], ns)
    before = apps.read_namespaced_deployment("checkout", ns)
    created = create(dyn, _manual("scale-by-hand", "scale-within-bounds", **parameters), ns)
    assert dict(created.spec.parameters) == parameters, "accepted by the API server as written"

    done = wait_phase(dyn, "Mission", ns, "scale-by-hand", *TERMINAL, timeout=30)
    assert done.status.phase == "Failed", explain(done)
    refused = next(c for c in done.status.conditions if c.type == "Refused")
    assert (refused.status, refused.reason) == ("True", reason), explain(done)
    assert message in refused.message and message in done.status.message, explain(done)
    assert not done.status.decision and not done.status.approval and not done.status.snapshot
    assert not done.status.steps or all(s.phase != "Running" for s in done.status.steps)
    assert not items(dyn, "ApprovalRequest", ns)
    ledger = [e["type"] for e in entries_about(ledger_entries(operator.ledger), done.metadata.uid)]
    assert ledger == ["mission.proposed", "mission.finished"], ledger
    after = apps.read_namespaced_deployment("checkout", ns)
    assert (after.metadata.generation, after.spec.replicas) == (
        before.metadata.generation,
        before.spec.replicas,
    )
    events = client.CoreV1Api(api).list_namespaced_event(
        ns, field_selector="involvedObject.name=scale-by-hand"
    )
    assert any(e.type == "Warning" and message in e.message for e in events.items), [
        (e.reason, e.message) for e in events.items
    ]


def _strictly(dyn: Any, api: Any, ns: str, doc: dict[str, Any]) -> client.ApiException:
    """Create as `kubectl apply` does by default: unknown fields are an error, not dropped."""
    plural = {"Playbook": "playbooks", "HealthNode": "healthnodes"}[doc["kind"]]
    with pytest.raises(client.ApiException) as refused:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "grace.dev", "v1alpha1", ns, plural, doc, field_validation="Strict"
        )
    return refused.value


def test_a_playbook_naming_a_target_in_another_namespace_is_refused(
    api: Any, dyn: Any, shop: str, operator: OperatorProcess
) -> None:
    """A Playbook has no way to name a target, let alone another namespace's: the API server
    refuses the attempt (the field is not in the schema) and names the field, as `kubectl apply`
    shows it. A client that does not ask for strict validation gets the field pruned instead
    (with a warning), so what is stored can never point outside the HealthNode's namespace."""
    ns = shop
    elsewhere = {"action": "scale", "with": {"replicas": 5, "namespace": "payments"}}
    top_level = {"action": "scale", "namespace": "payments", "with": {"replicas": 5}}
    for i, step in enumerate((elsewhere, top_level)):
        refused = _strictly(dyn, api, ns, playbook(f"reach-out-{i}", [step]))
        assert refused.status in (400, 422), refused.body
        assert "unknown field" in refused.body and "namespace" in refused.body, refused.body
    node = checkout_node(ns, ["reach-out"])
    node["spec"]["target"]["namespace"] = "payments"
    refused = _strictly(dyn, api, ns, node)
    assert "unknown field" in refused.body and "spec.target.namespace" in refused.body

    stored = create(dyn, playbook("reach-out", [elsewhere]), ns)
    assert "namespace" not in stored.spec.steps[0]["with"], "pruned by the API server"


def test_a_playbook_with_an_unknown_action_is_refused_by_the_api_server(
    api: Any, dyn: Any, shop: str, operator: OperatorProcess
) -> None:
    """No arbitrary commands: an action outside the catalog never gets stored, and a Mission
    naming a playbook that does not exist is refused by the operator before anything runs."""
    ns = shop
    with pytest.raises(client.ApiException) as refused:
        create(dyn, playbook("shell-out", [{"action": "exec", "with": {}}]), ns)
    assert refused.value.status == 422
    body = json.loads(refused.value.body)["message"]
    assert 'spec.steps[0].action: Unsupported value: "exec"' in body, body
    assert "rollback" in body and "deletePods" in body, "the message lists the catalog"

    apply(dyn, [checkout_node(ns, [])], ns)
    create(dyn, _manual("shell-by-hand", "shell-out"), ns)
    done = wait_phase(dyn, "Mission", ns, "shell-by-hand", *TERMINAL, timeout=30)
    assert done.status.phase == "Failed", explain(done)
    reason = next(c for c in done.status.conditions if c.type == "Refused").reason
    assert reason == "PlaybookNotFound", explain(done)
    assert "Playbook 'shell-out' not found" in done.status.message, explain(done)


# ---------------------------------------------------------------- a HealthNode deleted mid-run


def _operator_metrics(operator: OperatorProcess) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics") as r:
        return str(r.read().decode())


def _hold_in_a_long_wait(cluster: ClusterUnderTest, api: Any, dyn: Any, ns: str) -> None:
    """Mission hold-by-hand, approved, has scaled checkout to 5 and sleeps in a 60 s wait step
    holding the target's Lease."""
    apps = client.AppsV1Api(api)
    hold = playbook(
        "scale-and-hold",
        [
            {"name": "scale", "action": "scale", "with": {"replicas": 5}},
            {"name": "hold", "action": "wait", "with": {"duration": "60s"}},
        ],
    )
    grant(api, ns, "alice", "grace-approver")
    apply(dyn, [hold, checkout_node(ns, ["scale-and-hold"])], ns)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=30)
    create(dyn, _manual("hold-by-hand", "scale-and-hold"), ns)

    asked = wait_phase(dyn, "Mission", ns, "hold-by-hand", "AwaitingApproval", *TERMINAL)
    approve(cluster, ns, asked.status.approval.request)

    def holding() -> Any:
        m = get(dyn, "Mission", ns, "hold-by-hand")
        steps = status_of(m.to_dict()).get("steps") or []
        return len(steps) == 2 and steps[1].get("phase") == "Running" and m

    try:
        wait_for("the Mission to hold in its wait step", holding, timeout=60, interval=1)
    except AssertionError as e:
        raise AssertionError(f"{e}{explain(get(dyn, 'Mission', ns, 'hold-by-hand'))}") from e
    assert apps.read_namespaced_deployment("checkout", ns).spec.replicas == 5
    assert lease_holder(api, ns, "Deployment", "checkout") == "hold-by-hand"


def test_an_abort_during_a_long_wait_step_restores_the_target_within_seconds(
    cluster: ClusterUnderTest, api: Any, dyn: Any, shop: str, operator: OperatorProcess
) -> None:
    """`kubectl annotate mission X grace.dev/abort=true` while the Mission sleeps in a 60 s
    wait step: the abort wakes it, it rolls back and ends Aborted long before the wait ends."""
    ns = shop
    _hold_in_a_long_wait(cluster, api, dyn, ns)
    dyn.resources.get(api_version="grace.dev/v1alpha1", kind="Mission").patch(
        name="hold-by-hand",
        namespace=ns,
        body={"metadata": {"annotations": {"grace.dev/abort": "true"}}},
        content_type="application/merge-patch+json",
    )
    aborted = time.monotonic()
    done = wait_phase(dyn, "Mission", ns, "hold-by-hand", *TERMINAL, timeout=30)
    took = time.monotonic() - aborted
    assert done.status.phase == "Aborted", explain(done)
    assert done.status.rollback.outcome == "Passed", explain(done)
    assert client.AppsV1Api(api).read_namespaced_deployment("checkout", ns).spec.replicas == 3
    assert took < 30, f"the abort took {took:.0f}s: it waited for the wait step to end"
    wait_for(
        "the target Lease to be released",
        lambda: lease_holder(api, ns, "Deployment", "checkout") is None,
        timeout=20,
        interval=1,
    )


def test_deleting_a_healthnode_mid_mission_restores_its_target_and_ends_its_loop(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    shop: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
) -> None:
    """The Mission is a record, not a child of its node: it is not garbage-collected mid-run, it
    aborts and restores its target (onFailure: rollback), lets go of the Lease, and the deleted
    node's loop stops: a fault that follows proposes nothing for a node that no longer exists."""
    ns = shop
    apps = client.AppsV1Api(api)
    _hold_in_a_long_wait(cluster, api, dyn, ns)
    for kind, name in (("HealthNode", "checkout"), ("Mission", "hold-by-hand")):
        held = get(dyn, kind, ns, name).metadata.get("finalizers")
        assert not held, f"{kind} {name} has finalizers {held}: a namespace deletion would hang"
    dyn.resources.get(api_version="grace.dev/v1alpha1", kind="HealthNode").delete(
        name="checkout", namespace=ns
    )
    # the deletion wakes the runner out of its 60 s wait step at once (its Mission alarm)
    done = wait_phase(dyn, "Mission", ns, "hold-by-hand", *TERMINAL, timeout=30)
    assert done.status.phase == "Aborted", explain(done)
    assert "HealthNode 'checkout' was deleted during the run" in done.status.message
    assert done.status.rollback.outcome == "Passed", explain(done)
    assert apps.read_namespaced_deployment("checkout", ns).spec.replicas == 3
    assert not done.metadata.get("finalizers"), "nothing may block deleting a namespace"
    wait_for(
        "the target Lease to be released",
        lambda: lease_holder(api, ns, "Deployment", "checkout") is None,
        timeout=20,
    )
    series = f'namespace="{ns}",healthnode="checkout"'
    wait_for(
        "the deleted node's detection loop to stop (its series leave /metrics)",
        lambda: series not in _operator_metrics(operator),
        timeout=10,
    )

    set_image(api, ns, BAD_IMAGE)  # a fault on the target of a node that no longer exists
    breached: list[float] = []

    def breached_for_a_while() -> bool:
        rate = prometheus.query_value(error_rate(ns))
        if rate is None or rate <= 0.10:
            return False
        breached.append(time.monotonic())
        return breached[-1] - breached[0] >= 4  # four intervals of the deleted node

    wait_for("the error rate to stay critical for 4 s", breached_for_a_while, timeout=60)
    assert [m.metadata.name for m in items(dyn, "Mission", ns)] == ["hold-by-hand"]
    mine = entries_about(ledger_entries(operator.ledger), done.metadata.uid)
    assert [e["type"] for e in mine].count("mission.finished") == 1
    proposed = [
        e
        for e in ledger_entries(operator.ledger)
        if e["type"] == "mission.proposed" and e["subject"].get("namespace") == ns
    ]
    assert len(proposed) == 1, f"only the manual Mission was ever proposed: {proposed}"


# ---------------------------------------------------------------- a ledger that cannot be extended


def test_a_ledger_that_cannot_be_extended_holds_the_mission_and_says_why(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    shop: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    tmp_path: Path,
) -> None:
    """Nothing acts without its record: a tampered ledger holds the Mission (fail closed), and
    the Mission, its HealthNode and /metrics say why, not only the log."""
    from tests.e2e.detection_support import metric, scrape
    from tests.e2e.governance_stack import private_operator

    ns = shop
    apps = client.AppsV1Api(api)
    apply(dyn, [_trim_playbook(0.02), checkout_node(ns, ["trim"])], ns)
    with private_operator(operator, cluster, api, prometheus.url, tmp_path / "op", ns) as own:
        wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=30)
        with own.ledger.open("ab") as f:  # a forged record: the chain no longer verifies
            f.write(b'{"entry": {"seq": 0, "type": "mission.finished"}}\n')
        create(dyn, _manual("trim-unrecorded", "trim"), ns)

        def held() -> Any:
            m = get(dyn, "Mission", ns, "trim-unrecorded")
            found = [c for c in status_of(m.to_dict()).get("conditions") or []]
            return (
                any(c["type"] == "LedgerRecorded" and c["status"] == "False" for c in found) and m
            )

        mission = wait_for("the Mission to say the ledger holds it", held, timeout=30)
        assert "the ledger cannot be extended" in mission.status.message
        assert mission.status.get("phase", "Pending") == "Pending"
        assert not mission.status.get("steps"), "nothing was accepted, let alone run"
        core = client.CoreV1Api(api)
        for name in ("trim-unrecorded", "checkout"):
            events = core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}")
            assert any(
                e.reason == "LedgerUnavailable" and e.type == "Warning" for e in events.items
            ), name
        assert metric(scrape(own.metrics_port), "grace_ledger_append_failures_total") >= 1
        pods = {p.metadata.name for p in core.list_namespaced_pod(ns).items}
        time.sleep(2)  # a few Mission ticks: still nothing may act
        assert {p.metadata.name for p in core.list_namespaced_pod(ns).items} == pods
        assert apps.read_namespaced_deployment("checkout", ns).spec.replicas == 3
