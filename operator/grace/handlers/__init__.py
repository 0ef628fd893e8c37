"""The table of contents of what the operator reacts to: one module per kind, each handler thin.

Nothing registers itself on import: `register` puts every handler into the kopf registry the
entry point (`grace run`) hands it, so `grace.runtime` never imports the handlers (they import
it) and a test can register into a registry of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf
from kopf._cogs.structs.references import Selector  # pinned kopf: checked by a unit test
from kopf._core.intents.handlers import DaemonHandler  # pinned kopf: checked by a unit test

from grace.api.common import GROUP, VERSION
from grace.handlers import alerts, healthnode, mission, notify, startup


def register(registry: kopf.OperatorRegistry) -> kopf.OperatorRegistry:
    """Every handler of the operator, registered once into `registry` (returned)."""
    _daemon(registry, "healthnodes", healthnode.watch_health, cancellation_timeout=5.0)
    _daemon(registry, "missions", mission.run_mission, cancellation_timeout=10.0)
    kopf.on.event(GROUP, VERSION, "healthnodes", registry=registry, when=healthnode.is_deletion)(
        healthnode.node_deleted
    )
    kopf.on.event(GROUP, VERSION, "missions", registry=registry, when=mission.is_interrupting)(
        mission.mission_interrupted
    )
    kopf.on.event(GROUP, VERSION, "playbooks", registry=registry, when=mission.is_deletion)(
        mission.playbook_deleted
    )
    kopf.on.startup(registry=registry)(startup.configure)
    # Alerts in (the webhook receiver) and notifications out run while this replica leads.
    kopf.on.startup(registry=registry)(alerts.start_alert_receiver)
    kopf.on.startup(registry=registry)(notify.start_notifier)
    kopf.on.cleanup(registry=registry)(startup.stop_background)
    return registry


def _daemon(
    registry: kopf.OperatorRegistry,
    plural: str,
    fn: Callable[..., Any],
    *,
    cancellation_timeout: float,
) -> None:
    """`@kopf.daemon`, but without a finalizer: GRACE never blocks the deletion of a user's object.

    kopf's decorator puts a finalizer on every object a daemon runs for, so that deleting a
    HealthNode or a Mission (or its namespace) hangs whenever the operator is not running —
    automation getting in an SRE's way. GRACE keeps no per-object state outside the object and
    its ledger, so a daemon cancelled by a deletion loses nothing. kopf has no public switch
    for this; the handler is built as the decorator builds it, with `requires_finalizer=False`.
    """
    registry._spawning.append(
        DaemonHandler(
            id=kopf.HandlerId(fn.__name__),
            fn=fn,
            param=None,
            errors=None,
            timeout=None,
            retries=None,
            backoff=None,
            selector=Selector(GROUP, VERSION, plural),
            labels=None,
            annotations=None,
            when=None,
            field=None,
            value=None,
            requires_finalizer=False,
            initial_delay=None,
            cancellation_backoff=None,
            cancellation_timeout=cancellation_timeout,
            cancellation_polling=None,
        )
    )
