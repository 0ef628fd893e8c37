"""Entry points of `grace` and `kubectl-grace`: each command registers itself from its module."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import cast

from grace import __version__
from grace.cli.errors import Parser, report

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _registrars() -> list[Register]:
    from grace.cli import (
        approvals_cmd,
        crds_cmd,
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
        crds_cmd.register,
    ]
    try:  # the ledger commands land with the ledger package
        from grace.cli import ledger_cmd  # type: ignore[attr-defined,unused-ignore]

        registrars.append(ledger_cmd.register)
    except ImportError:
        pass
    return registrars + _installed_commands()


COMMANDS_GROUP = "grace.commands"
"""Entry points of this group add commands: the lab (lab/pyproject.toml) adds `demo` and
`cluster` in a development venv; the operator image has no such distribution, hence no such
commands, and `grace` never imports the lab (an import contract in .importlinter)."""


def _installed_commands() -> list[Register]:
    from importlib.metadata import entry_points

    found = sorted(entry_points(group=COMMANDS_GROUP), key=lambda ep: ep.name)
    return [cast(Register, ep.load()) for ep in found]


def parser(prog: str = "grace") -> argparse.ArgumentParser:
    p = Parser(
        prog=prog,
        description="GRACE: governed self-healing for Kubernetes.",
    )
    p.add_argument("--version", action="version", version=f"grace {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")  # of Parsers too
    for register in _registrars():
        register(cast("argparse._SubParsersAction[argparse.ArgumentParser]", sub))
    return p


def main(argv: Sequence[str] | None = None, prog: str = "grace") -> int:
    """Run one command; an expected failure is one line on stderr and exit 1 (runtime) or 2
    (usage), never a traceback unless `--debug` asks for it (see grace.cli.errors)."""
    args = parser(prog).parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    debug = bool(getattr(args, "debug", False))
    if not debug:  # the kubernetes client's retry warnings are not the user's one line
        logging.getLogger("urllib3").setLevel(logging.ERROR)
    try:
        return func(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        return report(f"{prog} {args.command}", exc)


def kubectl_main() -> None:
    """`kubectl grace ...`: kubectl finds `kubectl-grace` on PATH."""
    sys.exit(main(prog="kubectl grace"))


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
