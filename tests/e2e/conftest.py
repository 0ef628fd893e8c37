"""End-to-end fixtures: a real Prometheus scraping the simulated shop, and `grace run` itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from grace_lab.localcluster.prometheus import AlertmanagerServer, PrometheusServer
from grace_lab.sim import AlertWebhook, ShopExporter
from tests.conftest import ClusterUnderTest
from tests.support.shop import running_shop
from tests.support.stack import OperatorProcess, ensure_policy_configmap


@pytest.fixture(scope="session")
def prometheus() -> Iterator[PrometheusServer]:
    with PrometheusServer(scrape_interval=1, evaluation_interval=1) as prom:
        yield prom


@pytest.fixture(scope="session")
def exporter(api: Any, prometheus: PrometheusServer) -> Iterator[ShopExporter]:
    with ShopExporter(api, seed=11) as shop_exporter:
        prometheus.set_targets([shop_exporter.address])
        prometheus.wait_scraping()
        yield shop_exporter


@dataclass(frozen=True)
class Human:
    """A real Alertmanager the operator posts notifications to, and its webhook receiver."""

    alertmanager: AlertmanagerServer
    inbox: AlertWebhook
    chat: AlertWebhook
    """A direct channel (apprise `json://`), subscribed to approvals being opened."""
    channels: Path
    subscriptions: Path


@pytest.fixture(scope="session")
def human(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Human]:
    """Where GRACE's notifications end up, as a person's Slack would get them: the webhook
    receiver of a real Alertmanager (`human.alertmanager`) that the operator posts to. One
    group per alert, so that a repeated notification would show as a second arrival."""
    with (
        AlertWebhook() as sink,
        AlertmanagerServer(
            sink.url,
            group_by=("alertname", "namespace", "approvalrequest", "mission"),
            group_wait=1,
            group_interval=1,
        ) as alertmanager,
        AlertWebhook() as chat,
    ):
        files = tmp_path_factory.mktemp("channels")
        channels, subscriptions = files / "channels.yaml", files / "subscriptions.yaml"
        channels.write_text(f"chat: {chat.url.replace('http://', 'json://')}\n")
        subscriptions.write_text(
            "subscriptions:\n  - {channels: [chat], events: [approval.opened]}\n"
        )
        yield Human(alertmanager, sink, chat, channels, subscriptions)


@pytest.fixture(scope="session")
def operator(
    cluster: ClusterUnderTest,
    api: Any,
    prometheus: PrometheusServer,
    human: Human,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    ensure_policy_configmap(api)
    proc = OperatorProcess(
        cluster.kubeconfig,
        prometheus.url,
        tmp_path_factory.mktemp("operator"),
        f"--alertmanager-url={human.alertmanager.url}",
        "--notify-interval=1",
        f"--notify-channels-file={human.channels}",
        f"--notify-subscriptions-file={human.subscriptions}",
    )
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def shop(api: Any, dyn: Any, namespace: str, exporter: ShopExporter) -> Iterator[str]:
    """The shop's Deployments, Running and simulated, in this test's namespace."""
    with running_shop(api, dyn, namespace, exporter):
        yield namespace
