"""The operator as users run it: a real `grace run` process, with a real Prometheus and the shop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kubernetes import client

from grace.ledger import Signer
from grace.localcluster.processes import alive, free_port, http_ok

REPO = Path(__file__).resolve().parents[2]
OPERATOR_NAMESPACE = "grace-system"

TEST_POLICY = {
    "changeWindows": "[]",
    "protectedNamespaces": "[kube-system]",
    "maxConcurrentPerNamespace": "1",
    "maxConcurrentCluster": "20",
    "maxPerNamespacePerHour": "100",
}


def ensure_policy_configmap(api: Any, data: dict[str, str] | None = None) -> None:
    """The policy data the tests run under (no change window limits, generous budgets)."""
    core = client.CoreV1Api(api)
    try:
        core.create_namespace({"metadata": {"name": OPERATOR_NAMESPACE}})
    except client.ApiException as e:
        if e.status != 409:
            raise
    body = {"metadata": {"name": "grace-policy"}, "data": data or TEST_POLICY}
    try:
        core.replace_namespaced_config_map("grace-policy", OPERATOR_NAMESPACE, body)
    except client.ApiException as e:
        if e.status != 404:
            raise
        core.create_namespaced_config_map(OPERATOR_NAMESPACE, body)


class OperatorProcess:
    """`grace run` in its own process, so a test can kill -9 it and start it again."""

    def __init__(self, kubeconfig: str, prometheus_url: str, workdir: Path, *extra: str) -> None:
        self.kubeconfig = kubeconfig
        self.prometheus_url = prometheus_url
        self.workdir = workdir
        self.extra = list(extra)
        self.key = workdir / "signing-key.pem"
        self.public_key = workdir / "signing-key.pub.pem"
        self.ledger = workdir / "ledger.jsonl"
        self.log = workdir / "operator.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        if not self.key.exists():
            signer = Signer.generate()
            self.key.write_text(signer.private_pem())
            self.public_key.write_text(signer.public_pem())

    def start(self) -> OperatorProcess:
        env = {**os.environ, "KUBECONFIG": self.kubeconfig, "PYTHONUNBUFFERED": "1"}
        argv = [
            sys.executable,
            "-m",
            "grace.cli.main",
            "run",
            f"--prometheus-url={self.prometheus_url}",
            f"--ledger-path={self.ledger}",
            f"--signing-key={self.key}",
            f"--policy-dir={REPO / 'policies'}",
            "--mission-tick=0.5",
            f"--metrics-port={self.metrics_port}",
            *self.extra,
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while not http_ok(f"http://127.0.0.1:{self.metrics_port}/metrics"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"operator did not start:\n{self.tail()}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and alive(self.proc.pid):
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 60) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def grant(api: Any, namespace: str, user: str, role: str) -> None:
    """Bind one of the chart's user ClusterRoles to `user` in `namespace`."""
    import yaml

    rbac = client.RbacAuthorizationV1Api(api)
    for doc in yaml.safe_load_all((REPO / "charts/grace/templates/user-roles.yaml").read_text()):
        if doc and doc["metadata"]["name"] == role:
            try:
                rbac.create_cluster_role(doc)
            except client.ApiException as e:
                if e.status != 409:
                    raise
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": f"{role}-{user}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
        },
    )
