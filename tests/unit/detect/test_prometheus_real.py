"""PrometheusSource against a real Prometheus (Debian's binary) started for this module."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from grace.api.healthnode import Signal
from grace.detect.prometheus import PrometheusSource
from grace.detect.sample import Error, NoData, Unreachable, Value

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.fail(f"{PROMETHEUS} not found: install Debian's prometheus package")
    work: Path = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    config = work / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: self\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
    log = (work / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 8
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=0.5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prometheus did not start: {(work / 'prometheus.log').read_text()}")
            time.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def source(prometheus_url: str) -> Iterator[PrometheusSource]:
    src = PrometheusSource(prometheus_url, timeout=3)
    yield src
    src.close()


def test_values(source: PrometheusSource) -> None:
    assert source.query("vector(0.25)") == Value(0.25)
    assert source.query("scalar(vector(3))") == Value(3.0)
    assert source.last_query is not None
    assert 0 < source.last_query.seconds < 3


def test_missing_data(source: PrometheusSource) -> None:
    assert source.query("grace_metric_that_does_not_exist") == NoData()
    assert source.query("vector(0) / 0") == NoData("query returned NaN")
    assert source.query("vector(1) / 0") == NoData("query returned +Inf")


def test_bad_query_is_prometheus_own_error(source: PrometheusSource) -> None:
    result = source.query("up{")
    assert isinstance(result, Error)
    assert "parse error" in result.message
    rate = source.query("rate(up)")
    assert isinstance(rate, Error)
    assert "expected type range vector" in rate.message


def test_several_series_is_an_error(source: PrometheusSource) -> None:
    two = 'label_replace(vector(1), "a", "x", "", "") or label_replace(vector(2), "a", "y", "", "")'
    result = source.query(two)
    assert isinstance(result, Error)
    assert "2 series" in result.message


def test_sample_round_and_history(source: PrometheusSource) -> None:
    signals = [
        Signal.model_validate({"name": "ok", "query": "vector(1)", "critical": {"below": 1}}),
        Signal.model_validate({"name": "bad", "query": "sum(", "critical": {"below": 1}}),
    ]
    samples = source.sample(signals)
    assert samples["ok"] == Value(1.0)
    assert isinstance(samples["bad"], Error)
    points = source.history("vector(7)", timedelta(minutes=2), 7.5)
    assert len(points) >= 16
    assert {v for _, v in points} == {7.0}


def test_wrong_path_is_unreachable(prometheus_url: str) -> None:
    src = PrometheusSource(f"{prometheus_url}/not-prometheus", timeout=2)
    result = src.query("up")
    src.close()
    assert isinstance(result, Unreachable)


def test_a_template_batched_by_label_answers_each_node_as_its_own_query(
    prometheus_url: str,
) -> None:
    template = 'count(prometheus_engine_query_duration_seconds{job="self",slice="%s"})'
    reasons = ["inner_eval", "prepare_time", "queue_time", "result_sort", "no_such_slice"]
    asked: list[str] = []
    shared = PrometheusSource(prometheus_url, timeout=3, on_query=lambda r: asked.append(r.query))
    alone = PrometheusSource(prometheus_url, timeout=3, sharing=False)

    def node(reason: str) -> list[Signal]:
        return [Signal(name="series", query=template % reason)]

    deadline = time.monotonic() + 10
    while not isinstance(alone.sample(node("inner_eval"))["series"], Value):  # first scrape
        assert time.monotonic() < deadline, "Prometheus never scraped itself"
        time.sleep(0.2)

    for reason in reasons:  # the first round: every member is seen once
        shared.sample(node(reason), max_age=5.0, group="ns")
    shared._answers.clear()  # the next round: nothing fresh
    asked.clear()
    batched = {r: shared.sample(node(r), max_age=5.0, group="ns")["series"] for r in reasons}
    own = {r: alone.sample(node(r))["series"] for r in reasons}
    assert batched == own
    assert own["inner_eval"] == Value(3.0) and own["no_such_slice"] == NoData()  # 3 quantiles
    assert len(asked) == 1 and 'slice=~"' in asked[0]  # one request answered all five
