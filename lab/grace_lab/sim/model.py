"""How a simulated shop service behaves, as a pure function of the real state of its Deployment.

The simulation stands in for a real application so that tests and the demo see metrics that
react to what happens in the cluster: a release whose image tag contains "bad" raises the 5xx
ratio, too few ready replicas for the offered load raise latency, a memory limit below what
the service needs makes its containers restart. Only ready pods receive traffic, so during a
rollout (or a rollback) the error ratio moves with the mix of old and new pods, as it would
behind a real Service.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from grace.run.actions.base import parse_quantity as quantity

MIB = 1024 * 1024


OK_CODE = "200"
CLIENT_ERROR_CODE = "404"
SERVER_ERROR_CODE = "500"
UNAVAILABLE_CODE = "503"
CODES = (OK_CODE, CLIENT_ERROR_CODE, SERVER_ERROR_CODE, UNAVAILABLE_CODE)


@dataclass(frozen=True)
class AppProfile:
    """What one service needs and what it is offered; the knobs of the simulation."""

    load_rps: float = 60.0
    """Offered load in requests per second (a Deployment annotation may override it)."""
    capacity_rps_per_replica: float = 50.0
    """Requests per second one ready replica serves before queueing dominates."""
    base_latency_seconds: float = 0.08
    """p95 latency of an idle service."""
    base_error_ratio: float = 0.005
    """Share of 5xx a healthy release still answers."""
    bad_release_error_ratio: float = 0.30
    """Share of 5xx a release whose image tag contains "bad" answers."""
    client_error_ratio: float = 0.02
    """Share of 4xx: traffic that is not an error of the service (the PromQL must ignore it)."""
    memory_need_bytes: int = 64 * MIB
    """Working set of one container; a lower memory limit means OOM kills and restarts."""
    oom_restarts_per_pod_per_second: float = 0.05
    """Restart rate of one under-provisioned pod, scaled by how far below the need it is."""
    unavailable_latency_seconds: float = 10.0
    """What clients wait (a timeout) when no replica is ready."""
    noise: float = 0.03
    """Relative amplitude of the seeded noise on every rate."""


DEFAULT_PROFILE = AppProfile()

SHOP_PROFILES: Mapping[str, AppProfile] = {
    # 3 replicas x 50 rps = 150 rps capacity for 90 rps: p95 ~0.2s; at 1 replica ~4s.
    "checkout": AppProfile(
        load_rps=90.0,
        capacity_rps_per_replica=50.0,
        base_latency_seconds=0.08,
        memory_need_bytes=192 * MIB,
    ),
    # 2 replicas x 60 rps for 40 rps: p95 ~0.05s, well under the 0.25s the example expects.
    "payments-db": AppProfile(
        load_rps=40.0,
        capacity_rps_per_replica=60.0,
        base_latency_seconds=0.03,
        memory_need_bytes=640 * MIB,
    ),
}
"""Profiles matching examples/shop: healthy as shipped, unhealthy when a fault is injected."""


@dataclass(frozen=True)
class PodGroup:
    """Pods of one Deployment that share a pod template (one ReplicaSet, one revision)."""

    images: tuple[str, ...]
    memory_limit_bytes: int | None
    """Sum of the containers' memory limits; None when any container is unlimited."""
    ready: int
    """Pods that pass readiness: only these receive traffic."""
    running: int
    """Pods that are running (ready or not) and not terminating: these can be OOM-killed."""


@dataclass(frozen=True)
class WorkloadState:
    """What the cluster says about one Deployment right now."""

    namespace: str
    app: str
    groups: tuple[PodGroup, ...] = ()
    load_rps: float | None = None
    """Offered load set on the Deployment itself (annotation), overriding the profile."""

    @property
    def ready(self) -> int:
        return sum(g.ready for g in self.groups)

    @property
    def running(self) -> int:
        return sum(g.running for g in self.groups)


@dataclass(frozen=True)
class Rates:
    """The service's behaviour at one instant."""

    requests_per_second: float
    error_ratio: float
    """Share of requests answered with a 5xx."""
    client_error_ratio: float
    latency_p95_seconds: float
    restarts_per_second: float
    unavailable: bool
    """No ready replica: every request fails with 503."""


def image_tag(image: str) -> str:
    """The tag of an image reference ("" when it has none, or only a digest)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def is_bad_release(images: Iterable[str]) -> bool:
    """A release is broken when any of its images carries a tag containing "bad"."""
    return any("bad" in image_tag(image).lower() for image in images)


def parse_quantity(text: str | int | float) -> float:
    """A Kubernetes resource quantity ("256Mi", "1Gi", "1e9", "500m") as a plain number."""
    if isinstance(text, int | float):
        return float(text)
    value = quantity(text)
    if value is None:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    return value


def error_ratio(groups: Iterable[PodGroup], profile: AppProfile) -> float:
    """5xx share of served traffic, weighted by the ready pods of each revision."""
    weighted = 0.0
    ready = 0
    for group in groups:
        ratio = (
            profile.bad_release_error_ratio
            if is_bad_release(group.images)
            else profile.base_error_ratio
        )
        weighted += ratio * group.ready
        ready += group.ready
    return weighted / ready if ready else 1.0


def latency_p95(load_rps: float, ready: int, profile: AppProfile) -> float:
    """p95 latency from utilisation: queueing growth up to 90 %, then a steep linear overload."""
    if ready <= 0:
        return profile.unavailable_latency_seconds if load_rps > 0 else 0.0
    rho = load_rps / (ready * profile.capacity_rps_per_replica)
    knee = 0.9
    if rho <= knee:
        value = profile.base_latency_seconds / (1.0 - rho)
    else:
        value = profile.base_latency_seconds / (1.0 - knee) * (1.0 + 5.0 * (rho - knee))
    return min(value, profile.unavailable_latency_seconds)


def restart_rate(groups: Iterable[PodGroup], profile: AppProfile) -> float:
    """Container restarts per second: pods limited below the service's need get OOM-killed."""
    rate = 0.0
    for group in groups:
        limit = group.memory_limit_bytes
        if limit is None or limit >= profile.memory_need_bytes or group.running <= 0:
            continue
        shortfall = min(profile.memory_need_bytes / max(limit, 1), 4.0)
        rate += group.running * profile.oom_restarts_per_pod_per_second * shortfall
    return rate


def jitter(seed: int | str, key: str, step: int) -> float:
    """Deterministic noise in [-1, 1] for one quantity of one service at one step."""
    return random.Random(f"{seed}/{key}/{step}").uniform(-1.0, 1.0)


def compute_rates(
    state: WorkloadState, profile: AppProfile, seed: int | str = 0, step: int = 0
) -> Rates:
    """The service's behaviour given its Deployment's state, with small seeded noise."""
    key = f"{state.namespace}/{state.app}"
    load = profile.load_rps if state.load_rps is None else max(state.load_rps, 0.0)
    amplitude = profile.noise

    def noisy(value: float, name: str) -> float:
        return max(value * (1.0 + amplitude * jitter(seed, f"{key}/{name}", step)), 0.0)

    ready = state.ready
    unavailable = ready <= 0
    errors = 1.0 if unavailable else min(noisy(error_ratio(state.groups, profile), "err"), 1.0)
    return Rates(
        requests_per_second=noisy(load, "load"),
        error_ratio=errors,
        client_error_ratio=0.0 if unavailable else profile.client_error_ratio,
        latency_p95_seconds=noisy(latency_p95(load, ready, profile), "latency"),
        restarts_per_second=restart_rate(state.groups, profile),
        unavailable=unavailable,
    )


@dataclass
class Meter:
    """Counters of one service, advanced at its current rates as time passes."""

    requests: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CODES, 0.0))
    restarts_exact: float = 0.0
    latency_p95_seconds: float = 0.0

    @property
    def restarts(self) -> int:
        """Restarts are whole events: the fractional part is a restart still to come."""
        return math.floor(self.restarts_exact)

    def advance(self, rates: Rates, seconds: float) -> None:
        self.latency_p95_seconds = rates.latency_p95_seconds
        if seconds <= 0:
            return
        total = rates.requests_per_second * seconds
        if rates.unavailable:
            self.requests[UNAVAILABLE_CODE] += total
        else:
            server = total * rates.error_ratio
            client = (total - server) * rates.client_error_ratio
            self.requests[SERVER_ERROR_CODE] += server
            self.requests[CLIENT_ERROR_CODE] += client
            self.requests[OK_CODE] += total - server - client
        self.restarts_exact += rates.restarts_per_second * seconds
