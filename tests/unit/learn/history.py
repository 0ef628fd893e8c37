"""Builders for ledger entries and outcomes shaped as the operator writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from grace.learn import Outcome

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NODE = "shop/checkout"


def finished(
    seq: int,
    *,
    playbook: str = "rollback-image",
    outcome: str = "Succeeded",
    verification: str | None = "Passed",
    dry_run: bool | None = False,
    node: str = "checkout",
    namespace: str = "shop",
    at: datetime | None = None,
    uid: str | None = None,
    type_: str = "mission.finished",
) -> dict[str, Any]:
    data: dict[str, Any] = {"healthNode": node, "playbook": playbook, "outcome": outcome}
    if verification is not None:
        data["verification"] = verification
    if dry_run is not None:
        data["dryRun"] = dry_run
    moment = at if at is not None else T0 + timedelta(minutes=seq)
    return {
        "seq": seq,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "type": type_,
        "subject": {
            "kind": "Mission",
            "namespace": namespace,
            "name": f"checkout-{seq}",
            "uid": uid if uid is not None else f"uid-{seq}",
        },
        "data": data,
    }


def series(
    pattern: str,
    *,
    playbook: str = "rollback-image",
    start: datetime = T0,
    step: timedelta = timedelta(hours=1),
    dry_run: bool = False,
    node: str = NODE,
) -> list[Outcome]:
    """Outcomes from a string of S (success) and F (failure), one `step` apart."""
    return [
        Outcome(node, playbook, mark == "S", start + i * step, dry_run)
        for i, mark in enumerate(pattern)
    ]
