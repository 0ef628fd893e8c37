"""MTTR: from a bad release to a verified recovery, and how much of it is GRACE's own time.

Each run is one fault on one simulated service: its image becomes a bad release (5xx ratio
0.30), GRACE detects it, proposes a rollback Mission, the policy decides, the rollback runs
and is verified against Prometheus. MTTR is fault -> Mission Succeeded with verification
Passed. Every run is split, from the Mission's own status timestamps (timeline, steps
startedAt/finishedAt, verification startedAt/finishedAt) and watches on HealthNodes, Missions
and Deployments, into:

  waiting for metrics   fault -> HealthNode phase Degraded/Critical (the bad pods roll out, the
                        rate() window fills, the signal's `for` holds), and the verification
                        window minus the rollout (initialDelay, sample interval, stableFor);
  waiting for cluster   the rollback's rollout: step finished -> Deployment fully rolled out;
  human                 approval: ApprovalRequest created -> annotated (the bench approves
                        as alice the moment it appears) -- reported, SUBTRACTED from MTTR;
  operator              everything else: phase change -> Mission created, -> decided, approval
                        noticed -> started, safe-hold, step execution, wrap-up.

Policy/learning setup: low-risk playbook, autonomous mode, no change windows. A node without
a track record needs a human (confidence not above 0.8); after 4 verified successes on the
same node the policy lets it run alone. The bench approves programmatically and subtracts the
approval wait (`human`), so both kinds of run are comparable; `approved_runs` says how many
needed it.

The services are independent (one namespace each). Faults are injected `--stagger` seconds
apart, in `--rounds` rounds over `--services` services (a round waits for every node Healthy
again), so up to 10 runs overlap in time: the operator's time includes that contention.
Rounds 1-4 need a human on every node; in round 5 each node has 4 verified successes and the
policy lets the rollback run alone (`approved_runs` < `runs`).

Everything runs here and is stopped here, by pid: a private LocalCluster under /tmp, a real
Prometheus, the simulated shop exporter and `grace run`.

    .venv/bin/python bench/mttr.py --quick   # 10 runs (10 services x 1 round), ~70 s
    .venv/bin/python bench/mttr.py           # 50 runs (10 services x 5 rounds), ~3.5 min

The last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, "operator")

from kubernetes import client, config, watch

from grace_lab.localcluster.cluster import CONTEXT, LocalCluster
from grace_lab.localcluster.graceprocess import OperatorProcess
from grace_lab.localcluster.install import ensure_policy_configmap, grant, install_crds
from grace_lab.localcluster.prometheus import PrometheusServer
from grace_lab.sim import Scope, ShopExporter

GROUP, VERSION = "grace.dev", "v1alpha1"
GOOD = "registry.example/shop/svc:3.1.0"
BAD = "registry.example/shop/svc:3.1.1-bad"
PLAYBOOK = "rollback-bad-release"
APP = "svc"
POLICY = {
    "changeWindows": "[]",
    "protectedNamespaces": "[kube-system]",
    "maxConcurrentPerNamespace": "5",
    "maxConcurrentCluster": "50",
    "maxPerNamespacePerHour": "1000",
}
RATE_WINDOW = "10s"
VERIFY = {
    "timeout": "60s",
    "interval": "1s",
    "initialDelay": "8s",
    "checks": [{"signal": "error-rate", "below": 0.05}],
    "failureLimit": 15,
    "stableFor": "2s",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ts(value: str | None) -> float | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def wait(what: str, probe: Callable[[], Any], timeout: float, every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(client.ApiException):
            got = probe()
            if got:
                return got
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


# ---------------------------------------------------------------- the scenario's objects


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP, "labels": {"app": APP, "app.kubernetes.io/part-of": "shop"}},
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": APP}},
            "template": {
                "metadata": {"labels": {"app": APP}},
                "spec": {"containers": [{"name": "app", "image": GOOD}]},
            },
        },
    }


def health_node(namespace: str) -> dict[str, Any]:
    sel = f'namespace="{namespace}",app="{APP}"'
    query = (
        f'sum(rate(shop_http_requests_total{{{sel},code=~"5.."}}[{RATE_WINDOW}]))'
        f" / sum(rate(shop_http_requests_total{{{sel}}}[{RATE_WINDOW}]))"
    )
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HealthNode",
        "metadata": {"name": APP},
        "spec": {
            "criticality": "high",
            "target": {"kind": "Deployment", "name": APP},
            "interval": "1s",
            "signals": [
                {
                    "name": "error-rate",
                    "query": query,
                    "degraded": {"above": 0.02},
                    "critical": {"above": 0.10},
                    "for": "2s",
                }
            ],
            "remediation": {"mode": "autonomous", "playbooks": [PLAYBOOK]},
        },
    }


def rollback_playbook() -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Playbook",
        "metadata": {"name": PLAYBOOK},
        "spec": {
            "description": "Roll back to the previous revision when a release breaks.",
            "risk": "low",
            "match": {"phases": ["Critical", "Degraded"]},
            "steps": [{"name": "undo", "action": "rollback"}],
            "verify": VERIFY,
            "onFailure": "rollback",
            "cooldown": "0s",
            "timeout": "3m",
        },
    }


# ---------------------------------------------------------------- observing


class Observer:
    """Watches Missions, HealthNodes, Deployments and ApprovalRequests in the bench namespaces
    and stamps, with this machine's clock, the moment each change is delivered."""

    def __init__(self, api: Any, namespaces: set[str]) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.apps = client.AppsV1Api(api)
        self.namespaces = namespaces
        self.lock = threading.Lock()
        self.node_phase: dict[str, list[tuple[float, str]]] = {}
        self.mission_seen: dict[tuple[str, str], float] = {}
        self.missions: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: dict[tuple[str, str], float] = {}
        self.rollouts: dict[str, list[tuple[float, bool, str]]] = {}
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(fn,), daemon=True)
            for fn in (self._healthnodes, self._missions, self._requests, self._deployments)
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(8)

    def _loop(self, fn: Callable[[], None]) -> None:
        while not self._stop.is_set():
            try:
                fn()
            except Exception:
                time.sleep(0.2)

    def _custom(self, plural: str) -> Iterator[tuple[str, dict[str, Any]]]:
        stream = watch.Watch().stream(
            self.custom.list_cluster_custom_object, GROUP, VERSION, plural, timeout_seconds=5
        )
        for event in stream:
            obj = event["object"]
            if (obj.get("metadata") or {}).get("namespace") in self.namespaces:
                yield event["type"], obj
            if self._stop.is_set():
                return

    def _healthnodes(self) -> None:
        for _, obj in self._custom("healthnodes"):
            phase = (obj.get("status") or {}).get("phase") or ""
            ns = obj["metadata"]["namespace"]
            with self.lock:
                seen = self.node_phase.setdefault(ns, [])
                if not seen or seen[-1][1] != phase:
                    seen.append((time.time(), phase))

    def _missions(self) -> None:
        for _, obj in self._custom("missions"):
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            with self.lock:
                self.mission_seen.setdefault(key, time.time())
                self.missions[key] = obj

    def _requests(self) -> None:
        for _, obj in self._custom("approvalrequests"):
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            with self.lock:
                self.requests.setdefault(key, time.time())

    def _deployments(self) -> None:
        stream = watch.Watch().stream(
            self.apps.list_deployment_for_all_namespaces, timeout_seconds=5
        )
        for event in stream:
            d = event["object"]
            if d.metadata.namespace not in self.namespaces:
                continue
            s = d.status
            done = (
                (s.observed_generation or 0) >= (d.metadata.generation or 0)
                and s.updated_replicas == d.spec.replicas
                and s.replicas == d.spec.replicas
                and s.available_replicas == d.spec.replicas
            )
            image = d.spec.template.spec.containers[0].image
            with self.lock:
                self.rollouts.setdefault(d.metadata.namespace, []).append(
                    (time.time(), done, image)
                )
            if self._stop.is_set():
                return

    def phase_change_after(self, ns: str, t0: float) -> float | None:
        with self.lock:
            for t, phase in self.node_phase.get(ns, []):
                if t >= t0 and phase in ("Degraded", "Critical"):
                    return t
        return None

    def rolled_out(self, ns: str, after: float, image: str) -> float | None:
        with self.lock:
            for t, done, img in self.rollouts.get(ns, []):
                if t >= after and done and img == image:
                    return t
        return None


# ---------------------------------------------------------------- one run


@dataclass
class Run:
    namespace: str
    round: int
    fault: float
    mission: str = ""
    outcome: str = ""
    approved_by_bench: float | None = None
    mttr: float = 0.0
    human: float = 0.0
    waiting_metrics: float = 0.0
    waiting_cluster: float = 0.0
    operator: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)


def split(run: Run, mission: dict[str, Any], obs: Observer, seen: float) -> None:
    """Fill the run's figures from the Mission's own timestamps and the watches."""
    st = mission["status"]
    events: dict[str, float] = {}
    for e in st.get("timeline") or []:
        events.setdefault(e["event"], ts(e["time"]) or 0.0)
    step = (st.get("steps") or [{}])[0]
    v = st.get("verification") or {}
    done = ts(st.get("finishedAt")) or 0.0
    detect = obs.phase_change_after(run.namespace, run.fault) or seen
    step_start = ts(step.get("startedAt")) or done
    step_end = ts(step.get("finishedAt")) or step_start
    v_start = ts(v.get("startedAt")) or step_end
    v_end = ts(v.get("finishedAt")) or done
    rollout = obs.rolled_out(run.namespace, step_end - 0.5, GOOD) or v_end
    cluster = max(0.0, min(rollout, v_end) - step_end)
    overlap = max(0.0, min(rollout, v_end) - max(step_end, v_start))
    human = 0.0
    asked = events.get("ApprovalRequested")
    if asked is not None and run.approved_by_bench is not None:
        human = max(0.0, run.approved_by_bench - asked)
    run.mttr = done - run.fault
    run.human = human
    run.waiting_cluster = cluster
    run.waiting_metrics = (detect - run.fault) + max(0.0, (v_end - v_start) - overlap)
    run.operator = run.mttr - run.human - run.waiting_metrics - run.waiting_cluster
    started = events.get("Started", step_start)
    run.parts = {
        "detect_wait": detect - run.fault,
        "propose": seen - detect,
        "decide": events.get("Decided", seen) - seen,
        "approval_notice": (
            events["Approved"] - run.approved_by_bench
            if "Approved" in events and run.approved_by_bench is not None
            else 0.0
        ),
        "start_to_step": step_start - started,
        "step": step_end - step_start,
        "rollout": cluster,
        "verify_window": v_end - v_start,
        "wrap_up": done - v_end,
    }


# ---------------------------------------------------------------- the bench


def p50(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else 0.0


def approve(alice: Any, ns: str, name: str) -> None:
    client.CustomObjectsApi(alice).patch_namespaced_custom_object(
        GROUP,
        VERSION,
        ns,
        "approvalrequests",
        name,
        {
            "metadata": {
                "annotations": {"grace.dev/decision": "approve", "grace.dev/decided-by": "alice"}
            }
        },
    )


def bench(args: argparse.Namespace, workdir: Path, cleanup: contextlib.ExitStack) -> dict[str, Any]:
    t_setup = time.monotonic()
    cluster = LocalCluster(workdir / "cluster")
    cluster.up()
    if not args.keep:
        cleanup.callback(cluster.down)
    api = config.new_client_from_config(str(cluster.kubeconfig), context=CONTEXT)
    alice = config.new_client_from_config(str(cluster.kubeconfig), context=f"{CONTEXT}-alice")
    install_crds(api)
    ensure_policy_configmap(api, POLICY)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    custom = client.CustomObjectsApi(api)
    namespaces = [f"mttr-{i:02d}" for i in range(args.services)]
    for ns in namespaces:
        core.create_namespace({"metadata": {"name": ns}})
        grant(api, ns, "alice", "grace-approver")
        apps.create_namespaced_deployment(ns, deployment())
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, "playbooks", rollback_playbook())
    exporter = cleanup.enter_context(ShopExporter(api, [Scope(ns) for ns in namespaces], seed=5))
    prom = cleanup.enter_context(PrometheusServer([exporter.address], scrape_interval=1))
    prom.wait_scraping()
    operator = OperatorProcess(str(cluster.kubeconfig), prom.url, workdir / "operator")
    operator.start()
    cleanup.callback(operator.stop)
    obs = Observer(api, set(namespaces))
    obs.start()
    cleanup.callback(obs.stop)
    for ns in namespaces:
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, "healthnodes", health_node(ns))

    def all_healthy() -> bool:
        return all(
            (
                custom.get_namespaced_custom_object(GROUP, VERSION, ns, "healthnodes", APP).get(
                    "status"
                )
                or {}
            ).get("phase")
            == "Healthy"
            for ns in namespaces
        )

    def rolled_out(ns: str, image: str) -> bool:
        d = apps.read_namespaced_deployment(APP, ns)
        return bool(
            d.spec.template.spec.containers[0].image == image
            and d.status.updated_replicas == d.spec.replicas == d.status.available_replicas
            and d.status.replicas == d.spec.replicas
        )

    wait("every service Healthy", all_healthy, 120)
    setup = time.monotonic() - t_setup
    pid = operator.proc.pid if operator.proc else None
    log(f"setup {setup:.1f}s: {args.services} services Healthy, operator pid {pid}")

    runs: list[Run] = []
    bad_patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": BAD}]}}}}
    t_runs = time.monotonic()
    for rnd in range(args.rounds):
        with obs.lock:
            known = set(obs.missions)
            old_requests = set(obs.requests)
        pending: dict[str, Run] = {}
        for ns in namespaces:
            run = Run(namespace=ns, round=rnd, fault=time.time())
            apps.patch_namespaced_deployment(APP, ns, bad_patch)
            pending[ns] = run
            time.sleep(args.stagger)
        deadline = time.monotonic() + 180
        approved: set[tuple[str, str]] = set()
        while pending and time.monotonic() < deadline:
            with obs.lock:
                requests = dict(obs.requests)
                missions = {k: v for k, v in obs.missions.items() if k not in known}
            for key in requests:
                if key not in approved and key not in old_requests and key[0] in pending:
                    approve(alice, *key)
                    approved.add(key)
                    pending[key[0]].approved_by_bench = time.time()
            for (ns, name), m in missions.items():
                run_ = pending.get(ns)
                phase = (m.get("status") or {}).get("phase")
                if run_ is None or phase not in (
                    "Succeeded",
                    "RolledBack",
                    "Failed",
                    "Denied",
                    "Expired",
                    "TimedOut",
                    "Aborted",
                ):
                    continue
                run_.mission, run_.outcome = name, str(phase)
                if phase == "Succeeded":
                    with obs.lock:
                        seen = obs.mission_seen[(ns, name)]
                    time.sleep(0.3)  # the rollout watch delivers its last event
                    split(run_, m, obs, seen)
                runs.append(run_)
                del pending[ns]
                log(
                    f"round {rnd} {ns}: {phase} mttr {run_.mttr:.1f}s operator "
                    f"{run_.operator:.2f}s metrics {run_.waiting_metrics:.1f}s cluster "
                    f"{run_.waiting_cluster:.1f}s human {run_.human:.1f}s"
                )
            time.sleep(0.2)
        if pending:
            raise TimeoutError(f"round {rnd}: no verified recovery for {sorted(pending)}")
        good = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": GOOD}]}}}}
        for r in runs:
            if r.round == rnd and r.outcome != "Succeeded":  # not measured: put it right by hand
                apps.patch_namespaced_deployment(APP, r.namespace, good)
        wait("every service rolled back", lambda: all(rolled_out(n, GOOD) for n in namespaces), 90)
        wait("every service Healthy again", all_healthy, 120)
    runs_time = time.monotonic() - t_runs

    ok = [r for r in runs if r.outcome == "Succeeded"]
    verify = operator_ledger_ok(operator)
    return {
        "bench": "mttr",
        "quick": args.quick,
        "runs": len(runs),
        "succeeded": len(ok),
        "not_recovered": {r.mission: r.outcome for r in runs if r.outcome != "Succeeded"},
        "approved_runs": sum(r.human > 0 for r in ok),
        "mttr_p50_s": p50([r.mttr - r.human for r in ok]),
        "mttr_p90_s": round(statistics.quantiles([r.mttr - r.human for r in ok], n=10)[-1], 3)
        if len(ok) >= 2
        else None,
        "waiting_metrics_p50_s": p50([r.waiting_metrics for r in ok]),
        "waiting_cluster_p50_s": p50([r.waiting_cluster for r in ok]),
        "operator_p50_s": p50([r.operator for r in ok]),
        "human_approval_p50_s_subtracted": p50([r.human for r in ok if r.human > 0]),
        "parts_p50_s": {k: p50([r.parts[k] for r in ok]) for k in (ok[0].parts if ok else {})},
        "setup_s": round(setup, 1),
        "runs_s": round(runs_time, 1),
        "services": args.services,
        "rounds": args.rounds,
        "stagger_s": args.stagger,
        "rate_window": RATE_WINDOW,
        "verify": {k: v for k, v in VERIFY.items() if k != "checks"},
        "ledger_verified": verify,
        "per_run": [
            {
                k: (round(v, 3) if isinstance(v, float) else v)
                for k, v in asdict(r).items()
                if k not in ("parts", "fault", "approved_by_bench")
            }
            for r in runs
        ],
    }


def operator_ledger_ok(operator: OperatorProcess) -> bool:
    return operator.verify_ledger().returncode == 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="10 runs: 10 services, 1 round (~70 s)")
    p.add_argument("--services", type=int, default=10)
    p.add_argument("--rounds", type=int, default=None, help="default 5 (quick: 1)")
    p.add_argument("--stagger", type=float, default=1.0, help="seconds between two faults")
    p.add_argument("--dir", type=Path, default=None, help="work directory (default: under /tmp)")
    p.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = p.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="grace-bench-mttr-"))
    t0 = time.monotonic()
    with contextlib.ExitStack() as cleanup:
        if args.dir is None and not args.keep:  # runs last: after every process is stopped
            cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        result = bench(args, workdir, cleanup)
    result["total_s"] = round(time.monotonic() - t0, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
