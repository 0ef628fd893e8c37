"""Runs catalog actions for Missions: the only place the catalog meets the cluster.

`prepare` reads the live state and returns the intent the Mission records before anything
changes; `execute` makes exactly that change and is idempotent (after a crash it is run again
with the same intent and changes nothing more). No arbitrary commands, and nothing outside the
HealthNode's target in its namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from pydantic import ValidationError

from grace.api.healthnode import Target
from grace.run import snapshot as snapshots
from grace.run.actions import CATALOG, ResolvedStep, kind_of, parse_intent
from grace.run.actions.base import ActionRefusedError, Intent, IntentTarget, StepResult
from grace.run.workload import Workload

_PERMANENT = (400, 403, 404, 409, 422)
"""API answers that retrying the same call cannot change: the step fails with the message."""


class ActionExecutor:
    """Runs catalog actions for Missions; every call is confined to one target in one namespace."""

    def __init__(
        self, api_client: Any, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.api_client = api_client
        self.clock = clock

    def workload(self, target: Target, namespace: str) -> Workload:
        return Workload(self.api_client, target, namespace)

    def read(self, target: Target, namespace: str) -> dict[str, Any] | None:
        """The target as it is now (for Inspect and TakeSnapshot), None when it does not exist."""
        return self.workload(target, namespace).read()

    def hold(
        self, target: Target, namespace: str, actions: Iterable[str]
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The target as it is now, and what the plan's actions need kept to undo them."""
        w = self.workload(target, namespace)
        obj = w.read()
        held: dict[str, Any] = {}
        if obj is not None:
            for action in sorted(set(actions)):
                kept = kind_of(action).hold(w, obj)
                if kept is not None:
                    held[action] = kept
        return obj, held

    def prepare(self, step: ResolvedStep, target: Target, namespace: str) -> dict[str, Any]:
        """Decide exactly what `step` will change, from the live state. Raises ActionRefusedError."""
        w = self.workload(target, namespace)
        obj = w.read()
        if obj is None:
            raise ActionRefusedError(f"{w.ref} not found in namespace {namespace}")
        head = Intent(
            action=step.action.value,
            step=step.name,
            target=IntentTarget(
                kind=target.kind, name=target.name, namespace=namespace, uid=obj["metadata"]["uid"]
            ),
        )
        kind = CATALOG[step.action]
        intent = kind.prepare(w, obj, step.args, head, self.clock())
        return dict(intent.wire())

    def execute(self, intent: Mapping[str, Any], target: Target, namespace: str) -> StepResult:
        """Make the recorded change (idempotently). Transient API errors are raised, to retry."""
        try:
            typed = parse_intent(intent)
        except ValidationError as e:
            return StepResult("Failed", f"refused: the recorded intent is not valid: {e}")
        t = typed.target
        if (t.kind, t.namespace, t.name) != (target.kind, namespace, target.name) or not t.uid:
            return StepResult(
                "Failed",
                f"refused: the intent targets {t.kind}/{t.name} in {t.namespace!r}, but this "
                f"Mission may only touch {target.kind}/{target.name} in {namespace!r}",
            )
        kind = kind_of(typed.action)
        try:
            result: StepResult = kind.execute(self.workload(target, namespace), typed, self.clock())
        except ActionRefusedError as e:
            return StepResult("Failed", f"refused: {e}")
        except client.ApiException as e:
            if e.status in _PERMANENT:
                return StepResult(
                    "Failed", f"{kind.describe(typed)}: API error {e.status}: {e.reason}"
                )
            raise
        return result

    def restore(
        self,
        snapshot: Mapping[str, Any],
        target: Target,
        namespace: str,
        undo: Iterable[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """Put the target back to its snapshot, after undoing, last first, what the started
        steps (`undo`: their intents) changed outside the workload.

        Returns the live object after the patch, for `snapshot.matches`. Raises ActionRefusedError
        when the snapshot is not this target's, the target was replaced, or an undo failed."""
        if (snapshot.get("kind"), snapshot.get("namespace"), snapshot.get("name")) != (
            target.kind,
            namespace,
            target.name,
        ):
            raise ActionRefusedError(
                f"the snapshot is of {snapshot.get('kind')}/{snapshot.get('name')} in "
                f"{snapshot.get('namespace')!r}, not of {target.kind}/{target.name} in {namespace!r}"
            )
        w = self.workload(target, namespace)
        held = snapshot.get(snapshots.HELD) or {}
        try:
            for data in reversed(list(undo)):
                intent = parse_intent(data)
                kind_of(intent.action).undo(w, intent, held.get(intent.action))
            return w.patch(snapshots.restore_patch(snapshot))
        except ValidationError as e:
            raise ActionRefusedError(f"a recorded intent is not valid: {e}") from e
        except client.ApiException as e:
            if e.status in _PERMANENT:
                raise ActionRefusedError(
                    f"restore of {w.ref} refused by the API: {e.status} {e.reason}"
                ) from e
            raise
