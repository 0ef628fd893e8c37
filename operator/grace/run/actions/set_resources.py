"""setResources: change one container's requests and limits."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from grace.api.playbook import Action, ResourceList
from grace.run import snapshot as snapshots
from grace.run.actions.base import (
    ActionKind,
    ActionRefusedError,
    Intent,
    StepArgs,
    StepError,
    StepInput,
    StepResult,
    fmt_number,
    live_target,
    parse_quantity,
)
from grace.run.workload import Workload

_CONTAINER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def resource_conflict(requests: Mapping[str, Any], limits: Mapping[str, Any]) -> str | None:
    """The first resource whose request would be above its limit, in words."""
    for res in sorted(set(requests) & set(limits)):
        req, lim = parse_quantity(str(requests[res])), parse_quantity(str(limits[res]))
        if req is not None and lim is not None and req > lim:
            return f"{res} request {requests[res]} would be above its limit {limits[res]}"
    return None


def _in_words(resources: Mapping[str, Any]) -> str:
    parts = []
    for section in ("requests", "limits"):
        values = resources.get(section) or {}
        if values:
            parts.append(f"{section} " + ", ".join(f"{k}={v}" for k, v in sorted(values.items())))
    return "; ".join(parts) or "no requests or limits"


class SetResourcesArgs(StepArgs):
    container: str | None = None
    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)


class SetResourcesIntent(Intent):
    action: Literal["setResources"] = "setResources"
    container: str
    index: int
    resources: dict[str, Any]
    previous: dict[str, Any] = Field(default_factory=dict)


class SetResources(ActionKind[SetResourcesArgs, SetResourcesIntent]):
    name = Action.SET_RESOURCES
    args = SetResourcesArgs
    intent = SetResourcesIntent
    summary = (
        "merge `with.requests` / `with.limits` (cpu, memory) into one container's resources "
        "(`with.container`, needed when there are several)"
    )
    undone = "the snapshot's pod template is restored"

    def resolve(self, step: StepInput) -> SetResourcesArgs:
        container = step.given("container")
        if container is not None and (
            not isinstance(container, str) or not _CONTAINER_NAME.match(container)
        ):
            raise StepError(
                "InvalidStep", f"{step.label}: with.container {container!r} is not a name"
            )
        requests = _quantities(step, "requests")
        limits = _quantities(step, "limits")
        if not requests and not limits:
            raise StepError(
                "InvalidStep",
                f"{step.label}: action setResources needs with.requests or with.limits",
            )
        conflict = resource_conflict(requests, limits)
        if conflict:
            raise StepError("InvalidStep", f"{step.label}: {conflict.replace('would be ', 'is ')}")
        return SetResourcesArgs(container=container, requests=requests, limits=limits)

    def prepare(
        self,
        w: Workload,
        obj: Mapping[str, Any],
        args: SetResourcesArgs,
        head: Intent,
        now: datetime,
    ) -> SetResourcesIntent:
        containers = obj["spec"]["template"]["spec"]["containers"]
        names = [c["name"] for c in containers]
        if args.container is None and len(containers) != 1:
            raise ActionRefusedError(
                f"{w.ref} has containers {', '.join(names)}: name one in with.container"
            )
        name = args.container or names[0]
        if name not in names:
            raise ActionRefusedError(
                f"{w.ref} has no container {name!r} (containers: {', '.join(names)})"
            )
        index = names.index(name)
        previous = copy.deepcopy(containers[index].get("resources") or {})
        resources = copy.deepcopy(previous)
        for section, values in (("requests", args.requests), ("limits", args.limits)):
            if values:
                resources[section] = {**(resources.get(section) or {}), **values}
        conflict = resource_conflict(resources.get("requests") or {}, resources.get("limits") or {})
        if conflict:
            raise ActionRefusedError(f"container {name}: {conflict}")
        return self.build(head, container=name, index=index, resources=resources, previous=previous)

    def execute(self, w: Workload, intent: SetResourcesIntent, now: datetime) -> StepResult:
        uid, index, container = intent.target.uid, intent.index, intent.container
        containers = live_target(w, uid)["spec"]["template"]["spec"]["containers"]
        if index >= len(containers) or containers[index]["name"] != container:
            raise ActionRefusedError(
                f"{w.ref} no longer has container {container} at index {index}"
            )
        if snapshots.normalize(containers[index].get("resources") or {}) == intent.resources:
            return StepResult("Succeeded", f"container {container} already has these resources")
        path = f"/spec/template/spec/containers/{index}"
        w.patch(
            [
                {"op": "test", "path": "/metadata/uid", "value": uid},
                {"op": "test", "path": f"{path}/name", "value": container},
                {"op": "add", "path": f"{path}/resources", "value": intent.resources},
            ]
        )
        return StepResult("Succeeded", self.describe(intent), True)

    def describe(self, intent: SetResourcesIntent) -> str:
        return f"set container {intent.container} of {intent.ref} to {_in_words(intent.resources)}"


def _quantities(step: StepInput, section: str) -> dict[str, str]:
    rl: ResourceList | None = getattr(step.with_, section) if step.with_ is not None else None
    out: dict[str, str] = {}
    if rl is None:
        return out
    for res in ("cpu", "memory"):
        raw = getattr(rl, res)
        if raw is None:
            continue
        value = step.substitute(f"{section}.{res}", raw)
        text = (
            fmt_number(value)
            if isinstance(value, int | float) and not isinstance(value, bool)
            else value
        )
        if not isinstance(text, str) or parse_quantity(text) is None or parse_quantity(text) == 0:
            raise StepError(
                "InvalidStep",
                f"{step.label}: with.{section}.{res} {value!r} is not a positive resource "
                "quantity (e.g. 250m, 1, 512Mi)",
            )
        out[res] = text
    return out
