"""Direct channels: subscriptions choose what goes where; apprise delivers to a real local HTTP
endpoint; a broken file or a failing channel is one clear line that never shows the URL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from grace.notify import DeliveryError, Notification
from grace.notify.channels import (
    AppriseChannel,
    ConfigError,
    Subscription,
    load_channels,
    load_subscriptions,
    message,
)
from grace_lab.localcluster.processes import free_port
from grace_lab.sim import AlertWebhook

T0 = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)


def opened(namespace: str = "shop", node: str = "checkout") -> Notification:
    return Notification(
        "approval.opened",
        {
            "alertname": "GraceApprovalPending",
            "namespace": namespace,
            "healthnode": node,
            "severity": "warning",
        },
        {
            "summary": "GRACE asks: Run rollback-bad-release on checkout? (risk medium)",
            "description": "no learning confidence yet",
            "risk": "medium",
            "expires": (T0 + timedelta(hours=1)).isoformat(),
            "approve": 'kubectl grace approve ar-1 -n shop --reason "..."',
            "deny": 'kubectl grace deny ar-1 -n shop --reason "..."',
        },
        T0,
        T0 + timedelta(hours=1),
    )


def test_subscriptions_filter_by_channel_event_namespace_and_node() -> None:
    sub = Subscription.model_validate(
        {
            "channels": ["sre"],
            "events": ["approval.opened"],
            "namespaces": ["shop"],
            "healthNodes": ["checkout"],
        }
    )
    assert sub.wants("sre", opened())
    assert not sub.wants("audit", opened())
    assert not sub.wants("sre", opened(namespace="other"))
    assert not sub.wants("sre", opened(node="cart"))
    settled = Notification("approval.settled", opened().labels, {}, T0, T0)
    assert not sub.wants("sre", settled)
    assert Subscription(channels=["sre"]).wants("sre", settled)  # default: every event, everywhere


def test_the_message_carries_what_why_risk_expiry_and_the_commands() -> None:
    title, body = message(opened())
    assert title.startswith("GRACE asks: Run rollback-bad-release")
    assert (
        "no learning confidence yet" in body
        and "Risk medium; expires 2026-12-04T18:00:00+00:00" in body
    )
    assert 'Approve: kubectl grace approve ar-1 -n shop --reason "..."' in body
    assert "Deny: kubectl grace deny ar-1" in body


def test_bad_files_are_one_line_without_the_url(tmp_path: Path) -> None:
    channels = tmp_path / "channels.yaml"
    channels.write_text("sre: slack://T000/B000/s3cr3t\nBad_Name: json://x\n")
    with pytest.raises(ConfigError, match="channel names must be DNS labels: Bad_Name") as e:
        load_channels(channels)
    assert "s3cr3t" not in str(e.value)
    with pytest.raises(ConfigError, match="cannot read the channels file"):
        load_channels(tmp_path / "missing.yaml")
    subs = tmp_path / "subs.yaml"
    subs.write_text("subscriptions:\n  - channels: [pager]\n")
    with pytest.raises(ConfigError, match="not configured: pager"):
        load_subscriptions(subs, ["sre"])
    subs.write_text("subscriptions:\n  - channels: [sre]\n    events: [mission.started]\n")
    with pytest.raises(ConfigError, match=r"subscriptions\.0\.events\.0"):
        load_subscriptions(subs, ["sre"])


def test_apprise_delivers_to_a_real_json_endpoint_and_a_dead_one_is_a_delivery_error() -> None:
    every = [Subscription(channels=["hook"])]
    with AlertWebhook() as endpoint:
        url = endpoint.url.replace("http://", "json://")
        AppriseChannel("hook", url, every).deliver([opened()])
        (body,) = endpoint.notifications()
    assert body["title"].startswith("GRACE asks:")
    assert 'kubectl grace approve ar-1 -n shop --reason "..."' in body["message"]
    assert body["type"] == "warning"

    dead = AppriseChannel("hook", f"json://127.0.0.1:{free_port()}/x?token=s3cr3t", every)
    with pytest.raises(DeliveryError) as refused:
        dead.deliver([opened()])
    assert str(refused.value) == "channel hook did not take the notification"
    assert json.dumps(str(refused.value)).count("s3cr3t") == 0
