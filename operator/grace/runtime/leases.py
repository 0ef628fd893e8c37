"""One actor per target: a coordination.k8s.io Lease held by a Mission for its whole run.

The Lease lives in the target's namespace and is named after the target, so GRACE replicas,
restarts, and any other operator that follows the same convention see who is acting on it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubernetes import client

LEASE_SECONDS = 600


def lease_name(kind: str, name: str) -> str:
    return f"grace-target-{kind.lower()}-{name}"[:253]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def acquire(coordination: Any, namespace: str, kind: str, name: str, holder: str) -> str | None:
    """Take or renew the target's Lease for `holder`. Returns None when held, else the holder
    that has it (a live Lease of someone else is never taken over; an expired one is)."""
    return take(coordination, namespace, lease_name(kind, name), holder, LEASE_SECONDS)


def take(coordination: Any, namespace: str, lname: str, holder: str, duration: int) -> str | None:
    """Take or renew Lease `lname` for `holder` (None), or name the live holder that has it."""
    now = _now()
    spec = {
        "holderIdentity": holder,
        "leaseDurationSeconds": duration,
        "acquireTime": now.isoformat(),
        "renewTime": now.isoformat(),
    }
    try:
        lease = coordination.read_namespaced_lease(lname, namespace)
    except client.ApiException as e:
        if e.status != 404:
            raise
        body = {
            "metadata": {"name": lname, "labels": {"app.kubernetes.io/managed-by": "grace"}},
            "spec": spec,
        }
        try:
            coordination.create_namespaced_lease(namespace, body)
            return None
        except client.ApiException as conflict:
            if conflict.status == 409:
                return take(coordination, namespace, lname, holder, duration)
            raise
    current = lease.spec.holder_identity
    renew = lease.spec.renew_time
    held_for = lease.spec.lease_duration_seconds or duration
    expired = renew is None or (now - renew).total_seconds() > held_for
    if current and current != holder and not expired:
        return str(current)
    if current == holder:
        spec["acquireTime"] = (lease.spec.acquire_time or now).isoformat()
    body = {
        "metadata": {"name": lname, "resourceVersion": lease.metadata.resource_version},
        "spec": spec,
    }
    try:
        coordination.replace_namespaced_lease(lname, namespace, body)
    except client.ApiException as e:
        if e.status == 409:  # someone else moved it first: look again
            return take(coordination, namespace, lname, holder, duration)
        raise
    return None


def release(coordination: Any, namespace: str, kind: str, name: str, holder: str) -> None:
    """Give the target's Lease up if `holder` still has it (idempotent)."""
    give_up(coordination, namespace, lease_name(kind, name), holder)


def give_up(coordination: Any, namespace: str, lname: str, holder: str) -> None:
    """Delete Lease `lname` if `holder` still has it (idempotent)."""
    try:
        lease = coordination.read_namespaced_lease(lname, namespace)
    except client.ApiException as e:
        if e.status == 404:
            return
        raise
    if lease.spec.holder_identity != holder:
        return
    try:
        coordination.delete_namespaced_lease(
            lname,
            namespace,
            body={"preconditions": {"resourceVersion": lease.metadata.resource_version}},
        )
    except client.ApiException as e:
        if e.status not in (404, 409):
            raise
