"""What the operator registers with kopf: the handlers exist, none puts a finalizer, and
importing the handlers registers nothing (the entry point does)."""

from __future__ import annotations

import kopf

from grace.handlers import register


def test_daemons_are_registered_without_finalizers() -> None:
    registry = register(kopf.OperatorRegistry())

    handlers = registry._spawning.get_all_handlers()
    assert {h.id for h in handlers} == {"watch_health", "run_mission"}
    assert all(h.requires_finalizer is False for h in handlers)
    assert {h.selector.any_name for h in handlers} == {"healthnodes", "missions"}
    activities = {h.id for h in registry._activities.get_all_handlers()}
    assert activities == {"configure", "start_alert_receiver", "start_notifier", "stop_background"}


def test_aborts_and_deletions_reach_the_mission_alarms() -> None:
    registry = register(kopf.OperatorRegistry())

    watching = {h.id: h.selector.any_name for h in registry._watching.get_all_handlers()}
    assert watching == {
        "node_deleted": "healthnodes",
        "mission_interrupted": "missions",
        "playbook_deleted": "playbooks",
    }


def test_importing_the_handlers_registers_nothing() -> None:
    assert not any(
        h.id in ("watch_health", "run_mission")
        for h in kopf.get_default_registry()._spawning.get_all_handlers()
    )
