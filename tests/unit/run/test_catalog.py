"""The catalog's shape: one registry that agrees with the CRD enum, typed intents that keep
their wire form, and a generated docs page that is fresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from grace.api.playbook import Action
from grace.run.actions import CATALOG, ResolvedStep, catalogdoc, describe, parse_intent
from grace.run.actions.scale import ScaleIntent

REPO = Path(__file__).resolve().parents[3]

TARGET = {"kind": "Deployment", "name": "web", "namespace": "shop", "uid": "u1"}


def test_the_registry_names_exactly_the_crd_enum() -> None:
    assert set(CATALOG) == set(Action)
    for name, kind in CATALOG.items():
        assert kind.name is name
        assert kind.intent.model_fields["action"].default == name.value
        assert kind.summary and kind.undone


def test_an_intent_parses_into_its_action_type_and_keeps_its_wire_form() -> None:
    stored = {"action": "scale", "step": "1-scale", "target": TARGET, "replicas": 3, "previous": 1}
    intent = parse_intent(stored)
    assert isinstance(intent, ScaleIntent) and intent.replicas == 3
    assert intent.wire() == stored
    assert describe(stored) == "scale Deployment/web from 1 to 3 replicas"


def test_an_intent_of_an_unknown_action_is_described_not_crashed_on() -> None:
    assert describe({"action": "reboot", "target": TARGET}) == "reboot on Deployment/web"


@pytest.mark.parametrize(
    ("action", "args"),
    [
        (Action.EVICT_PODS, {"count": 2}),
        (Action.SCALE_HPA, {"min_replicas": 2, "max_replicas": 9}),
        (Action.SCALE_HPA, {"max_replicas": 9}),
    ],
)
def test_a_resolved_step_of_a_new_action_survives_the_mission_status(
    action: Action, args: dict[str, int]
) -> None:
    step = ResolvedStep.of(action, **args)
    assert ResolvedStep.from_wire(step.wire()) == step


def test_docs_actions_is_fresh() -> None:
    page = REPO / catalogdoc.PAGE
    assert page.exists(), f"{page} is missing: run `make crds`"
    assert page.read_text() == catalogdoc.render(), f"{page} is stale: run `make crds`"
    for action in Action:
        assert f"| `{action.value}` |" in page.read_text()
