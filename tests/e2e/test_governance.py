"""Governance end to end: the API server enforces who decides, requests expire, policy fails closed."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from grace.ledger.entry import LedgerEntry
from grace.ledger.records import parse_record
from grace_lab.localcluster.opa import OpaServer
from grace_lab.localcluster.prometheus import PrometheusServer
from tests.conftest import REPO, ClusterUnderTest
from tests.e2e.governance_policy import (
    GROUP,
    VERSION,
    acting_as,
    allow_creating_missions,
    annotate,
    install_admission_policy,
    refusal,
    wait_enforced,
)
from tests.e2e.governance_stack import plugin, private_operator
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
    the_mission,
    wait_phase,
)
from tests.support.kube import apply, wait_for
from tests.support.stack import OperatorProcess, grant

FINISHED = ("Succeeded", "Failed", "RolledBack", "Denied", "Expired", "TimedOut", "Aborted")
UNAVAILABLE = "policy engine unavailable"


def scale_out() -> dict[str, Any]:
    """High risk on a high-criticality service: policy always asks a human."""
    return playbook(
        "scale-out",
        [{"name": "scale", "action": "scale", "with": {"replicas": 4}}],
        risk="high",
        verify={
            "timeout": "40s",
            "interval": "1s",
            "checks": [{"signal": "error-rate", "below": 0.02}],
            "failureLimit": 3,
            "stableFor": "3s",
        },
    )


def manual_mission(name: str, requested_by: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Mission",
        "metadata": {"name": name},
        "spec": {
            "healthNode": "checkout",
            "playbook": "scale-out",
            "trigger": "manual",
            "requestedBy": requested_by,
            "reason": "more capacity before the sale",
        },
    }


def replicas(api: Any, namespace: str) -> int:
    dep = client.AppsV1Api(api).read_namespaced_deployment("checkout", namespace)
    return int(dep.spec.replicas)


def refused(call: Any) -> client.ApiException:
    with pytest.raises(client.ApiException) as caught:
        call()
    return caught.value


def story(mission: Any) -> str:
    """The Mission's timeline, one event a line: what a failed assertion should show."""
    return "\n".join(f"{e['event']}: {e['message']}" for e in mission.status.timeline or [])


def condition(obj: Any, kind: str) -> str | None:
    found = [c for c in (obj.status.conditions or []) if c["type"] == kind]
    return str(found[0]["status"]) if found else None


def steps_started(mission: Any) -> list[str]:
    return [s["name"] for s in (mission.status.steps or []) if s.get("startedAt")]


def test_another_approver_runs_a_users_mission_its_requester_cannot_approve(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    shop: str,
    operator: OperatorProcess,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ns = shop
    install_admission_policy(api)
    wait_enforced(api, ns)
    grant(api, ns, "alice", "grace-approver")
    grant(api, ns, "bob", "grace-approver")
    allow_creating_missions(api, ns, "bob")
    apply(dyn, [scale_out(), checkout_node(ns, ["scale-out"], mode="propose")], ns)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=60)

    with acting_as(cluster, "bob") as bob:
        forged = refused(
            lambda: bob.create_namespaced_custom_object(
                GROUP, VERSION, ns, "missions", manual_mission("as-alice", "alice")
            )
        )
        assert forged.status == 403
        assert 'you are "bob" but it says "alice"' in refusal(forged)
        bob.create_namespaced_custom_object(
            GROUP, VERSION, ns, "missions", manual_mission("bob-scale-out", "bob")
        )

    waiting = wait_phase(dyn, "Mission", ns, "bob-scale-out", "AwaitingApproval", *FINISHED)
    assert waiting.status.phase == "AwaitingApproval", story(waiting)
    assert waiting.status.decision.result == "require_approval"
    name = waiting.status.approval.request
    request = get(dyn, "ApprovalRequest", ns, name)
    assert request.spec.requestedBy == "bob"
    assert request.spec.mission == "bob-scale-out"

    listed = plugin(capsys, cluster, "alice", ns, "approvals")
    assert listed.code == 0, listed.err
    header, row = listed.out.splitlines()[:2]
    assert header.split()[:5] == ["NAME", "MISSION", "PURPOSE", "RISK", "REQUESTED-BY"]
    assert row.split()[:5] == [name, "bob-scale-out", "run", "high", "bob"]
    assert "high risk on a high-criticality service needs a human" in row

    own = plugin(capsys, cluster, "bob", ns, "approve", name)
    assert own.code == 1
    assert '"bob" requested Mission bob-scale-out (spec.requestedBy) and may not approve' in own.err
    with acting_as(cluster, "bob") as bob:
        self_approval = refused(
            lambda: annotate(
                bob,
                ns,
                name,
                {"grace.dev/decision": "approve", "grace.dev/decided-by": "bob"},
            )
        )
    assert self_approval.status == 403
    assert "may not approve it: another approver must decide" in refusal(self_approval)

    with acting_as(cluster, "alice") as alice:
        impostor = refused(
            lambda: annotate(
                alice,
                ns,
                name,
                {"grace.dev/decision": "approve", "grace.dev/decided-by": "carol"},
            )
        )
    assert impostor.status == 403
    assert 'decided-by must be your own user name: you are "alice" but it says "carol"' in (
        refusal(impostor)
    )
    still = get(dyn, "ApprovalRequest", ns, name).to_dict()
    assert (still.get("status") or {}).get("state", "Pending") == "Pending"
    assert replicas(api, ns) == 3, "nothing ran while nobody allowed to decide had decided"

    approved = plugin(
        capsys, cluster, "alice", ns, "approve", name, "--reason", "sale starts in an hour"
    )
    assert approved.code == 0, approved.err
    assert f"approvalrequest/{name} approved by alice" in approved.out

    done = wait_phase(dyn, "Mission", ns, "bob-scale-out", *FINISHED, timeout=90)
    assert done.status.phase == "Succeeded", story(done)
    assert done.status.approval.decidedBy == "alice"
    assert done.status.approval.reason == "sale starts in an hour"
    assert replicas(api, ns) == 4
    settled = get(dyn, "ApprovalRequest", ns, name)
    assert settled.status.state == "Approved"
    assert settled.status.decidedBy == "alice"
    assert settled.status.decidedAt
    assert plugin(capsys, cluster, "alice", ns, "approvals").out.startswith("No pending")


def test_a_request_nobody_decides_expires_and_ends_its_mission(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    shop: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ns = shop
    install_admission_policy(api)
    wait_enforced(api, ns)
    grant(api, ns, "alice", "grace-approver")
    apply(dyn, [scale_out(), checkout_node(ns, ["scale-out"], mode="propose")], ns)
    with private_operator(
        operator, cluster, api, prometheus.url, tmp_path / "op", ns, "--approval-ttl=5"
    ):
        wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=60)
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            GROUP, VERSION, ns, "missions", manual_mission("unattended", "admin")
        )
        asked = wait_phase(dyn, "Mission", ns, "unattended", "AwaitingApproval", *FINISHED)
        assert asked.status.approval, story(asked)
        name = asked.status.approval.request

        done = wait_phase(dyn, "Mission", ns, "unattended", *FINISHED, timeout=30)
        assert done.status.phase == "Expired", story(done)
        assert done.status.approval.state == "Expired"
        assert not steps_started(done)
        assert replicas(api, ns) == 3
        request = get(dyn, "ApprovalRequest", ns, name)
        assert request.status.state == "Expired"
        assert request.status.decidedAt

        late = plugin(capsys, cluster, "alice", ns, "approve", name)
        assert late.code == 1
        assert "is already Expired" in late.err
        with acting_as(cluster, "alice") as alice:
            too_late = refused(
                lambda: annotate(
                    alice,
                    ns,
                    name,
                    {"grace.dev/decision": "approve", "grace.dev/decided-by": "alice"},
                )
            )
        assert too_late.status == 403
        assert f"ApprovalRequest {name} is already Expired" in refusal(too_late)
        assert get(dyn, "Mission", ns, "unattended").status.phase == "Expired"


def test_an_approval_written_after_expiry_never_counts_even_while_the_operator_was_down(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    shop: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    tmp_path: Path,
) -> None:
    """The admission policy cannot see the clock: with no operator to mark the request Expired,
    a late approval is let through, and the operator must refuse it when it comes back."""
    ns = shop
    install_admission_policy(api)
    wait_enforced(api, ns)
    grant(api, ns, "alice", "grace-approver")
    apply(dyn, [scale_out(), checkout_node(ns, ["scale-out"], mode="propose")], ns)
    with private_operator(
        operator, cluster, api, prometheus.url, tmp_path / "op", ns, "--approval-ttl=6"
    ) as own:
        wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=60)
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            GROUP, VERSION, ns, "missions", manual_mission("late", "admin")
        )
        asked = wait_phase(dyn, "Mission", ns, "late", "AwaitingApproval", *FINISHED)
        assert asked.status.approval, story(asked)
        name = asked.status.approval.request
        pending = wait_for(
            f"ApprovalRequest {name} to be opened",
            lambda: next((r for r in items(dyn, "ApprovalRequest", ns) if r.status), None),
        )
        own.stop()
        expires = dt.datetime.fromisoformat(pending.spec.expiresAt.replace("Z", "+00:00"))
        wait_for(
            "the request to pass its expiresAt",
            lambda: dt.datetime.now(dt.UTC) > expires + dt.timedelta(seconds=1),
            timeout=30,
        )
        approve(cluster, ns, name, "alice")  # still Pending: the API server lets it through
        own.start()

        done = wait_phase(dyn, "Mission", ns, "late", *FINISHED, timeout=60)
        assert done.status.phase == "Expired", story(done)
        assert "does not count" in done.status.message, story(done)
        assert done.status.approval.state == "Expired"
        assert not steps_started(done)
        assert replicas(api, ns) == 3, "a late approval must not run anything"
        request = get(dyn, "ApprovalRequest", ns, name)
        assert request.status.state == "Expired"
        assert "after the request expired" in request.status.reason
        events = client.CoreV1Api(api).list_namespaced_event(
            ns, field_selector=f"involvedObject.name={name}"
        )
        assert any(e.reason == "ApprovalExpired" for e in events.items)
        own.stop()
        records = [parse_record(line) for line in own.ledger.read_bytes().splitlines()]
        decided = [
            r.data
            for r in records
            if isinstance(r, LedgerEntry)
            and r.type == "approval.decided"
            and r.data["mission"] == "late"
        ]
        assert [d["state"] for d in decided] == ["Expired"]
        assert "does not count" in str(decided[0]["reason"])


def test_the_policy_engine_going_away_stops_every_action_until_it_returns(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    shop: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    tmp_path: Path,
) -> None:
    ns = shop
    grant(api, ns, "alice", "grace-approver")
    rollback = playbook(
        "rollback-bad-release",
        [{"name": "undo", "action": "rollback"}],
        verify={  # patient: this test is about the policy engine, not a busy machine's rollout
            "timeout": "90s",
            "interval": "1s",
            "initialDelay": "12s",
            "checks": [{"signal": "error-rate", "below": 0.02}],
            "failureLimit": 20,
            "stableFor": "3s",
        },
    )
    apply(dyn, [rollback, checkout_node(ns, ["rollback-bad-release"])], ns)
    opa = OpaServer(REPO / "policies").start()
    try:
        with private_operator(
            operator,
            cluster,
            api,
            prometheus.url,
            tmp_path / "op",
            ns,
            "--policy-engine=opa",
            f"--opa-url={opa.url}",
        ):
            wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=60)
            opa.stop()
            set_image(api, ns, BAD_IMAGE)
            wait_phase(dyn, "HealthNode", ns, "checkout", "Critical", timeout=40)
            mission = the_mission(dyn, ns)
            name = mission.metadata.name

            def says_unavailable() -> Any:
                m = get(dyn, "Mission", ns, name)
                st = m.get("status") or {}
                reasons = (st.get("decision") or {}).get("reasons") or []
                shown = [st.get("message") or "", *reasons]
                return m if any(UNAVAILABLE in text for text in shown) else None

            stuck = wait_for(
                "the Mission to say the policy engine is unavailable", says_unavailable
            )
            assert stuck.status.phase == "Pending", "fail closed, but not a final answer"
            assert condition(stuck, "PolicyEngineAvailable") == "False"
            assert not steps_started(stuck)
            assert not items(dyn, "ApprovalRequest", ns)
            time.sleep(3)  # several Mission ticks without an engine: still nothing may run
            assert get(dyn, "Mission", ns, name).status.phase == "Pending"
            assert image_of(api, ns) == BAD_IMAGE, "nothing ran without a policy answer"

            opa.start()
            resumed = wait_phase(
                dyn, "Mission", ns, name, "AwaitingApproval", *FINISHED, timeout=45
            )
            assert resumed.status.phase == "AwaitingApproval", story(resumed)
            assert condition(resumed, "PolicyEngineAvailable") == "True"
            assert resumed.status.decision.engine == "opa-server"
            assert resumed.status.decision.result == "require_approval"
            approve(cluster, ns, resumed.status.approval.request, "alice")
            done = wait_phase(dyn, "Mission", ns, resumed.metadata.name, *FINISHED, timeout=90)
            assert done.status.phase == "Succeeded", story(done)
            assert image_of(api, ns) == GOOD_IMAGE
    finally:
        opa.stop()
