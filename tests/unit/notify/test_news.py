"""Autonomy changes and ledger episodes: what a human is owed, told once per change and once
per episode, with the record kept in the grace-notifications ConfigMap's data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from grace.notify import AutonomyChanged, LedgerEpisode, Notification, ledger_due
from grace.notify.channels import EVENTS, Subscription
from grace.notify.record import NewsRecord, news_due

NOW = datetime(2026, 12, 5, 7, 30, tzinfo=UTC)


def _entry(to: str = "propose", at: datetime = NOW, key: str = "") -> dict[str, Any]:
    return {
        "seq": 7,
        "time": at.isoformat().replace("+00:00", "Z"),
        "type": "autonomy.changed",
        "subject": {"kind": "HealthNode", "namespace": "shop", "name": "checkout", "uid": "u"},
        "data": {
            "healthNode": "checkout",
            "playbook": "rollback",
            "from": "autonomous",
            "to": to,
            "reason": "2 consecutive failures",
            "outcomeTime": at.isoformat(),
        },
        "idempotency_key": key or f"autonomy/shop/checkout/rollback/{at.isoformat()}/{to}",
    }


def _change(**kw: Any) -> AutonomyChanged:
    change = AutonomyChanged.from_entry(_entry(**kw))
    assert change is not None
    return change


def _all(_: Notification) -> bool:
    return True


def test_a_demotion_is_a_warning_and_a_promotion_is_news() -> None:
    down = news_due(NewsRecord(), [_change()], "alertmanager", _all, NOW)
    ((rid, n),) = down
    assert rid.startswith("autonomy.") and n.key == "autonomy.changed"
    assert n.labels["alertname"] == "GraceAutonomyChanged"
    assert (n.labels["direction"], n.labels["severity"]) == ("demoted", "warning")
    assert n.labels["healthnode"] == "checkout" and n.labels["namespace"] == "shop"
    assert "autonomous -> propose" in n.annotations["summary"]
    up = AutonomyChanged.from_entry({**_entry(), "data": {**_entry()["data"], "from": "observe"}})
    assert up is not None and up.promoted


def test_each_change_is_told_once_per_receiver_and_the_record_survives_the_configmap() -> None:
    record = NewsRecord()
    change = _change()
    ((rid, n),) = news_due(record, [change], "alertmanager", _all, NOW)
    record.tell(rid, n.key, "alertmanager", NOW)

    reread = NewsRecord.from_data(record.to_data())  # what the next round (or replica) reads
    assert news_due(reread, [change], "alertmanager", _all, NOW) == []
    assert len(news_due(reread, [change], "chat", _all, NOW)) == 1  # another receiver: its own
    assert all(k.replace(".", "").replace("-", "").isalnum() for k in record.to_data())


def test_old_changes_are_history_and_their_record_is_pruned() -> None:
    old = _change(at=NOW - timedelta(hours=3))
    assert news_due(NewsRecord(), [old], "alertmanager", _all, NOW) == []
    record = NewsRecord()
    record.tell(old.record_id, "autonomy.changed", "alertmanager", NOW - timedelta(hours=3))
    record.tell("autonomy.fresh", "autonomy.changed", "alertmanager", NOW)
    record.prune(NOW)
    assert list(record.sent) == ["autonomy.fresh.autonomy.changed.alertmanager"]


def test_a_ledger_episode_opens_once_however_many_appends_fail_and_ends_on_success() -> None:
    failing = (NOW, "the ledger cannot be extended: chain broken at seq 12")
    episode = ledger_due(failing, None, NOW)
    assert episode is not None and episode.ended is None
    later = NOW + timedelta(minutes=5)
    assert ledger_due((later, "another append failed"), episode, later) == episode
    ended = ledger_due(None, episode, later)
    assert ended is not None and ended.ended == later
    assert ledger_due(None, None, later) is None


def test_an_episode_is_told_once_then_its_end_once_then_forgotten() -> None:
    record = NewsRecord(episode=LedgerEpisode(NOW, "the ledger cannot be extended: x"))
    ((rid, n),) = news_due(record, [], "alertmanager", _all, NOW)
    assert (n.key, n.labels["alertname"], n.labels["severity"]) == (
        "ledger.unavailable",
        "GraceLedgerUnavailable",
        "critical",
    )
    record.tell(rid, n.key, "alertmanager", NOW)
    record = NewsRecord.from_data(record.to_data())
    assert news_due(record, [], "alertmanager", _all, NOW) == []

    record.episode = ledger_due(None, record.episode, NOW + timedelta(minutes=1))
    ((rid2, restored),) = news_due(record, [], "alertmanager", _all, NOW)
    assert rid2 == rid and restored.key == "ledger.restored"
    assert restored.ends_at == NOW + timedelta(minutes=1)  # the same alert, resolved
    assert news_due(record, [], "chat", _all, NOW) == []  # never told it opened: no "restored"
    record.close_episode(["alertmanager", "chat"])
    assert record.episode is not None  # alertmanager still owes the end
    record.tell(rid2, restored.key, "alertmanager", NOW)
    record.close_episode(["alertmanager", "chat"])
    assert record.episode is None and record.to_data() == {}


def test_a_failing_receiver_is_kept_in_the_record() -> None:
    record = NewsRecord(receivers={"chat": "failing since 2026-12-05T07:30:00Z: HTTP 500"})
    assert NewsRecord.from_data(record.to_data()).receivers == record.receivers


def test_a_hand_edited_episode_is_forgotten_rather_than_fatal() -> None:
    assert NewsRecord.from_data({"ledger.episode": "{not json"}).episode is None


def test_subscriptions_accept_the_new_events_and_a_namespace_filter_drops_the_ledger() -> None:
    assert {"autonomy.changed", "ledger.unavailable", "ledger.restored"} <= set(EVENTS)
    mine = Subscription(channels=["chat"], events=["autonomy.changed"], namespaces=["shop"])
    record = NewsRecord(episode=LedgerEpisode(NOW, "x"))
    due = news_due(record, [_change()], "chat", lambda n: mine.wants("chat", n), NOW)
    assert [n.key for _, n in due] == ["autonomy.changed"]
    everything = Subscription(channels=["chat"])
    due = news_due(record, [_change()], "chat", lambda n: everything.wants("chat", n), NOW)
    assert [n.key for _, n in due] == ["autonomy.changed", "ledger.unavailable"]


def test_an_entry_of_another_type_or_unreadable_is_no_news() -> None:
    assert AutonomyChanged.from_entry({**_entry(), "type": "mission.finished"}) is None
    assert AutonomyChanged.from_entry({**_entry(), "data": {}}) is None


def test_a_chat_message_of_a_demotion_says_what_why_and_where_to_look() -> None:
    from grace.notify.channels import message

    ((_, n),) = news_due(NewsRecord(), [_change()], "chat", _all, NOW)
    title, body = message(n)
    assert title == "GRACE demoted playbook rollback on checkout: autonomous -> propose"
    assert "2 consecutive failures" in body and "kubectl grace status -n shop" in body
