"""The simulated shop's /metrics endpoint: counters that advance at rates read off the cluster.

`ShopExporter` polls the Deployments it is scoped to (and their ReplicaSets and Pods), turns
each into a `WorkloadState`, and lets the service's counters run at the rates the model gives
for that state. A service is launched (gets traffic and series) once it first has a ready
pod; from then on, losing every ready pod shows as 503s, as behind a real Service. Counters are advanced lazily on every scrape, so `rate()` in Prometheus sees a
smooth line whatever the scrape and poll intervals. When the API server is unreachable the
service keeps "serving" at its last known state, as a real application would.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kubernetes import client, config
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from grace_lab.sim.leak import Leak
from grace_lab.sim.model import (
    DEFAULT_PROFILE,
    SHOP_PROFILES,
    AppProfile,
    Meter,
    Rates,
    WorkloadState,
    compute_rates,
    jitter,
)
from grace_lab.sim.observe import workload_state

log = logging.getLogger(__name__)

SHOP_SELECTOR = "app.kubernetes.io/part-of=shop"
"""The label the example shop carries on its Deployments."""

AppKey = tuple[str, str]
"""(namespace, app): app is the Deployment's name."""


@dataclass(frozen=True)
class Scope:
    """Which Deployments of one namespace are simulated services.

    `label_selector=None` and `names=None` means every Deployment in the namespace.
    """

    namespace: str
    label_selector: str | None = SHOP_SELECTOR
    names: frozenset[str] | None = None

    def includes(self, name: str) -> bool:
        return self.names is None or name in self.names


@dataclass
class _Service:
    state: WorkloadState
    rates: Rates
    meter: Meter
    since: float


class _ShopCollector(Collector):
    def __init__(self, exporter: ShopExporter) -> None:
        self._exporter = exporter

    def collect(self) -> Iterable[Metric]:
        return self._exporter._families()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True


class ShopExporter:
    """Simulated shop services whose metrics follow their Deployments, served on 127.0.0.1."""

    def __init__(
        self,
        api_client: client.ApiClient,
        scopes: Iterable[Scope] = (),
        *,
        profiles: Mapping[str, AppProfile] = SHOP_PROFILES,
        default_profile: AppProfile = DEFAULT_PROFILE,
        seed: int | str = 0,
        poll_interval: float = 0.5,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_client = api_client
        self.profiles = dict(profiles)
        self.default_profile = default_profile
        self.seed = seed
        self.poll_interval = poll_interval
        self.host = host
        self._requested_port = port
        self._scopes: dict[str, Scope] = {s.namespace: s for s in scopes}
        self._loads: dict[AppKey, float] = {}
        self._leaks: dict[AppKey, tuple[Leak, float]] = {}
        self._services: dict[AppKey, _Service] = {}
        self._step = 0
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._observed = threading.Condition(self._lock)
        self._server: _QuietServer | None = None
        self._threads: list[threading.Thread] = []
        self._owns_client = False
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_ShopCollector(self))

    @classmethod
    def from_kubeconfig(
        cls,
        kubeconfig: str | None,
        scopes: Iterable[Scope] = (),
        *,
        context: str | None = None,
        profiles: Mapping[str, AppProfile] = SHOP_PROFILES,
        default_profile: AppProfile = DEFAULT_PROFILE,
        seed: int | str = 0,
        poll_interval: float = 0.5,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> ShopExporter:
        """An exporter with its own API client (the CLI, the demo); None: $KUBECONFIG."""
        api = config.new_client_from_config(kubeconfig, context=context)
        exporter = cls(
            api,
            scopes,
            profiles=profiles,
            default_profile=default_profile,
            seed=seed,
            poll_interval=poll_interval,
            host=host,
            port=port,
        )
        exporter._owns_client = True
        return exporter

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            return self._requested_port
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        """host:port, the form a Prometheus static target takes."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The metrics endpoint."""
        return f"http://{self.address}/metrics"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> ShopExporter:
        """Observe the cluster once (so the first scrape already has series), then serve."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self.refresh()
        self._server = _QuietServer((self.host, self._requested_port), self._handler())
        server = self._server
        self._threads = [
            threading.Thread(target=server.serve_forever, name="shop-metrics", daemon=True),
            threading.Thread(target=self._poll, name="shop-observer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def close(self) -> None:
        """Stop, and close the API client if this exporter made it."""
        self.stop()
        if self._owns_client:
            self.api_client.close()

    def __enter__(self) -> ShopExporter:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- what is simulated -------------------------------------------------------------------

    def add_scope(self, scope: Scope) -> None:
        """Simulate (also) the Deployments of `scope.namespace`; replaces that namespace's scope."""
        with self._lock:
            self._scopes[scope.namespace] = scope
        self.refresh()

    def remove_scope(self, namespace: str) -> None:
        with self._lock:
            self._scopes.pop(namespace, None)
            for key in [k for k in self._services if k[0] == namespace]:
                del self._services[key]

    def set_load(self, namespace: str, app: str, rps: float | None) -> None:
        """Offer a different load to one service (None: back to its annotation or profile)."""
        with self._lock:
            if rps is None:
                self._loads.pop((namespace, app), None)
            else:
                self._loads[(namespace, app)] = max(rps, 0.0)
            service = self._services.get((namespace, app))
            if service is not None:
                self._update(service.state, time.monotonic())

    def set_leak(
        self, namespace: str, app: str, leak: Leak | None, began: float | None = None
    ) -> None:
        """Make one service's working set grow from `began` (time.monotonic(); default now);
        None: back to its usual size.

        Only `shop_memory_working_set_bytes` moves: the leak stands for a gradual fault that
        nothing in the cluster shows yet, and it keeps growing whatever is done to the pods.
        """
        with self._lock:
            if leak is None:
                self._leaks.pop((namespace, app), None)
            else:
                self._leaks[(namespace, app)] = (leak, time.monotonic() if began is None else began)

    def working_set_bytes(self, namespace: str, app: str, now: float | None = None) -> float:
        """The service's memory working set: its profile's need, noise, and any leak so far."""
        now = time.monotonic() if now is None else now
        with self._lock:
            profile = self.profile(app)
            noise = profile.noise * jitter(self.seed, f"{namespace}/{app}/memory", self._step)
            value = profile.memory_need_bytes * (1.0 + noise)
            leaking = self._leaks.get((namespace, app))
            if leaking is not None:
                leak, since = leaking
                value += leak.leaked(now - since)
            return value

    def profile(self, app: str) -> AppProfile:
        return self.profiles.get(app, self.default_profile)

    def states(self) -> dict[AppKey, WorkloadState]:
        """The last observed state of every simulated service."""
        with self._lock:
            return {k: s.state for k, s in self._services.items()}

    def rates(self) -> dict[AppKey, Rates]:
        """The rates every service currently runs at (what the metrics will show)."""
        with self._lock:
            return {k: s.rates for k, s in self._services.items()}

    def wait_observed(self, namespace: str, app: str, ready: int, timeout: float = 30.0) -> None:
        """Block until the exporter has seen `ready` ready pods of one service."""
        deadline = time.monotonic() + timeout
        with self._observed:
            while True:
                service = self._services.get((namespace, app))
                if service is not None and service.state.ready >= ready:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = service.state.ready if service else None
                    raise TimeoutError(
                        f"{namespace}/{app}: {ready} ready pods not observed "
                        f"within {timeout:.0f}s (last seen: {seen})"
                    )
                self._observed.wait(left)

    # ---- observing the cluster ---------------------------------------------------------------

    def refresh(self) -> None:
        """Observe every scope now and move each service to the rates of its new state."""
        with self._lock:
            scopes = list(self._scopes.values())
        for scope in scopes:
            try:
                observed = self._observe(scope)
            except Exception as e:  # the API server may be down: keep serving the last state
                log.warning("cannot observe namespace %s: %s", scope.namespace, e)
                continue
            now = time.monotonic()
            with self._lock:
                if self._scopes.get(scope.namespace) != scope:
                    continue  # removed or replaced while we were listing
                self._step += 1
                for state in observed:
                    self._update(state, now)
                seen = {(s.namespace, s.app) for s in observed}
                for key in [k for k in self._services if k[0] == scope.namespace]:
                    if key not in seen:
                        del self._services[key]
                self._observed.notify_all()

    def _poll(self) -> None:
        while not self._stopping.wait(self.poll_interval):
            self.refresh()

    def _list(self, method: Any, namespace: str, selector: str | None = None) -> list[Any]:
        response = method(
            namespace,
            label_selector=selector or "",
            _preload_content=False,
            _request_timeout=5,
        )
        items: list[Any] = json.loads(response.data).get("items") or []
        return items

    def _observe(self, scope: Scope) -> list[WorkloadState]:
        apps = client.AppsV1Api(self.api_client)
        core = client.CoreV1Api(self.api_client)
        ns = scope.namespace
        deployments = [
            d
            for d in self._list(apps.list_namespaced_deployment, ns, scope.label_selector)
            if scope.includes(d["metadata"]["name"])
        ]
        if not deployments:
            return []
        replicasets = self._list(apps.list_namespaced_replica_set, ns)
        pods = self._list(core.list_namespaced_pod, ns)
        states = []
        for deployment in deployments:
            deployment["metadata"].setdefault("namespace", ns)
            states.append(workload_state(deployment, replicasets, pods))
        return states

    def _update(self, state: WorkloadState, now: float) -> None:
        """Switch one service to the rates of its observed `state` (kept without overrides)."""
        key = (state.namespace, state.app)
        override = self._loads.get(key)
        effective = state
        if override is not None:
            effective = WorkloadState(state.namespace, state.app, state.groups, override)
        rates = compute_rates(effective, self.profile(state.app), self.seed, self._step)
        service = self._services.get(key)
        if service is None:
            if state.ready == 0:
                return  # not launched yet: nobody sends traffic to a service never up
            self._services[key] = _Service(state, rates, Meter(), now)
            self._services[key].meter.advance(rates, 0.0)
            return
        service.meter.advance(service.rates, now - service.since)
        service.state, service.rates, service.since = state, rates, now

    # ---- serving -----------------------------------------------------------------------------

    def _families(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "shop_http_requests",
            "HTTP requests answered by the simulated shop service, by status code.",
            labels=["namespace", "app", "code"],
        )
        latency = GaugeMetricFamily(
            "shop_request_latency_p95_seconds",
            "95th percentile request latency of the simulated shop service.",
            labels=["namespace", "app"],
        )
        restarts = CounterMetricFamily(
            "shop_container_restarts",
            "Container restarts (OOM kills) of the simulated shop service.",
            labels=["namespace", "app"],
        )
        ready = GaugeMetricFamily(
            "shop_ready_replicas",
            "Ready pods serving the simulated shop service, as observed in the cluster.",
            labels=["namespace", "app"],
        )
        load = GaugeMetricFamily(
            "shop_offered_load_rps",
            "Requests per second offered to the simulated shop service.",
            labels=["namespace", "app"],
        )
        memory = GaugeMetricFamily(
            "shop_memory_working_set_bytes",
            "Memory working set of the simulated shop service (grows while a leak is set).",
            labels=["namespace", "app"],
        )
        now = time.monotonic()
        with self._lock:
            for (ns, app), service in sorted(self._services.items()):
                service.meter.advance(service.rates, now - service.since)
                service.since = now
                for code, value in service.meter.requests.items():
                    requests.add_metric([ns, app, code], value)
                latency.add_metric([ns, app], service.meter.latency_p95_seconds)
                restarts.add_metric([ns, app], float(service.meter.restarts))
                ready.add_metric([ns, app], float(service.state.ready))
                load.add_metric([ns, app], service.rates.requests_per_second)
                memory.add_metric([ns, app], self.working_set_bytes(ns, app, now))
        yield from (requests, latency, restarts, ready, load, memory)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self.registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body = generate_latest(registry)
                    content_type = "text/plain; version=0.0.4; charset=utf-8"
                elif path in ("/", "/healthz"):
                    body, content_type = b"ok\n", "text/plain"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
