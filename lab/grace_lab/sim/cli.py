"""Command line of the simulated shop: which namespaces, which Deployments, which port."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from grace_lab.sim.exporter import SHOP_SELECTOR, Scope, ShopExporter


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grace sim",
        description=(
            "Serve /metrics of a simulated shop whose error rate, latency and restarts follow "
            "the real state of its Deployments: a bad image tag raises errors, too few replicas "
            "raise latency, a too-low memory limit raises restarts."
        ),
    )
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--context", help="kube context (default: the current one)")
    p.add_argument(
        "--namespace", "-n", action="append", required=True, help="namespace to simulate (repeat)"
    )
    p.add_argument(
        "--selector",
        "-l",
        default=SHOP_SELECTOR,
        help=f"label selector of the simulated Deployments (default: {SHOP_SELECTOR})",
    )
    p.add_argument(
        "--all-deployments",
        action="store_true",
        help="simulate every Deployment in the namespaces (ignores --selector)",
    )
    p.add_argument(
        "--deployment", "-d", action="append", help="only these Deployments (repeatable)"
    )
    p.add_argument(
        "--load",
        action="append",
        default=[],
        metavar="APP=RPS",
        help="offered load of one app in requests/s (repeatable)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", "-p", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--poll-interval", type=float, default=0.5, help="seconds between observations")
    p.add_argument("--seed", default="0", help="seed of the noise (default: 0)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGINT or SIGTERM; print the metrics URL on stdout once serving."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    loads: dict[str, float] = {}
    for item in args.load:
        app, sep, value = item.partition("=")
        try:
            loads[app] = float(value)
        except ValueError:
            sep = ""
        if not sep or not app:
            print(f"grace sim: --load expects APP=RPS, got {item!r}", file=sys.stderr)
            return 2
    selector = None if args.all_deployments else (args.selector or None)
    names = frozenset(args.deployment) if args.deployment else None
    scopes = [Scope(ns, selector, names) for ns in args.namespace]
    exporter = ShopExporter.from_kubeconfig(
        args.kubeconfig,
        scopes,
        context=args.context,
        seed=args.seed,
        poll_interval=args.poll_interval,
        host=args.host,
        port=args.port,
    )
    for ns in args.namespace:
        for app, rps in loads.items():
            exporter.set_load(ns, app, rps)
    done = threading.Event()

    def finish(signum: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    exporter.start()
    try:
        print(f"serving simulated shop metrics on {exporter.url}", flush=True)
        done.wait()
    finally:
        exporter.close()
    return 0
