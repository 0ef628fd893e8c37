"""Finished automatic Missions are deleted by age; running and manual ones never."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from grace.api.mission import Mission
from grace.run.retention import expired
from grace.runtime.retention import sweep_period

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
DAY = 24 * 3600.0


def mission(
    name: str, phase: str, finished: datetime | None, trigger: str = "automatic"
) -> Mission:
    return Mission.model_validate(
        {
            "metadata": {"name": name, "namespace": "shop", "uid": f"uid-{name}"},
            "spec": {"healthNode": "checkout", "playbook": "scale-out", "trigger": trigger},
            "status": {
                "phase": phase,
                "finishedAt": finished.isoformat() if finished else None,
            },
        }
    )


def test_only_finished_automatic_missions_past_their_ttl_go() -> None:
    missions = [
        mission("old-success", "Succeeded", NOW - timedelta(days=8)),
        mission("old-rollback", "RolledBack", NOW - timedelta(days=7)),
        mission("recent", "Succeeded", NOW - timedelta(days=6)),
        mission("running", "Running", None),
        mission("verifying-long", "Verifying", None),
        mission("old-manual", "Succeeded", NOW - timedelta(days=30), trigger="manual"),
    ]
    assert [m.metadata.name for m in expired(missions, NOW, 7 * DAY)] == [
        "old-success",
        "old-rollback",
    ]


def test_a_ttl_of_zero_keeps_everything() -> None:
    old = [mission("old", "Succeeded", NOW - timedelta(days=365))]
    assert expired(old, NOW, 0) == []


def test_the_sweep_looks_often_enough_but_not_constantly() -> None:
    assert sweep_period(7 * DAY) == 300.0
    assert sweep_period(20) == 2.0
    assert sweep_period(1) == 1.0
