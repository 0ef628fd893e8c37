"""Detection: how fast GRACE sees a fault compared with alerting rules, and what 2,000 nodes cost.

(a) Fault-to-phase-change latency. N simulated bad releases (one per namespace, injected a
    fraction of an interval apart so that every path sees every phase of its evaluation tick),
    watched by every path at once, on the same Prometheus, the same expression, the same
    threshold, the same `for`, the same scrape and evaluation interval:
      GRACE      a HealthNode (critical above 0.10) -> the moment a watch on HealthNodes
                 delivers phase Critical to a client (what `kubectl get -w` would show);
      alerting   what users build today: a Prometheus alerting rule with the same expression
                 and `for`, Alertmanager, a webhook receiver -> the moment the webhook receives
                 the firing alert. Two Alertmanagers receive every alert in the same run:
                   default  Alertmanager's own timers (group_wait 30s, group_interval 5m,
                            repeat_interval 4h): that wait IS the latency users of it get;
                   tuned    the route docs/alerts.md recommends (group_wait 1s,
                            group_interval 10s), as Robusta and Kubernaut tell their users.
                 Alerts are grouped by [alertname, namespace], so that every fault is its own
                 group (with one group, faults after the first would wait for group_interval);
      alert-driven  two more HealthNodes per fault whose signal names the alert rule instead
                 of restating it, at the example's 15 s interval: "pull" reads ALERTS each
                 interval; "push" is also woken by the tuned Alertmanager posting to GRACE's
                 webhook receiver (bearer token). Pull reads a twin rule (same expression, same
                 group) that is never posted to GRACE, so no webhook can wake it.
    The race, in the same run: gradual faults on the simulated shop's working set
    (grace_lab.sim.leak), started when the bad releases are injected. Leaks climb linearly and
    cross a threshold (2x the usual working set) 20-40 s after they begin (--quick; 3-5 min in
    the full run); near-misses climb at the same rates and level off at 80-95 % of the
    threshold. Their HealthNodes forecast (10 s ahead at 1 s in --quick; 2 min at 15 s) and
    list a playbook that accepts predictions, so a predicted breach proposes a Mission before
    the threshold; an alert rule with the same threshold and `for` goes through both
    Alertmanagers. Reported: how long before the tuned alert (and the crossing) GRACE's
    Mission came, and on how many near-misses a Mission was proposed all the same (false
    alarms), split by whether the near-miss levelled off within one forecast horizon of the
    threshold (a forecast cannot know a climb is about to stop).
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

    .venv/bin/python bench/detection.py --quick     # 20 faults + 16 ramps at 1s, 300 nodes
    .venv/bin/python bench/detection.py --quick --parts latency   # (a) and the race alone
    .venv/bin/python bench/detection.py             # 20 faults + 20 ramps at 15s, 2,000 nodes

How long, measured on a shared 2-core machine at load average 11-15: --quick 9 min 32 s (the
cluster start ~90 s, (a) and the race ~2 min, (b) and the five windows of (c) the rest);
--quick --parts latency 3 min 22 s to 3 min 30 s. (a) and the race cannot finish under a
minute even in --quick: Alertmanager's default group_wait alone is 30 s after the slowest leak crosses at 40 s,
and the near-misses are watched for a forecast window and a horizon after they level off.

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

from grace.api.duration import parse_duration
from grace.detect.forecast import Forecaster
from grace.runtime.app import STATUS_REFRESH_INTERVALS
from grace_lab.localcluster.cluster import LocalCluster
from grace_lab.localcluster.install import ensure_policy_configmap, install_crds
from grace_lab.localcluster.processes import alive, free_port, http_ok, stop
from grace_lab.localcluster.prometheus import AlertmanagerServer, PrometheusServer
from grace_lab.sim import AlertWebhook, GradualFault, Scope, ShopExporter, gradual_faults
from grace_lab.sim.model import SHOP_PROFILES

REPO = Path(__file__).resolve().parents[1]
GOOD_IMAGE = "registry.example/shop/checkout:1.4.2"
BAD_IMAGE = "registry.example/shop/checkout:1.4.3-bad"
CRITICAL = 0.10
LATENCY_NS = "bench-lat-{i:02d}"
RAMP_NS = "bench-ramp-{i:02d}"
FAULT_ALERT = "CheckoutErrorRate"
PULL_ALERT = "CheckoutErrorRateTwin"
"""The same rule under another name, read by the pull-only nodes: GRACE's receiver is only
posted FAULT_ALERT, so a webhook can never wake a pull node."""
LEAK_ALERT = "CheckoutMemoryHigh"
THRESHOLD_NODE, PULL_NODE, PUSH_NODE, RAMP_NODE = (
    "checkout",
    "checkout-pull",
    "checkout-push",
    "checkout-memory",
)
LEAK_PLAYBOOK = "restart-before-oom"
ALERT_NODE_INTERVAL = 15
"""Seconds: the example's interval, in both modes (at 1 s, pull alone would be as fast)."""
LEAK_BASE = SHOP_PROFILES["checkout"].memory_need_bytes
LEAK_THRESHOLD = 2 * LEAK_BASE
NEAR_MISS_PEAKS = (0.6, 0.9)
"""Near-misses level off this far from the usual working set to the threshold (80-95 % of it)."""
TUNED_GROUP_WAIT, TUNED_GROUP_INTERVAL = "1s", "10s"
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
    ramps: int = 8
    """The race: this many leaks and as many near-misses (0: no race)."""
    ramp_seconds: tuple[float, float] = (20.0, 40.0)
    """A leak reaches the threshold this long after it began, spread over the range."""
    forecast: str = "10s"
    """The leaking nodes' forecast horizon."""


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


# -- (a) latency, and the race on gradual faults ---------------------------------------------

NodeKey = tuple[str, str]
"""(namespace, name) of a HealthNode."""


class HealthNodeTimes:
    """First moment a watch delivers each phase and each prediction, per HealthNode: what a
    user running `kubectl get -w` would see, timed in this process."""

    def __init__(self, api: Any) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.critical: dict[NodeKey, tuple[float, str]] = {}
        """First Critical: (arrival, the status' lastEvaluated)."""
        self.predicted: dict[NodeKey, float] = {}
        """First PredictedBreach=True."""
        self.healthy: set[NodeKey] = set()
        self._watch = watch.Watch()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="node-times", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def critical_at(self, key: NodeKey) -> float | None:
        seen = self.critical.get(key)
        return seen[0] if seen else None

    def _run(self) -> None:
        while not self._stop:
            try:
                for event in self._watch.stream(
                    self.custom.list_cluster_custom_object,
                    GROUP,
                    VERSION,
                    "healthnodes",
                    label_selector="grace.dev/bench in (latency,race)",
                    timeout_seconds=300,
                ):
                    arrived = time.time()
                    obj = event["object"]
                    status = obj.get("status") or {}
                    key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
                    if status.get("phase") == "Healthy":
                        self.healthy.add(key)
                    if status.get("phase") == "Critical" and key not in self.critical:
                        self.critical[key] = (arrived, str(status.get("lastEvaluated")))
                    if any(
                        c.get("type") == "PredictedBreach" and c.get("status") == "True"
                        for c in status.get("conditions") or []
                    ):
                        self.predicted.setdefault(key, arrived)
            except Exception:
                if not self._stop:
                    time.sleep(0.2)

    def stop(self) -> None:
        self._stop = True
        self._watch.stop()


class MissionTimes:
    """First Mission a watch delivers per HealthNode, and whether it answers a prediction."""

    def __init__(self, api: Any) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.first: dict[NodeKey, tuple[float, bool]] = {}
        """(arrival, predicted): predicted when its incident is a forecast breach."""
        self.predicted: dict[NodeKey, float] = {}
        """First Mission proposed for a predicted breach."""
        self._watch = watch.Watch()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="mission-times", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                for event in self._watch.stream(
                    self.custom.list_cluster_custom_object,
                    GROUP,
                    VERSION,
                    "missions",
                    timeout_seconds=300,
                ):
                    arrived = time.time()
                    obj = event["object"]
                    spec = obj.get("spec") or {}
                    key = (obj["metadata"]["namespace"], str(spec.get("healthNode")))
                    predicted = "/predicted/" in str(spec.get("incident", ""))
                    self.first.setdefault(key, (arrived, predicted))
                    if predicted:
                        self.predicted.setdefault(key, arrived)
            except Exception:
                if not self._stop:
                    time.sleep(0.2)

    def stop(self) -> None:
        self._stop = True
        self._watch.stop()


def latency_nodes(ns: str, plan: Plan) -> list[dict[str, Any]]:
    """One fault, three HealthNodes: a threshold on the error ratio, and the alert rule on the
    same expression read by pull alone and by pull + push (the webhook wakes it)."""
    return [
        latency_node(ns, plan),
        alert_node(PULL_NODE, ns, PULL_ALERT),
        alert_node(PUSH_NODE, ns, FAULT_ALERT),
    ]


def alert_node(name: str, ns: str, alert: str) -> dict[str, Any]:
    """A HealthNode on an alert rule, at the example's 15 s interval: pull reads ALERTS every
    interval; the push node is the same and is also woken by GRACE's webhook receiver."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HealthNode",
        "metadata": {"name": name, "labels": {"grace.dev/bench": "latency"}},
        "spec": {
            "criticality": "high",
            "target": {"kind": "Deployment", "name": "checkout"},
            "interval": f"{ALERT_NODE_INTERVAL}s",
            "signals": [{"name": "errors", "alert": {"name": alert, "labels": {"namespace": ns}}}],
        },
    }


def working_set(ns_matcher: str) -> str:
    return f'shop_memory_working_set_bytes{{app="checkout",namespace{ns_matcher}}}'


def ramp_node(ns: str, plan: Plan) -> dict[str, Any]:
    """The leaking service's HealthNode: a threshold with a forecast, and a playbook that
    accepts predictions (so a predicted breach proposes a Mission before the threshold)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HealthNode",
        "metadata": {"name": RAMP_NODE, "labels": {"grace.dev/bench": "race"}},
        "spec": {
            "criticality": "high",
            "target": {"kind": "Deployment", "name": "checkout"},
            "interval": f"{plan.interval}s",
            "signals": [
                {
                    "name": "memory",
                    "query": working_set(f'="{ns}"'),
                    "critical": {"above": LEAK_THRESHOLD},
                    "for": f"{plan.hold}s",
                    "forecast": plan.forecast,
                }
            ],
            "remediation": {"mode": "propose", "playbooks": [LEAK_PLAYBOOK]},
        },
    }


def leak_playbook() -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Playbook",
        "metadata": {"name": LEAK_PLAYBOOK},
        "spec": {
            "description": "Restart the pods before a leak makes them OOM.",
            "risk": "low",
            "match": {"phases": ["Critical"], "predicted": True},
            "steps": [{"name": "restart", "action": "rolloutRestart"}],
        },
    }


def alert_rules(plan: Plan) -> list[dict[str, Any]]:
    """The rules users would write: the error ratio (and its twin, read by the pull-only
    nodes: same expression, same group, evaluated in the same instant, but never routed to
    GRACE's receiver) and the leaking service's working set, each with the nodes' `for`."""
    every_fault = error_ratio('=~"bench-lat-.*"', plan.rate_window, by_namespace=True)
    fault = {
        "expr": f"({every_fault}) > {CRITICAL}",
        "for": f"{plan.hold}s",
        "labels": {"severity": "critical"},
    }
    leak = {
        "alert": LEAK_ALERT,
        "expr": working_set('=~"bench-ramp-.*"') + f" > {LEAK_THRESHOLD}",
        "for": f"{plan.hold}s",
        "labels": {"severity": "critical"},
    }
    return [
        {
            "name": "shop",
            "rules": [{"alert": FAULT_ALERT, **fault}, {"alert": PULL_ALERT, **fault}, leak],
        }
    ]


class TunedAlertmanager(AlertmanagerServer):
    """Alertmanager with the route docs/alerts.md recommends (group_wait 1s, group_interval
    10s): every alert to the bench's receiver, and the fault alert also to GRACE's webhook
    with its bearer token (`continue`, as a user adds GRACE beside their own receivers)."""

    def __init__(self, webhook_url: str, grace_url: str, token_file: Path) -> None:
        super().__init__(
            webhook_url,
            group_by=("alertname", "namespace"),
            group_wait=TUNED_GROUP_WAIT,
            group_interval=TUNED_GROUP_INTERVAL,
        )
        self.grace_url = grace_url
        self.token_file = token_file

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        grace = {
            "url": self.grace_url,
            "send_resolved": True,
            "http_config": {
                "authorization": {"type": "Bearer", "credentials_file": str(self.token_file)}
            },
        }
        cfg["receivers"].append({"name": "grace", "webhook_configs": [grace]})
        cfg["route"]["routes"] = [
            {"receiver": "grace", "matchers": [f'alertname="{FAULT_ALERT}"'], "continue": True},
            {"receiver": "webhook"},
        ]
        return cfg


def stats(values: list[float]) -> dict[str, float | int | None]:
    return {
        "n": len(values),
        "p50_s": rounded(percentile(values, 50)),
        "p95_s": rounded(percentile(values, 95)),
        "min_s": rounded(min(values, default=None)),
        "max_s": rounded(max(values, default=None)),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return rounded(a / b if a and b else None)


@dataclass(frozen=True)
class RampResult:
    """What happened on one gradual fault (unix times, None when it did not happen)."""

    namespace: str
    breaches: bool
    seconds_to_threshold: float
    peak_fraction: float
    headroom_horizons: float
    """Near-misses: seconds it would still have needed to breach when it levelled off, in
    forecast horizons (below 1: the forecast sees the breach coming before the climb stops)."""
    began: float
    crossed: float | None
    """When Prometheus' value crossed the threshold for good."""
    peak_value: float | None
    mission: float | None
    """First Mission proposed for a predicted breach."""
    predicted: float | None
    critical: float | None
    tuned_alert: float | None
    default_alert: float | None


def race_summary(results: list[RampResult]) -> dict[str, Any]:
    """Who acted first on each leak, and how often the forecast cried wolf on a near-miss.

    Positive leads: GRACE's Mission came before the alert (or the crossing); the prediction
    (PredictedBreach in the node's status) is timed apart, since the proposer acts on it in a
    later step of the node's round. A near-miss with
    a Mission for a predicted breach is a false alarm; split by whether the forecast could
    have told (headroom below one horizon: it could not, the climb was still heading there).
    """
    leaks = [r for r in results if r.breaches]
    misses = [r for r in results if not r.breaches]

    def diffs(later: str, earlier: str, among: list[RampResult]) -> list[float]:
        out = []
        for r in among:
            a, b = getattr(r, later), getattr(r, earlier)
            if a is not None and b is not None:
                out.append(a - b)
        return out

    lead_tuned = diffs("tuned_alert", "mission", leaks)
    close = [r for r in misses if r.headroom_horizons < 1]
    far = [r for r in misses if r.headroom_horizons >= 1]
    false = [r for r in misses if r.mission is not None]
    return {
        "leaks": len(leaks),
        "near_misses": len(misses),
        "leaks_with_predicted_mission": sum(r.mission is not None for r in leaks),
        "leaks_mission_before_tuned_alert": sum(v > 0 for v in lead_tuned),
        "lead_vs_tuned_alert": stats(lead_tuned),
        "prediction_lead_vs_tuned_alert": stats(diffs("tuned_alert", "predicted", leaks)),
        "mission_after_prediction": stats(diffs("mission", "predicted", results)),
        "lead_vs_default_alert": stats(diffs("default_alert", "mission", leaks)),
        "mission_before_crossing": stats(diffs("crossed", "mission", leaks)),
        "threshold_critical_before_tuned_alert": stats(diffs("tuned_alert", "critical", leaks)),
        "tuned_alert_after_crossing": stats(diffs("tuned_alert", "crossed", leaks)),
        "false_alarms": len(false),
        "false_alarm_rate": round(len(false) / len(misses), 3) if misses else None,
        "false_alarms_headroom_under_one_horizon": f"{sum(r.mission is not None for r in close)}/{len(close)}",
        "false_alarms_headroom_one_horizon_or_more": f"{sum(r.mission is not None for r in far)}/{len(far)}",
        "near_misses_predicted_without_mission": sum(
            r.predicted is not None and r.mission is None for r in misses
        ),
        "near_misses_that_breached": sum(r.crossed is not None for r in misses),
        "near_misses_alerted": sum(r.tuned_alert is not None for r in misses),
    }


def measure_latency(
    api: Any,
    plan: Plan,
    prometheus: PrometheusServer,
    hooks: dict[str, AlertWebhook],
    exporter: ShopExporter,
    namespaces: list[str],
    ramp_namespaces: list[str],
    during_wait: Callable[[], None] | None = None,
    wakes: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Inject one bad release per namespace, a fraction of an interval apart, and start the
    gradual faults at the same moment; time every path on both."""
    node_times, mission_times = HealthNodeTimes(api), MissionTimes(api)
    node_times.start()
    mission_times.start()
    faults = gradual_faults(
        plan.ramps,
        plan.ramps,
        base=LEAK_BASE,
        threshold=LEAK_THRESHOLD,
        seconds_to_threshold=plan.ramp_seconds,
        near_miss_peaks=NEAR_MISS_PEAKS,
    )[: len(ramp_namespaces)]
    horizon = parse_duration(plan.forecast)
    window_s = Forecaster(plan.interval, horizon).window * plan.interval
    try:
        bodies = {ns: latency_nodes(ns, plan) for ns in namespaces}
        custom = client.CustomObjectsApi(api)
        for ns in ramp_namespaces:
            custom.create_namespaced_custom_object(GROUP, VERSION, ns, "playbooks", leak_playbook())
            bodies[ns] = [ramp_node(ns, plan)]
        for ns, docs in bodies.items():
            for body in docs:
                custom.create_namespaced_custom_object(GROUP, VERSION, ns, "healthnodes", body)
        created = time.monotonic()
        keys = {(ns, b["metadata"]["name"]) for ns, docs in bodies.items() for b in docs}
        deadline = time.monotonic() + 60
        while not keys <= node_times.healthy:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nodes not Healthy: {sorted(keys - node_times.healthy)}")
            time.sleep(0.2)
        prometheus.wait_alertmanagers()
        # the rule must be evaluating a value for every namespace, below the threshold
        ratio_q = error_ratio('=~"bench-lat-.*"', plan.rate_window, by_namespace=True)
        values = {
            r["metric"].get("namespace"): float(r["value"][1]) for r in prometheus.query(ratio_q)
        }
        assert set(namespaces) <= set(values), f"no series yet for {set(namespaces) - set(values)}"
        assert max(values.values()) < CRITICAL, values
        for hook in hooks.values():
            assert not [a for a in hook.alerts() if a.status == "firing"], "fired before any fault"
        # a whole forecast window of the flat working set before any leak begins
        flat_left = created + window_s - time.monotonic()
        if ramp_namespaces and flat_left > 0:
            log(f"(a) {flat_left:.0f}s more of flat working set: the forecasters' window fills")
            time.sleep(flat_left)

        began: dict[str, float] = {}
        for ns, fault in zip(ramp_namespaces, faults, strict=True):
            began[ns] = time.time()
            exporter.set_leak(ns, "checkout", fault.leak)
        if ramp_namespaces:
            log(
                f"(race) {plan.ramps} leaks and {plan.ramps} near-misses begin: threshold in "
                f"{plan.ramp_seconds[0]:.0f}-{plan.ramp_seconds[1]:.0f}s, forecast {plan.forecast}"
            )
        # spread over the alert-driven nodes' 15 s too: each path meets every phase of its tick
        stagger = max(0.25, max(2 * plan.interval, ALERT_NODE_INTERVAL) / len(namespaces))
        injected: dict[str, float] = {}
        log(f"(a) injecting {len(namespaces)} bad releases, {stagger:.2f}s apart")
        for ns in namespaces:
            injected[ns] = time.time()
            set_image(api, ns, BAD_IMAGE)
            time.sleep(stagger)
        if during_wait is not None:
            during_wait()
        # near-misses are watched until their plateau has filled a forecast window and more
        plateaus = [f.leak.cap_bytes / f.leak.bytes_per_second for f in faults if not f.breaches]
        watch_until = time.time() + (max(plateaus, default=0.0) + window_s + horizon)
        timeout = plan.hold + 30 + 12 * plan.interval + 60 + plan.ramp_seconds[1] * 2
        deadline = time.monotonic() + timeout
        fault_keys = {(ns, n) for ns in namespaces for n in (THRESHOLD_NODE, PULL_NODE, PUSH_NODE)}
        leaking = [ns for ns, f in zip(ramp_namespaces, faults, strict=True) if f.breaches]
        while time.monotonic() < deadline:
            done = fault_keys <= set(node_times.critical) and time.time() >= watch_until
            for hook in hooks.values():
                firing = {
                    (a.name, a.labels.get("namespace"))
                    for a in hook.alerts()
                    if a.status == "firing"
                }
                done = done and {(FAULT_ALERT, ns) for ns in namespaces} <= firing
                done = done and {(LEAK_ALERT, ns) for ns in leaking} <= firing
            if done:
                break
            time.sleep(0.5)
    finally:
        node_times.stop()
        mission_times.stop()
    woken = wakes() if wakes is not None else None
    out = {
        "latency": latency_report(plan, prometheus, hooks, node_times, injected, woken),
    }
    if ramp_namespaces:
        out["race"] = race_report(
            plan,
            prometheus,
            hooks,
            node_times,
            mission_times,
            faults,
            ramp_namespaces,
            began,
            horizon,
            window_s,
        )
    return out


def latency_report(
    plan: Plan,
    prometheus: PrometheusServer,
    hooks: dict[str, AlertWebhook],
    node_times: HealthNodeTimes,
    injected: dict[str, float],
    webhook_wakes: float | None,
) -> dict[str, Any]:
    namespaces = sorted(injected)
    onsets = crossing_onsets(
        prometheus,
        error_ratio('=~"bench-lat-.*"', plan.rate_window, by_namespace=True),
        CRITICAL,
        min(injected.values()) - plan.interval,
        0.1 if plan.interval <= 1 else 1.0,
    )
    paths = ("grace", "alert_default", "alert_tuned", "alert_pull", "alert_push")
    from_fault: dict[str, list[float]] = {p: [] for p in paths}
    from_onset: dict[str, list[float]] = {p: [] for p in paths}
    decided_s: list[float] = []
    per_fault = []
    for ns in namespaces:
        t0, onset = injected[ns], onsets.get(ns)
        seen: dict[str, float | None] = {
            "grace": node_times.critical_at((ns, THRESHOLD_NODE)),
            "alert_pull": node_times.critical_at((ns, PULL_NODE)),
            "alert_push": node_times.critical_at((ns, PUSH_NODE)),
        }
        for name, hook in hooks.items():
            alert = hook.first(FAULT_ALERT, labels={"namespace": ns})
            seen[f"alert_{name}"] = alert.received_at if alert else None
        threshold = node_times.critical.get((ns, THRESHOLD_NODE))
        if threshold is not None:
            decided_s.append(dt.datetime.fromisoformat(threshold[1]).timestamp() - t0)
        for p in paths:
            at = seen[p]
            if at is not None:
                from_fault[p].append(at - t0)
                if onset is not None:
                    from_onset[p].append(at - onset)
        row: dict[str, Any] = {"namespace": ns}
        for p in paths:
            at = seen[p]
            row[f"{p}_s"] = rounded(None if at is None else at - t0)
        per_fault.append(row)
    figures = {p: stats(v) for p, v in from_fault.items()}
    p50 = {p: figures[p]["p50_s"] for p in paths}
    p95 = {p: figures[p]["p95_s"] for p in paths}
    onset_figures = {p: stats(v) for p, v in from_onset.items()}
    return {
        "faults": len(namespaces),
        "interval_s": plan.interval,
        "for_s": plan.hold,
        "rate_window": plan.rate_window,
        "measured_at": "GRACE: HealthNode watch event with phase Critical; alerts: webhook "
        "receipt of the firing alert; both in this process, from the image change",
        "grace": figures["grace"] | {"decision_p50_s": rounded(percentile(decided_s, 50))},
        "alerting": figures["alert_default"]
        | {
            "alertmanager": {
                "group_by": ["alertname", "namespace"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
                "note": "Alertmanager's default timers: group_wait is part of what users get",
            }
        },
        "alerting_tuned": figures["alert_tuned"]
        | {
            "alertmanager": {
                "group_by": ["alertname", "namespace"],
                "group_wait": TUNED_GROUP_WAIT,
                "group_interval": TUNED_GROUP_INTERVAL,
                "note": "the route docs/alerts.md recommends (Robusta and Kubernaut say ~1s)",
            }
        },
        "alert_driven": {
            "interval_s": ALERT_NODE_INTERVAL,
            "pull": figures["alert_pull"],
            "push": figures["alert_push"],
            "ratio_pull_to_push_p50": ratio(p50["alert_pull"], p50["alert_push"]),
            "webhook_wakes": webhook_wakes,
            "note": "HealthNodes whose signal names the alert rule (same expression and for): "
            "pull reads ALERTS every interval; push is also woken by the tuned Alertmanager "
            "posting to GRACE's webhook receiver",
        },
        "ratio_p50": ratio(p50["alert_default"], p50["grace"]),
        "ratio_p95": ratio(p95["alert_default"], p95["grace"]),
        "ratio_tuned_p50": ratio(p50["alert_tuned"], p50["grace"]),
        "ratio_tuned_p95": ratio(p95["alert_tuned"], p95["grace"]),
        "gap_p50_s": rounded(
            p50["alert_default"] - p50["grace"] if p50["alert_default"] and p50["grace"] else None
        ),
        "gap_tuned_p50_s": rounded(
            p50["alert_tuned"] - p50["grace"] if p50["alert_tuned"] and p50["grace"] else None
        ),
        "from_prometheus_crossing": {
            "note": "from the moment the ratio, as Prometheus computes it, crossed 0.10 and "
            "stayed above: excludes the rollout and the rate window, common to all paths",
            **{f"{p}_p50_s": onset_figures[p]["p50_s"] for p in paths},
            **{f"{p}_p95_s": onset_figures[p]["p95_s"] for p in paths},
            "grace_bound_s": plan.hold + 2 * plan.interval,
        },
        "per_fault": per_fault,
    }


def race_report(
    plan: Plan,
    prometheus: PrometheusServer,
    hooks: dict[str, AlertWebhook],
    node_times: HealthNodeTimes,
    mission_times: MissionTimes,
    faults: list[GradualFault],
    namespaces: list[str],
    began: dict[str, float],
    horizon: float,
    window_s: float,
) -> dict[str, Any]:
    start = min(began.values()) - 2 * plan.interval
    step = 0.25 if plan.interval <= 1 else 1.0
    series = prometheus.api(
        "query_range",
        {
            "query": working_set('=~"bench-ramp-.*"'),
            "start": f"{start:.3f}",
            "end": f"{time.time():.3f}",
            "step": f"{step:g}",
        },
    )
    by_ns = {s["metric"].get("namespace", ""): s["values"] for s in series.get("result") or []}
    results = []
    for ns, fault in zip(namespaces, faults, strict=True):
        values = by_ns.get(ns, [])
        alert = {n: h.first(LEAK_ALERT, labels={"namespace": ns}) for n, h in hooks.items()}
        results.append(
            RampResult(
                namespace=ns,
                breaches=fault.breaches,
                seconds_to_threshold=fault.seconds_to_threshold,
                peak_fraction=round(fault.peak_fraction, 3),
                headroom_horizons=round(fault.headroom_seconds / horizon, 2),
                began=began[ns],
                crossed=onset_of(values, LEAK_THRESHOLD),
                peak_value=max((float(v) for _, v in values), default=None),
                mission=mission_times.predicted.get((ns, RAMP_NODE)),
                predicted=node_times.predicted.get((ns, RAMP_NODE)),
                critical=node_times.critical_at((ns, RAMP_NODE)),
                tuned_alert=alert["tuned"].received_at if alert["tuned"] else None,
                default_alert=alert["default"].received_at if alert["default"] else None,
            )
        )

    def since(r: RampResult, at: float | None) -> float | None:
        return rounded(None if at is None else at - r.began)

    return {
        "interval_s": plan.interval,
        "for_s": plan.hold,
        "forecast": plan.forecast,
        "forecast_window_s": window_s,
        "threshold_bytes": LEAK_THRESHOLD,
        "base_bytes": LEAK_BASE,
        "seconds_to_threshold": list(plan.ramp_seconds),
        "near_miss_peaks": list(NEAR_MISS_PEAKS),
        "note": "leaks climb linearly from the usual working set and cross the threshold; "
        "near-misses climb at the same rates and level off below it. GRACE acts when a "
        "Mission is proposed for a predicted breach (playbook match.predicted); the alerts are "
        "the same threshold and `for` as a Prometheus rule, through both Alertmanagers",
        **race_summary(results),
        "per_ramp": [
            {
                "namespace": r.namespace,
                "breaches": r.breaches,
                "seconds_to_threshold": r.seconds_to_threshold,
                "peak_fraction": r.peak_fraction,
                "headroom_horizons": r.headroom_horizons,
                "crossed_s": since(r, r.crossed),
                "mission_s": since(r, r.mission),
                "predicted_s": since(r, r.predicted),
                "critical_s": since(r, r.critical),
                "tuned_alert_s": since(r, r.tuned_alert),
                "default_alert_s": since(r, r.default_alert),
                "peak_over_threshold": None
                if r.peak_value is None
                else round(r.peak_value / LEAK_THRESHOLD, 3),
            }
            for r in results
        ],
    }


def onset_of(values: list[list[Any]], threshold: float) -> float | None:
    """When a range query's series went above `threshold` for good (None: it is not above)."""
    onset = None
    for t, v in reversed(values):
        if float(v) <= threshold:
            break
        onset = float(t)
    return onset


def crossing_onsets(
    prometheus: PrometheusServer, query: str, threshold: float, start: float, step: float
) -> dict[str, float]:
    """Per namespace: when the query crossed `threshold` for good (the run still going at the
    end)."""
    data = prometheus.api(
        "query_range",
        {"query": query, "start": f"{start:.3f}", "end": f"{time.time():.3f}", "step": f"{step:g}"},
    )
    out: dict[str, float] = {}
    for series in data.get("result") or []:
        onset = onset_of(series["values"], threshold)
        if onset is not None:
            out[series["metric"].get("namespace", "")] = onset
    return out


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
    from grace.runtime.healthview import HealthGraphView

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
        prometheus=Answers(), kube=Nowhere(), detector=Detector(), health=HealthGraphView()
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

        hooks = {"default": AlertWebhook().start(), "tuned": AlertWebhook().start()}
        for name, hook in hooks.items():
            stack.push(f"{name} webhook", hook.stop)
        # GRACE's own receiver (the latency operator's): its port and token, known beforehand
        grace_webhook_port = free_port()
        token_file = workdir / "webhook-token"
        token_file.write_text(os.urandom(16).hex())
        alertmanager = AlertmanagerServer(hooks["default"].url, group_by=("alertname", "namespace"))
        alertmanager.start()
        stack.push("alertmanager", alertmanager.close)
        tuned = TunedAlertmanager(
            hooks["tuned"].url, f"http://127.0.0.1:{grace_webhook_port}/alerts", token_file
        )
        tuned.start()
        stack.push("tuned alertmanager", tuned.close)
        prometheus = PrometheusServer(
            scrape_interval=plan.interval,
            evaluation_interval=plan.interval,
            alertmanagers=[alertmanager.address, tuned.address],
        )
        base_rules = alert_rules(plan)
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
        ramp_namespaces = (
            [RAMP_NS.format(i=i) for i in range(2 * plan.ramps)] if latency_part else []
        )
        deploy_checkout(api, [*lat_namespaces, *ramp_namespaces, SCALE_NS])
        for ns in [*lat_namespaces, *ramp_namespaces, SCALE_NS]:
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
                "latency",
                cluster.kubeconfig,
                prometheus.url,
                workdir,
                ["bench-lat-*", "bench-ramp-*"],
                (
                    f"--webhook-port={grace_webhook_port}",
                    "--webhook-address=127.0.0.1",
                    f"--webhook-token-file={token_file}",
                ),
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

            def wakes() -> float:
                return metric(latency_op.metrics(), "grace_alert_webhook_wakes_total")

            measured = measure_latency(
                api,
                plan,
                prometheus,
                hooks,
                exporter,
                lat_namespaces,
                ramp_namespaces,
                during_wait,
                wakes,
            )
            result |= measured
            lat = measured["latency"]
            push = lat["alert_driven"]
            log(
                f"(a) GRACE p50 {lat['grace']['p50_s']}s p95 {lat['grace']['p95_s']}s; alerting "
                f"p50 {lat['alerting']['p50_s']}s (default timers), "
                f"{lat['alerting_tuned']['p50_s']}s (tuned); alert-driven node pull "
                f"{push['pull']['p50_s']}s, push {push['push']['p50_s']}s"
            )
            if "race" in measured:
                race = measured["race"]
                log(
                    f"(race) Mission {race['lead_vs_tuned_alert']['p50_s']}s before the tuned "
                    f"alert (p50, {race['leaks_with_predicted_mission']}/{race['leaks']} leaks); "
                    f"false alarms {race['false_alarms']}/{race['near_misses']} near-misses"
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
            "alerting_tuned_p50_s": lat["alerting_tuned"]["p50_s"],
            "alerting_tuned_p95_s": lat["alerting_tuned"]["p95_s"],
            "ratio_tuned_p50": lat["ratio_tuned_p50"],
            "ratio_tuned_p95": lat["ratio_tuned_p95"],
            "from_crossing_grace_p50_s": lat["from_prometheus_crossing"]["grace_p50_s"],
            "from_crossing_alert_default_p50_s": lat["from_prometheus_crossing"][
                "alert_default_p50_s"
            ],
            "from_crossing_alert_tuned_p50_s": lat["from_prometheus_crossing"]["alert_tuned_p50_s"],
            "alert_node_pull_p50_s": lat["alert_driven"]["pull"]["p50_s"],
            "alert_node_push_p50_s": lat["alert_driven"]["push"]["p50_s"],
            "alert_node_ratio_pull_to_push_p50": lat["alert_driven"]["ratio_pull_to_push_p50"],
        }
    if "race" in result:
        race = result["race"]
        out |= {
            "race_forecast": race["forecast"],
            "race_leaks": race["leaks"],
            "race_leaks_with_predicted_mission": race["leaks_with_predicted_mission"],
            "race_lead_vs_tuned_alert_p50_s": race["lead_vs_tuned_alert"]["p50_s"],
            "race_lead_vs_tuned_alert_min_s": race["lead_vs_tuned_alert"]["min_s"],
            "race_prediction_lead_vs_tuned_alert_p50_s": race["prediction_lead_vs_tuned_alert"][
                "p50_s"
            ],
            "race_mission_after_prediction_p50_s": race["mission_after_prediction"]["p50_s"],
            "race_lead_vs_default_alert_p50_s": race["lead_vs_default_alert"]["p50_s"],
            "race_mission_before_crossing_p50_s": race["mission_before_crossing"]["p50_s"],
            "race_threshold_before_tuned_alert_p50_s": race[
                "threshold_critical_before_tuned_alert"
            ]["p50_s"],
            "race_near_misses": race["near_misses"],
            "race_false_alarms": race["false_alarms"],
            "race_false_alarm_rate": race["false_alarm_rate"],
            "race_false_alarms_headroom_under_one_horizon": race[
                "false_alarms_headroom_under_one_horizon"
            ],
            "race_false_alarms_headroom_one_horizon_or_more": race[
                "false_alarms_headroom_one_horizon_or_more"
            ],
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
        "--ramps",
        type=int,
        default=None,
        help="the race: this many leaks and as many near-misses (default 10; quick 8; 0: none)",
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
        ramps=(8 if quick else 10) if args.ramps is None else args.ramps,
        ramp_seconds=(20.0, 40.0) if quick else (180.0, 300.0),
        forecast="10s" if quick else "2m",
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
