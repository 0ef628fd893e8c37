"""LocalCluster: etcd + kube-apiserver + controller-manager + scheduler + KWOK nodes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from grace_lab.localcluster.binaries import Binaries, ensure_binaries
from grace_lab.localcluster.pki import make_pki
from grace_lab.localcluster.processes import free_port, http_ok, spawn, stop, wait_until

if TYPE_CHECKING:
    from grace_lab.localcluster.node import RealNode

CONTEXT = "grace-local"
"""The kube context the local cluster writes; the test suite only runs against a context like it."""

TEST_USERS: dict[str, list[str]] = {
    "admin": ["system:masters"],
    "alice": ["grace:team"],
    "bob": ["grace:team"],
    "carol": ["grace:team"],
}
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
START_ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def default_state_dir() -> Path:
    env = os.environ.get("GRACE_CLUSTER_DIR")
    if env:
        return Path(env)
    return Path.cwd() / ".grace" / "cluster"


@dataclass
class ClusterState:
    """What `up` started, written to disk so that `down` (from any process) stops exactly that."""

    apiserver_port: int = 0
    etcd_port: int = 0
    pids: dict[str, int] = field(default_factory=dict)
    binaries: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    address: str = "127.0.0.1"
    """Where the API server listens: 127.0.0.1, or the node's address with a real node."""
    real_node: bool = False

    @classmethod
    def load(cls, path: Path) -> ClusterState:
        if not path.exists():
            return cls()
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2))


class LocalCluster:
    """A real control plane in `state_dir`: `up()` is idempotent, `down()` stops only its own pids."""

    def __init__(
        self, state_dir: Path | None = None, nodes: int = 3, real_node: bool = False
    ) -> None:
        self.dir = (state_dir or default_state_dir()).resolve()
        self.nodes = nodes
        self.want_real_node = real_node
        self.timings: dict[str, float] = {}
        self.kubeconfig = self.dir / "kubeconfig"
        self.state_file = self.dir / "state.json"
        self.state = ClusterState.load(self.state_file)

    @property
    def server(self) -> str:
        return f"https://{self.state.address}:{self.state.apiserver_port}"

    def real_node(self) -> RealNode:
        """The real node of this cluster (running or not)."""
        from grace_lab.localcluster.node import RealNode

        return RealNode(self.dir, self.dir / "pki", self.server, self.state.address)

    def running(self) -> bool:
        return bool(self.state.apiserver_port) and http_ok(
            f"{self.server}/readyz", self.state.tokens.get("admin")
        )

    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.kubeconfig)}

    # ---- start -------------------------------------------------------------------------------

    def up(self, timeout: float = 180.0) -> None:
        """Start the control plane (and, if asked, the real node); `timings` says how long."""
        if (
            self.running()
            and all(n in self.state.pids for n in START_ORDER)
            and self.state.real_node >= self.want_real_node
        ):
            if self.want_real_node and not self.real_node().running():
                self.timings.update(self.real_node().up())
            return
        address = "127.0.0.1"
        if self.want_real_node:
            from grace_lab.localcluster.node import node_address, unavailable_reason

            reason = unavailable_reason(self.dir / "node")
            if reason:
                raise RuntimeError(reason)
            address = node_address() or address
        self.down()
        t0 = time.monotonic()
        bins = ensure_binaries()
        self.timings["binaries"] = time.monotonic() - t0
        t0 = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "logs").mkdir(exist_ok=True)
        pki = self.dir / "pki"
        make_pki(pki, node_ip=None if address == "127.0.0.1" else address)
        self.state = ClusterState(
            apiserver_port=free_port(),
            etcd_port=free_port(),
            binaries={k: str(v) for k, v in bins.__dict__.items()},
            tokens=self._tokens(),
            address=address,
            real_node=self.want_real_node,
        )
        self._write_token_file()
        self._write_kubeconfig()
        try:
            self._start_etcd(bins)
            self._start_apiserver(bins, pki)
            self._start_controllers(bins, pki)
            self._start_kwok(bins)
            self._create_nodes(timeout)
            self.timings["control plane"] = time.monotonic() - t0
            if self.want_real_node:
                self.timings.update(self.real_node().up())
        except BaseException:
            self.down()
            raise

    def _tokens(self) -> dict[str, str]:
        token_file = self.dir / "tokens.json"
        if token_file.exists():
            tokens: dict[str, str] = json.loads(token_file.read_text())
            if set(tokens) == set(TEST_USERS):
                return tokens
        tokens = {user: secrets.token_hex(16) for user in TEST_USERS}
        token_file.write_text(json.dumps(tokens))
        token_file.chmod(0o600)
        return tokens

    def _write_token_file(self) -> None:
        lines = [
            f'{self.state.tokens[u]},{u},{u},"{",".join(groups)}"'
            for u, groups in TEST_USERS.items()
        ]
        path = self.dir / "tokens.csv"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)

    def _write_kubeconfig(self) -> None:
        ca = str(self.dir / "pki" / "ca.crt")
        contexts = []
        users = []
        for user in TEST_USERS:
            name = CONTEXT if user == "admin" else f"{CONTEXT}-{user}"
            contexts.append({"name": name, "context": {"cluster": CONTEXT, "user": name}})
            users.append({"name": name, "user": {"token": self.state.tokens[user]}})
        config: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": CONTEXT, "cluster": {"server": self.server, "certificate-authority": ca}}
            ],
            "contexts": contexts,
            "users": users,
            "current-context": CONTEXT,
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    def _spawn(self, name: str, argv: list[str]) -> tuple[int, Path]:
        log = self.dir / "logs" / f"{name}.log"
        pid = spawn(argv, log)
        self.state.pids[name] = pid
        self.state.save(self.state_file)
        return pid, log

    def _start_etcd(self, bins: Binaries) -> None:
        data = self.dir / "etcd-data"
        peer = free_port()
        client = f"http://127.0.0.1:{self.state.etcd_port}"
        pid, log = self._spawn(
            "etcd",
            [
                str(bins.etcd),
                "--name=grace-local",
                f"--data-dir={data}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=grace-local=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        wait_until("etcd", lambda: http_ok(f"{client}/health"), 30, pid, log)

    def _apiserver_node_flags(self, pki: Path) -> list[str]:
        """With a real node: the API server calls kubelets with a client certificate (they
        authorize it by webhook) at their InternalIP, and checks their serving certificates."""
        if not self.state.real_node:
            return []
        from grace_lab.localcluster.pki import issue

        issue(pki, "apiserver-kubelet-client", "kube-apiserver-kubelet-client")
        return [
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
        ]

    def _start_apiserver(self, bins: Binaries, pki: Path) -> None:
        pid, log = self._spawn(
            "kube-apiserver",
            [
                str(bins.kube_apiserver),
                f"--etcd-servers=http://127.0.0.1:{self.state.etcd_port}",
                f"--cert-dir={self.dir / 'apiserver-certs'}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--secure-port={self.state.apiserver_port}",
                # A real node's pods reach the API server through the `kubernetes` Service,
                # whose endpoint is the advertised address: never loopback then.
                f"--bind-address={self.state.address}",
                f"--advertise-address={self.state.address}",
                *self._apiserver_node_flags(pki),
                "--service-cluster-ip-range=10.0.0.0/24",
                "--authorization-mode=Node,RBAC",
                f"--token-auth-file={self.dir / 'tokens.csv'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                "--event-ttl=1h",
                "--v=0",
            ],
        )
        token = self.state.tokens["admin"]
        wait_until("kube-apiserver", lambda: http_ok(f"{self.server}/readyz", token), 90, pid, log)

    def _start_controllers(self, bins: Binaries, pki: Path) -> None:
        kubeconfig = str(self.kubeconfig)
        cm_port = free_port()
        pid, log = self._spawn(
            "kube-controller-manager",
            [
                str(bins.kube_controller_manager),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={cm_port}",
                "--use-service-account-credentials=false",
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
                "--v=0",
            ],
        )
        wait_until(
            "kube-controller-manager",
            lambda: http_ok(f"https://127.0.0.1:{cm_port}/healthz"),
            60,
            pid,
            log,
        )
        sched_port = free_port()
        pid, log = self._spawn(
            "kube-scheduler",
            [
                str(bins.kube_scheduler),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={sched_port}",
                "--v=0",
            ],
        )
        wait_until(
            "kube-scheduler",
            lambda: http_ok(f"https://127.0.0.1:{sched_port}/healthz"),
            60,
            pid,
            log,
        )

    def _start_kwok(self, bins: Binaries) -> None:
        self._spawn(
            "kwok",
            [
                str(bins.kwok),
                f"--kubeconfig={self.kubeconfig}",
                f"--config={bins.kwok_stages}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                "--manage-nodes-with-label-selector=",
                "--cidr=10.244.0.1/16",
                # Node Leases: without them heartbeats come ~once a minute and the node
                # lifecycle controller marks every pod NotReady for seconds at a time.
                "--node-lease-duration-seconds=40",
                "--node-ip=10.96.0.1",
                f"--server-address=127.0.0.1:{free_port()}",
            ],
        )

    def _create_nodes(self, timeout: float) -> None:
        from kubernetes import client, config

        api_client = config.new_client_from_config(str(self.kubeconfig), context=CONTEXT)
        core = client.CoreV1Api(api_client)
        for i in range(self.nodes):
            name = f"kwok-node-{i}"
            body = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {
                        KWOK_NODE_ANNOTATION: "fake",
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                    },
                },
                "status": {
                    "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                    "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                },
            }
            try:
                core.create_node(body)
            except client.ApiException as e:
                if e.status != 409:
                    raise

        def nodes_ready() -> bool:
            ready = 0
            for node in core.list_node().items:
                for cond in node.status.conditions or []:
                    if cond.type == "Ready" and cond.status == "True":
                        ready += 1
            return ready >= self.nodes

        def default_sa() -> bool:
            try:
                core.read_namespaced_service_account("default", "default")
                return True
            except client.ApiException:
                return False

        kwok = self.state.pids["kwok"]
        log = self.dir / "logs" / "kwok.log"
        wait_until("KWOK nodes Ready", nodes_ready, timeout, kwok, log)
        wait_until("default service account", default_sa, timeout)
        api_client.close()

    # ---- stop --------------------------------------------------------------------------------

    def down(self) -> None:
        """Stop every process this cluster started (by pid, newest first); keep certs and tokens."""
        state = ClusterState.load(self.state_file)
        if state.real_node or (self.dir / "node" / "node.json").exists():
            from grace_lab.localcluster.node import RealNode

            RealNode(self.dir, self.dir / "pki", "", state.address).down()
        for name in reversed(START_ORDER):
            pid = state.pids.get(name)
            if pid:
                expect = state.binaries.get(name.replace("-", "_"), name)
                stop(pid, expect)
        if self.state_file.exists():
            self.state_file.unlink()
        self.state = ClusterState()
        # etcd data goes with the cluster: the next `up` starts clean.
        import shutil

        shutil.rmtree(self.dir / "etcd-data", ignore_errors=True)

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_until("kube-apiserver", self.running, timeout)


def is_test_context(kubeconfig: str | None, context: str | None = None) -> tuple[bool, str]:
    """May the test suite touch this cluster? Only the local cluster, kind, or an explicit opt-in."""
    path = kubeconfig or os.path.expanduser("~/.kube/config")
    try:
        cfg = yaml.safe_load(Path(path.split(os.pathsep)[0]).read_text()) or {}
    except OSError as e:
        return False, f"cannot read kubeconfig {path}: {e}"
    name = context or cfg.get("current-context", "")
    allowed = os.environ.get("GRACE_TEST_CONTEXT")
    if allowed and name == allowed:
        return True, f"context {name!r} allowed by GRACE_TEST_CONTEXT"
    if name == CONTEXT or name.startswith("kind-"):
        return True, f"context {name!r} is a test cluster"
    return (
        False,
        f"refusing to run cluster tests against kube context {name!r}: it is not the GRACE local "
        f"cluster ({CONTEXT!r}) nor a kind cluster (kind-*). Set GRACE_TEST_CONTEXT={name} "
        "if this really is a disposable test cluster.",
    )


def _main() -> None:  # pragma: no cover - manual use
    cluster = LocalCluster()
    t0 = time.monotonic()
    cluster.up()
    print(f"up in {time.monotonic() - t0:.1f}s; export KUBECONFIG={cluster.kubeconfig}")


if __name__ == "__main__":
    _main()
