"""Notifications out: an ApprovalRequest and a Mission's end reach a human through a real
Alertmanager (its API holds the alert, its webhook receiver delivers it) and a direct apprise
channel (a local JSON endpoint), each exactly once, even when Alertmanager was down when the
request opened (the channel, up all along, is not held back by it) and the operator is killed
-9 right after the decision.
"""

from __future__ import annotations

import json
from typing import Any

from grace_lab.sim.webhook import ReceivedAlert
from tests.conftest import ClusterUnderTest
from tests.e2e.conftest import Human
from tests.e2e.detection_support import metric, scrape
from tests.e2e.scenario import (
    BAD_IMAGE,
    approve,
    checkout_node,
    get,
    playbook,
    set_image,
    the_mission,
    wait_phase,
)
from tests.support.kube import apply, wait_for
from tests.support.stack import OperatorProcess, grant


def held(human: Human, alertname: str, namespace: str) -> list[dict[str, Any]]:
    """What Alertmanager's own API (GET /api/v2/alerts) holds for this namespace."""
    return [
        a
        for a in human.alertmanager.alerts()
        if a["labels"].get("alertname") == alertname and a["labels"].get("namespace") == namespace
    ]


def arrived(human: Human, alertname: str, namespace: str, status: str) -> list[ReceivedAlert]:
    return [
        a
        for a in human.inbox.alerts()
        if a.name == alertname and a.labels.get("namespace") == namespace and a.status == status
    ]


def test_approval_and_outcome_reach_a_human_once_even_after_alertmanager_was_down(
    cluster: ClusterUnderTest,
    api: Any,
    dyn: Any,
    shop: str,
    operator: OperatorProcess,
    human: Human,
) -> None:
    ns = shop
    grant(api, ns, "alice", "grace-approver")
    apply(dyn, [playbook("rollback-bad-release", [{"name": "undo", "action": "rollback"}])], ns)
    apply(dyn, [checkout_node(ns, ["rollback-bad-release"])], ns)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=30)

    human.alertmanager.stop()  # the receiver is down when the request opens
    failures = metric(
        scrape(operator.metrics_port), "grace_notification_failures_total", receiver="alertmanager"
    )
    try:
        set_image(api, ns, BAD_IMAGE)
        mission = the_mission(dyn, ns)
        waiting = wait_phase(dyn, "Mission", ns, mission.metadata.name, "AwaitingApproval")
        name = waiting.status.approval.request
        wait_for(
            "the failing receiver to show in the metrics",
            lambda: (
                metric(
                    scrape(operator.metrics_port),
                    "grace_notification_failures_total",
                    receiver="alertmanager",
                )
                > failures
                and metric(
                    scrape(operator.metrics_port),
                    "grace_notification_receiver_up",
                    receiver="alertmanager",
                )
                == 0
            ),
            timeout=30,
        )
        told = get(dyn, "ApprovalRequest", ns, name).status.get("notified") or []
        assert "approval.opened" not in told  # the chat channel may have had it: it is up
    finally:
        human.alertmanager.start()

    # Delivered once it is back (the Notifier backs off, so allow for its pause).
    (pending,) = wait_for(
        "Alertmanager's API to hold the approval",
        lambda: held(human, "GraceApprovalPending", ns),
        timeout=90,
    )
    request = get(dyn, "ApprovalRequest", ns, name)
    labels = pending["labels"]
    assert (labels["approvalrequest"], labels["mission"], labels["healthnode"]) == (
        name,
        mission.metadata.name,
        "checkout",
    )
    assert labels["severity"] == "info"  # the playbook's risk is low
    notes = pending["annotations"]
    assert notes["approve"] == f'kubectl grace approve {name} -n {ns} --reason "..."'
    assert notes["deny"] == f'kubectl grace deny {name} -n {ns} --reason "..."'
    assert notes["risk"] == "low" and request.spec.question in notes["summary"]
    assert pending["endsAt"][:19] == request.spec.expiresAt[:19]  # resolves by itself at expiry
    told = wait_for(
        "the approval at the human's receiver",
        lambda: arrived(human, "GraceApprovalPending", ns, "firing"),
    )
    assert told[0].annotations["approve"] == notes["approve"]
    chat = wait_for(
        "the approval in the chat channel (apprise)",
        lambda: [
            b for b in human.chat.notifications() if f"{name} -n {ns}" in b.get("message", "")
        ],
    )
    assert notes["approve"] in chat[0]["message"] and notes["deny"] in chat[0]["message"]
    wait_for(
        "the request to record what was sent",
        lambda: (
            sorted(get(dyn, "ApprovalRequest", ns, name).status.get("notified") or [])
            == ["approval.opened", "approval.opened@chat"]
        ),
    )

    approve(cluster, ns, name, "alice")
    wait_for(
        "the operator to settle the request",
        lambda: get(dyn, "ApprovalRequest", ns, name).status.get("state") == "Approved",
    )
    operator.kill()  # kill -9 between "decided" and "notified" (or just after: either way...)
    operator.start()  # ...the human hears of the decision exactly once
    wait_for(
        "the decision to resolve the approval at the receiver",
        lambda: arrived(human, "GraceApprovalPending", ns, "resolved"),
        timeout=60,
    )
    (resolved,) = arrived(human, "GraceApprovalPending", ns, "resolved")
    assert resolved.annotations["outcome"].startswith("Approved by alice")
    done = wait_phase(
        dyn, "Mission", ns, mission.metadata.name, "Succeeded", "Failed", "RolledBack", timeout=90
    )
    (finished,) = wait_for(
        "the Mission's end at the receiver",
        lambda: arrived(human, "GraceMissionFinished", ns, "firing"),
        timeout=60,
    )
    assert finished.labels["phase"] == done.status.phase
    assert finished.labels["mission"] == mission.metadata.name
    wait_for(
        "the Mission to record what was sent",
        lambda: (
            get(dyn, "Mission", ns, mission.metadata.name).status.get("notified")
            == ["mission.finished"]
        ),
    )
    # Exactly once: one firing arrival per event, though the Notifier kept looking every second.
    assert len(arrived(human, "GraceApprovalPending", ns, "firing")) == 1
    assert len(arrived(human, "GraceMissionFinished", ns, "firing")) == 1
    assert len([b for b in human.chat.notifications() if f"{name} -n {ns}" in b["message"]]) == 1
    assert json.dumps(human.inbox.notifications()).count(operator.webhook_token.read_text()) == 0


def _seed_failures(operator: OperatorProcess, ns: str, node: str, playbook_name: str) -> None:
    """Two verified failures of `playbook_name` on `node`, in the operator's own ledger (signed
    with its key), then a restart: learning, rebuilt from the ledger, demotes the playbook."""
    import time

    from grace.ledger import FileStore, Ledger, Signer, Subject

    operator.stop()
    ledger = Ledger(FileStore(operator.ledger), Signer.from_file(operator.key), "grace.dev/ledger")
    stamp = int(time.time())
    for i in range(2):
        uid = f"failed-{i}-{stamp}-{ns}"[:64]
        ledger.append(
            "mission.finished",
            Subject(kind="Mission", namespace=ns, name=f"{node}-failed-{i}", uid=uid),
            {
                "mission": f"{node}-failed-{i}",
                "healthNode": node,
                "playbook": playbook_name,
                "dryRun": False,
                "outcome": "RolledBack",
                "verification": "Failed",
                "message": "a failure seeded by the notification test",
            },
            f"{uid}/finished",
        )
    operator.start()


def _record(api: Any) -> dict[str, str]:
    from kubernetes import client

    from tests.support.stack import OPERATOR_NAMESPACE

    try:
        cm = client.CoreV1Api(api).read_namespaced_config_map(
            "grace-notifications", OPERATOR_NAMESPACE
        )
    except client.ApiException as e:
        if e.status == 404:
            return {}
        raise
    return dict(cm.data or {})


def test_a_demotion_reaches_a_human_once_even_across_a_kill_9(
    api: Any, dyn: Any, shop: str, operator: OperatorProcess, human: Human
) -> None:
    """An autonomy demotion has no object of its own: it is told to Alertmanager and to the
    chat channel once, recorded in the grace-notifications ConfigMap, and a kill -9 and restart
    tell it no second time."""
    ns = shop
    original = human.subscriptions.read_text()
    human.subscriptions.write_text(
        original + f"  - {{channels: [chat], events: [autonomy.changed], namespaces: [{ns}]}}\n"
    )
    try:
        apply(dyn, [playbook("rollback-bad-release", [{"name": "undo", "action": "rollback"}])], ns)
        apply(dyn, [checkout_node(ns, ["rollback-bad-release"], mode="autonomous")], ns)
        _seed_failures(operator, ns, "checkout", "rollback-bad-release")

        (demoted,) = wait_for(
            "the demotion at Alertmanager's receiver",
            lambda: arrived(human, "GraceAutonomyChanged", ns, "firing"),
            timeout=30,
            interval=1,
        )
        labels = demoted.labels
        assert (labels["healthnode"], labels["playbook"]) == ("checkout", "rollback-bad-release")
        assert (labels["from"], labels["to"], labels["direction"]) == (
            "autonomous",
            "propose",
            "demoted",
        )
        assert labels["severity"] == "warning"

        def in_chat() -> list[dict[str, Any]]:
            # only this namespace's changes reach the chat (the subscription above)
            title = "GRACE demoted playbook rollback-bad-release on checkout"
            return [b for b in human.chat.notifications() if title in b.get("title", "")]

        wait_for("the demotion in the chat channel", in_chat, timeout=30, interval=1)

        def recorded() -> list[str]:
            sent = [k for k in _record(api) if k.startswith("autonomy.")]
            return sent if len(sent) >= 2 else []

        # both receivers' deliveries recorded in the cluster (keys: change.event.receiver)
        keys = wait_for("the record of what was told", recorded, timeout=20, interval=1)
        assert {k.rsplit(".", 1)[1] for k in keys} >= {"alertmanager", "chat"}

        operator.kill()
        operator.start()

        def a_round_ran() -> bool:
            seen = scrape(operator.metrics_port)
            return all(
                metric(seen, "grace_notification_receiver_up", receiver=r) == 1
                for r in ("alertmanager", "chat")
            )

        wait_for("the restarted operator's first notification rounds", a_round_ran, timeout=30)
        assert len(arrived(human, "GraceAutonomyChanged", ns, "firing")) == 1
        assert len(in_chat()) == 1
    finally:
        human.subscriptions.write_text(original)
