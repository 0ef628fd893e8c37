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

from grace.localcluster.node import NODE_LABEL, RealNode, unavailable_reason
from tests.conftest import ClusterUnderTest

ON_NODE: dict[str, Any] = {
    "nodeSelector": {NODE_LABEL: "true"},
    "tolerations": [{"key": NODE_LABEL, "operator": "Exists", "effect": "NoSchedule"}],
}
"""What a pod spec needs to land on the real node (it is tainted: KWOK pods stay away)."""


@pytest.fixture(scope="package")
def node_owner(cluster: ClusterUnderTest) -> RealNode:
    local = cluster.local_cluster
    if local is None or not local.state.real_node:
        reason = unavailable_reason() or (
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
    from grace.localcluster import images as img
    from grace.localcluster.binaries import ensure_binaries
    from grace.localcluster.images import SHOP_RELEASES

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
    from grace.localcluster.prometheus import PrometheusServer

    if not node_owner.running():
        node_owner.up()
    with PrometheusServer(
        job="prometheus",
        scrape_interval=1,
        evaluation_interval=1,
        scrape_configs=node_owner.scrape_configs(),
        host=node_owner.address,
    ) as prom:
        yield prom


# ---- the chart, installed by Helm with the images built here --------------------------------

RELEASE = "grace-rn"
RELEASE_NAMESPACE = "grace-rn"
SCENARIO_NAMESPACES = ("rn-bad-release", "rn-crashloop", "rn-oom", "rn-unready")
"""The namespaces the installed operator watches (the suite's `grace run` process leaves them)."""
CLUSTER_OBJECTS = (
    ("clusterrole", "grace-viewer"),
    ("clusterrole", "grace-approver"),
    ("validatingadmissionpolicy", "grace-approval-decisions"),
    ("validatingadmissionpolicybinding", "grace-approval-decisions"),
    ("validatingadmissionpolicy", "grace-mission-requester"),
    ("validatingadmissionpolicybinding", "grace-mission-requester"),
)
"""Cluster-wide objects of the chart the suite may already have created without Helm."""


@dataclass
class Release:
    name: str
    namespace: str
    values: dict[str, Any]
    helm: str
    kubectl: str
    env: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)

    def operator_pods(self, core: Any) -> list[Any]:
        return list(
            core.list_namespaced_pod(
                self.namespace, label_selector="app.kubernetes.io/name=grace"
            ).items
        )


def _ready(pod: Any) -> bool:
    return (
        pod.status.phase == "Running"
        and all(c.ready for c in (pod.status.container_statuses or []))
        and bool(pod.status.container_statuses)
    )


def _run(argv: list[str], env: dict[str, str]) -> str:
    import subprocess

    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv[:3])} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


@pytest.fixture(scope="package")
def release(
    cluster: ClusterUnderTest,
    api: Any,
    node_owner: RealNode,
    images: BuiltImages,
    node_prometheus: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Release]:
    """`helm install charts/grace` with the local images, two replicas on the real node."""
    import os

    import yaml

    from grace.localcluster.binaries import ensure_binaries
    from grace.localcluster.install import CHART, install_admission_policy

    bins = ensure_binaries(verbose=False)
    env = {**os.environ, "KUBECONFIG": cluster.kubeconfig}
    core = client.CoreV1Api(api)
    for ns in SCENARIO_NAMESPACES:
        try:
            core.create_namespace({"metadata": {"name": ns, "labels": {"grace.dev/test": "true"}}})
        except client.ApiException as e:
            if e.status != 409:
                raise
    for kind, name in CLUSTER_OBJECTS:  # let Helm adopt what the suite made without it
        if _run([str(bins.kubectl), "get", kind, name, "--ignore-not-found", "-o", "name"], env):
            _run(
                [
                    str(bins.kubectl),
                    "annotate",
                    "--overwrite",
                    kind,
                    name,
                    f"meta.helm.sh/release-name={RELEASE}",
                    f"meta.helm.sh/release-namespace={RELEASE_NAMESPACE}",
                ],
                env,
            )
            _run(
                [
                    str(bins.kubectl),
                    "label",
                    "--overwrite",
                    kind,
                    name,
                    "app.kubernetes.io/managed-by=Helm",
                ],
                env,
            )
    op_repo, op_tag = images.operator.rsplit(":", 1)
    opa_repo, opa_tag = images.opa.rsplit(":", 1)
    values: dict[str, Any] = {
        "replicaCount": 2,
        "image": {"repository": op_repo, "tag": op_tag, "pullPolicy": "Never"},
        "opa": {"image": {"repository": opa_repo, "tag": opa_tag, "pullPolicy": "Never"}},
        "watchNamespaces": list(SCENARIO_NAMESPACES),
        "operator": {"prometheusUrl": node_prometheus.url, "missionTick": 1},
        "policy": {
            "engine": "opa",
            "config": {
                "changeWindows": [],
                "protectedNamespaces": ["kube-system"],
                "maxConcurrentPerNamespace": 1,
                "maxConcurrentCluster": 20,
                "maxPerNamespacePerHour": 100,
            },
        },
        **ON_NODE,
    }
    values_file = tmp_path_factory.mktemp("release") / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    t0 = time.monotonic()
    _run(
        [
            str(bins.helm),
            "upgrade",
            "--install",
            RELEASE,
            str(CHART),
            "-n",
            RELEASE_NAMESPACE,
            "--create-namespace",
            "-f",
            str(values_file),
        ],
        env,
    )
    rel = Release(RELEASE, RELEASE_NAMESPACE, values, str(bins.helm), str(bins.kubectl), env)
    rel.seconds["helm install"] = time.monotonic() - t0

    def both_ready() -> bool:
        pods = rel.operator_pods(core)
        return len(pods) == 2 and all(_ready(p) for p in pods)

    try:
        wait_for("two operator pods Ready", both_ready, 180)
    except AssertionError as e:
        pods = rel.operator_pods(core)
        logs = {
            p.metadata.name: core.read_namespaced_pod_log(
                p.metadata.name, RELEASE_NAMESPACE, container="operator", tail_lines=30
            )
            for p in pods
            if p.status.container_statuses
        }
        raise AssertionError(f"{e}\n{[p.status for p in pods]}\n{logs}") from e
    rel.seconds["install to two pods Ready"] = time.monotonic() - t0
    yield rel
    _run([str(bins.helm), "uninstall", RELEASE, "-n", RELEASE_NAMESPACE, "--wait"], env)
    install_admission_policy(api)  # the suite's own copy of what Helm just removed
    for ns in (*SCENARIO_NAMESPACES, RELEASE_NAMESPACE, f"{RELEASE_NAMESPACE}-witness"):
        try:
            core.delete_namespace(ns, propagation_policy="Background")
        except client.ApiException as e:
            if e.status != 404:
                raise
