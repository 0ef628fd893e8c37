"""`grace run`: start the operator (kopf) with flags for namespaces, Prometheus, policy, ledger."""

from __future__ import annotations

import argparse
from pathlib import Path

from grace.runtime.config import OperatorConfig


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the operator against the current kube context")
    d = OperatorConfig()
    p.add_argument(
        "-n",
        "--namespace",
        action="append",
        dest="namespaces",
        default=[],
        help="watch this namespace (repeatable); default: all namespaces",
    )
    p.add_argument("--prometheus-url", default=d.prometheus_url)
    p.add_argument("--policy-engine", choices=["embedded", "opa"], default=d.policy_engine)
    p.add_argument("--opa-url", default=d.opa_url)
    p.add_argument("--policy-dir", type=Path, default=d.policy_dir)
    p.add_argument("--operator-namespace", default=d.operator_namespace)
    p.add_argument("--ledger-backend", choices=["file", "configmap"], default=d.ledger_backend)
    p.add_argument("--ledger-path", type=Path, default=d.ledger_path)
    p.add_argument("--ledger-namespace", default=d.ledger_namespace)
    p.add_argument("--signing-key", type=Path, default=None, help="Ed25519 private key (PEM)")
    p.add_argument("--mission-tick", type=float, default=d.mission_tick, help="seconds")
    p.add_argument(
        "--approval-ttl",
        type=float,
        default=d.approval_ttl,
        help="seconds before an ApprovalRequest expires",
    )
    p.add_argument("--metrics-port", type=int, default=d.metrics_port, help="0 disables /metrics")
    p.add_argument(
        "--identity", default=d.identity, help="user automatic Missions are requested by"
    )
    p.add_argument(
        "--leader-elect",
        action="store_true",
        help="one of several replicas: act only while holding the grace-leader Lease",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from grace.runtime.app import run

    config = OperatorConfig(
        namespaces=args.namespaces,
        prometheus_url=args.prometheus_url,
        policy_engine=args.policy_engine,
        opa_url=args.opa_url,
        policy_dir=args.policy_dir,
        operator_namespace=args.operator_namespace,
        ledger_backend=args.ledger_backend,
        ledger_path=args.ledger_path,
        ledger_namespace=args.ledger_namespace,
        signing_key=args.signing_key,
        mission_tick=args.mission_tick,
        approval_ttl=args.approval_ttl,
        metrics_port=args.metrics_port,
        identity=args.identity,
        leader_elect=args.leader_elect,
    )
    return run(config)
