"""Shared pieces of the four kinds: base model config, conditions, metadata, CEL rule helpers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

GROUP = "grace.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""An RFC 1123 label: what Kubernetes accepts as a name of the objects GRACE refers to."""

ObjectName = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=NAME_PATTERN)]
ShortText = Annotated[str, StringConstraints(max_length=1024)]
NotificationKey = Annotated[str, StringConstraints(max_length=128)]
"""One delivered notification in `status.notified`: `event`, or `event@channel`."""
MAX_NOTIFIED = 64


def notified_field(of: str) -> Any:
    """`status.notified` of an ApprovalRequest or a Mission: written by the Notifier only."""
    return Field(
        default_factory=list,
        max_length=MAX_NOTIFIED,
        description=f"Notifications already delivered for this {of}: what makes them "
        "exactly-once across restarts and replicas (`event` for Alertmanager, `event@channel` "
        "for a direct channel).",
    )


class Model(BaseModel):
    """Base of every contract model: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        serialize_by_alias=True,
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready dict a Kubernetes API call expects (aliases, no unset Nones)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def new_object(obj: BaseModel) -> dict[str, Any]:
    """The body that creates `obj` (a kind's model): apiVersion, kind, and only the metadata and
    spec fields that were set — no status, no empty defaults the API server would keep."""
    body = obj.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
    body.pop("status", None)
    kind = type(obj).model_fields["kind"].default
    return {"apiVersion": API_VERSION, "kind": kind, **body}


def cel(
    rule: str,
    message: str,
    *,
    field_path: str | None = None,
    reason: str | None = None,
    message_expression: str | None = None,
) -> dict[str, str]:
    """One `x-kubernetes-validations` entry; `field_path` makes the API server name the field."""
    out = {"rule": rule, "message": message}
    if message_expression:
        out["messageExpression"] = message_expression
    if field_path:
        out["fieldPath"] = field_path
    if reason:
        out["reason"] = reason
    return out


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """json_schema_extra carrying CEL rules into the generated CRD."""
    return {"x-kubernetes-validations": list(rules)}


class Condition(Model):
    """A metav1.Condition, the shape kstatus, Flux and Argo CD understand."""

    type: str = Field(max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(default="", max_length=1024)
    message: str = Field(default="", max_length=32768)
    last_transition_time: datetime | None = None
    observed_generation: int | None = None


class OwnerReference(Model):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ManagedFieldsEntry(Model):
    """Who last wrote which fields, and when: the API server's own record of a write's time."""

    manager: str = ""
    operation: str = ""
    time: datetime | None = None
    fields_v1: dict[str, Any] = Field(default_factory=dict, alias="fieldsV1")


class ObjectMeta(Model):
    """The part of metav1.ObjectMeta GRACE reads."""

    name: str = ""
    namespace: str = ""
    uid: str = ""
    generation: int = 0
    resource_version: str = ""
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_references: list[OwnerReference] = Field(default_factory=list)
    managed_fields: list[ManagedFieldsEntry] = Field(default_factory=list)


class ObjectRef(Model):
    """A (kind, namespace, name, uid) reference, as the ledger and status record subjects."""

    kind: str
    namespace: str = ""
    name: str
    uid: str = ""


def set_condition(
    conditions: list[Condition],
    new: Condition,
    now: datetime,
) -> list[Condition]:
    """Replace the condition of the same type, keeping lastTransitionTime unless status flips."""
    out: list[Condition] = []
    replaced = False
    for c in conditions:
        if c.type == new.type:
            replaced = True
            keep_time = c.status == new.status and c.last_transition_time is not None
            out.append(
                new.model_copy(
                    update={"last_transition_time": c.last_transition_time if keep_time else now}
                )
            )
        else:
            out.append(c)
    if not replaced:
        out.append(new.model_copy(update={"last_transition_time": now}))
    return out


def find_condition(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)
