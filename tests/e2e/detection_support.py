"""What the detection scenarios read: a HealthNode's status over time, Prometheus's own view of a
series, the operator's /metrics, and the `grace status`/`grace focus` commands run as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from grace_lab.localcluster.prometheus import PrometheusServer

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def unix(stamp: str | datetime) -> float:
    """A status timestamp (RFC 3339, as the operator writes it) as unix seconds."""
    when = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(stamp)
    return when.timestamp()


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in status.get("conditions") or [] if c["type"] == type_]
    assert found, f"no {type_} condition in {status}"
    return found[0]


def signal(status: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in status.get("signals") or [] if s["name"] == name]
    assert found, f"no signal {name} in {status}"
    return found[0]


@dataclass(frozen=True)
class Seen:
    at: float
    """time.time() when the test saw this status."""
    status: dict[str, Any]

    @property
    def phase(self) -> str | None:
        return self.status.get("phase")


class StatusTrail:
    """Every distinct status of one HealthNode, polled every 0.1 s in a background thread.

    Lets a test say "the phase was never Healthy while..." about everything the API served,
    not only about the moments it happened to look.
    """

    def __init__(self, api: Any, namespace: str, name: str, period: float = 0.1) -> None:
        self._custom = client.CustomObjectsApi(api)
        self.namespace = namespace
        self.name = name
        self.period = period
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"trail-{name}", daemon=True)

    def __enter__(self) -> StatusTrail:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        last_version = None
        while not self._stop.wait(self.period):
            try:
                obj = self._custom.get_namespaced_custom_object(
                    "grace.dev", "v1alpha1", self.namespace, "healthnodes", self.name
                )
            except client.ApiException:
                continue
            version = obj["metadata"].get("resourceVersion")
            if version != last_version and obj.get("status"):
                last_version = version
                with self._lock:
                    self.seen.append(Seen(time.time(), obj["status"]))

    def since(self, t: float) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.at >= t]

    def first(
        self, predicate: Callable[[Seen], bool], after: float = 0.0, timeout: float = 10.0
    ) -> Seen:
        """The first status seen since `after` that matches. The watch thread may deliver a
        status a moment after a GET has already shown it, so this waits for it that long."""
        deadline = time.monotonic() + timeout
        while True:
            for s in self.since(after):
                if predicate(s):
                    return s
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no status of {self.name} matched (phases: {self.phases(after)})"
                )
            time.sleep(0.1)

    def phases(self, after: float = 0.0) -> list[str | None]:
        return [s.phase for s in self.since(after)]


def run_start(
    prometheus: PrometheusServer,
    query: str,
    holds: Callable[[float], bool],
    end: float,
    lookback: float = 90.0,
    step: float = 0.1,
) -> float:
    """When Prometheus's unbroken run of `holds(value)` that is still going at `end` began.

    This is the earliest moment a detector asking Prometheus could have seen the condition:
    the reference the "within `for` + 2 intervals" bound is measured from.
    """
    data = prometheus.api(
        "query_range",
        {
            "query": query,
            "start": f"{end - lookback:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step:g}",
        },
    )
    result = data.get("result") or []
    assert len(result) == 1, f"expected one series for {query!r}, got {result}"
    points = [(float(t), float(v)) for t, v in result[0]["values"]]
    assert points, f"no points for {query!r} before {end}"
    start: float | None = None
    for t, v in reversed(points):
        if not holds(v):
            break
        start = t
    assert start is not None, f"the condition did not hold at {end}: last points {points[-5:]}"
    return start


def prometheus_error(prometheus: PrometheusServer, query: str) -> str:
    """What Prometheus itself says about a query it refuses."""
    try:
        prometheus.api("query", {"query": query})
    except RuntimeError as e:
        body = str(e).split(": ", 1)[1]
        return str(json.loads(body)["error"])
    raise AssertionError(f"Prometheus accepted {query!r}")


def scrape(port: int) -> Samples:
    """The operator's /metrics, as (name, labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = float(s.value)
    return out


def metric(samples: Samples, name: str, **labels: str) -> float:
    """Sum of every series of `name` whose labels include `labels` (0 when there is none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def has_series(samples: Samples, name: str) -> bool:
    return any(n == name for n, _ in samples)


_CLI = "import sys\nfrom grace.cli.main import main\nsys.exit(main())\n"


def grace_cli(kubeconfig: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """`grace status|focus ...` in its own process, with KUBECONFIG as a user would set it."""
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    return subprocess.run(
        [sys.executable, "-c", _CLI, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def wait_node(
    dyn: Any,
    namespace: str,
    name: str,
    *phases: str,
    timeout: float = 60,
    prometheus: PrometheusServer | None = None,
    query: str | None = None,
) -> dict[str, Any]:
    """Wait for one of `phases`; on timeout say what the node and Prometheus showed instead."""
    res = dyn.resources.get(api_version="grace.dev/v1alpha1", kind="HealthNode")
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            status = res.get(name=name, namespace=namespace).to_dict().get("status") or {}
        except client.ApiException:
            status = {}
        if status.get("phase") in phases:
            return status
        time.sleep(0.2)
    seen = ""
    if prometheus is not None and query is not None:
        try:
            seen = f"; Prometheus now says {prometheus.query_value(query)}"
        except Exception as e:
            seen = f"; Prometheus: {e}"
    raise AssertionError(
        f"HealthNode {namespace}/{name} not in {phases} after {timeout:.0f}s: "
        f"phase {status.get('phase')}, signals {status.get('signals')}, "
        f"conditions {[(c['type'], c['status'], c['message']) for c in status.get('conditions') or []]}"
        f"{seen}"
    )
