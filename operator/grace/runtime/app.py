"""Start-up: build the Runtime (every service, once) and hand it to kopf as the handlers' memo.

`Runtime` is a frozen set of services. What changes while the operator runs lives inside the
service that owns it, under a name from the domain:

- `book` (LearningBook): the Learner, the Missions it learned from, the autonomy changes
  recorded in the ledger (under its lock) and the recent ones, as news;
- `health` (HealthGraphView): each namespace's health graph as the detection loops saw it;
- `watches` (Watches): the running detection loops, and the background tasks;
- `budgets` (Budgets): the policy data in force and the budget slots it allows;
- `alarms` (MissionAlarms): the running Missions' wake-up calls;
- `ledger_health` (LedgerHealth): whether the ledger takes entries.
"""

from __future__ import annotations

import asyncio
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
from grace.ledger import Ledger
from grace.run.actions.executor import ActionExecutor
from grace.runtime import metrics
from grace.runtime.alarms import MissionAlarms
from grace.runtime.approvals import ApprovalDesk
from grace.runtime.budget import Budgets
from grace.runtime.config import OperatorConfig
from grace.runtime.healthview import HealthGraphView
from grace.runtime.kube import Kube
from grace.runtime.leader import LeaderElection, identity
from grace.runtime.learningbook import LearningBook
from grace.runtime.ledgerhealth import LedgerHealth
from grace.runtime.preflight import Preflight, build_ledger
from grace.runtime.watches import Watches

log = logging.getLogger("grace")

STATUS_REFRESH_INTERVALS = 240
"""An unchanged HealthNode status is rewritten after this many intervals (hourly at 15 s), not
every 5 minutes: writing only what changed is what keeps 2,000 nodes cheap for the API server."""


@dataclass(frozen=True)
class Runtime:
    """What every handler needs, built once at start-up; handlers reach it through kopf's memo."""

    config: OperatorConfig
    kube: Kube
    prometheus: PrometheusSource
    detector: Detector
    governor: Governor
    ledger: Ledger
    executor: ActionExecutor
    approvals: ApprovalDesk
    book: LearningBook
    health: HealthGraphView = field(default_factory=HealthGraphView)
    watches: Watches = field(default_factory=Watches)
    budgets: Budgets = field(default_factory=Budgets)
    alarms: MissionAlarms = field(default_factory=MissionAlarms)
    ledger_health: LedgerHealth = field(default_factory=LedgerHealth)


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
        executor=ActionExecutor(api_client),
        approvals=ApprovalDesk(kube, config.approval_ttl),
        book=LearningBook.from_entries(entries),
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
