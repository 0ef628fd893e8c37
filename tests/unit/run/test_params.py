"""The whitelist refuses, with a reason naming the culprit, everything outside a Playbook's bounds."""

from __future__ import annotations

from typing import Any

import pytest

from grace.api.playbook import Action, PlaybookSpec
from grace.run.params import (
    Refusal,
    ResolvedPlan,
    ResolvedStep,
    parse_playbook,
    preflight,
    resolve,
)

NODE: dict[str, Any] = {
    "target": {"kind": "Deployment", "name": "checkout"},
    "signals": [{"name": "error-rate", "query": "up", "degraded": {"above": 0.02}}],
}


def playbook(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "parameters": [
            {"name": "replicas", "type": "integer", "minimum": 1, "maximum": 20, "default": 3},
            {"name": "size", "type": "string", "enum": ["small", "large"], "default": "small"},
        ],
        "steps": [{"action": "scale", "with": {"replicas": "${replicas}"}}],
    }
    spec.update(overrides)
    return spec


def refused(result: object) -> Refusal:
    assert isinstance(result, Refusal), result
    return result


def test_defaults_are_applied_and_references_substituted() -> None:
    plan = resolve(PlaybookSpec.model_validate(playbook()), {})
    assert isinstance(plan, ResolvedPlan)
    assert plan.parameters == {"replicas": 3, "size": "small"}
    assert plan.steps == (ResolvedStep.of(Action.SCALE, replicas=3),)


def test_given_parameters_override_defaults() -> None:
    plan = resolve(PlaybookSpec.model_validate(playbook()), {"replicas": 7})
    assert isinstance(plan, ResolvedPlan) and plan.steps[0].args.replicas == 7


@pytest.mark.parametrize(
    ("given", "reason", "words"),
    [
        ({"replicas": 50}, "ParameterOutOfBounds", ["'replicas'", "50", "maximum 20", "[1, 20]"]),
        ({"replicas": 0}, "ParameterOutOfBounds", ["'replicas'", "minimum 1", "[1, 20]"]),
        ({"replicas": "5"}, "ParameterType", ["'replicas'", "must be an integer", "string"]),
        ({"replicas": True}, "ParameterType", ["'replicas'", "must be an integer", "boolean"]),
        ({"replicas": 2.5}, "ParameterType", ["'replicas'", "must be an integer"]),
        ({"size": "huge"}, "ParameterNotInEnum", ["'size'", "'huge'", "small, large"]),
        ({"size": 3}, "ParameterType", ["'size'", "must be a string"]),
        ({"nodes": 3}, "UnknownParameter", ["'nodes'", "declared: replicas, size"]),
    ],
)
def test_bad_parameters_are_refused_with_the_parameter_and_its_bounds(
    given: dict[str, Any], reason: str, words: list[str]
) -> None:
    r = refused(resolve(PlaybookSpec.model_validate(playbook()), given))
    assert r.reason == reason
    for word in words:
        assert word in r.message


def test_a_parameter_without_default_must_be_given() -> None:
    spec = playbook(parameters=[{"name": "replicas", "type": "integer"}])
    r = refused(resolve(PlaybookSpec.model_validate(spec), {}))
    assert r.reason == "MissingParameter" and "'replicas'" in r.message


def test_each_resolved_step_is_rechecked_against_the_action_bounds() -> None:
    wide = playbook(
        parameters=[{"name": "replicas", "type": "integer", "maximum": 5000, "default": 2000}]
    )
    r = refused(resolve(PlaybookSpec.model_validate(wide), {}))
    assert r.reason == "ParameterOutOfBounds" and "outside [0, 1000]" in r.message

    many = playbook(steps=[{"action": "deletePods", "with": {"count": 11}}])
    r = refused(resolve(PlaybookSpec.model_validate(many), {}))
    assert "with.count = 11 is outside [1, 10]" in r.message


@pytest.mark.parametrize(
    ("steps", "words"),
    [
        ([{"action": "scale", "with": {"replicas": "x${replicas}"}}], "mixes text"),
        ([{"action": "scale", "with": {"replicas": "${other}"}}], "does not declare"),
        ([{"action": "scale", "with": {}}], "needs with.replicas"),
        ([{"action": "wait", "with": {"duration": "10m"}}], "longer than the playbook timeout"),
        (
            [
                {
                    "action": "setResources",
                    "with": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}},
                }
            ],
            "cpu request 2 is above its limit 1",
        ),
        ([{"action": "setResources", "with": {"limits": {"memory": "lots"}}}], "not a positive"),
    ],
)
def test_bad_steps_are_refused(steps: list[dict[str, Any]], words: str) -> None:
    r = refused(resolve(PlaybookSpec.model_validate(playbook(steps=steps)), {}))
    assert words in r.message


def test_an_unknown_action_is_refused_naming_the_catalog() -> None:
    raw = playbook(steps=[{"action": "exec", "with": {}}])
    r = refused(parse_playbook(raw, "shop"))
    assert r.reason == "UnknownAction"
    assert "'exec'" in r.message and "rolloutRestart" in r.message


def test_an_argument_no_action_takes_is_refused_rather_than_ignored() -> None:
    raw = playbook(steps=[{"action": "scale", "with": {"replicas": 2, "command": "rm -rf /"}}])
    r = refused(parse_playbook(raw, "shop"))
    assert r.reason == "UnknownArgument" and "with.command" in r.message


def test_a_playbook_naming_another_namespace_is_refused() -> None:
    raw = playbook(steps=[{"action": "scale", "with": {"replicas": 2, "namespace": "prod"}}])
    r = refused(preflight(raw, NODE, {}, "shop"))
    assert r.reason == "TargetOutOfScope"
    assert "'prod'" in r.message and "'shop'" in r.message


def test_a_target_in_another_namespace_is_refused() -> None:
    node = {**NODE, "target": {"kind": "Deployment", "name": "checkout", "namespace": "prod"}}
    r = refused(preflight(playbook(), node, {}, "shop"))
    assert r.reason == "TargetOutOfScope" and "'prod'" in r.message


def test_an_unsupported_target_kind_is_refused() -> None:
    node = {**NODE, "target": {"kind": "DaemonSet", "name": "agent"}}
    r = refused(preflight(playbook(), node, {}, "shop"))
    assert r.reason == "UnsupportedTarget" and "DaemonSet" in r.message


def test_rollback_is_refused_on_a_statefulset() -> None:
    node = {**NODE, "target": {"kind": "StatefulSet", "name": "db"}}
    r = refused(preflight(playbook(steps=[{"action": "rollback"}]), node, {}, "shop"))
    assert r.reason == "UnsupportedAction"


def test_a_check_on_a_signal_the_node_does_not_measure_is_refused() -> None:
    raw = playbook(verify={"checks": [{"signal": "latency", "below": 0.3}]})
    r = refused(preflight(raw, NODE, {}, "shop"))
    assert r.reason == "UnknownSignal" and "'latency'" in r.message and "error-rate" in r.message


def test_missing_objects_are_refused() -> None:
    assert refused(preflight(None, NODE, {}, "shop", playbook_name="pb")).reason == (
        "PlaybookNotFound"
    )
    assert refused(preflight(playbook(), None, {}, "shop")).reason == "HealthNodeNotFound"


def test_a_resolved_step_survives_its_trip_through_the_mission_status() -> None:
    raw = playbook(
        steps=[
            {"action": "setResources", "with": {"container": "app", "limits": {"memory": "1Gi"}}},
            {"action": "wait", "with": {"duration": "30s"}},
        ]
    )
    plan = resolve(PlaybookSpec.model_validate(raw), {})
    assert isinstance(plan, ResolvedPlan)
    assert tuple(ResolvedStep.from_wire(s.wire()) for s in plan.steps) == plan.steps
    assert plan.steps[1].args.duration == 30.0
