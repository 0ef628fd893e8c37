"""`grace cluster up|down|env|status`: the real local control plane for tests and the demo."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from grace.cli.errors import positive

# The lab's modules are imported where they are used: `grace --help` registers this command
# without loading the local cluster.


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "cluster",
        help="build once and run a real local cluster (etcd, kube-apiserver, KWOK nodes)",
        description="A real control plane on 127.0.0.1, built from the Kubernetes Go modules "
        "into ~/.cache/grace (or $GRACE_CACHE) once and reused.",
    )
    p.add_argument(
        "--dir", type=Path, default=None, help="state directory (default .grace/cluster)"
    )
    csub = p.add_subparsers(dest="cluster_command", required=True, metavar="SUBCOMMAND")
    up = csub.add_parser("up", help="build (once) and start the cluster; prints the KUBECONFIG")
    up.add_argument("--nodes", type=positive(int), default=3, help="simulated KWOK nodes")
    up.add_argument(
        "--real-node",
        action="store_true",
        help="also run a real node (kubelet, kube-proxy, containerd; needs root): the API "
        "server then listens on the machine's address so that pods reach it",
    )
    up.set_defaults(func=_up)
    csub.add_parser("down", help="stop every process the cluster started").set_defaults(func=_down)
    csub.add_parser("env", help="print `export KUBECONFIG=...` for a shell").set_defaults(func=_env)
    csub.add_parser("status", help="say whether the cluster is up").set_defaults(func=_status)
    csub.add_parser("build", help="only build the binaries into the cache").set_defaults(
        func=_build
    )


def _up(args: argparse.Namespace) -> int:
    from grace_lab.localcluster.cluster import CONTEXT, LocalCluster
    from grace_lab.localcluster.node import NODE_LABEL

    cluster = LocalCluster(args.dir, nodes=args.nodes, real_node=args.real_node)
    t0 = time.monotonic()
    try:
        cluster.up()
    except RuntimeError as e:
        if str(e).startswith(("real node unavailable", "a real node already runs")):
            print(f"grace: {e}", file=sys.stderr)
            return 2
        raise
    for step, seconds in cluster.timings.items():
        print(f"#   {step}: {seconds:.1f}s")
    print(f"# cluster {CONTEXT!r} up in {time.monotonic() - t0:.1f}s at {cluster.server}")
    if cluster.state.real_node:
        print(f"# real node {cluster.real_node().name} Ready (label {NODE_LABEL}=true, tainted)")
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    return 0


def _down(args: argparse.Namespace) -> int:
    from grace_lab.localcluster.cluster import LocalCluster

    LocalCluster(args.dir).down()
    print("# cluster stopped")
    return 0


def _env(args: argparse.Namespace) -> int:
    from grace_lab.localcluster.cluster import LocalCluster

    print(f"export KUBECONFIG={LocalCluster(args.dir).kubeconfig}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from grace_lab.localcluster.cluster import LocalCluster

    cluster = LocalCluster(args.dir)
    if cluster.running():
        print(f"up: {cluster.server} (KUBECONFIG={cluster.kubeconfig})")
        return 0
    print("down")
    return 1


def _build(args: argparse.Namespace) -> int:
    from grace_lab.localcluster.binaries import ensure_binaries

    for name, path in ensure_binaries().__dict__.items():
        print(f"{name}: {path}")
    return 0
