"""Each catalog action on a real Deployment: the change it makes, and that repeating it changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from grace.api.healthnode import Target
from grace.api.playbook import Action
from grace.run import snapshot
from grace.run.actions import ActionRefusedError, ResolvedStep
from grace.run.actions.executor import ActionExecutor
from grace.run.actions.rollout_restart import RESTARTED_AT_ANNOTATION
from tests.integration.run.conftest import Deploy, available
from tests.support.kube import wait_for

pytestmark = pytest.mark.cluster


def step(action: Action, **args: Any) -> ResolvedStep:
    return ResolvedStep.of(action, **args)


def owned_replica_sets(apps: client.AppsV1Api, namespace: str, name: str) -> list[Any]:
    return [
        rs
        for rs in apps.list_namespaced_replica_set(namespace, label_selector=f"app={name}").items
        if rs.metadata.owner_references and rs.metadata.owner_references[0].name == name
    ]


def test_scale_sets_replicas_once(
    deploy: Deploy, executor: ActionExecutor, apps: client.AppsV1Api, namespace: str
) -> None:
    target = deploy(replicas=1)
    intent = executor.prepare(step(Action.SCALE, replicas=3), target, namespace)
    assert (intent["previous"], intent["replicas"]) == (1, 3)

    first = executor.execute(intent, target, namespace)
    second = executor.execute(intent, target, namespace)

    assert first.phase == "Succeeded" and first.changed
    assert second.phase == "Succeeded" and not second.changed
    d = available(apps, namespace, "web", 3)
    assert d.spec.replicas == 3


def test_rollout_restart_makes_one_new_replicaset(
    deploy: Deploy, executor: ActionExecutor, apps: client.AppsV1Api, namespace: str
) -> None:
    target = deploy(replicas=2)
    intent = executor.prepare(step(Action.ROLLOUT_RESTART), target, namespace)

    assert executor.execute(intent, target, namespace).changed
    assert not executor.execute(intent, target, namespace).changed

    d = available(apps, namespace, "web", 2)
    annotations = d.spec.template.metadata.annotations
    assert annotations[RESTARTED_AT_ANNOTATION] == intent["restartedAt"]
    assert len(owned_replica_sets(apps, namespace, "web")) == 2


def test_rollback_returns_to_previous_image_as_a_new_revision(
    deploy: Deploy, executor: ActionExecutor, apps: client.AppsV1Api, namespace: str
) -> None:
    target = deploy(replicas=1, image="example/web:1")
    apps.patch_namespaced_deployment(
        "web",
        namespace,
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "web", "image": "example/web:2-bad"}]}
                }
            }
        },
    )
    available(apps, namespace, "web", 1)

    intent = executor.prepare(step(Action.ROLLBACK), target, namespace)
    assert (intent["fromRevision"], intent["toRevision"]) == (2, 1)
    assert intent["images"] == ["web=example/web:1"]

    assert executor.execute(intent, target, namespace).changed
    assert not executor.execute(intent, target, namespace).changed

    d = available(apps, namespace, "web", 1)
    assert d.spec.template.spec.containers[0].image == "example/web:1"
    revision = wait_for(
        "revision 3",
        lambda: (
            apps.read_namespaced_deployment("web", namespace).metadata.annotations.get(
                snapshot.REVISION_ANNOTATION
            )
            == "3"
        ),
    )
    assert revision
    assert len(owned_replica_sets(apps, namespace, "web")) == 2


def test_rollback_without_history_is_refused(
    deploy: Deploy, executor: ActionExecutor, namespace: str
) -> None:
    target = deploy(replicas=1)
    with pytest.raises(ActionRefusedError, match="no revision before 1"):
        executor.prepare(step(Action.ROLLBACK), target, namespace)


def test_set_resources_merges_into_the_container(
    deploy: Deploy, executor: ActionExecutor, apps: client.AppsV1Api, namespace: str
) -> None:
    target = deploy(replicas=1)
    intent = executor.prepare(
        step(
            Action.SET_RESOURCES,
            requests={"memory": "128Mi"},
            limits={"cpu": "1", "memory": "256Mi"},
        ),
        target,
        namespace,
    )

    assert executor.execute(intent, target, namespace).changed
    assert not executor.execute(intent, target, namespace).changed

    res = (
        apps.read_namespaced_deployment("web", namespace).spec.template.spec.containers[0].resources
    )
    assert res.requests == {"cpu": "100m", "memory": "128Mi"}
    assert res.limits == {"cpu": "1", "memory": "256Mi"}


def test_delete_pods_deletes_exactly_the_chosen_pods_once(
    deploy: Deploy,
    executor: ActionExecutor,
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    namespace: str,
) -> None:
    target = deploy(replicas=3)
    before = {p.metadata.name for p in core.list_namespaced_pod(namespace).items}
    intent = executor.prepare(step(Action.DELETE_PODS, count=2), target, namespace)
    chosen = {p["name"] for p in intent["pods"]}
    assert len(chosen) == 2 and chosen <= before

    first = executor.execute(intent, target, namespace)
    assert first.changed and "deleted 2 pod(s)" in first.message

    def replaced() -> set[str] | None:
        pods = core.list_namespaced_pod(namespace).items
        live = {p.metadata.name for p in pods if p.metadata.deletion_timestamp is None}
        return live if len(live) == 3 and not live & chosen else None

    survivors = wait_for("2 replacement pods", replaced, timeout=60)
    assert survivors & before == before - chosen

    second = executor.execute(intent, target, namespace)
    assert not second.changed and "2 already gone" in second.message
    after = {
        p.metadata.name
        for p in core.list_namespaced_pod(namespace).items
        if p.metadata.deletion_timestamp is None
    }
    assert after == survivors


def test_cordon_node_marks_the_node_of_the_target_unschedulable(
    deploy: Deploy,
    executor: ActionExecutor,
    core: client.CoreV1Api,
    namespace: str,
    uncordon_all: None,
) -> None:
    target = deploy(replicas=1)
    pod = core.list_namespaced_pod(namespace).items[0]
    intent = executor.prepare(step(Action.CORDON_NODE, count=1), target, namespace)
    assert [n["name"] for n in intent["nodes"]] == [pod.spec.node_name]

    assert executor.execute(intent, target, namespace).changed
    assert not executor.execute(intent, target, namespace).changed
    assert core.read_node(pod.spec.node_name).spec.unschedulable is True


def test_snapshot_restore_undoes_every_change(
    deploy: Deploy,
    executor: ActionExecutor,
    apps: client.AppsV1Api,
    core: client.CoreV1Api,
    namespace: str,
    uncordon_all: None,
) -> None:
    target = deploy(replicas=2, image="example/web:1")
    snap = executor.read(target, namespace)
    assert snap is not None
    hold = snapshot.take(snap)

    cordoned: list[str] = []
    intents: list[dict[str, Any]] = []
    for s in (
        step(Action.SCALE, replicas=4),
        step(Action.ROLLOUT_RESTART),
        step(Action.SET_RESOURCES, limits={"memory": "1Gi"}),
        step(Action.CORDON_NODE, count=1),
    ):
        intent = executor.prepare(s, target, namespace)
        cordoned += [n["name"] for n in intent.get("nodes", [])]
        intents.append(intent)
        assert executor.execute(intent, target, namespace).phase == "Succeeded"
    changed = executor.read(target, namespace)
    assert changed is not None and not snapshot.matches(hold, changed)

    live = executor.restore(hold, target, namespace, undo=intents)

    assert snapshot.matches(hold, live), snapshot.differences(hold, live)
    d = available(apps, namespace, "web", 2)
    assert RESTARTED_AT_ANNOTATION not in (d.spec.template.metadata.annotations or {})
    assert all(not core.read_node(n).spec.unschedulable for n in cordoned)


def test_execute_refuses_an_intent_for_another_target(
    deploy: Deploy, executor: ActionExecutor, apps: client.AppsV1Api, namespace: str
) -> None:
    target = deploy(replicas=1)
    intent = executor.prepare(step(Action.SCALE, replicas=2), target, namespace)
    other = Target(kind="Deployment", name="other")

    moved = {**intent, "target": {**intent["target"], "namespace": "kube-system"}}
    assert executor.execute(moved, target, namespace).phase == "Failed"
    assert executor.execute(intent, other, namespace).phase == "Failed"
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 1


def test_execute_refuses_a_replaced_target(
    deploy: Deploy, executor: ActionExecutor, apps: client.AppsV1Api, namespace: str
) -> None:
    target = deploy(replicas=1)
    intent = executor.prepare(step(Action.SCALE, replicas=2), target, namespace)
    body = apps.read_namespaced_deployment("web", namespace)
    apps.delete_namespaced_deployment("web", namespace)
    wait_for(
        "web deleted",
        lambda: (
            not any(
                d.metadata.name == "web" for d in apps.list_namespaced_deployment(namespace).items
            )
        ),
    )
    body.metadata = client.V1ObjectMeta(name="web", labels={"app": "web"})
    body.status = None
    apps.create_namespaced_deployment(namespace, body)

    result = executor.execute(intent, target, namespace)

    assert result.phase == "Failed" and "replaced" in result.message
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 1


def test_a_statefulset_pod_recreated_under_the_same_name_is_not_deleted_again(
    executor: ActionExecutor, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    apps.create_namespaced_stateful_set(
        namespace,
        {
            "metadata": {"name": "db"},
            "spec": {
                "replicas": 2,
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": {
                    "metadata": {"labels": {"app": "db"}},
                    "spec": {"containers": [{"name": "db", "image": "example/db:1"}]},
                },
            },
        },
    )
    wait_for(
        "2 ready db pods",
        lambda: apps.read_namespaced_stateful_set("db", namespace).status.ready_replicas == 2,
        timeout=60,
    )
    target = Target(kind="StatefulSet", name="db")
    intent = executor.prepare(step(Action.DELETE_PODS, count=1), target, namespace)
    [chosen] = intent["pods"]

    assert executor.execute(intent, target, namespace).changed

    def recreated() -> Any:
        pod = core.read_namespaced_pod(chosen["name"], namespace)
        fresh = pod.metadata.uid != chosen["uid"] and pod.metadata.deletion_timestamp is None
        return pod if fresh else None

    new_pod = wait_for(f"{chosen['name']} recreated", recreated, timeout=60)
    again = executor.execute(intent, target, namespace)
    assert not again.changed and "already gone" in again.message
    assert core.read_namespaced_pod(chosen["name"], namespace).metadata.uid == new_pod.metadata.uid

    scale = executor.prepare(step(Action.SCALE, replicas=3), target, namespace)
    assert executor.execute(scale, target, namespace).changed
    assert apps.read_namespaced_stateful_set("db", namespace).spec.replicas == 3
