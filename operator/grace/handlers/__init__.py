"""The table of contents of what the operator reacts to: one module per kind, each handler thin."""

from __future__ import annotations

import dataclasses

import kopf
from kopf._core.intents.handlers import DaemonHandler  # pinned kopf: checked by a unit test

from grace.handlers import alerts, healthnode, mission, notify, startup  # noqa: F401

# Alerts in (the webhook receiver) and notifications out run while this replica leads.
kopf.on.startup()(alerts.start_alert_receiver)
kopf.on.startup()(notify.start_notifier)


def _without_finalizers() -> None:
    """Daemons without finalizers: GRACE never blocks the deletion of a user's object.

    kopf puts a finalizer on every object a daemon runs for, so that deleting a HealthNode or a
    Mission (or its namespace) hangs whenever the operator is not running — automation getting
    in an SRE's way. GRACE keeps no per-object state outside the object and its ledger, so a
    daemon cancelled by a deletion loses nothing; kopf removes finalizers it no longer needs.
    """
    spawning = kopf.get_default_registry()._spawning
    spawning._handlers = [
        dataclasses.replace(h, requires_finalizer=False) if isinstance(h, DaemonHandler) else h
        for h in spawning._handlers
    ]


_without_finalizers()
