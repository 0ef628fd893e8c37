"""Detection: how fast GRACE sees a fault compared with alerting rules, and what 2,000 nodes cost.

(a) Fault-to-phase-change latency. N simulated bad releases (one per namespace, injected a
    fraction of an interval apart so that both paths see every phase of their evaluation tick),
    watched by both paths at once, on the same Prometheus, the same query, the same threshold,
    the same `for`, the same scrape and evaluation interval:
      GRACE      a HealthNode (critical above 0.10) -> the moment a watch on HealthNodes
                 delivers phase Critical to a client (what `kubectl get -w` would show);
      baseline   what users build today: a Prometheus alerting rule with the same expression
                 and `for`, Alertmanager, a webhook receiver -> the moment the webhook receives
                 the firing alert.
    Alertmanager keeps its defaults (group_wait 30s, group_interval 5m, repeat_interval 4h):
    that wait IS the latency users of that path get. Alerts are grouped by
    [alertname, namespace], so that every fault is its own incident and its own group (with
    one group, faults after the first would wait for group_interval, 5m, and the baseline
    would look far worse than it is).
(b) Scale. M HealthNodes with two signals each at a 15s interval in ONE operator process:
    its CPU share (utime+stime from /proc over a steady window), peak RSS (VmHWM), PromQL
    requests per minute (its grace_promql_query_seconds_count) and status writes per minute
    (its grace_status_writes_total; cross-checked with the API server's own count of
    healthnodes/status requests). Steady means nothing changes: the target is ~0 writes.
    The window opens once every node's first status is written; the write policy's periodic
    refresh (every 240 intervals: hourly) falls outside it and is reported apart
    ("expected_refresh_writes_per_min_long_run").
    All nodes live in one namespace by default, the health graph's worst case
    (--scale-namespaces K spreads them). When a target is missed, one detection round is
    profiled in-process (cProfile) to say where the event loop's time goes.

(c) What GRACE costs the user's Prometheus. After (b), four windows of equal length on the same
    Prometheus, read from its own /metrics (process_cpu_seconds_total,
    prometheus_engine_query_duration_seconds, prometheus_http_requests_total): the scale
    operator sharing identical queries (the default), nothing asking (scraping and the shop's
    alert rule alone: subtracted from the others), the same expressions as one recording-rule
    group (one rule per node and signal, at the nodes' 15s), and the operator with
    --no-query-sharing. Reported per 1,000 HealthNodes, with PromQL requests/min before and
    after sharing. (b)'s nodes all ask the same two expressions (a fleet template): the best
    case for sharing; the unshared window is what distinct expressions would cost. A fifth
    window runs the same number of nodes of one template that varies the `namespace` label
    over the 21 shops (42 distinct texts): what batching by label adds to sharing.

Everything runs here and is stopped here, by pid, also on Ctrl-C: a private LocalCluster
(etcd, kube-apiserver, controllers, KWOK) under /tmp, a real Prometheus and Alertmanager, the
simulated shop exporter, and `grace run` processes. In --quick, (b) runs while (a) waits for
its alerts (separate operator processes, separate figures) to keep the run short.

    .venv/bin/python bench/detection.py --quick     # 20 faults at 1s, 300 nodes, ~80 s
    .venv/bin/python bench/detection.py             # 20 faults at 15s, 2,000 nodes, ~11 min

--quick cannot finish under a minute: Alertmanager's default group_wait alone is 30 s, after
~15 s of setup and ~13 s for the bad release to roll out and show in the error ratio.

The last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, "operator")

import yaml
from kubernetes import client, config, watch
from prometheus_client.parser import text_string_to_metric_families

from grace.localcluster.cluster import LocalCluster
from grace.localcluster.install import ensure_policy_configmap, install_crds
from grace.localcluster.processes import alive, free_port, http_ok, stop
from grace.localcluster.prometheus import AlertmanagerServer, PrometheusServer
from grace.runtime.app import STATUS_REFRESH_INTERVALS
from grace.sim import AlertWebhook, Scope, ShopExporter

REPO = Path(__file__).resolve().parents[1]
GOOD_IMAGE = "registry.example/shop/checkout:1.4.2"
BAD_IMAGE = "registry.example/shop/checkout:1.4.3-bad"
CRITICAL = 0.10
LATENCY_NS = "bench-lat-{i:02d}"
SCALE_NS = "bench-scale"
GROUP, VERSION = "grace.dev", "v1alpha1"
STALE_INTERVALS = STATUS_REFRESH_INTERVALS
"""The operator's WritePolicy.max_stale_intervals: an unchanged status is rewritten this often."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Plan:
    quick: bool
    faults: int
    interval: int
    """Seconds: scrape, rule evaluation and HealthNode interval alike (part a)."""
    hold: int
    """`for` of the alert rule and of the HealthNode signal, seconds."""
    rate_window: str
    nodes: int
    window: float
    """Seconds of steady state measured in part (b)."""
    overlap: bool
    """Run (b) while (a) waits for its alerts (only --quick: to fit in about a minute)."""
    profile: bool
    parts: str = "both"
    scale_namespaces: int = 1
    cost: bool = True
    """Part (c): Prometheus' own cost of GRACE's queries vs a recording-rule group."""


# -- small edges -----------------------------------------------------------------------------


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, token: str | None = None) -> Samples:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30, context=ctx) as resp:
        text = resp.read().decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = float(s.value)
    return out


def metric(samples: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def cpu_seconds(pid: int) -> dict[int, float]:
    """utime+stime of every thread of `pid`, by thread id (the main thread's id is the pid)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            out[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


class Stack:
    """Everything this run started, stopped in reverse order whatever happens."""

    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], None]]] = []

    def push(self, what: str, undo: Callable[[], None]) -> None:
        self._undo.append((what, undo))

    def close(self) -> None:
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
            except Exception as e:  # keep stopping the rest
                log(f"stopping {what} failed: {e}")


class NodeLeases:
    """Renews a Lease per KWOK node, the heartbeat KWOK sends when given
    --node-lease-duration-seconds. LocalCluster starts KWOK without it, so every ~55 s the node
    lifecycle controller finds all nodes NotReady and marks every pod NotReady: the simulated
    shop then answers 503s, a fault nobody injected. Only used when KWOK keeps no leases."""

    def __init__(self, api: Any) -> None:
        self.core = client.CoreV1Api(api)
        self.coordination = client.CoordinationV1Api(api)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="node-leases", daemon=True)

    def needed(self) -> bool:
        nodes = [n.metadata.name for n in self.core.list_node().items]
        leases = {
            lease.metadata.name
            for lease in self.coordination.list_namespaced_lease("kube-node-lease").items
        }
        return not set(nodes) <= leases

    def start(self) -> None:
        self.renew()
        self._thread.start()

    def renew(self) -> None:
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for node in self.core.list_node().items:
            name = node.metadata.name
            body = {
                "metadata": {"name": name},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now},
            }
            try:
                self.coordination.patch_namespaced_lease(name, "kube-node-lease", body)
            except client.ApiException as e:
                if e.status != 404:
                    raise
                self.coordination.create_namespaced_lease("kube-node-lease", body)

    def _run(self) -> None:
        while not self._stop.wait(10):
            with contextlib.suppress(Exception):
                self.renew()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Operator:
    """`grace run` as its own process (optionally under cProfile), stopped by its pid."""

    def __init__(
        self,
        name: str,
        kubeconfig: Path,
        prometheus_url: str,
        workdir: Path,
        namespaces: list[str],
        extra: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.port = free_port()
        self.workdir = workdir
        self.log = workdir / f"{name}.log"
        workdir.mkdir(parents=True, exist_ok=True)
        self.argv = [
            sys.executable,
            "-m",
            "grace.cli.main",
            "run",
            f"--prometheus-url={prometheus_url}",
            f"--ledger-path={workdir / f'{name}-ledger.jsonl'}",
            f"--policy-dir={REPO / 'policies'}",
            f"--metrics-port={self.port}",
            "--metrics-address=127.0.0.1",
            *(f"--namespace={ns}" for ns in namespaces),
            *extra,
        ]
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "PYTHONPATH": str(REPO / "operator"),
            "PYTHONUNBUFFERED": "1",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def start(self) -> Operator:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                stdin=subprocess.DEVNULL,
            )
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not http_ok(self.metrics_url):
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"operator {self.name} did not start:\n{self.tail()}")
            time.sleep(0.1)

    def metrics(self) -> Samples:
        return scrape(self.metrics_url)

    def stop(self) -> None:
        if self.proc is not None and alive(self.proc.pid):
            stop(self.proc.pid, "grace.cli.main", grace_seconds=30.0)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(1)

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


# -- the shop --------------------------------------------------------------------------------


def checkout_deployment() -> dict[str, Any]:
    docs = [
        d for d in yaml.safe_load_all((REPO / "examples/shop/10-workloads.yaml").read_text()) if d
    ]
    return next(d for d in docs if d["metadata"]["name"] == "checkout")


def deploy_checkout(api: Any, namespaces: list[str]) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    body = checkout_deployment()
    for ns in namespaces:
        core.create_namespace(
            {"metadata": {"name": ns, "labels": {"grace.dev/bench": "detection"}}}
        )
        apps.create_namespaced_deployment(ns, body)
    deadline = time.monotonic() + 120
    pending = set(namespaces)
    while pending:
        for ns in list(pending):
            status = apps.read_namespaced_deployment("checkout", ns).status
            if (status.available_replicas or 0) >= body["spec"]["replicas"]:
                pending.discard(ns)
        if time.monotonic() > deadline:
            raise TimeoutError(f"checkout not available in {sorted(pending)}")
        time.sleep(0.25)


def set_image(api: Any, namespace: str, image: str) -> None:
    client.AppsV1Api(api).patch_namespaced_deployment(
        "checkout",
        namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}},
    )


def error_ratio(namespace_matcher: str, window: str, by_namespace: bool = False) -> str:
    by = " by (namespace)" if by_namespace else ""
    sel = f'app="checkout",namespace{namespace_matcher}'
    return (
        f'sum{by}(rate(shop_http_requests_total{{{sel},code=~"5.."}}[{window}]))'
        f" / sum{by}(rate(shop_http_requests_total{{{sel}}}[{window}]))"
    )


def latency_node(ns: str, plan: Plan) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HealthNode",
        "metadata": {"name": "checkout", "labels": {"grace.dev/bench": "latency"}},
        "spec": {
            "criticality": "high",
            "target": {"kind": "Deployment", "name": "checkout"},
            "interval": f"{plan.interval}s",
            "signals": [
                {
                    "name": "error-rate",
                    "query": error_ratio(f'="{ns}"', plan.rate_window),
                    "critical": {"above": CRITICAL},
                    "for": f"{plan.hold}s",
                }
            ],
        },
    }


def scale_namespaces(plan: Plan) -> list[str]:
    """Where (b)'s nodes live: one namespace (the worst case for the health graph) or K."""
    if plan.scale_namespaces <= 1:
        return [SCALE_NS]
    return [f"{SCALE_NS}-{k:02d}" for k in range(plan.scale_namespaces)]


def scale_bodies(plan: Plan) -> list[dict[str, Any]]:
    spaces = scale_namespaces(plan)
    return [scale_node(i, spaces[i % len(spaces)]) for i in range(plan.nodes)]


def scale_node(i: int, namespace: str, asks: str = SCALE_NS) -> dict[str, Any]:
    """What the example's checkout declares, minus anomaly and forecast: two plain signals.

    Every node asks about the same (real) series of the shop in SCALE_NS, wherever it lives.
    """
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HealthNode",
        "metadata": {
            "name": f"svc-{i:04d}",
            "namespace": namespace,
            "labels": {"grace.dev/bench": "scale"},
        },
        "spec": {
            "criticality": "medium",
            "target": {"kind": "Deployment", "name": f"svc-{i:04d}"},
            "interval": "15s",
            "signals": [
                {
                    "name": "error-rate",
                    "query": error_ratio(f'="{asks}"', "1m"),
                    "degraded": {"above": 0.02},
                    "critical": {"above": 0.10},
                    "for": "30s",
                },
                {
                    "name": "latency-p95",
                    "query": f'shop_request_latency_p95_seconds{{namespace="{asks}",app="checkout"}}',
                    "degraded": {"above": 0.5},
                    "critical": {"above": 2.0},
                    "for": "1m",
                },
            ],
        },
    }


def create_nodes(api: Any, bodies: list[dict[str, Any]]) -> None:
    custom = client.CustomObjectsApi(api)
    core = client.CoreV1Api(api)
    for ns in sorted({b["metadata"]["namespace"] for b in bodies}):
        with contextlib.suppress(client.ApiException):  # SCALE_NS exists already
            core.create_namespace({"metadata": {"name": ns}})

    def create(body: dict[str, Any]) -> None:
        ns = body["metadata"]["namespace"]
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, "healthnodes", body)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, bodies))


# -- (a) latency -----------------------------------------------------------------------------


class CriticalWatch:
    """First moment a watch delivers phase Critical, per namespace (what a user would see)."""

    def __init__(self, api: Any) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.seen: dict[str, tuple[float, str]] = {}
        self.healthy: set[str] = set()
        self._watch = watch.Watch()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="critical-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                for event in self._watch.stream(
                    self.custom.list_cluster_custom_object,
                    GROUP,
                    VERSION,
                    "healthnodes",
                    label_selector="grace.dev/bench=latency",
                    timeout_seconds=300,
                ):
                    arrived = time.time()
                    obj = event["object"]
                    status = obj.get("status") or {}
                    ns = obj["metadata"]["namespace"]
                    if status.get("phase") == "Healthy":
                        self.healthy.add(ns)
                    if status.get("phase") == "Critical" and ns not in self.seen:
                        self.seen[ns] = (arrived, str(status.get("lastEvaluated")))
            except Exception:
                if not self._stop:
                    time.sleep(0.2)

    def stop(self) -> None:
        self._stop = True
        self._watch.stop()


def measure_latency(
    api: Any,
    plan: Plan,
    prometheus: PrometheusServer,
    hook: AlertWebhook,
    namespaces: list[str],
    during_wait: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Inject one bad release per namespace, a fraction of an interval apart; time both paths."""
    crit_watch = CriticalWatch(api)
    crit_watch.start()
    try:
        create_nodes_by_ns(api, {ns: latency_node(ns, plan) for ns in namespaces})
        deadline = time.monotonic() + 60
        while len(crit_watch.healthy) < len(namespaces):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"latency nodes not Healthy: {set(namespaces) - crit_watch.healthy}"
                )
            time.sleep(0.2)
        prometheus.wait_alertmanagers()
        # the rule must be evaluating a value for every namespace, below the threshold
        ratio = error_ratio('=~"bench-lat-.*"', plan.rate_window, by_namespace=True)
        values = {
            r["metric"].get("namespace"): float(r["value"][1]) for r in prometheus.query(ratio)
        }
        assert set(namespaces) <= set(values), f"no series yet for {set(namespaces) - set(values)}"
        assert max(values.values()) < CRITICAL, values
        assert hook.first("CheckoutErrorRate") is None, "an alert fired before any fault"

        stagger = max(0.25, 2 * plan.interval / len(namespaces))
        injected: dict[str, float] = {}
        log(f"(a) injecting {len(namespaces)} bad releases, {stagger:.2f}s apart")
        for ns in namespaces:
            injected[ns] = time.time()
            set_image(api, ns, BAD_IMAGE)
            time.sleep(stagger)
        if during_wait is not None:
            during_wait()
        timeout = plan.hold + 30 + 12 * plan.interval + 60
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alerts = {a.labels.get("namespace") for a in hook.alerts() if a.status == "firing"}
            if set(namespaces) <= alerts and set(namespaces) <= set(crit_watch.seen):
                break
            time.sleep(0.2)
    finally:
        crit_watch.stop()

    onsets = crossing_onsets(prometheus, plan, min(injected.values()) - plan.interval)
    grace_s: list[float] = []
    decided_s: list[float] = []
    alert_s: list[float] = []
    grace_onset_s: list[float] = []
    alert_onset_s: list[float] = []
    per_fault = []
    for ns in namespaces:
        t0, onset = injected[ns], onsets.get(ns)
        seen = crit_watch.seen.get(ns)
        alert = hook.first("CheckoutErrorRate", labels={"namespace": ns})
        g = seen[0] - t0 if seen else None
        a = alert.received_at - t0 if alert else None
        if seen is not None:
            grace_s.append(seen[0] - t0)
            decided_s.append(dt.datetime.fromisoformat(seen[1]).timestamp() - t0)
            if onset is not None:
                grace_onset_s.append(seen[0] - onset)
        if alert is not None:
            alert_s.append(alert.received_at - t0)
            if onset is not None:
                alert_onset_s.append(alert.received_at - onset)
        per_fault.append({"namespace": ns, "grace_s": rounded(g), "alert_s": rounded(a)})
    p50_g, p95_g = percentile(grace_s, 50), percentile(grace_s, 95)
    p50_a, p95_a = percentile(alert_s, 50), percentile(alert_s, 95)
    return {
        "faults": len(namespaces),
        "interval_s": plan.interval,
        "for_s": plan.hold,
        "rate_window": plan.rate_window,
        "grace": {
            "detected": len(grace_s),
            "p50_s": rounded(p50_g),
            "p95_s": rounded(p95_g),
            "max_s": rounded(max(grace_s, default=None)),
            "decision_p50_s": rounded(percentile(decided_s, 50)),
            "measured_at": "HealthNode watch event with phase Critical, in this process",
        },
        "alerting": {
            "detected": len(alert_s),
            "p50_s": rounded(p50_a),
            "p95_s": rounded(p95_a),
            "max_s": rounded(max(alert_s, default=None)),
            "measured_at": "webhook receipt of the firing alert, in this process",
            "alertmanager": {
                "group_by": ["alertname", "namespace"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
                "note": "Alertmanager's default timers, kept: group_wait is part of what users get",
            },
        },
        "ratio_p50": rounded(p50_a / p50_g if p50_a and p50_g else None),
        "ratio_p95": rounded(p95_a / p95_g if p95_a and p95_g else None),
        "gap_p50_s": rounded(p50_a - p50_g if p50_a and p50_g else None),
        "from_prometheus_crossing": {
            "note": "from the moment the ratio, as Prometheus computes it, crossed 0.10 and "
            "stayed above: excludes the rollout and the rate window, common to both paths",
            "grace_p50_s": rounded(percentile(grace_onset_s, 50)),
            "grace_p95_s": rounded(percentile(grace_onset_s, 95)),
            "alerting_p50_s": rounded(percentile(alert_onset_s, 50)),
            "alerting_p95_s": rounded(percentile(alert_onset_s, 95)),
            "grace_bound_s": plan.hold + 2 * plan.interval,
        },
        "per_fault": per_fault,
    }


def crossing_onsets(prometheus: PrometheusServer, plan: Plan, start: float) -> dict[str, float]:
    """Per namespace: when the ratio crossed CRITICAL for good (the run still going at the end)."""
    end = time.time()
    step = 0.1 if plan.interval <= 1 else 1.0
    data = prometheus.api(
        "query_range",
        {
            "query": error_ratio('=~"bench-lat-.*"', plan.rate_window, by_namespace=True),
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step:g}",
        },
    )
    out: dict[str, float] = {}
    for series in data.get("result") or []:
        onset = None
        for t, v in reversed(series["values"]):
            if float(v) <= CRITICAL:
                break
            onset = float(t)
        if onset is not None:
            out[series["metric"].get("namespace", "")] = onset
    return out


def create_nodes_by_ns(api: Any, bodies: dict[str, dict[str, Any]]) -> None:
    custom = client.CustomObjectsApi(api)
    for ns, body in bodies.items():
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, "healthnodes", body)


# -- (b) scale -------------------------------------------------------------------------------


@dataclass
class ScaleRun:
    operator: Operator
    nodes: int
    apiserver: Callable[[], Samples]
    started: float = 0.0
    ready_after: float | None = None
    warmup_writes: float = 0.0
    window: dict[str, Any] = field(default_factory=dict)
    shared_cluster: bool = False
    window_opened: float = 0.0
    quiet_after: float | None = None
    startup_writes: float = 0.0
    timeline: list[tuple[float, float]] = field(default_factory=list)
    _begin: dict[str, Any] = field(default_factory=dict)

    def wait_evaluated(self, timeout: float) -> None:
        """Until every node has been evaluated once (the operator's phase gauge covers all)."""
        deadline = time.monotonic() + timeout
        evaluated = 0.0
        while time.monotonic() < deadline:
            samples = self.operator.metrics()
            evaluated = sum(
                v
                for (name, labels), v in samples.items()
                if name == "grace_healthnode_phase"
                and dict(labels).get("namespace", "").startswith(SCALE_NS)
            )
            if evaluated >= self.nodes:
                self.ready_after = time.monotonic() - self.started
                self.warmup_writes = metric(samples, "grace_status_writes_total", kind="HealthNode")
                return
            time.sleep(2)
        raise TimeoutError(
            f"only {evaluated:.0f}/{self.nodes} nodes evaluated after {timeout:.0f}s"
        )

    def wait_quiet(self, timeout: float) -> None:
        """Until every node's first status is written and no write happened for two polls."""
        deadline = time.monotonic() + timeout
        history: list[float] = []
        while time.monotonic() < deadline:
            writes = metric(self.operator.metrics(), "grace_status_writes_total", kind="HealthNode")
            history.append(writes)
            if writes >= self.nodes and history[-3:] == [writes] * 3:
                break
            time.sleep(3)
        self.quiet_after = time.monotonic() - self.started
        self.startup_writes = history[-1] if history else 0.0

    def begin_window(self) -> None:
        self._begin = self._sample()
        self.window_opened = self._begin["t"]
        self.timeline = [(self.window_opened, self._writes(self._begin["metrics"]))]

    @staticmethod
    def _writes(samples: Samples) -> float:
        return metric(samples, "grace_status_writes_total", kind="HealthNode")

    def observe(self, seconds: float, every: float = 30.0) -> None:
        """Wait `seconds`, noting the status-write counter every `every` seconds."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(every, left))
            self.timeline.append((time.monotonic(), self._writes(self.operator.metrics())))

    def end_window(self) -> None:
        end = self._sample()
        begin = self._begin
        wall: float = end["t"] - begin["t"]
        minutes = wall / 60
        main_cpu = end["threads"].get(self.operator.pid, 0.0) - begin["threads"].get(
            self.operator.pid, 0.0
        )
        total_cpu = sum(end["threads"].values()) - sum(begin["threads"].values())
        # threads that ended during the window took their CPU with them: count what we saw
        total_cpu = max(total_cpu, main_cpu)
        m0, m1 = begin["metrics"], end["metrics"]

        def rate(name: str, **labels: str) -> float:
            return (metric(m1, name, **labels) - metric(m0, name, **labels)) / minutes

        a0, a1 = begin["apiserver"], end["apiserver"]
        mutating = ("PATCH", "PUT", "POST", "DELETE", "APPLY")

        def api_rate(subresource: str) -> float:
            total = 0.0
            for verb in mutating:
                labels = {"resource": "healthnodes", "verb": verb, "subresource": subresource}
                total += metric(a1, "apiserver_request_total", **labels) - metric(
                    a0, "apiserver_request_total", **labels
                )
            return total / minutes

        evals = metric(m1, "grace_detection_evaluation_seconds_count") - metric(
            m0, "grace_detection_evaluation_seconds_count"
        )
        eval_time = metric(m1, "grace_detection_evaluation_seconds_sum") - metric(
            m0, "grace_detection_evaluation_seconds_sum"
        )
        queries = metric(m1, "grace_promql_query_seconds_count") - metric(
            m0, "grace_promql_query_seconds_count"
        )
        query_time = metric(m1, "grace_promql_query_seconds_sum") - metric(
            m0, "grace_promql_query_seconds_sum"
        )
        self.window = {
            "seconds": round(wall, 1),
            "cpu_cores": round(total_cpu / wall, 3),
            "cpu_event_loop_thread_cores": round(main_cpu / wall, 3),
            "cpu_worker_threads_cores": round((total_cpu - main_cpu) / wall, 3),
            "promql_requests_per_min": round(rate("grace_promql_query_seconds_count"), 1),
            "promql_errors_per_min": round(rate("grace_promql_errors_total"), 2),
            "promql_mean_ms": round(1000 * query_time / queries, 2) if queries else None,
            "evaluations_per_min": round(evals / minutes, 1),
            "evaluation_mean_ms": round(1000 * eval_time / evals, 2) if evals else None,
            "status_writes_per_min": round(rate("grace_status_writes_total", kind="HealthNode"), 2),
            "apiserver_healthnode_status_writes_per_min": round(api_rate("status"), 2),
            "apiserver_healthnode_other_writes_per_min": round(api_rate(""), 2),
            # loops tick on the 15s grid of unix time: a short window holds a whole number of
            # ticks, so what is due is nodes x ticks in it (not nodes x 4/min)
            "expected_evaluations_per_min": round(
                self.nodes * (int(end["wall"] // 15.0) - int(begin["wall"] // 15.0)) / minutes,
                1,
            ),
        }
        # The write policy refreshes every status at least every STALE_INTERVALS intervals
        # (lastEvaluated proves the detector alive): nothing is due before the first write
        # plus that, so the part of the window before it is the "nothing changed" figure.
        timeline = [*self.timeline, (end["t"], self._writes(m1))]
        refresh_due = self.started + STALE_INTERVALS * 15.0
        before = [(t, w) for t, w in timeline if t <= refresh_due]
        if len(before) >= 2 and before[-1][0] - before[0][0] >= 20:
            quiet_minutes = (before[-1][0] - before[0][0]) / 60
            self.window["status_writes_per_min_before_refresh"] = round(
                (before[-1][1] - before[0][1]) / quiet_minutes, 2
            )
            self.window["before_refresh_seconds"] = round(before[-1][0] - before[0][0], 1)
        self.window["status_writes_timeline"] = [
            {"t_s": round(t - self.started), "writes": int(w - timeline[0][1])} for t, w in timeline
        ]
        if self.shared_cluster:
            self.window["apiserver_note"] = (
                "cluster-wide counts: include part (a)'s operator, which ran meanwhile"
            )

    def _sample(self) -> dict[str, Any]:
        return {
            "t": time.monotonic(),
            "wall": time.time(),
            "threads": cpu_seconds(self.operator.pid),
            "metrics": self.operator.metrics(),
            "apiserver": self.apiserver(),
        }

    def report(self, plan: Plan) -> dict[str, Any]:
        interval = 15.0
        return {
            "nodes": self.nodes,
            "namespaces": plan.scale_namespaces,
            "signals_per_node": 2,
            "interval_s": interval,
            "mode": "quick" if plan.quick else "full",
            "overlapped_with_latency_part": plan.overlap,
            "all_evaluated_after_s": rounded(self.ready_after, 1),
            "status_writes_until_all_evaluated": self.warmup_writes,
            "writes_quiet_after_s": rounded(self.quiet_after, 1),
            "startup_status_writes": self.startup_writes,
            "steady": self.window,
            "peak_rss_mib": round(peak_rss_mib(self.operator.pid), 1),
            "expected_promql_per_min": round(self.nodes * 2 * 60 / interval, 1),
            "stale_refresh_every_s": STALE_INTERVALS * interval,
            "expected_refresh_writes_per_min_long_run": round(
                self.nodes * 60 / (STALE_INTERVALS * interval), 1
            ),
            "targets": {
                "cpu_cores_max": 1.0,
                "peak_rss_mib_max": 512,
                "steady_status_writes_per_min": 0,
            },
        }


def profile_detection(nodes: list[dict[str, Any]], top: int = 10) -> dict[str, Any]:
    """Where the event loop's time goes: cProfile over one detection round, in this process.

    The operator's own NodeWatch.evaluate for every node, as `grace run` calls it, with the two
    edges replaced (Prometheus answers at once, status writes go nowhere): what is left is the
    CPU each evaluation costs the event loop, without HTTP, kopf or waiting for threads.
    """
    import asyncio
    import cProfile
    import pstats
    from types import SimpleNamespace

    from grace.api.healthnode import HealthNode
    from grace.detect.detector import Detector
    from grace.detect.sample import Value
    from grace.runtime.detection import NodeWatch

    class Answers:
        def sample(self, signals: Any, *_: Any) -> dict[str, Value]:
            return {s.name: Value(0.2 if "latency" in s.name else 0.005) for s in signals}

    class Nowhere:
        def patch_status(self, kind: str, ns: str, name: str, patch: dict[str, Any]) -> None:
            bodies[(ns, name)]["status"] = patch

        def event(self, *_: Any, **__: Any) -> None:
            return None

        def list(self, *_: Any, **__: Any) -> list[Any]:
            return []

    rt = SimpleNamespace(
        prometheus=Answers(), kube=Nowhere(), detector=Detector(), graph={}, learner=None
    )
    bodies: dict[tuple[str, str], dict[str, Any]] = {}
    for i, doc in enumerate(nodes):
        body = json.loads(json.dumps(doc))
        body["metadata"].update(uid=f"uid-{i}", generation=1)
        bodies[(body["metadata"]["namespace"], body["metadata"]["name"])] = body
    watches = [NodeWatch(rt, body) for body in bodies.values()]  # type: ignore[arg-type]

    async def one_round() -> None:
        for w in watches:
            await w.evaluate(HealthNode.model_validate(dict(w.body)))

    asyncio.run(one_round())  # first round: models built, statuses "written"
    cpu0 = time.process_time()
    asyncio.run(one_round())  # timed without the profiler's overhead
    cpu = time.process_time() - cpu0
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(one_round())
    profiler.disable()
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in entries.values()) or 1.0
    rows = []
    for (file, line, func), (_cc, calls, tottime, cumtime, _callers) in sorted(
        entries.items(), key=lambda kv: kv[1][2], reverse=True
    )[:top]:
        rows.append(
            {
                "function": f"{Path(file).name}:{line}:{func}",
                "calls": calls,
                "self_share": round(tottime / total, 3),
                "cumulative_share": round(cumtime / total, 3),
            }
        )
    by_module: dict[str, float] = {}
    for (file, _line, _func), (_cc, _calls, tottime, _cum, _callers) in entries.items():
        module = Path(file).name if file != "~" else "builtins"
        by_module[module] = by_module.get(module, 0.0) + tottime / total
    namespaces = len({ns for ns, _ in bodies})
    return {
        "what": "one detection round in-process under cProfile (no HTTP, no kopf)",
        "nodes": len(bodies),
        "namespaces": namespaces,
        "cpu_ms_per_evaluation": round(1000 * cpu / len(bodies), 2),
        "top_self_time": rows,
        "self_share_by_file": {
            k: round(v, 3) for k, v in sorted(by_module.items(), key=lambda kv: -kv[1])[:6]
        },
    }


# -- (c) what GRACE costs Prometheus ---------------------------------------------------------


def prometheus_window(
    prometheus: PrometheusServer, seconds: float, pid: int | None
) -> dict[str, Any]:
    """Prometheus' own counters (its /metrics) over `seconds`, and the operator's CPU if any."""
    url = f"{prometheus.url}/metrics"
    m0, t0 = scrape(url), time.monotonic()
    c0 = sum(cpu_seconds(pid).values()) if pid else 0.0
    time.sleep(seconds)
    m1, t1 = scrape(url), time.monotonic()
    c1 = sum(cpu_seconds(pid).values()) if pid else 0.0
    wall, minutes = t1 - t0, (t1 - t0) / 60

    def delta(name: str, **labels: str) -> float:
        return metric(m1, name, **labels) - metric(m0, name, **labels)

    evals = delta("prometheus_engine_query_duration_seconds_count", slice="inner_eval")
    eval_s = delta("prometheus_engine_query_duration_seconds_sum", slice="inner_eval")
    return {
        "seconds": round(wall, 1),
        "prometheus_cpu_cores": round(delta("process_cpu_seconds_total") / wall, 4),
        "query_api_requests_per_min": round(
            delta("prometheus_http_requests_total", handler="/api/v1/query") / minutes, 1
        ),
        "engine_queries_per_min": round(evals / minutes, 1),
        "engine_inner_eval_mean_ms": round(1000 * eval_s / evals, 3) if evals else None,
        "rule_evaluations_per_min": round(delta("prometheus_rule_evaluations_total") / minutes, 1),
        "operator_cpu_cores": round((c1 - c0) / wall, 4) if pid else None,
    }


def recording_rules(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Every node's signals as recording rules in one group at the nodes' interval: what the
    same expressions cost when Prometheus evaluates them itself (one evaluation per rule)."""
    rules = [
        {
            "record": f"grace_bench:{b['metadata']['name'].replace('-', '_')}:{sig['name'].replace('-', '_')}",
            "expr": sig["query"],
        }
        for b in bodies
        for sig in b["spec"]["signals"]
    ]
    return {"name": "grace-bench-recording", "interval": "15s", "rules": rules}


BATCH_NS = f"{SCALE_NS}-batch"


def batch_bodies(plan: Plan, shops: list[str]) -> list[dict[str, Any]]:
    """(b)'s nodes once more, in one namespace, each asking about one of the shops: a template
    that varies the `namespace` label, so each signal has len(shops) distinct texts."""
    return [scale_node(i, BATCH_NS, shops[i % len(shops)]) for i in range(plan.nodes)]


def measure_prometheus_cost(
    plan: Plan,
    prometheus: PrometheusServer,
    scale: ScaleRun,
    restart: Callable[[tuple[str, ...]], ScaleRun],
    base_rules: list[dict[str, Any]],
    batch: Callable[[], ScaleRun] | None = None,
    shops: int = 1,
) -> dict[str, Any]:
    """(c): Prometheus' CPU and query load per 1,000 HealthNodes, four windows of equal length
    on the same Prometheus: GRACE sharing queries, nothing asking (what scraping and the shop's
    alert rule cost alone), the same expressions as a recording-rule group, GRACE without
    sharing. Each figure per 1,000 nodes is the window's CPU minus the idle window's."""
    seconds = 30.0 if plan.quick else 120.0
    log(f"(c) Prometheus cost: four windows of {seconds:.0f}s")
    windows: dict[str, dict[str, Any]] = {}
    windows["grace_shared"] = prometheus_window(prometheus, seconds, scale.operator.pid)
    scale.operator.stop()
    windows["idle"] = prometheus_window(prometheus, seconds, None)
    bodies = scale_bodies(plan)
    prometheus.set_rules([*base_rules, recording_rules(bodies)])
    time.sleep(2)  # the reload, then the group's first evaluation lands inside the window
    windows["rule_group"] = prometheus_window(prometheus, seconds, None)
    prometheus.set_rules(base_rules)
    unshared = restart(("--no-query-sharing",))
    unshared.operator.wait_ready()
    unshared.wait_evaluated(timeout=90 if plan.quick else 900)
    time.sleep(15)  # one whole interval: every loop is on its grid
    windows["grace_unshared"] = prometheus_window(prometheus, seconds, unshared.operator.pid)
    unshared.operator.stop()
    if batch is not None and shops > 1:
        batched = batch()
        batched.operator.wait_ready()
        batched.wait_evaluated(timeout=90 if plan.quick else 900)
        time.sleep(30)  # two intervals: the template's members are known, batches formed
        windows["grace_batched"] = prometheus_window(prometheus, seconds, batched.operator.pid)
        batched.operator.stop()

    idle = windows["idle"]["prometheus_cpu_cores"]
    per_1000 = 1000 / plan.nodes

    def extra_cpu(window: str) -> float:
        return round(max(windows[window]["prometheus_cpu_cores"] - idle, 0.0) * per_1000, 4)

    shared, unshared_w = windows["grace_shared"], windows["grace_unshared"]
    result: dict[str, Any] = {
        "nodes": plan.nodes,
        "signals_per_node": 2,
        "distinct_queries": 2,
        "windows": windows,
        "prometheus_cpu_cores_per_1000_nodes": {
            "grace_shared": extra_cpu("grace_shared"),
            "grace_unshared": extra_cpu("grace_unshared"),
            "rule_group": extra_cpu("rule_group"),
        },
        "promql_requests_per_min_per_1000_nodes": {
            "before_sharing": round(unshared_w["query_api_requests_per_min"] * per_1000, 1),
            "after_sharing": round(shared["query_api_requests_per_min"] * per_1000, 1),
        },
        "batched_template": (
            {
                "distinct_texts": 2 * shops,
                "requests_per_min_per_1000_nodes_sharing_alone": round(2 * shops * 4 * per_1000, 1),
                "requests_per_min_per_1000_nodes_measured": round(
                    windows["grace_batched"]["query_api_requests_per_min"] * per_1000, 1
                ),
                "prometheus_cpu_cores_per_1000_nodes": extra_cpu("grace_batched"),
            }
            if "grace_batched" in windows
            else None
        ),
        "operator_cpu_cores_per_1000_nodes": {
            "grace_shared": round((shared["operator_cpu_cores"] or 0) * per_1000, 4),
            "grace_unshared": round((unshared_w["operator_cpu_cores"] or 0) * per_1000, 4),
        },
    }
    rule = extra_cpu("rule_group")
    if rule > 0:
        result["ratio_grace_unshared_to_rule_group"] = round(extra_cpu("grace_unshared") / rule, 2)
        result["ratio_grace_shared_to_rule_group"] = round(extra_cpu("grace_shared") / rule, 2)
    return result


# -- the run ---------------------------------------------------------------------------------


def run(plan: Plan) -> dict[str, Any]:
    started = time.monotonic()
    stack = Stack()
    workdir = Path(tempfile.mkdtemp(prefix="grace-bench-detection-"))
    stack.push("workdir", lambda: shutil.rmtree(workdir, ignore_errors=True))
    result: dict[str, Any] = {"bench": "detection", "mode": "quick" if plan.quick else "full"}
    latency_part = plan.parts in ("both", "latency")
    scale_part = plan.parts in ("both", "scale")
    try:
        cluster = LocalCluster(workdir / "cluster", nodes=3)
        log(f"starting a private cluster in {cluster.dir}")
        stack.push("cluster", cluster.down)
        cluster.up()
        api = config.new_client_from_config(str(cluster.kubeconfig))
        stack.push("api client", api.close)
        install_crds(api)
        ensure_policy_configmap(api)
        leases = NodeLeases(api)
        result["node_lease_workaround"] = leases.needed()
        if result["node_lease_workaround"]:
            leases.start()
            stack.push("node leases", leases.stop)

        hook = AlertWebhook().start()
        stack.push("webhook", hook.stop)
        alertmanager = AlertmanagerServer(hook.url, group_by=("alertname", "namespace"))
        alertmanager.start()
        stack.push("alertmanager", alertmanager.close)
        prometheus = PrometheusServer(
            scrape_interval=plan.interval,
            evaluation_interval=plan.interval,
            alertmanagers=[alertmanager.address],
        )
        every_fault = error_ratio('=~"bench-lat-.*"', plan.rate_window, by_namespace=True)
        rule = {
            "alert": "CheckoutErrorRate",
            "expr": f"({every_fault}) > {CRITICAL}",
            "for": f"{plan.hold}s",
            "labels": {"severity": "critical"},
        }
        base_rules = [{"name": "shop", "rules": [rule]}]
        prometheus.set_rules(base_rules)  # before start: in its config
        prometheus.start()
        stack.push("prometheus", prometheus.close)

        exporter = ShopExporter(api, seed=7)
        exporter.start()
        stack.push("exporter", exporter.stop)
        prometheus.set_targets([exporter.address])

        lat_namespaces = (
            [LATENCY_NS.format(i=i) for i in range(plan.faults)] if latency_part else []
        )
        deploy_checkout(api, [*lat_namespaces, SCALE_NS])
        for ns in [*lat_namespaces, SCALE_NS]:
            exporter.add_scope(Scope(ns, names=frozenset({"checkout"})))
        prometheus.wait_scraping()
        log(
            f"cluster, Prometheus, Alertmanager and shop ready after {time.monotonic() - started:.0f}s"
        )

        def apiserver_metrics() -> Samples:
            return scrape(f"{cluster.server}/metrics", cluster.state.tokens["admin"])

        def start_scale(extra: tuple[str, ...] = ()) -> ScaleRun:
            if not extra:
                log(f"(b) creating {plan.nodes} HealthNodes and starting their operator")
                create_nodes(api, scale_bodies(plan))
            spaces = scale_namespaces(plan)
            scale_watch = spaces if len(spaces) == 1 else [f"{SCALE_NS}-*"]
            name = "scale" + "".join(extra).replace("-", "")
            op = Operator(name, cluster.kubeconfig, prometheus.url, workdir, scale_watch, extra)
            stack.push(f"{name} operator", op.stop)
            scale = ScaleRun(op, plan.nodes, apiserver_metrics, shared_cluster=plan.overlap)
            scale.started = time.monotonic()
            op.start()
            return scale

        def open_window(scale: ScaleRun, settle: float) -> None:
            scale.operator.wait_ready()
            scale.wait_evaluated(timeout=90 if plan.quick else 900)
            log(f"(b) {plan.nodes} nodes evaluated after {scale.ready_after:.1f}s")
            scale.wait_quiet(timeout=settle)  # the first round's writes are done
            log(f"(b) first status writes done after {scale.quiet_after:.1f}s; window open")
            scale.begin_window()

        operators: list[Operator] = []
        scale: ScaleRun | None = None
        if latency_part:
            latency_op = Operator(
                "latency", cluster.kubeconfig, prometheus.url, workdir, ["bench-lat-*"]
            )
            stack.push("latency operator", latency_op.stop)
            operators.append(latency_op.start())
            if plan.overlap and scale_part:
                scale = start_scale()
            latency_op.wait_ready()
            overlapped = scale

            def during_wait() -> None:
                if overlapped is not None:
                    open_window(overlapped, settle=15)

            result["latency"] = lat = measure_latency(
                api, plan, prometheus, hook, lat_namespaces, during_wait
            )
            log(
                f"(a) GRACE p50 {lat['grace']['p50_s']}s p95 {lat['grace']['p95_s']}s; alerting "
                f"p50 {lat['alerting']['p50_s']}s p95 {lat['alerting']['p95_s']}s"
            )
            if scale is None:
                latency_op.stop()  # (b) alone on the cluster and on Prometheus

        if scale_part:
            if scale is None:
                scale = start_scale()
                open_window(scale, settle=240)
            operators.append(scale.operator)
            left = plan.window - (time.monotonic() - scale.window_opened)
            if left > 0:
                log(f"(b) steady window: {left:.0f}s more")
            scale.observe(max(left, 0.0))
            scale.end_window()
            result["scale"] = scale.report(plan)
            if plan.cost:
                for op in operators:
                    if op is not scale.operator:
                        op.stop()  # (c) measures the scale nodes alone on Prometheus
                shops = [*lat_namespaces, SCALE_NS]

                def start_batch() -> ScaleRun:
                    log(f"(c) {plan.nodes} HealthNodes of one template over {len(shops)} shops")
                    create_nodes(api, batch_bodies(plan, shops))
                    op = Operator("batch", cluster.kubeconfig, prometheus.url, workdir, [BATCH_NS])
                    stack.push("batch operator", op.stop)
                    run = ScaleRun(op, plan.nodes, apiserver_metrics)
                    run.started = time.monotonic()
                    op.start()
                    return run

                result["prometheus_cost"] = measure_prometheus_cost(
                    plan, prometheus, scale, start_scale, base_rules, start_batch, len(shops)
                )
        with ThreadPoolExecutor(2) as pool:  # SIGTERM all, wait for all
            list(pool.map(Operator.stop, operators))
        if scale is not None and (plan.profile or not summary(result)["within_targets"]):
            log("(b) profiling one detection round in-process: where the time goes")
            try:
                result["scale"]["profile"] = profile_detection(scale_bodies(plan))
            except Exception as e:  # the figures above stand without it
                result["scale"]["profile"] = {"error": f"{type(e).__name__}: {e}"}
        if scale is not None:
            sc = result["scale"]
            log(
                f"(b) {plan.nodes} nodes: {sc['steady']['cpu_cores']} cores, "
                f"{sc['peak_rss_mib']} MiB, {sc['steady']['promql_requests_per_min']} PromQL/min, "
                f"{sc['steady']['status_writes_per_min']} writes/min"
            )
    finally:
        stack.close()
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    result["summary"] = summary(result)
    return result


def summary(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "latency" in result:
        lat = result["latency"]
        out |= {
            "grace_p50_s": lat["grace"]["p50_s"],
            "grace_p95_s": lat["grace"]["p95_s"],
            "alerting_p50_s": lat["alerting"]["p50_s"],
            "alerting_p95_s": lat["alerting"]["p95_s"],
            "ratio_p50": lat["ratio_p50"],
            "ratio_p95": lat["ratio_p95"],
        }
    if "scale" in result:
        sc = result["scale"]
        steady = sc["steady"]
        out |= {
            "scale_nodes": sc["nodes"],
            "cpu_cores": steady["cpu_cores"],
            "peak_rss_mib": sc["peak_rss_mib"],
            "promql_per_min": steady["promql_requests_per_min"],
            "status_writes_per_min": steady["status_writes_per_min"],
            "status_writes_per_min_before_refresh": steady.get(
                "status_writes_per_min_before_refresh"
            ),
            "evaluations_keep_up": steady["evaluations_per_min"]
            >= 0.95 * steady["expected_evaluations_per_min"],
            "within_targets": bool(
                steady["cpu_cores"] <= 1.0
                and sc["peak_rss_mib"] <= 512
                and steady["status_writes_per_min"] <= 1.0
                and steady["evaluations_per_min"] >= 0.95 * steady["expected_evaluations_per_min"]
            ),
        }
    if "prometheus_cost" in result:
        cost = result["prometheus_cost"]
        cpu = cost["prometheus_cpu_cores_per_1000_nodes"]
        requests = cost["promql_requests_per_min_per_1000_nodes"]
        out |= {
            "prometheus_cpu_cores_per_1000_nodes_grace_shared": cpu["grace_shared"],
            "prometheus_cpu_cores_per_1000_nodes_grace_unshared": cpu["grace_unshared"],
            "prometheus_cpu_cores_per_1000_nodes_rule_group": cpu["rule_group"],
            "promql_requests_per_min_per_1000_nodes_before_sharing": requests["before_sharing"],
            "promql_requests_per_min_per_1000_nodes_after_sharing": requests["after_sharing"],
            "operator_cpu_cores_per_1000_nodes_shared": cost["operator_cpu_cores_per_1000_nodes"][
                "grace_shared"
            ],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1s interval, 300 nodes, about a minute")
    p.add_argument("--faults", type=int, default=20)
    p.add_argument("--nodes", type=int, default=None, help="part (b) (default 2000; quick 300)")
    p.add_argument(
        "--window",
        type=float,
        default=None,
        help="seconds of steady state in (b) (default 360; quick: what (a) leaves, at least 30)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="always profile one detection round in-process (done anyway when (b) misses a target)",
    )
    p.add_argument(
        "--parts", choices=["both", "latency", "scale"], default="both", help="what to measure"
    )
    p.add_argument(
        "--scale-namespaces",
        type=int,
        default=1,
        help="spread (b)'s nodes over K namespaces (default 1: the health graph's worst case)",
    )
    p.add_argument(
        "--no-cost",
        action="store_true",
        help="skip part (c), Prometheus' own cost (four windows after (b))",
    )
    args = p.parse_args(argv)
    if args.faults < 1:
        p.error("--faults must be at least 1")
    quick = args.quick
    plan = Plan(
        quick=quick,
        faults=args.faults,
        interval=1 if quick else 15,
        hold=2 if quick else 30,
        rate_window="10s" if quick else "1m",
        nodes=args.nodes or (300 if quick else 2000),
        window=args.window or (30.0 if quick else 360.0),
        overlap=quick and args.parts == "both",
        profile=args.profile,
        parts=args.parts,
        scale_namespaces=args.scale_namespaces,
        cost=not args.no_cost,
    )

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    try:
        result = run(plan)
    except KeyboardInterrupt:
        log("interrupted: everything this run started has been stopped")
        return 130
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
