"""Shared fixtures: one real cluster per test run (started lazily), one namespace per test."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


@dataclass
class ClusterUnderTest:
    kubeconfig: str
    context: str
    local: bool
    """True for the suite's own local cluster (token users exist); False for kind & co."""
    local_cluster: Any = None
    """The suite's LocalCluster when it started one (its real node, if any, hangs off it)."""

    def api_client(self, user: str | None = None) -> object:
        """An ApiClient as admin, or as a test user (token context locally, else impersonation)."""
        from kubernetes import config

        if user is None:
            return config.new_client_from_config(self.kubeconfig, context=self.context)
        if self.local:
            return config.new_client_from_config(self.kubeconfig, context=f"{self.context}-{user}")
        api = config.new_client_from_config(self.kubeconfig, context=self.context)
        api.set_default_header("Impersonate-User", user)
        api.set_default_header("Impersonate-Group", "system:authenticated")
        return api


def _install_crds(kubeconfig: str, context: str) -> None:
    from kubernetes import config

    from grace_lab.localcluster.install import install_crds

    api = config.new_client_from_config(kubeconfig, context=context)
    install_crds(api)
    api.close()


def wants_real_node(cluster_dir: Path) -> bool:
    """Run the real-node tier? Wherever the machine can (CI here runs as root), unless
    GRACE_REAL_NODE=0 says otherwise."""
    from grace_lab.localcluster.node import unavailable_reason

    return (
        os.environ.get("GRACE_REAL_NODE", "1") != "0"
        and unavailable_reason(cluster_dir / "node") is None
    )


@pytest.fixture(scope="session")
def cluster() -> Iterator[ClusterUnderTest]:
    """The real cluster: $KUBECONFIG if it is a test cluster, else the local one, started here."""
    from grace_lab.localcluster.cluster import CONTEXT, LocalCluster, is_test_context

    external = os.environ.get("KUBECONFIG")
    if external and not os.environ.get("GRACE_LOCAL_CLUSTER"):
        ok, why = is_test_context(external)
        if not ok:
            pytest.exit(why, returncode=3)
        ctx = yaml.safe_load(Path(external.split(os.pathsep)[0]).read_text())["current-context"]
        _install_crds(external, ctx)
        yield ClusterUnderTest(external, ctx, local=ctx == CONTEXT)
        return
    local = LocalCluster(
        Path(os.environ.get("GRACE_TEST_CLUSTER_DIR", REPO / ".grace" / "test-cluster"))
    )
    owned = not local.running()  # a cluster someone else started (make cluster-up) stays up
    # The real-node tier shares this cluster: where the machine can run a real node, the API
    # server listens on the node's address from the start and the node joins it.
    local.want_real_node = owned and wants_real_node(local.dir)
    t0 = time.monotonic()
    local.up()
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in local.timings.items())
    print(f"\nlocal cluster up in {time.monotonic() - t0:.1f}s ({local.server}; {steps})")
    try:
        _install_crds(str(local.kubeconfig), CONTEXT)
        yield ClusterUnderTest(str(local.kubeconfig), CONTEXT, local=True, local_cluster=local)
    finally:
        if owned:
            local.down()


@pytest.fixture(scope="session")
def api(cluster: ClusterUnderTest) -> Iterator[object]:
    client = cluster.api_client()
    yield client
    client.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def dyn(api: object) -> object:
    from kubernetes.dynamic import DynamicClient

    return DynamicClient(api)


@pytest.fixture
def namespace(api: object, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (not waited for)."""
    from kubernetes import client

    base = request.node.name.lower().replace("_", "-")
    base = "".join(ch for ch in base if ch.isalnum() or ch == "-")[:40].strip("-")
    name = f"t-{base}-{secrets.token_hex(3)}"
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": name, "labels": {"grace.dev/test": "true"}}})
    yield name
    core.delete_namespace(name, propagation_policy="Background")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The real-node tier runs first: its operator pod and the e2e tier's `grace run` (which
    watches every namespace, for the whole session once started) must never both see a node."""
    items.sort(
        key=lambda item: (
            "tests/realnode/" not in item.nodeid,
            # within the tier, the machine check first: it stops and restarts the node
            "tests/realnode/test_machine.py" not in item.nodeid,
        )
    )
