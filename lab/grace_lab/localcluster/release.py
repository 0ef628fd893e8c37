"""`helm install charts/grace` onto the local cluster's real node, with the images built here."""

from __future__ import annotations

import copy
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from grace_lab.localcluster.binaries import ensure_binaries
from grace_lab.localcluster.images import OPA_IMAGE, OPERATOR_IMAGE
from grace_lab.localcluster.install import CHART, REPO
from grace_lab.localcluster.node import NODE_LABEL

ON_REAL_NODE: dict[str, Any] = {
    "nodeSelector": {NODE_LABEL: "true"},
    "tolerations": [{"key": NODE_LABEL, "operator": "Exists", "effect": "NoSchedule"}],
}
"""What a pod spec needs to land on the real node (it is tainted: KWOK pods stay away)."""

CLUSTER_OBJECTS = (
    ("clusterrole", "grace-viewer"),
    ("clusterrole", "grace-approver"),
    ("validatingadmissionpolicy", "grace-approval-decisions"),
    ("validatingadmissionpolicybinding", "grace-approval-decisions"),
    ("validatingadmissionpolicy", "grace-mission-requester"),
    ("validatingadmissionpolicybinding", "grace-mission-requester"),
)
"""The chart's cluster-wide objects with fixed names, which `grace cluster`, the demo and the
tests may have created without Helm: the release adopts them."""

OPEN_POLICY_VALUES = {
    "changeWindows": [],
    "protectedNamespaces": ["kube-system"],
    "maxConcurrentPerNamespace": 1,
    "maxConcurrentCluster": 20,
    "maxPerNamespacePerHour": 100,
}


def local_values(
    prometheus_url: str, watch_namespaces: Sequence[str], replicas: int = 2
) -> dict[str, Any]:
    """Chart values for the local images on the real node (never pulled: pullPolicy Never)."""
    op_repo, op_tag = OPERATOR_IMAGE.rsplit(":", 1)
    opa_repo, opa_tag = OPA_IMAGE.rsplit(":", 1)
    return {
        "replicaCount": replicas,
        "image": {"repository": op_repo, "tag": op_tag, "pullPolicy": "Never"},
        "opa": {"image": {"repository": opa_repo, "tag": opa_tag, "pullPolicy": "Never"}},
        "watchNamespaces": list(watch_namespaces),
        "operator": {"prometheusUrl": prometheus_url, "missionTick": 1},
        "policy": {"engine": "opa", "config": dict(OPEN_POLICY_VALUES)},
        **ON_REAL_NODE,
    }


class ChartRelease:
    """One Helm release of charts/grace, installed and removed with the cached helm binary."""

    def __init__(self, kubeconfig: Path | str, name: str, namespace: str) -> None:
        bins = ensure_binaries(verbose=False)
        self.helm = str(bins.helm)
        self.kubectl = str(bins.kubectl)
        self.name = name
        self.namespace = namespace
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig)}

    @property
    def identity(self) -> str:
        """The user the operator pods act as (their ServiceAccount)."""
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    def _run(self, *argv: str) -> str:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, env=self.env, timeout=300, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} {argv[1]} failed: {done.stderr.strip()}")
        return done.stdout

    def adopt(self) -> None:
        """Mark the chart's fixed-name cluster objects as this release's, where they exist."""
        for kind, obj in CLUSTER_OBJECTS:
            if not self._run(self.kubectl, "get", kind, obj, "--ignore-not-found", "-o", "name"):
                continue
            self._run(
                self.kubectl,
                "annotate",
                "--overwrite",
                kind,
                obj,
                f"meta.helm.sh/release-name={self.name}",
                f"meta.helm.sh/release-namespace={self.namespace}",
            )
            self._run(
                self.kubectl, "label", "--overwrite", kind, obj, "app.kubernetes.io/managed-by=Helm"
            )

    def install(self, values: dict[str, Any]) -> None:
        self.adopt()
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            yaml.safe_dump(values, f)
            f.flush()
            self._run(
                self.helm,
                "upgrade",
                "--install",
                self.name,
                str(CHART),
                "-n",
                self.namespace,
                "--create-namespace",
                "-f",
                f.name,
            )

    def uninstall(self) -> None:
        self._run(self.helm, "uninstall", self.name, "-n", self.namespace, "--wait")

    def public_key(self, core: Any, secret: str = "grace-ledger-key") -> str:
        """The ledger's public key, as an auditor gets it: the Secret's public.pem, or derived
        from its private.pem (the chart generates only that)."""
        import base64

        from grace.ledger.keys import Signer

        data = core.read_namespaced_secret(secret, self.namespace).data
        if "public.pem" in data:
            return base64.b64decode(data["public.pem"]).decode()
        return Signer.from_pem(base64.b64decode(data["private.pem"])).public_pem()

    def pods(self, core: Any) -> list[Any]:
        selector = f"app.kubernetes.io/name=grace,app.kubernetes.io/instance={self.name}"
        return list(core.list_namespaced_pod(self.namespace, label_selector=selector).items)

    def wait_ready(self, core: Any, replicas: int, timeout: float = 180) -> None:
        """Until `replicas` operator pods are Running with every container Ready; the pods'
        state and their last log lines when they are not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pods = self.pods(core)
            if len(pods) == replicas and all(_ready(p) for p in pods):
                return
            time.sleep(1)
        report = []
        for pod in self.pods(core):
            statuses = pod.status.container_statuses or []
            report.append(f"{pod.metadata.name}: {[(c.name, c.state) for c in statuses]}")
            if statuses:
                report.append(
                    core.read_namespaced_pod_log(
                        pod.metadata.name, self.namespace, container="operator", tail_lines=30
                    )
                )
        raise TimeoutError(
            f"{replicas} operator pods not Ready after {timeout:.0f}s:\n" + "\n".join(report)
        )


def _ready(pod: Any) -> bool:
    statuses = pod.status.container_statuses or []
    return pod.status.phase == "Running" and bool(statuses) and all(c.ready for c in statuses)


SCENARIOS = REPO / "examples" / "realnode"
FAST_VERIFY = {"interval": "1s", "stableFor": "3s", "timeout": "2m", "failureLimit": 3}


def scenario_documents(
    folder: str, namespace: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """An examples/realnode folder's workloads and GRACE objects as the tests and the demo run
    them: queries on `namespace`, test-speed intervals (1 s scrapes: 10 s rate windows), pods
    on the real node."""
    workloads, grace = [], []
    for path in sorted((SCENARIOS / folder).glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            doc = copy.deepcopy(doc)
            spec = doc["spec"]
            if doc["kind"] == "HealthNode":
                spec["interval"] = "1s"
                for signal in spec["signals"]:
                    signal["query"] = (
                        signal["query"]
                        .replace('namespace="shop"', f'namespace="{namespace}"')
                        .replace("[1m]", "[10s]")
                    )
                    signal["for"] = "2s"
                grace.append(doc)
            elif doc["kind"] == "Playbook":
                delay = "20s" if spec["verify"].get("initialDelay") else "0s"
                spec["verify"].update(FAST_VERIFY, initialDelay=delay)
                spec.update(cooldown="0s", timeout="4m")
                grace.append(doc)
            else:
                if doc["kind"] == "Deployment":
                    spec["template"]["spec"].update(copy.deepcopy(ON_REAL_NODE))
                workloads.append(doc)
    return workloads, grace


def ensure_namespaces(api: Any, names: Sequence[str]) -> None:
    core = client.CoreV1Api(api)
    for name in names:
        try:
            core.create_namespace({"metadata": {"name": name}})
        except client.ApiException as e:
            if e.status != 409:
                raise
