"""The real-node tier: a kubelet + containerd node in the suite's cluster, images built here.

It shares the suite's one cluster (started with a real node where the machine can run one) and
skips, with the one line saying why, only where it cannot (not root, no overlayfs, kind, ...).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes import client

from grace_lab.localcluster.node import PodTargets, RealNode, unavailable_reason
from grace_lab.localcluster.release import (
    ON_REAL_NODE,
    ChartRelease,
    ensure_namespaces,
    local_values,
)
from tests.conftest import ClusterUnderTest

ON_NODE = ON_REAL_NODE


@pytest.fixture(scope="package")
def node_owner(cluster: ClusterUnderTest) -> RealNode:
    local = cluster.local_cluster
    if local is None or not local.state.real_node:
        reason = unavailable_reason(local.dir / "node" if local else None) or (
            "the test cluster runs without a real node (GRACE_REAL_NODE=0, an external "
            "KUBECONFIG, or a cluster started without --real-node)"
        )
        pytest.skip(reason)
    node: RealNode = local.real_node()
    return node


@pytest.fixture
def real_node(node_owner: RealNode) -> RealNode:
    """The real node, running (a test before may have stopped it to check the machine)."""
    if not node_owner.running():
        node_owner.up()
    return node_owner


@dataclass
class BuiltImages:
    operator: str
    opa: str
    shop: dict[str, str]
    base: str
    seconds: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="package")
def images(node_owner: RealNode) -> BuiltImages:
    """Every image the tier runs, built with buildah (layers cached) and imported once."""
    from grace_lab.localcluster import images as img
    from grace_lab.localcluster.binaries import ensure_binaries
    from grace_lab.localcluster.images import SHOP_RELEASES

    if not node_owner.running():
        node_owner.up()
    seconds: dict[str, float] = {}
    t = time.monotonic()
    base = img.ensure_base_image()
    seconds["base image"] = time.monotonic() - t
    t = time.monotonic()
    operator = img.build_operator_image(base)
    seconds["operator image build"] = time.monotonic() - t
    t = time.monotonic()
    opa = img.build_opa_image(ensure_binaries(verbose=False).opa)
    shop_tags = img.build_shop_images(base, list(SHOP_RELEASES.values()))
    seconds["opa and shop image builds"] = time.monotonic() - t
    built = BuiltImages(
        operator=operator,
        opa=opa,
        shop=dict(zip(SHOP_RELEASES, shop_tags, strict=True)),
        base=base,
        seconds=seconds,
    )
    t = time.monotonic()
    for name in (operator, opa, base, *shop_tags):
        img.import_image(node_owner, name)
        built.sizes[name] = img.image_size(name)
    seconds["imports"] = time.monotonic() - t
    return built


def wait_for(what: str, check: Any, timeout: float = 120.0, interval: float = 1.0) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def pod_phase(core: Any, namespace: str, name: str) -> str:
    try:
        return str(core.read_namespaced_pod(name, namespace).status.phase)
    except client.ApiException:
        return "missing"


@pytest.fixture
def core(api: Any) -> Iterator[Any]:
    yield client.CoreV1Api(api)


# ---- Prometheus on the node's address (the operator pods query it) --------------------------


@pytest.fixture(scope="package")
def node_prometheus(node_owner: RealNode) -> Iterator[Any]:
    """A real Prometheus the pods can reach (on the node's address), scraping the kubelet's
    cAdvisor, kube-state-metrics and every pod's `metrics`/`http` port."""
    from grace_lab.localcluster.prometheus import PrometheusServer

    if not node_owner.running():
        node_owner.up()
    with (
        PodTargets(node_owner),
        PrometheusServer(
            job="prometheus",
            scrape_interval=1,
            evaluation_interval=1,
            scrape_configs=node_owner.scrape_configs(),
            host=node_owner.address,
        ) as prom,
    ):
        yield prom


# ---- the chart, installed by Helm with the images built here --------------------------------

SCENARIO_NAMESPACES = ("rn-bad-release", "rn-crashloop", "rn-oom", "rn-unready")
"""The namespaces the installed operator watches (the suite's `grace run` process leaves them)."""


@pytest.fixture(scope="package")
def chat(node_owner: RealNode) -> Iterator[Any]:
    """The on-call's chat: a JSON endpoint on the node's address, which the pods reach."""
    from grace_lab.sim import AlertWebhook

    with AlertWebhook(host=node_owner.address) as webhook:
        yield webhook


@pytest.fixture(scope="package")
def release(
    cluster: ClusterUnderTest, api: Any, images: BuiltImages, node_prometheus: Any, chat: Any
) -> Iterator[ChartRelease]:
    """`helm install charts/grace` with the local images, two replicas on the real node, the
    chat as its one direct channel (a Secret of apprise URLs, no subscriptions: everything)."""
    from grace_lab.localcluster.install import install_admission_policy

    core = client.CoreV1Api(api)
    rel = ChartRelease(cluster.kubeconfig, "grace-rn", "grace-rn")
    ensure_namespaces(api, [*SCENARIO_NAMESPACES, rel.namespace])
    channels = f"chat: {chat.url.replace('http://', 'json://')}\n"
    secret = {"metadata": {"name": "grace-rn-chat"}, "stringData": {"channels.yaml": channels}}
    try:
        core.create_namespaced_secret(rel.namespace, secret)
    except client.ApiException as e:
        if e.status != 409:
            raise
        core.replace_namespaced_secret("grace-rn-chat", rel.namespace, secret)
    t0 = time.monotonic()
    rel.install(
        {
            **local_values(node_prometheus.url, SCENARIO_NAMESPACES),
            "notifications": {"channelsSecret": "grace-rn-chat", "interval": 1},
        }
    )
    rel.wait_ready(core, 2)
    print(f"\nhelm install -> two operator pods Ready in {time.monotonic() - t0:.1f}s")
    yield rel
    rel.uninstall()
    install_admission_policy(api)  # the suite's own copy of what Helm just removed
    for ns in (*SCENARIO_NAMESPACES, rel.namespace, f"{rel.namespace}-witness"):
        try:
            core.delete_namespace(ns, propagation_policy="Background")
        except client.ApiException as e:
            if e.status != 404:
                raise
