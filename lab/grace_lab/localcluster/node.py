"""A real node for the local cluster: Debian's containerd + runc + bridge CNI, kubelet, kube-proxy.

It joins the control plane `LocalCluster` runs (its API server then listens on the node's address,
so pods reach it through the `kubernetes` Service and kube-proxy). Everything it starts runs by
its own pid; everything it changes on the machine (sysctls, iptables chains, the bridge, network
namespaces, mounts, cgroups, directories) is recorded first and put back by `down()`. One real
node per machine: a claim file says who runs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from grace_lab.localcluster.binaries import NodeBinaries, ensure_node_binaries
from grace_lab.localcluster.images import PAUSE_IMAGE, ensure_pause_image
from grace_lab.localcluster.pki import issue
from grace_lab.localcluster.processes import alive, free_port, http_ok, spawn, stop, wait_until

NODE_LABEL = "grace.dev/real-node"
"""Label and NoSchedule taint of the real node: only pods that ask for it land there."""
POD_CIDR = "10.85.0.0/24"
BRIDGE = "grace0"
CGROUP_ROOT = "grace-node"
CLAIM = Path("/run/grace-real-node.json")
CNI_BIN = Path("/usr/lib/cni")
CGROUP_FS = Path("/sys/fs/cgroup")
REQUIRED_COMMANDS = ("containerd", "ctr", "runc", "iptables", "ip6tables", "iptables-save", "ip")
SYSCTLS = (
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "net.ipv4.conf.all.forwarding",
    "net.ipv6.conf.all.forwarding",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_tcp_timeout_established",
    "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
)
"""Every sysctl the kubelet, kube-proxy or the bridge plugin may write."""
MACHINE_PATHS = (
    "/run/containerd",
    "/run/netns",
    "/var/lib/cni",
    "/var/log/containers",
    "/var/log/pods",
    "/var/lib/kubelet",
    "/etc/cni",
    "/opt/cni",
)
"""Places outside the node's directory the runtime creates (shim sockets, CNI cache, log links)."""


def node_address() -> str | None:
    """The address other hosts (and this host's pods) reach the machine by: the default route's."""
    try:
        out = subprocess.run(
            ["ip", "-4", "route", "get", "1.1.1.1"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return None
    match = re.search(r"\bsrc (\d+\.\d+\.\d+\.\d+)", out)
    return match.group(1) if match else None


def missing_requirements() -> list[str]:
    """What this machine lacks to run a real node (empty when it can)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (containerd, runc and the kubelet need it)")
    if "overlay" not in Path("/proc/filesystems").read_text():
        missing.append("the overlay filesystem (modprobe overlay)")
    missing += [f"`{c}`" for c in REQUIRED_COMMANDS if shutil.which(c) is None]
    if not (CNI_BIN / "bridge").exists():
        missing.append(f"the CNI plugins in {CNI_BIN} (containernetworking-plugins)")
    if not (CGROUP_FS / "memory").is_dir() and not (CGROUP_FS / "cgroup.controllers").exists():
        missing.append("a cgroup filesystem at /sys/fs/cgroup")
    if node_address() is None:
        missing.append("an IPv4 default route (the node's address)")
    return missing


def unavailable_reason(node_dir: Path | None = None) -> str | None:
    """One line saying why a real node cannot run here (for `node_dir`), or None when it can."""
    missing = missing_requirements()
    if missing:
        return (
            f"real node unavailable on this machine: missing {', '.join(missing)} "
            "(hack/realnode-deps.sh installs the packages)"
        )
    other = claimed_by()
    if other is not None and (node_dir is None or other != node_dir):
        return f"real node unavailable: one already runs on this machine (from {other})"
    return None


def claimed_by() -> Path | None:
    """The directory of the real node running on this machine, if any (one per machine:
    it holds the kubelet's cgroups, kube-proxy's iptables chains and the CNI bridge)."""
    try:
        claim = json.loads(CLAIM.read_text())
    except (OSError, ValueError):
        return None
    return Path(claim["dir"]) if _alive(int(claim.get("pid", 0))) else None


# ---- what the machine looks like ------------------------------------------------------------


@dataclass
class MachineState:
    """Everything a real node may change on the machine, as comparable values."""

    sysctls: dict[str, str] = field(default_factory=dict)
    chains: dict[str, list[str]] = field(default_factory=dict)
    netns: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    paths: dict[str, bool] = field(default_factory=dict)

    def differences(self, other: MachineState) -> list[str]:
        """Human-readable lines, one per thing that differs (empty: the same machine)."""
        lines = []
        for name, mine in asdict(self).items():
            theirs = asdict(other)[name]
            if mine == theirs:
                continue
            if isinstance(mine, dict):
                for key in sorted(set(mine) | set(theirs)):
                    if mine.get(key) != theirs.get(key):
                        lines.append(f"{name} {key}: {mine.get(key)!r} -> {theirs.get(key)!r}")
            else:
                added = sorted(set(theirs) - set(mine))
                gone = sorted(set(mine) - set(theirs))
                lines += [f"{name} added: {x}" for x in added] + [
                    f"{name} removed: {x}" for x in gone
                ]
        return lines


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def _chains() -> dict[str, list[str]]:
    tables: dict[str, set[str]] = {}
    for tool in ("iptables-save", "ip6tables-save"):
        if shutil.which(tool) is None:
            continue
        out = subprocess.run([tool], capture_output=True, text=True, check=False).stdout
        table = ""
        for line in out.splitlines():
            if line.startswith("*"):
                table = f"{tool.removesuffix('-save')}/{line[1:]}"
                tables.setdefault(table, set())
            elif line.startswith(":"):
                tables[table].add(line[1:].split()[0])
    return {t: sorted(c) for t, c in sorted(tables.items())}


def _cgroups(depth: int = 2) -> list[str]:
    found = []
    for hierarchy in sorted(CGROUP_FS.iterdir()) if CGROUP_FS.is_dir() else []:
        if not hierarchy.is_dir() or hierarchy.is_symlink():
            continue
        for root, dirs, _ in os.walk(hierarchy):
            rel = Path(root).relative_to(CGROUP_FS)
            if len(rel.parts) > depth:
                dirs.clear()
                continue
            found.append(str(rel))
    return sorted(found)


def machine_snapshot() -> MachineState:
    """The machine as a real node would leave marks on it."""
    sysctls = {}
    for name in SYSCTLS:
        with contextlib.suppress(OSError):
            sysctls[name] = _sysctl_path(name).read_text().strip()
    netns_dir = Path("/run/netns")
    links = subprocess.run(
        ["ip", "-o", "link", "show"], capture_output=True, text=True, check=False
    ).stdout
    return MachineState(
        sysctls=sysctls,
        chains=_chains(),
        netns=sorted(p.name for p in netns_dir.iterdir()) if netns_dir.is_dir() else [],
        mounts=sorted({line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()}),
        cgroups=_cgroups(),
        links=sorted(m.group(1) for m in re.finditer(r"^\d+: ([^:@]+)", links, flags=re.M)),
        paths={p: Path(p).exists() for p in MACHINE_PATHS},
    )


# ---- the node --------------------------------------------------------------------------------


@dataclass
class NodeState:
    """What `up` started and what the machine looked like before, so `down` undoes exactly that."""

    pids: dict[str, int] = field(default_factory=dict)
    before: dict[str, Any] = field(default_factory=dict)
    kubelet_port: int = 0

    @classmethod
    def load(cls, path: Path) -> NodeState:
        if not path.exists():
            return cls()
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))


START_ORDER = ("containerd", "kubelet", "kube-proxy", "kube-state-metrics")


class RealNode:
    """kubelet + kube-proxy + containerd in `<cluster dir>/node`, joined to the cluster's API.

    `pki` is the cluster's CA directory, `server` the API server's URL on `address`.
    """

    def __init__(self, cluster_dir: Path, pki: Path, server: str, address: str) -> None:
        self.dir = cluster_dir / "node"
        self.pki = pki
        self.server = server
        self.address = address
        self.name = socket.gethostname().lower()
        self.socket = self.dir / "containerd" / "containerd.sock"
        self.state_file = self.dir / "node.json"
        self.state = NodeState.load(self.state_file)
        self.admin_kubeconfig = cluster_dir / "kubeconfig"
        self.ksm_port = 0

    # ---- helpers -----------------------------------------------------------------------------

    def ctr(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        """Run `ctr` against this node's containerd in the Kubernetes namespace."""
        done = subprocess.run(
            ["ctr", "-a", str(self.socket), "-n", "k8s.io", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def running(self) -> bool:
        return all(_alive(self.state.pids.get(n, 0)) for n in START_ORDER)

    @property
    def kube_state_metrics(self) -> str:
        """host:port of kube-state-metrics' /metrics."""
        return f"127.0.0.1:{self.ksm_port or self.state.before.get('ksm_port', 0)}"

    @property
    def kubelet(self) -> str:
        """host:port of the kubelet's HTTPS endpoint (/metrics/cadvisor, /metrics/resource)."""
        return f"{self.address}:{self.state.kubelet_port}"

    def _spawn(self, name: str, argv: list[str]) -> tuple[int, Path]:
        log = self.dir / "logs" / f"{name}.log"
        pid = spawn(argv, log)
        self.state.pids[name] = pid
        self.state.save(self.state_file)
        return pid, log

    def _claim(self) -> None:
        other = claimed_by()
        if other is not None and other != self.dir:
            raise RuntimeError(
                f"a real node already runs on this machine (from {other}): stop it first "
                f"with `grace cluster --dir {other.parent} down`"
            )
        CLAIM.write_text(json.dumps({"dir": str(self.dir), "pid": os.getpid()}))

    # ---- start -------------------------------------------------------------------------------

    def up(self, timeout: float = 120.0) -> dict[str, float]:
        """Start containerd, kubelet, kube-proxy and kube-state-metrics; returns step timings."""
        reason = unavailable_reason(self.dir)
        if reason:
            raise RuntimeError(reason)
        if self.running():
            return {}
        self.down()
        timings: dict[str, float] = {}
        t0 = time.monotonic()
        bins = ensure_node_binaries()
        timings["node binaries"] = time.monotonic() - t0
        self._claim()
        for sub in ("logs", "etc", "pki", "cni/net.d", "cni/ipam", "kubelet", "pod-logs", "static"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.state = NodeState(before=asdict(machine_snapshot()), kubelet_port=free_port())
        self.state.save(self.state_file)
        try:
            t = time.monotonic()
            self._start_containerd()
            CLAIM.write_text(
                json.dumps({"dir": str(self.dir), "pid": self.state.pids["containerd"]})
            )
            timings["containerd"] = time.monotonic() - t
            t = time.monotonic()
            ensure_pause_image(self, bins.pause)
            timings["pause image"] = time.monotonic() - t
            t = time.monotonic()
            self._write_identities()
            self._grant_api_access()
            self._start_kubelet(bins)
            self._start_kube_proxy(bins)
            self._wait_ready(timeout)
            timings["kubelet and kube-proxy to Node Ready"] = time.monotonic() - t
            self._start_kube_state_metrics(bins)
        except BaseException:
            self.down()
            raise
        return timings

    def _start_containerd(self) -> None:
        root = self.dir / "containerd"
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config = f"""version = 2
root = "{root / "root"}"
state = "{root / "state"}"
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # Without CAP_SYS_RESOURCE (these VMs) runc cannot write the sandbox's oom_score_adj of -998
  # ("can't get final child's PID from pipe: EOF"): clamp it to containerd's own instead.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{self.dir / "cni" / "net.d"}"
"""
        (self.dir / "etc" / "containerd.toml").write_text(config)
        cni = {
            "cniVersion": "1.0.0",
            "name": "grace-node",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "ipMasq": True,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_CIDR}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.dir / "cni" / "ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
                {"type": "loopback"},
            ],
        }
        (self.dir / "cni" / "net.d" / "10-grace-node.conflist").write_text(json.dumps(cni))
        pid, log = self._spawn(
            "containerd", ["containerd", "--config", str(self.dir / "etc" / "containerd.toml")]
        )

        def serving() -> bool:
            if not self.socket.exists():
                return False
            try:
                self.ctr("version", timeout=10)
            except RuntimeError:
                return False
            return True

        wait_until("containerd", serving, 30, pid, log)

    def _write_identities(self) -> None:
        """Client certificates (CN = user, O = groups) and the kubelet's serving certificate."""
        ca = self.pki
        issue(ca, "kubelet-client", f"system:node:{self.name}", ["system:nodes"])
        issue(
            ca,
            "kubelet-serving",
            f"system:node:{self.name}",
            ["system:nodes"],
            server=True,
            dns=[self.name, "localhost"],
            ips=[self.address, "127.0.0.1"],
        )
        issue(ca, "kube-proxy", "system:kube-proxy")
        for user, cert in (("kubelet", "kubelet-client"), ("kube-proxy", "kube-proxy")):
            kubeconfig = {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "local",
                        "cluster": {
                            "server": self.server,
                            "certificate-authority": str(ca / "ca.crt"),
                        },
                    }
                ],
                "users": [
                    {
                        "name": user,
                        "user": {
                            "client-certificate": str(ca / f"{cert}.crt"),
                            "client-key": str(ca / f"{cert}.key"),
                        },
                    }
                ],
                "contexts": [{"name": "default", "context": {"cluster": "local", "user": user}}],
                "current-context": "default",
            }
            path = self.dir / "etc" / f"{user}.kubeconfig"
            path.write_text(yaml.safe_dump(kubeconfig))
            path.chmod(0o600)

    def _grant_api_access(self) -> None:
        """The API server calls the kubelet (logs, exec, metrics proxy) with its client cert;
        the kubelet asks the API server whether that user may (webhook authorization)."""
        self._create_rbac(
            _binding(
                "grace-local:kube-apiserver-kubelet-client",
                "system:kubelet-api-admin",
                "kube-apiserver-kubelet-client",
            )
        )

    def _create_rbac(self, *objects: dict[str, Any]) -> None:
        """Create ClusterRoles and ClusterRoleBindings (kept when they exist)."""
        from kubernetes import client, config

        api = config.new_client_from_config(str(self.admin_kubeconfig))
        rbac = client.RbacAuthorizationV1Api(api)
        try:
            for body in objects:
                create = (
                    rbac.create_cluster_role_binding
                    if "roleRef" in body
                    else rbac.create_cluster_role
                )
                try:
                    create(body)
                except client.ApiException as e:
                    if e.status != 409:
                        raise
        finally:
            api.close()

    def _start_kubelet(self, bins: NodeBinaries) -> None:
        ca = self.pki
        for hierarchy in _v1_hierarchies():
            mine = hierarchy / CGROUP_ROOT
            mine.mkdir(exist_ok=True)
            if hierarchy.name == "cpuset":
                for f in ("cpuset.cpus", "cpuset.mems"):
                    (mine / f).write_text((hierarchy / f).read_text())
        cgroup_v1 = (CGROUP_FS / "memory").is_dir()
        config: dict[str, Any] = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": not cgroup_v1,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{CGROUP_ROOT}",
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "address": self.address,
            "port": self.state.kubelet_port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            "tlsCertFile": str(ca / "kubelet-serving.crt"),
            "tlsPrivateKeyFile": str(ca / "kubelet-serving.key"),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(ca / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "staticPodPath": str(self.dir / "static"),
            "podLogsDir": str(self.dir / "pod-logs"),
            "clusterDomain": "cluster.local",
            "failSwapOn": False,
            "protectKernelDefaults": False,
            "makeIPTablesUtilChains": False,
            "serializeImagePulls": False,
            # Images are imported, never pulled: they must never be garbage-collected.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
                "nodefs.inodesFree": "1%",
            },
            "maxPods": 60,
            "nodeStatusUpdateFrequency": "5s",
            "shutdownGracePeriod": "0s",
        }
        path = self.dir / "etc" / "kubelet.yaml"
        path.write_text(yaml.safe_dump(config))
        self._spawn(
            "kubelet",
            [
                str(bins.kubelet),
                f"--config={path}",
                f"--kubeconfig={self.dir / 'etc' / 'kubelet.kubeconfig'}",
                f"--hostname-override={self.name}",
                f"--node-ip={self.address}",
                f"--root-dir={self.dir / 'kubelet'}",
                f"--cert-dir={self.dir / 'pki'}",
                f"--node-labels={NODE_LABEL}=true",
                f"--register-with-taints={NODE_LABEL}=true:NoSchedule",
                # cAdvisor's own containerd client: without it /metrics/cadvisor has no
                # pod, namespace or container labels.
                f"--containerd={self.socket}",
                "--v=1",
            ],
        )

    def _start_kube_proxy(self, bins: NodeBinaries) -> None:
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.dir / "etc" / "kube-proxy.kubeconfig")},
            "hostnameOverride": self.name,
            "mode": "iptables",
            "clusterCIDR": POD_CIDR,
            "metricsBindAddress": f"127.0.0.1:{free_port()}",
            "healthzBindAddress": f"127.0.0.1:{free_port()}",
            # 0: leave the machine's conntrack table size alone.
            "conntrack": {"maxPerCore": 0, "min": 0},
        }
        path = self.dir / "etc" / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config))
        self._spawn("kube-proxy", [str(bins.kube_proxy), f"--config={path}", "--v=1"])

    @property
    def pod_targets(self) -> Path:
        """The file_sd file PodTargets keeps up to date (Debian's Prometheus has no
        kubernetes_sd: its build leaves that discovery out)."""
        return self.dir / "pod-targets.json"

    def scrape_configs(self) -> list[dict[str, Any]]:
        """Prometheus jobs for this node: the kubelet's cAdvisor, kube-state-metrics, and every
        pod port named `metrics` or `http` (listed from the API by `PodTargets`). Prometheus
        authenticates as `grace-local:prometheus`, allowed only to read these."""
        issue(self.pki, "prometheus", "grace-local:prometheus")
        self._grant_prometheus()
        tls = {
            "ca_file": str(self.pki / "ca.crt"),
            "cert_file": str(self.pki / "prometheus.crt"),
            "key_file": str(self.pki / "prometheus.key"),
        }
        return [
            {
                "job_name": "kubelet-cadvisor",
                "scheme": "https",
                "metrics_path": "/metrics/cadvisor",
                "tls_config": tls,
                "static_configs": [{"targets": [self.kubelet], "labels": {"node": self.name}}],
            },
            {
                "job_name": "kube-state-metrics",
                "honor_labels": True,
                "static_configs": [{"targets": [self.kube_state_metrics]}],
            },
            {
                "job_name": "pods",
                "file_sd_configs": [{"files": [str(self.pod_targets)], "refresh_interval": "5s"}],
            },
        ]

    def _grant_prometheus(self) -> None:
        name = "grace-local:prometheus"
        role = {
            "metadata": {"name": name},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["pods", "nodes"],
                    "verbs": ["get", "list", "watch"],
                },
                {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
            ],
        }
        self._create_rbac(role, _binding(name, name, name))

    def _start_kube_state_metrics(self, bins: NodeBinaries) -> None:
        self.ksm_port = free_port()
        self.state.before["ksm_port"] = self.ksm_port
        pid, log = self._spawn(
            "kube-state-metrics",
            [
                str(bins.kube_state_metrics),
                f"--kubeconfig={self.admin_kubeconfig}",
                "--host=127.0.0.1",
                f"--port={self.ksm_port}",
                "--telemetry-host=127.0.0.1",
                f"--telemetry-port={free_port()}",
                "--resources=pods,deployments,replicasets,nodes",
            ],
        )
        wait_until(
            "kube-state-metrics",
            lambda: http_ok(f"http://127.0.0.1:{self.ksm_port}/healthz"),
            60,
            pid,
            log,
        )

    def _wait_ready(self, timeout: float) -> None:
        from kubernetes import client, config

        api = config.new_client_from_config(str(self.admin_kubeconfig))
        core = client.CoreV1Api(api)

        def ready() -> bool:
            try:
                node = core.read_node(self.name)
            except client.ApiException:
                return False
            return any(
                c.type == "Ready" and c.status == "True" for c in node.status.conditions or []
            )

        try:
            wait_until(
                f"real node {self.name} Ready",
                ready,
                timeout,
                self.state.pids["kubelet"],
                self.dir / "logs" / "kubelet.log",
            )
        finally:
            api.close()

    # ---- stop --------------------------------------------------------------------------------

    def down(self) -> None:
        """Stop what `up` started, by pid, and put the machine back as it was before `up`."""
        state = NodeState.load(self.state_file)
        if not state.pids and not state.before:
            return
        for name in ("kube-state-metrics", "kubelet", "kube-proxy"):
            pid = state.pids.get(name)
            if pid:
                stop(pid, name)
        if self.socket.exists() and _alive(state.pids.get("containerd", 0)):
            self._remove_containers()
        pid = state.pids.get("containerd")
        if pid:
            stop(pid, "containerd", grace_seconds=10)
        before = MachineState(**{k: v for k, v in state.before.items() if k != "ksm_port"})
        if state.before:
            restore_machine(before, self.dir)
        if CLAIM.exists():
            with contextlib.suppress(ValueError, OSError):
                if json.loads(CLAIM.read_text()).get("dir") == str(self.dir):
                    CLAIM.unlink()
        self.state_file.unlink(missing_ok=True)
        self.state = NodeState()

    def _remove_containers(self) -> None:
        """Kill every task and remove every container (the kubelet is already gone)."""
        for task in self.ctr("tasks", "ls", "-q", check=False, timeout=30).split():
            self.ctr("tasks", "delete", "--force", task, check=False, timeout=30)
        for container in self.ctr("containers", "ls", "-q", check=False, timeout=30).split():
            self.ctr("containers", "rm", container, check=False, timeout=30)


def _binding(name: str, role: str, user: str) -> dict[str, Any]:
    """A ClusterRoleBinding of ClusterRole `role` to the certificate user `user`."""
    group = "rbac.authorization.k8s.io"
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": group, "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": group, "kind": "User", "name": user}],
    }


def _alive(pid: int | None) -> bool:
    return bool(pid) and pid is not None and pid > 0 and alive(pid)


def _v1_hierarchies() -> list[Path]:
    if not (CGROUP_FS / "memory").is_dir():
        return []
    return [
        h
        for h in sorted(CGROUP_FS.iterdir())
        if h.is_dir() and not h.is_symlink() and h.name != "unified" and (h / "tasks").exists()
    ]


def restore_machine(before: MachineState, node_dir: Path) -> None:
    """Undo what a real node left: mounts under its directory, network namespaces, the bridge,
    iptables chains, cgroups, directories and sysctls that were not there (or not so) before."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted(mounts, reverse=True):
        if mount.startswith(str(node_dir) + "/") or (
            mount.startswith("/run/containerd/") and not before.paths.get("/run/containerd")
        ):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
    netns = Path("/run/netns")
    for ns in sorted(netns.iterdir()) if netns.is_dir() else []:
        if ns.name.startswith("cni-") and ns.name not in before.netns:
            subprocess.run(["umount", str(ns)], capture_output=True, check=False)
            ns.unlink(missing_ok=True)
    if BRIDGE not in before.links:
        subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, check=False)
    _remove_new_chains(before.chains)
    _remove_cgroups()
    for path, existed in before.paths.items():
        if not existed and Path(path).exists():
            if Path(path).is_dir() and not Path(path).is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                Path(path).unlink(missing_ok=True)
    for name, value in before.sysctls.items():
        target = _sysctl_path(name)
        with contextlib.suppress(OSError):
            if target.read_text().strip() != value:
                target.write_text(value)


def _remove_new_chains(before: dict[str, list[str]]) -> None:
    """Delete the rules jumping to chains that were not there before, then those chains."""
    now = _chains()
    for table, chains in now.items():
        tool, name = table.split("/")
        new = set(chains) - set(before.get(table, []))
        if not new:
            continue
        dump = subprocess.run(
            [f"{tool}-save", "-t", name], capture_output=True, text=True, check=False
        ).stdout
        for line in dump.splitlines():
            if not line.startswith("-A "):
                continue
            parts = line.split()
            chain = parts[1]
            target = parts[parts.index("-j") + 1] if "-j" in parts else ""
            if chain not in new and target in new:
                rule = line[3:]
                subprocess.run(
                    ["sh", "-c", f"{tool} -w -t {name} -D {rule}"],
                    capture_output=True,
                    check=False,
                )
        for chain in sorted(new):
            subprocess.run([tool, "-w", "-t", name, "-F", chain], capture_output=True, check=False)
        for chain in sorted(new):
            subprocess.run([tool, "-w", "-t", name, "-X", chain], capture_output=True, check=False)


def _remove_cgroups() -> None:
    for hierarchy in sorted(CGROUP_FS.iterdir()) if CGROUP_FS.is_dir() else []:
        mine = hierarchy / CGROUP_ROOT
        if not mine.is_dir() or hierarchy.is_symlink():
            continue
        for root, _, _ in sorted(os.walk(mine), key=lambda w: -len(Path(w[0]).parts)):
            for _ in range(20):
                try:
                    Path(root).rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)  # the last task of the cgroup is still exiting


class PodTargets:
    """Keeps `node.pod_targets` listing every Running pod's `metrics`/`http` port on the node,
    labelled namespace/pod/container/app: what kubernetes_sd with the usual relabelling gives."""

    def __init__(self, node: RealNode, interval: float = 1.0) -> None:
        self.node = node
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pod-targets", daemon=True)

    def __enter__(self) -> PodTargets:
        self.write()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):  # the API restarting: try again next tick
                self.write()

    def write(self) -> None:
        from kubernetes import client, config

        api = config.new_client_from_config(str(self.node.admin_kubeconfig))
        try:
            pods = client.CoreV1Api(api).list_pod_for_all_namespaces(
                field_selector=f"spec.nodeName={self.node.name},status.phase=Running"
            )
        finally:
            api.close()
        groups = []
        for pod in pods.items:
            if not pod.status.pod_ip:
                continue
            for container in pod.spec.containers:
                for port in container.ports or []:
                    if port.name in ("metrics", "http"):
                        labels = {
                            "namespace": pod.metadata.namespace,
                            "pod": pod.metadata.name,
                            "container": container.name,
                        }
                        app = (pod.metadata.labels or {}).get("app")
                        if app:
                            labels["app"] = app
                        target = f"{pod.status.pod_ip}:{port.container_port}"
                        groups.append({"targets": [target], "labels": labels})
        text = json.dumps(sorted(groups, key=lambda g: g["targets"][0]))
        path = self.node.pod_targets
        if not path.exists() or path.read_text() != text:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(path)
