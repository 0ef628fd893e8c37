"""Entry points of `grace` and `kubectl-grace`: each command registers itself from its module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from grace import __version__

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _registrars() -> list[Register]:
    from grace.cli import (
        approvals_cmd,
        cluster_cmd,
        crds_cmd,
        demo_cmd,
        learning_cmd,
        missions_cmd,
        run_cmd,
        status_cmd,
    )

    registrars: list[Register] = [
        run_cmd.register,
        approvals_cmd.register,
        status_cmd.register,
        missions_cmd.register,
        learning_cmd.register,
        demo_cmd.register,
        cluster_cmd.register,
        crds_cmd.register,
    ]
    try:  # the ledger commands land with the ledger package
        from grace.cli import ledger_cmd  # type: ignore[attr-defined,unused-ignore]

        registrars.append(ledger_cmd.register)
    except ImportError:
        pass
    return registrars


def parser(prog: str = "grace") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="GRACE: governed self-healing for Kubernetes.",
    )
    p.add_argument("--version", action="version", version=f"grace {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _registrars():
        register(sub)
    return p


def main(argv: Sequence[str] | None = None, prog: str = "grace") -> int:
    args = parser(prog).parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


def kubectl_main() -> None:
    """`kubectl grace ...`: kubectl finds `kubectl-grace` on PATH."""
    sys.exit(main(prog="kubectl grace"))


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
