"""Every registered action round-trips on a real cluster: prepare, execute (twice: idempotent),
then restore from the safe-hold leaves the target, what the action holds and the nodes as they
were. A new action without an example here fails the first test."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from grace.api.playbook import Action
from grace.run import snapshot
from grace.run.actions import CATALOG, ResolvedStep
from grace.run.actions.executor import ActionExecutor
from tests.integration.run.conftest import Deploy, autoscale, available

EXAMPLES: dict[Action, dict[str, Any]] = {
    Action.SCALE: {"replicas": 3},
    Action.ROLLOUT_RESTART: {},
    Action.ROLLBACK: {},
    Action.SET_RESOURCES: {"limits": {"memory": "1Gi"}},
    Action.DELETE_PODS: {"count": 1},
    Action.EVICT_PODS: {"count": 1},
    Action.CORDON_NODE: {"count": 1},
    Action.SCALE_HPA: {"min_replicas": 2, "max_replicas": 4},
    Action.WAIT: {"duration": 0.0},
}


def test_every_registered_action_has_a_round_trip_example() -> None:
    assert set(EXAMPLES) == set(CATALOG) == set(Action)


def unschedulable(core: client.CoreV1Api) -> set[str]:
    return {n.metadata.name for n in core.list_node().items if n.spec.unschedulable}


@pytest.mark.cluster
@pytest.mark.parametrize("action", list(CATALOG), ids=str)
def test_an_action_round_trips_prepare_execute_restore(
    action: Action,
    deploy: Deploy,
    executor: ActionExecutor,
    api: Any,
    apps: client.AppsV1Api,
    core: client.CoreV1Api,
    namespace: str,
    uncordon_all: None,
) -> None:
    target = deploy(replicas=2, image="example/web:1")
    if action is Action.ROLLBACK:  # a revision to go back to
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "v2"}]}}}}
        apps.patch_namespaced_deployment("web", namespace, patch)
        available(apps, namespace, "web", 2)
    if action is Action.SCALE_HPA:
        autoscale(api, namespace, low=1, high=3)
    nodes_before = unschedulable(core)
    obj, held = executor.hold(target, namespace, [action])
    assert obj is not None
    hold = snapshot.take(obj, "Deployment", held)

    intent = executor.prepare(ResolvedStep.of(action, **EXAMPLES[action]), target, namespace)
    first = executor.execute(intent, target, namespace)
    again = executor.execute(intent, target, namespace)

    assert first.phase == "Succeeded", first.message
    assert first.changed or action is Action.WAIT, first.message
    assert again.phase == "Succeeded" and not again.changed, again.message
    assert CATALOG[action].describe(CATALOG[action].intent.model_validate(intent))

    live = executor.restore(hold, target, namespace, undo=[intent])

    assert snapshot.matches(hold, live), snapshot.differences(hold, live)
    assert executor.hold(target, namespace, [action])[1] == held
    assert unschedulable(core) == nodes_before
    available(apps, namespace, "web", 2)


@pytest.mark.cluster
def test_the_round_trip_changes_what_it_says(
    deploy: Deploy, executor: ActionExecutor, api: Any, namespace: str
) -> None:
    """The round trip above would pass for an action that did nothing: scaleHPA really moves."""
    target = deploy(replicas=1)
    autoscale(api, namespace, low=1, high=3)
    hpa = client.AutoscalingV2Api(api)
    intent = executor.prepare(ResolvedStep.of(Action.SCALE_HPA, max_replicas=6), target, namespace)
    assert executor.execute(intent, target, namespace).changed
    spec = hpa.read_namespaced_horizontal_pod_autoscaler("web", namespace).spec
    assert (spec.min_replicas, spec.max_replicas) == (1, 6)
