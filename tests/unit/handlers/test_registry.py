"""What the operator registers with kopf: the handlers exist and none puts a finalizer."""

from __future__ import annotations

import kopf


def test_daemons_are_registered_without_finalizers() -> None:
    import grace.handlers  # noqa: F401

    handlers = kopf.get_default_registry()._spawning.get_all_handlers()
    names = {h.id for h in handlers}
    assert {"watch_health", "run_mission"} <= names
    assert all(h.requires_finalizer is False for h in handlers)
