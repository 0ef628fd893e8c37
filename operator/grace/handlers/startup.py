"""Operator start-up: kopf settings, and policy data kept in step with its ConfigMap."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from grace.runtime import retention
from grace.runtime.app import Runtime
from grace.runtime.policydata import PolicyDataWatch

log = logging.getLogger("grace")


async def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    runtime: Runtime = memo
    settings.posting.level = logging.WARNING  # GRACE writes its own Events, with domain reasons
    settings.persistence.finalizer = "grace.dev/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="grace.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="grace.dev", key="last-handled-configuration"
    )
    settings.watching.server_timeout = 60
    settings.watching.client_timeout = 70
    settings.networking.request_timeout = 30
    watch = PolicyDataWatch(runtime)
    await watch.load()  # the first decision already sees the ConfigMap
    runtime.watches.spawn(watch.run())
    runtime.watches.spawn(retention.keep_sweeping(runtime))


async def stop_background(memo: Any, **_: Any) -> None:
    runtime: Runtime = memo
    runtime.watches.cancel_all()
