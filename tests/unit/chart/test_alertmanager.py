"""charts/grace and Alertmanager. The webhook receiver is off by default; when on: a Service to
the port the operator listens on, a token Secret mounted where `grace run` reads it, and
NetworkPolicy ingress for the senders only. Notifications go to the Alertmanager values name."""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

import yaml

from grace.cli import run_cmd
from grace.runtime.config import OperatorConfig
from tests.unit.chart.chart import (
    CHART,
    KUBE_VERSION,
    container,
    of_kind,
    one,
    refusal,
    render,
    run_helm,
)

ON = {"alertWebhook": {"enabled": True}}


def grace_run(docs: list[dict[str, Any]]) -> OperatorConfig:
    parser = argparse.ArgumentParser()
    run_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(container(one(docs, "Deployment"), "operator")["args"])
    return run_cmd.config_of(args)


def test_off_by_default() -> None:
    docs = render()
    assert not [d for d in docs if d["metadata"]["name"].endswith("-alerts")]
    assert grace_run(docs).webhook_port == 0


def test_on_the_service_reaches_the_port_the_operator_listens_on_with_the_mounted_token() -> None:
    docs = render(ON)
    config = grace_run(docs)
    service = one(docs, "Service", "grace-alerts")
    pod = one(docs, "Deployment")["spec"]["template"]
    operator = container(one(docs, "Deployment"), "operator")
    ports = {p["name"]: p["containerPort"] for p in operator["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] == "webhook"
    assert ports["webhook"] == config.webhook_port == 9095
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert config.webhook_max_bytes == 262144

    secret = one(docs, "Secret", "grace-alert-webhook")
    assert len(base64.b64decode(secret["data"]["token"])) == 40
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    mount = next(m for m in operator["volumeMounts"] if m["name"] == "alert-webhook-token")
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "alert-webhook-token")
    assert volume["secret"]["secretName"] == "grace-alert-webhook"
    assert Path(mount["mountPath"]) / "token" == config.webhook_token_file and mount["readOnly"]


def test_an_existing_token_secret_is_used_not_generated() -> None:
    docs = render(
        {"alertWebhook": {"enabled": True, "token": {"create": False, "secretName": "mine"}}}
    )
    assert not of_kind(docs, "Secret") or all(
        s["metadata"]["name"] != "mine" for s in of_kind(docs, "Secret")
    )
    volumes = one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {"secretName": "mine", "defaultMode": 0o440} in [v.get("secret") for v in volumes]


def test_network_policy_lets_only_the_senders_post() -> None:
    docs = render({**ON, "networkPolicy": {"enabled": True, "scrapers": []}})
    (rule,) = one(docs, "NetworkPolicy")["spec"]["ingress"]
    assert rule["ports"] == [{"port": "webhook", "protocol": "TCP"}]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    both = one(render({**ON, "networkPolicy": {"enabled": True}}), "NetworkPolicy")["spec"][
        "ingress"
    ]
    assert [r["ports"][0]["port"] for r in both] == ["metrics", "webhook"]


def test_lint_strict_is_clean_and_wrong_values_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "values.json"
    notifications = {
        "alertmanagerUrl": "http://alertmanager-operated.monitoring.svc:9093",
        "channelsSecret": "grace-channels",
        "subscriptions": [{"channels": ["sre"], "healthNodes": ["checkout"]}],
    }
    values = {**ON, "networkPolicy": {"enabled": True}, "notifications": notifications}
    file.write_text(json.dumps(values))
    done = run_helm(
        "lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION, "--values", str(file)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    error = refusal({"alertWebhook": {"enabled": True, "tokenFile": "/x"}})
    assert "values don't meet the specifications of the schema" in error, error
    assert "alertWebhook" in error


def test_notifications_go_to_the_alertmanager_the_values_name() -> None:
    assert grace_run(render()).alertmanager_url == ""
    url = "http://alertmanager-operated.monitoring.svc:9093"
    config = grace_run(render({"notifications": {"alertmanagerUrl": url, "interval": 3}}))
    assert (config.alertmanager_url, config.notify_interval) == (url, 3.0)
    error = refusal({"notifications": {"alertmanagerUrl": "alertmanager:9093"}})
    assert "notifications" in error, error


def test_direct_channels_come_from_your_secret_and_subscriptions_from_values() -> None:
    subscriptions = [
        {"channels": ["sre-slack"], "events": ["approval.opened"], "namespaces": ["shop"]}
    ]
    docs = render(
        {"notifications": {"channelsSecret": "grace-channels", "subscriptions": subscriptions}}
    )
    config = grace_run(docs)
    pod = one(docs, "Deployment")["spec"]["template"]
    mounts = {
        m["name"]: m["mountPath"]
        for m in container(one(docs, "Deployment"), "operator")["volumeMounts"]
    }
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["notify-channels"]["secret"]["secretName"] == "grace-channels"
    assert Path(mounts["notify-channels"]) / "channels.yaml" == config.notify_channels_file
    cm = one(docs, "ConfigMap", volumes["notify-subscriptions"]["configMap"]["name"])
    assert (
        Path(mounts["notify-subscriptions"]) / "subscriptions.yaml"
        == config.notify_subscriptions_file
    )
    # What the operator will parse, with the operator's own parser.
    from grace.notify.channels import Subscriptions

    parsed = Subscriptions.model_validate(yaml.safe_load(cm["data"]["subscriptions.yaml"]))
    assert parsed.subscriptions[0].namespaces == ["shop"]
    assert grace_run(render()).notify_channels_file is None
    error = refusal(
        {"notifications": {"subscriptions": [{"channels": ["x"], "events": ["mission.started"]}]}}
    )
    assert "notifications" in error, error


def test_a_channels_secret_without_subscriptions_sends_every_event_to_every_channel() -> None:
    """`subscriptions: []` in values is no subscriptions file, not an empty one (which would send
    nothing): the operator's default, every event to every channel, at the values' interval."""
    docs = render({"notifications": {"channelsSecret": "grace-channels", "interval": 1}})
    config = grace_run(docs)
    assert config.notify_channels_file is not None
    assert config.notify_subscriptions_file is None
    assert config.notify_interval == 1.0
    assert not [d for d in docs if d["metadata"]["name"].endswith("-notify-subscriptions")]
    pod = one(docs, "Deployment")["spec"]["template"]
    assert "notify-subscriptions" not in {v["name"] for v in pod["spec"]["volumes"]}
