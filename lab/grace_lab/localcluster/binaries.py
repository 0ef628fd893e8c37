"""Build the control-plane binaries once from their Go modules into a cache outside the repo.

Nothing here downloads a prebuilt binary: every tool is compiled from the Go module proxy
with the local toolchain, keyed by version so a cache is reused until a version changes.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.35.4"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.7.0"
OPA_VERSION = "v1.22.0"
HELM_VERSION = "v3.19.5"

KUBE_STATE_METRICS_VERSION = "v2.19.1"

KUBE_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
NODE_COMMANDS = ("kubelet", "kube-proxy")
"""A real node's binaries: built from the same wrapper module, only when a real node is asked for."""


def cache_dir() -> Path:
    """Where binaries live: $GRACE_CACHE, else ~/.cache/grace (outside any clone, so reused)."""
    root = os.environ.get("GRACE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "grace"
    )
    return Path(root)


@contextmanager
def build_lock() -> Iterator[None]:
    """Hold the cache's one build lock (an fcntl lock on `build.lock`): builders share the Go
    work directories under `src/` and write `<dest>.partial`, so two builds at once (two
    `grace cluster build`, a test run beside a demo) would corrupt each other. The second one
    waits, then finds what the first built. The kernel drops the lock when its process dies."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    lock = root / "build.lock"
    with lock.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"# waiting for another build into {root} ({lock})", file=sys.stderr, flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Binaries:
    """Paths of every binary the local cluster needs."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    kwok: Path
    opa: Path
    helm: Path
    kwok_stages: Path


def _go_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CGO_ENABLED": "0",
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-buildvcs=false -mod=mod",
            "GOWORK": "off",
        }
    )
    env.setdefault("GOPATH", os.path.expanduser("~/go"))
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    print(f"+ {' '.join(cmd)}  (in {cwd})", file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


def _module_dir(module: str, version: str, env: dict[str, str], cwd: Path) -> Path:
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r'"Dir":\s*"([^"]+)"', out)
    if not match:
        raise RuntimeError(f"go mod download gave no Dir for {module}@{version}: {out}")
    return Path(match.group(1))


def _staging_modules(kubernetes_dir: Path) -> list[str]:
    gomod = (kubernetes_dir / "go.mod").read_text()
    return re.findall(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/", gomod, flags=re.M)


def _build_kubernetes(dest: Path, commands: tuple[str, ...] = KUBE_COMMANDS) -> None:
    work = cache_dir() / "src" / f"kubernetes-{KUBERNETES_VERSION}"
    work.mkdir(parents=True, exist_ok=True)
    env = _go_env(work)
    kdir = _module_dir("k8s.io/kubernetes", KUBERNETES_VERSION, env, work)
    staging_version = "v0." + KUBERNETES_VERSION.split(".", 1)[1]
    replaces = "\n".join(f"\t{m} => {m} {staging_version}" for m in _staging_modules(kdir))
    (work / "go.mod").write_text(
        "module grace.dev/localcluster/kubernetes\n\n"
        "go 1.25.0\n\n"
        "godebug default=go1.25\n\n"
        f"require k8s.io/kubernetes {KUBERNETES_VERSION}\n\n"
        f"replace (\n{replaces}\n)\n"
    )
    (work / "tools.go").write_text(
        "//go:build tools\n\npackage tools\n\n"
        + "".join(f'import _ "k8s.io/kubernetes/cmd/{c}"\n' for c in KUBE_COMMANDS + NODE_COMMANDS)
    )
    _run(["go", "mod", "tidy", "-e"], work, env)
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    pkg = "k8s.io/component-base/version"
    ldflags = " ".join(
        [
            "-s -w",
            f"-X {pkg}.gitVersion={KUBERNETES_VERSION}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
            f"-X {pkg}/base.gitVersion={KUBERNETES_VERSION}",
            f"-X {pkg}/base.gitMajor={major}",
            f"-X {pkg}/base.gitMinor={minor}",
        ]
    )
    for command in commands:
        _run(
            [
                "go",
                "build",
                "-tags",
                "selinux,notest",
                "-trimpath",
                "-ldflags",
                ldflags,
                "-o",
                str(dest / command),
                f"k8s.io/kubernetes/cmd/{command}",
            ],
            work,
            env,
        )


def _build_etcd(dest: Path) -> None:
    work = cache_dir() / "src" / f"etcd-{ETCD_VERSION}"
    work.mkdir(parents=True, exist_ok=True)
    env = _go_env(work)
    (work / "go.mod").write_text(
        f"module grace.dev/localcluster/etcd\n\ngo 1.25.0\n\nrequire go.etcd.io/etcd/server/v3 {ETCD_VERSION}\n"
    )
    (work / "tools.go").write_text(
        '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n'
    )
    _run(["go", "mod", "tidy", "-e"], work, env)
    _run(
        [
            "go",
            "build",
            "-trimpath",
            "-ldflags",
            "-s -w",
            "-o",
            str(dest / "etcd"),
            "go.etcd.io/etcd/server/v3",
        ],
        work,
        env,
    )


def _go_install(
    module_cmd: str, version: str, name: str, dest: Path, ldflags: str = "-s -w"
) -> None:
    work = cache_dir() / "src"
    work.mkdir(parents=True, exist_ok=True)
    env = _go_env(work)
    env["GOBIN"] = str(dest)
    env["GOFLAGS"] = "-buildvcs=false"
    _run(["go", "install", "-trimpath", "-ldflags", ldflags, f"{module_cmd}@{version}"], work, env)
    if not (dest / name).exists():
        raise RuntimeError(f"go install did not produce {dest / name}")


def _kwok_stages(dest: Path) -> Path:
    """KWOK >= 0.7 ships its stages as kustomize files: concatenate the `fast` set it names."""
    env = _go_env(cache_dir())
    kdir = _module_dir("sigs.k8s.io/kwok", KWOK_VERSION, env, cache_dir())
    stage_root = kdir / "kustomize" / "stage"
    parts = []
    for sub in ("node/fast", "node/heartbeat-with-lease", "pod/fast"):
        for f in sorted((stage_root / sub).glob("*.yaml")):
            if f.name != "kustomization.yaml":
                parts.append(f.read_text().strip())
    if not parts:
        raise RuntimeError(f"no KWOK fast stages found under {stage_root}")
    stages = dest / "kwok-stages.yaml"
    partial = stages.with_name(stages.name + ".partial")
    partial.write_text("\n---\n".join(parts) + "\n")
    partial.rename(stages)
    return stages


def _build(dest: Path, names: tuple[str, ...], builder: Callable[[Path], None]) -> None:
    """Run `builder` into a fresh `<dest>.partial` and move it in place: never half a cache.
    Under the build lock, looking again once it is held: another process may have built it."""
    if all((dest / n).exists() for n in names):
        return
    with build_lock():
        if all((dest / n).exists() for n in names):
            return
        tmp = dest.with_name(dest.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        builder(tmp)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)


def ensure_binaries(verbose: bool = True) -> Binaries:
    """Build whatever is missing from the cache and return the paths. Idempotent and resumable."""
    root = cache_dir() / "bin"
    kube = root / f"kubernetes-{KUBERNETES_VERSION}"
    etcd = root / f"etcd-{ETCD_VERSION}"
    kwok = root / f"kwok-{KWOK_VERSION}"
    opa = root / f"opa-{OPA_VERSION}"
    helm = root / f"helm-{HELM_VERSION}"
    build = _build

    build(etcd, ("etcd",), _build_etcd)
    build(
        kwok, ("kwok",), lambda d: _go_install("sigs.k8s.io/kwok/cmd/kwok", KWOK_VERSION, "kwok", d)
    )
    build(
        opa,
        ("opa",),
        lambda d: _go_install(
            "github.com/open-policy-agent/opa",
            OPA_VERSION,
            "opa",
            d,
            f"-s -w -X github.com/open-policy-agent/opa/v1/version.Version={OPA_VERSION.lstrip('v')}",
        ),
    )
    build(
        helm,
        ("helm",),
        lambda d: _go_install(
            "helm.sh/helm/v3/cmd/helm",
            HELM_VERSION,
            "helm",
            d,
            f"-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
        ),
    )
    build(kube, KUBE_COMMANDS, _build_kubernetes)
    stages = kwok / "kwok-stages.yaml"
    if not stages.exists():
        with build_lock():
            if not stages.exists():
                _kwok_stages(kwok)
    return Binaries(
        etcd=etcd / "etcd",
        kube_apiserver=kube / "kube-apiserver",
        kube_controller_manager=kube / "kube-controller-manager",
        kube_scheduler=kube / "kube-scheduler",
        kubectl=kube / "kubectl",
        kwok=kwok / "kwok",
        opa=opa / "opa",
        helm=helm / "helm",
        kwok_stages=stages,
    )


@dataclass(frozen=True)
class NodeBinaries:
    """What a real node runs besides Debian's containerd: kubelet, kube-proxy (same Kubernetes
    version as the control plane), kube-state-metrics, and the sandbox's pause program."""

    kubelet: Path
    kube_proxy: Path
    kube_state_metrics: Path
    pause: Path


PAUSE_SOURCE = """package main

// pause: the process that holds a pod's namespaces. It reaps orphans and exits on SIGTERM.
import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	child := make(chan os.Signal, 8)
	signal.Notify(child, syscall.SIGCHLD)
	go func() {
		for range child {
			for {
				var ws syscall.WaitStatus
				if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
					break
				}
			}
		}
	}()
	<-stop
}
"""


def _build_pause(dest: Path) -> None:
    work = cache_dir() / "src" / "pause"
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text("module grace.dev/localcluster/pause\n\ngo 1.22\n")
    (work / "main.go").write_text(PAUSE_SOURCE)
    env = _go_env(work)
    _run(
        ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(dest / "pause"), "."], work, env
    )


def ensure_node_binaries() -> NodeBinaries:
    """Build a real node's binaries into the cache once (about 40 s with a warm Go cache)."""
    root = cache_dir() / "bin"
    node = root / f"kubernetes-node-{KUBERNETES_VERSION}"
    ksm = root / f"kube-state-metrics-{KUBE_STATE_METRICS_VERSION}"
    pause = root / "pause-1"
    _build(pause, ("pause",), _build_pause)
    _build(node, NODE_COMMANDS, lambda d: _build_kubernetes(d, NODE_COMMANDS))
    _build(
        ksm,
        ("kube-state-metrics",),
        lambda d: _go_install(
            "k8s.io/kube-state-metrics/v2",
            KUBE_STATE_METRICS_VERSION,
            "kube-state-metrics",
            d,
            "-s -w -X github.com/prometheus/common/version.Version="
            + KUBE_STATE_METRICS_VERSION.lstrip("v"),
        ),
    )
    return NodeBinaries(
        kubelet=node / "kubelet",
        kube_proxy=node / "kube-proxy",
        kube_state_metrics=ksm / "kube-state-metrics",
        pause=pause / "pause",
    )


if __name__ == "__main__":
    print(ensure_binaries())
