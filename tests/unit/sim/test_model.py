"""The simulation's rules, without a cluster: what a user of the demo will see happen and why."""

from __future__ import annotations

import pytest

from grace_lab.sim.model import (
    MIB,
    SHOP_PROFILES,
    AppProfile,
    Meter,
    PodGroup,
    WorkloadState,
    compute_rates,
    image_tag,
    is_bad_release,
    parse_quantity,
)
from grace_lab.sim.observe import LOAD_ANNOTATION, workload_state

CHECKOUT = SHOP_PROFILES["checkout"]
GOOD = ("registry.example/shop/checkout:1.4.2",)
BAD = ("registry.example/shop/checkout:1.5.0-bad",)


def checkout(*groups: PodGroup, load: float | None = None) -> WorkloadState:
    return WorkloadState("shop", "checkout", groups, load)


def group(images: tuple[str, ...], ready: int, memory: int | None = 256 * MIB) -> PodGroup:
    return PodGroup(images, memory, ready, ready)


def test_only_the_tag_decides_a_bad_release() -> None:
    assert image_tag("registry:5000/shop/checkout:1.5-bad") == "1.5-bad"
    assert image_tag("registry:5000/bad/checkout") == ""
    assert image_tag("checkout@sha256:abc") == ""
    assert is_bad_release(BAD) and not is_bad_release(GOOD)
    assert not is_bad_release(("registry.example/badger/checkout:1.0",))


def test_error_ratio_follows_the_mix_of_ready_pods_during_a_rollout() -> None:
    steps = [(3, 0), (2, 1), (1, 2), (0, 3)]
    ratios = [
        compute_rates(checkout(group(GOOD, old), group(BAD, new)), CHECKOUT).error_ratio
        for old, new in steps
    ]
    assert ratios[0] < 0.01
    assert ratios == sorted(ratios)
    assert ratios[-1] > 0.25
    # a rollback walks the same path back down as the old pods become ready again
    back = compute_rates(checkout(group(GOOD, 2), group(BAD, 1)), CHECKOUT).error_ratio
    assert back == pytest.approx(ratios[1], rel=0.1)


def test_not_ready_pods_get_no_traffic() -> None:
    broken_but_not_ready = PodGroup(BAD, 256 * MIB, ready=0, running=3)
    rates = compute_rates(checkout(group(GOOD, 3), broken_but_not_ready), CHECKOUT)
    assert rates.error_ratio < 0.01


def test_no_ready_pod_means_every_request_fails() -> None:
    rates = compute_rates(checkout(PodGroup(GOOD, None, 0, 0)), CHECKOUT)
    assert rates.unavailable and rates.error_ratio == 1.0


def test_latency_grows_when_the_load_outgrows_the_replicas() -> None:
    def p95(ready: int, load: float | None = None) -> float:
        return compute_rates(checkout(group(GOOD, ready), load=load), CHECKOUT).latency_p95_seconds

    assert p95(3) < 0.5 < p95(2) < 2.0 < p95(1)
    assert p95(6) < p95(3)
    assert p95(3, load=400) > 2.0


def test_memory_below_the_need_restarts_containers() -> None:
    healthy = compute_rates(checkout(group(GOOD, 3, 256 * MIB)), CHECKOUT)
    unlimited = compute_rates(checkout(group(GOOD, 3, None)), CHECKOUT)
    starved = compute_rates(checkout(group(GOOD, 3, 64 * MIB)), CHECKOUT)
    tighter = compute_rates(checkout(group(GOOD, 3, 32 * MIB)), CHECKOUT)
    assert healthy.restarts_per_second == unlimited.restarts_per_second == 0
    assert 0 < starved.restarts_per_second <= tighter.restarts_per_second


def test_noise_is_small_and_reproducible() -> None:
    state = checkout(group(GOOD, 3))
    a = [compute_rates(state, CHECKOUT, seed=1, step=s).latency_p95_seconds for s in range(20)]
    b = [compute_rates(state, CHECKOUT, seed=1, step=s).latency_p95_seconds for s in range(20)]
    c = [compute_rates(state, CHECKOUT, seed=2, step=s).latency_p95_seconds for s in range(20)]
    assert a == b and a != c
    assert max(a) / min(a) < 1 + 4 * CHECKOUT.noise


def test_meter_counts_codes_and_whole_restarts() -> None:
    profile = AppProfile(load_rps=100, noise=0, oom_restarts_per_pod_per_second=0.1)
    meter = Meter()
    rates = compute_rates(checkout(group(BAD, 2, 1 * MIB)), profile)
    meter.advance(rates, 10.0)
    total = sum(meter.requests.values())
    assert total == pytest.approx(1000)
    assert meter.requests["500"] / total == pytest.approx(profile.bad_release_error_ratio)
    assert meter.requests["404"] > 0
    assert meter.restarts == int(meter.restarts_exact) > 0


def test_quantities() -> None:
    assert parse_quantity("256Mi") == 256 * MIB
    assert parse_quantity("1Gi") == 1024 * MIB
    assert parse_quantity("1e3") == 1000
    assert parse_quantity("500m") == 0.5
    with pytest.raises(ValueError):
        parse_quantity("lots")


def _pod(rs_uid: str, ready: bool, terminating: bool = False) -> dict[str, object]:
    meta: dict[str, object] = {
        "name": f"p-{rs_uid}",
        "ownerReferences": [{"kind": "ReplicaSet", "uid": rs_uid, "controller": True}],
    }
    if terminating:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def _rs(uid: str, owner: str, image: str, memory: str) -> dict[str, object]:
    container = {"name": "app", "image": image, "resources": {"limits": {"memory": memory}}}
    return {
        "metadata": {
            "name": f"checkout-{uid}",
            "uid": uid,
            "ownerReferences": [{"kind": "Deployment", "uid": owner, "controller": True}],
        },
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


def test_the_state_is_read_per_replicaset_from_the_pods() -> None:
    deployment = {
        "metadata": {
            "name": "checkout",
            "namespace": "shop",
            "uid": "d1",
            "annotations": {LOAD_ANNOTATION: "150"},
        }
    }
    replicasets = [
        _rs("old", "d1", GOOD[0], "256Mi"),
        _rs("new", "d1", BAD[0], "32Mi"),
        _rs("other", "d2", GOOD[0], "256Mi"),
    ]
    pods = [
        _pod("old", ready=True),
        _pod("old", ready=True, terminating=True),
        _pod("new", ready=True),
        _pod("new", ready=False),
        _pod("other", ready=True),
    ]
    state = workload_state(deployment, replicasets, pods)
    assert state.load_rps == 150
    by_image = {g.images: g for g in state.groups}
    assert by_image[GOOD] == PodGroup(GOOD, 256 * MIB, ready=1, running=1)
    assert by_image[BAD] == PodGroup(BAD, 32 * MIB, ready=1, running=2)
