"""Start-up: build the Runtime (every component, once) and hand it to kopf as the handlers' memo."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

import kopf
from kopf._core.engines.peering import Identity  # kopf has no public name for it

from grace.detect.detector import Detector
from grace.detect.evaluate import WritePolicy
from grace.detect.prometheus import PrometheusSource
from grace.govern.engines import make_engine
from grace.govern.governor import Governor
from grace.govern.model import PolicyData
from grace.govern.policy import PolicyBundle
from grace.learn import Learner
from grace.ledger import ConfigMapStore, ConfigMapWitness, FileStore, Ledger, Signer
from grace.run.actions import ActionExecutor
from grace.runtime import metrics
from grace.runtime.budget import Slots
from grace.runtime.config import OperatorConfig
from grace.runtime.kube import Kube
from grace.runtime.leader import LeaderElection, identity

log = logging.getLogger("grace")

STATUS_REFRESH_INTERVALS = 240
"""An unchanged HealthNode status is rewritten after this many intervals (hourly at 15 s), not
every 5 minutes: writing only what changed is what keeps 2,000 nodes cheap for the API server."""


@dataclass
class Runtime:
    """What every handler needs, built once at start-up; handlers reach it through kopf's memo."""

    config: OperatorConfig
    kube: Kube
    prometheus: PrometheusSource
    detector: Detector
    governor: Governor
    ledger: Ledger
    learner: Learner
    executor: ActionExecutor
    graph: dict[str, dict[str, Any]] = field(default_factory=dict)
    """namespace -> HealthNode name -> its latest (spec, status): the health graph's view."""
    ledger_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    background: list[asyncio.Task[None]] = field(default_factory=list)
    learned: set[str] = field(default_factory=set)
    autonomy_recorded: set[str] = field(default_factory=set)
    policy_data: PolicyData = field(default_factory=PolicyData)
    """The policy data in force (the ConfigMap's, or the defaults): budgets for the slots."""
    slots: Slots = field(default_factory=Slots)
    pending_approvals: set[str] = field(default_factory=set)
    """uids of the ApprovalRequests this operator knows to be waiting (the pending gauge)."""
    """Idempotency keys of the autonomy.changed entries already in the ledger."""
    """uids of Missions whose outcome the Learner has: rebuilt from the ledger, never counted twice."""


def _api_client() -> Any:
    from kubernetes import client
    from kubernetes import config as kubeconfig

    try:
        kubeconfig.load_incluster_config()
        return client.ApiClient()
    except kubeconfig.ConfigException:
        return kubeconfig.new_client_from_config()


def build_ledger(config: OperatorConfig, api_client: Any) -> Ledger:
    signer = Signer.from_file(config.signing_key) if config.signing_key else Signer.generate()
    if config.signing_key is None:
        log.warning(
            "no --signing-key: signing with a throwaway key (fine for a demo, not for prod)"
        )
    if config.ledger_backend == "configmap":
        from kubernetes import client

        core = client.CoreV1Api(api_client)
        store: Any = ConfigMapStore(core, config.ledger_namespace)
        witnesses: list[Any] = [ConfigMapWitness(core, f"{config.ledger_namespace}-witness")]
    else:
        config.ledger_path.parent.mkdir(parents=True, exist_ok=True)
        store = FileStore(config.ledger_path)
        witnesses = []
    return Ledger(store, signer, "grace.dev/ledger", witnesses=witnesses)


def build(config: OperatorConfig) -> Runtime:
    api_client = _api_client()

    def on_query(record: Any) -> None:
        metrics.PROMQL_LATENCY.observe(record.seconds)
        kind = type(record.sample).__name__
        if kind in ("Error", "Unreachable"):
            metrics.PROMQL_ERRORS.labels(kind=kind).inc()

    prometheus = PrometheusSource(
        config.prometheus_url, timeout=config.prometheus_timeout, on_query=on_query
    )
    bundle = PolicyBundle.load(config.policy_dir)
    engine = make_engine(config.policy_engine, opa_url=config.opa_url, bundle=bundle)
    ledger = build_ledger(config, api_client)
    entries = [e.model_dump(mode="json") for e in ledger.entries()]
    learner = Learner.from_entries(entries)
    learned = {e["subject"]["uid"] for e in entries if e["type"] == "mission.finished"}
    autonomy = {e["idempotency_key"] for e in entries if e["type"] == "autonomy.changed"}
    metrics.LEDGER_SIZE.set(ledger.size)
    return Runtime(
        config=config,
        kube=Kube(api_client),
        prometheus=prometheus,
        detector=Detector(write_policy=WritePolicy(max_stale_intervals=STATUS_REFRESH_INTERVALS)),
        governor=Governor(engine, deadline=2.0),
        ledger=ledger,
        learner=learner,
        executor=ActionExecutor(api_client),
        learned=learned,
        autonomy_recorded=autonomy,
    )


def run(config: OperatorConfig) -> int:
    """Run the operator until SIGINT/SIGTERM; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    runtime = build(config)
    metrics.APPROVALS_PENDING.set_function(lambda: len(runtime.pending_approvals))
    if config.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(config.metrics_port, addr=config.metrics_address)
    import grace.handlers  # noqa: F401  (registers the handlers with kopf)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        election = None
        if config.leader_elect:
            election = LeaderElection(
                runtime.kube.coordination, config.operator_namespace, identity()
            )
            if not await election.acquire(stop):
                return
            lost = asyncio.Event()
            keeper = asyncio.create_task(election.keep(lost, stop))
            lost_watch = asyncio.create_task(lost.wait())
            lost_watch.add_done_callback(lambda _: stop.set())
        try:
            await kopf.operator(
                # kopf's default identity is getpass.getuser()@host: a KeyError for a uid
                # without a passwd entry (the image's 65532), so name the pod ourselves.
                identity=Identity(identity()),
                clusterwide=not config.namespaces,
                namespaces=config.namespaces,
                memo=runtime,
                standalone=True,
                stop_flag=stop,
            )
        finally:
            if election is not None:
                keeper.cancel()
                lost_watch.cancel()
                if not lost.is_set():
                    await election.resign()
                else:
                    raise SystemExit(1)  # lost the lease: exit so no stale state lingers

    asyncio.run(main())
    return 0
