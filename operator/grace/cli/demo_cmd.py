"""`grace demo`: the main job on the local cluster, cleaned up on exit (Ctrl-C included)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from grace.localcluster.binaries import ensure_binaries
from grace.localcluster.cluster import CONTEXT, LocalCluster

REPO = Path(__file__).resolve().parents[3]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="bring up the local cluster and run the shop scenario")
    p.add_argument("--keep", action="store_true", help="leave the cluster running at the end")
    p.add_argument("--dir", type=Path, default=REPO / ".grace" / "demo-cluster")
    p.set_defaults(func=_demo)


def say(text: str) -> None:
    print(f"\033[1m==> {text}\033[0m", flush=True)


def _demo(args: argparse.Namespace) -> int:
    from kubernetes import config

    from grace.localcluster.install import install_crds

    bins = ensure_binaries()
    cluster = LocalCluster(args.dir)
    try:
        say("starting a real local control plane (etcd, kube-apiserver, scheduler, KWOK nodes)")
        t0 = time.monotonic()
        cluster.up()
        print(f"    up in {time.monotonic() - t0:.1f}s at {cluster.server}")
        api = config.new_client_from_config(str(cluster.kubeconfig), context=CONTEXT)
        say("installing the GRACE CRDs")
        install_crds(api)
        kubectl = [str(bins.kubectl), f"--kubeconfig={cluster.kubeconfig}"]
        subprocess.run([*kubectl, "create", "namespace", "shop"], check=False)
        say("applying the shop: checkout -> payments-db, three playbooks")
        subprocess.run(
            [*kubectl, "-n", "shop", "apply", "-f", str(REPO / "examples" / "shop")], check=True
        )
        subprocess.run(
            [*kubectl, "-n", "shop", "rollout", "status", "deployment/checkout", "--timeout=60s"],
            check=True,
        )
        say("what the cluster now holds")
        subprocess.run(
            [*kubectl, "-n", "shop", "get", "deployments,pods,healthnodes,playbooks"], check=True
        )
        say("demo finished")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if not args.keep:
            say("stopping everything the demo started")
            cluster.down()
