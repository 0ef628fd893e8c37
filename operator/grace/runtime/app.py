"""Start-up: build the Runtime (every component, once) and hand it to kopf as the handlers' memo."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
from collections.abc import Callable
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
from grace.ledger.keys import KeyFileError
from grace.run.actions.executor import ActionExecutor
from grace.runtime import metrics
from grace.runtime.approvals import ApprovalDesk
from grace.runtime.budget import Slots
from grace.runtime.config import ConfigError, OperatorConfig
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
    approvals: ApprovalDesk
    watches: dict[tuple[str, str], Any] = field(default_factory=dict)
    """(namespace, name) -> the running detection loop (NodeWatch) of that HealthNode."""
    graph: dict[str, dict[str, Any]] = field(default_factory=dict)
    """namespace -> HealthNode name -> its latest (spec, status): the health graph's view."""
    background: list[asyncio.Task[None]] = field(default_factory=list)
    learned: set[str] = field(default_factory=set)
    autonomy_recorded: set[str] = field(default_factory=set)
    policy_data: PolicyData = field(default_factory=PolicyData)
    """The policy data in force (the ConfigMap's, or the defaults): budgets for the slots."""
    slots: Slots = field(default_factory=Slots)
    """Idempotency keys of the autonomy.changed entries already in the ledger."""
    """uids of Missions whose outcome the Learner has: rebuilt from the ledger, never counted twice."""


@dataclass(frozen=True)
class Preflight:
    """What `grace run` checks (and the metrics port it takes) before it logs or watches
    anything, local things first, so that a flag that cannot work ends the process with one
    line naming the flag (ConfigError) or the cluster (ClusterUnavailableError), not a
    traceback halfway through start-up."""

    signer: Signer
    bundle: PolicyBundle
    kube: Kube

    @classmethod
    def check(cls, config: OperatorConfig) -> Preflight:
        try:
            signer = (
                Signer.from_file(config.signing_key) if config.signing_key else Signer.generate()
            )
        except KeyFileError as e:
            raise ConfigError("signing_key", f"{e} (give the Ed25519 private key PEM)") from e
        try:
            bundle = PolicyBundle.load(config.policy_dir)
        except OSError as e:
            raise ConfigError("policy_dir", f"{e} (give the directory holding grace/*.rego)") from e
        serve_metrics(config)  # the port is ours before anything remote is asked
        kube = Kube.connect(in_cluster=True)
        kube.probe()
        return cls(signer, bundle, kube)


def serve_metrics(config: OperatorConfig) -> None:
    """/metrics and the probes; a port that cannot be had is a ConfigError naming its flag."""
    if not config.metrics_port:
        return
    from prometheus_client import start_http_server

    try:
        start_http_server(config.metrics_port, addr=config.metrics_address)
    except OSError as e:
        where = f"{config.metrics_address}:{config.metrics_port}"
        if e.errno in (errno.EADDRINUSE, errno.EACCES):
            fix = "metrics_port", "pick a free --metrics-port; 0 turns /metrics off"
        else:
            fix = "metrics_address", "give an address of this host, e.g. 0.0.0.0 or 127.0.0.1"
        raise ConfigError(fix[0], f"cannot listen on {where}: {e.strerror or e} ({fix[1]})") from e


def check_witness(core: Any, namespace: str) -> bool:
    """Whether checkpoints can be witnessed in `namespace`: a server-side dry-run create of a
    ConfigMap there (the namespace exists, and the operator may write it). Said once at start,
    in one log line and the grace_ledger_witness_ok gauge, instead of a traceback on every
    checkpoint: without a witness, truncating the ledger's tail cannot be proven."""
    from kubernetes import client

    probe = {"metadata": {"generateName": "grace-witness-probe-"}, "data": {}}
    try:
        core.create_namespaced_config_map(namespace, probe, dry_run="All")
    except client.ApiException as e:
        what = (
            f"namespace {namespace} does not exist"
            if e.status == 404
            else f"the operator may not write ConfigMaps there ({e.status} {e.reason})"
        )
        log.error(
            "ledger witness unavailable: %s; checkpoints are signed but not witnessed, so a "
            "truncated ledger tail cannot be detected (create the namespace, or install the "
            "chart's witness Role)",
            what,
        )
        metrics.LEDGER_WITNESS_OK.labels(witness=namespace).set(0)
        return False
    metrics.LEDGER_WITNESS_OK.labels(witness=namespace).set(1)
    return True


def build_ledger(config: OperatorConfig, api_client: Any, signer: Signer) -> Ledger:
    if config.signing_key is None:
        log.warning(
            "no --signing-key: signing with a throwaway key (fine for a demo, not for prod)"
        )
    if config.ledger_backend == "configmap":
        from kubernetes import client

        core = client.CoreV1Api(api_client)
        store: Any = ConfigMapStore(core, config.ledger_namespace)
        witness = f"{config.ledger_namespace}-witness"
        check_witness(core, witness)
        witnesses: list[Any] = [ConfigMapWitness(core, witness)]
    else:
        try:
            config.ledger_path.parent.mkdir(parents=True, exist_ok=True)
            store = FileStore(config.ledger_path)
        except OSError as e:
            raise ConfigError(
                "ledger_path", f"{e.filename or config.ledger_path}: {e.strerror or e}"
            ) from e
        witnesses = []
    return Ledger(store, signer, "grace.dev/ledger", witnesses=witnesses)


def build(config: OperatorConfig, preflight: Preflight) -> Runtime:
    api_client = preflight.kube.api_client

    def on_query(record: Any) -> None:
        metrics.PROMQL_LATENCY.observe(record.seconds)
        kind = type(record.sample).__name__
        if kind in ("Error", "Unreachable"):
            metrics.PROMQL_ERRORS.labels(kind=kind).inc()

    prometheus = PrometheusSource(
        config.prometheus_url,
        timeout=config.prometheus_timeout,
        on_query=on_query,
        sharing=not config.no_query_sharing,
    )
    engine = make_engine(config.policy_engine, opa_url=config.opa_url, bundle=preflight.bundle)
    ledger = build_ledger(config, api_client, preflight.signer)
    entries = [e.model_dump(mode="json") for e in ledger.entries()]
    learner = Learner.from_entries(entries)
    learned = {e["subject"]["uid"] for e in entries if e["type"] == "mission.finished"}
    autonomy = {e["idempotency_key"] for e in entries if e["type"] == "autonomy.changed"}
    metrics.LEDGER_SIZE.set(ledger.size)
    metrics.LEDGER_WITNESS_FAILURES.set_function(lambda: ledger.witness_failures)
    kube = preflight.kube
    return Runtime(
        config=config,
        kube=kube,
        prometheus=prometheus,
        detector=Detector(write_policy=WritePolicy(max_stale_intervals=STATUS_REFRESH_INTERVALS)),
        governor=Governor(engine, deadline=2.0),
        ledger=ledger,
        learner=learner,
        executor=ActionExecutor(api_client),
        approvals=ApprovalDesk(kube, config.approval_ttl),
        learned=learned,
        autonomy_recorded=autonomy,
    )


def run(
    config: OperatorConfig, handlers: Callable[[kopf.OperatorRegistry], kopf.OperatorRegistry]
) -> int:
    """Run the operator until SIGINT/SIGTERM with the handlers `handlers` registers (once its
    flags and the cluster are known good); the exit code."""
    preflight = Preflight.check(config)
    registry = handlers(kopf.get_default_registry())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    runtime = build(config, preflight)
    metrics.APPROVALS_PENDING.set_function(lambda: len(runtime.approvals.pending))

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
                registry=registry,
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
