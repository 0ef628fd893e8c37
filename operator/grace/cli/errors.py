"""Failures a person can act on, said in one line: the CLI's one error boundary.

Every `grace` and `kubectl grace` command ends here when something expected goes wrong: a bad
flag (exit 2), or a runtime failure such as no kubeconfig, an API server that does not answer,
a key file that is not a key or a port in use (exit 1). Commands raise `CommandError` (or the
domain's own typed errors, which `explain` knows); `grace.cli.main` prints `explain`'s one line.
A traceback only with `--debug`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any, NoReturn

EXIT_FAILURE, EXIT_USAGE = 1, 2


class CommandError(Exception):
    """An expected failure: one line of what went wrong and what to do, and its exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


class UsageError(CommandError):
    """The command line itself is wrong (exit 2), like argparse's own refusals."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_USAGE)


class Parser(argparse.ArgumentParser):
    """argparse, but a refused command line is one line (the problem and where help is), and
    every (sub)command takes `--debug` to show the traceback of a failure instead."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="on failure, show the Python traceback instead of one line",
        )

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def http_url(text: str) -> str:
    """argparse type: an http(s) URL with a host (the check `grace run`'s URLs get too)."""
    from grace.runtime.config import http_url_problem

    problem = http_url_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    """argparse type: a number above zero."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def explain(exc: BaseException) -> CommandError:
    """The one line and exit code for `exc`: the user's problem in their words, else a bug."""
    if isinstance(exc, CommandError):
        return exc
    from kubernetes.client import ApiException
    from kubernetes.config import ConfigException
    from urllib3.exceptions import HTTPError as Urllib3Error

    from grace.ledger.keys import KeyFileError
    from grace.ledger.store import LedgerCorruptedError
    from grace.runtime.config import ConfigError
    from grace.runtime.kube import ClusterUnavailableError, api_problem, connection_problem

    if isinstance(exc, ConfigError | ClusterUnavailableError | KeyFileError | LedgerCorruptedError):
        return CommandError(_one_line(str(exc)))
    if isinstance(exc, ConfigException):
        return CommandError(f"kubeconfig: {_one_line(str(exc))}")
    if isinstance(exc, ApiException):
        return CommandError(api_problem(exc))
    if isinstance(exc, Urllib3Error):
        return CommandError(connection_problem(exc))
    if isinstance(exc, subprocess.CalledProcessError):
        command = " ".join(map(str, exc.cmd)) if isinstance(exc.cmd, list) else str(exc.cmd)
        return CommandError(f"`{_one_line(command)}` failed with exit code {exc.returncode}")
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return CommandError(_one_line(f"{where}{exc.strerror or exc}"))
    if type(exc) is RuntimeError:  # what the local cluster and its servers say when they fail
        return CommandError(_one_line(str(exc)))
    return CommandError(
        f"unexpected {type(exc).__name__}: {_one_line(str(exc))} "
        "(a bug in grace: rerun with --debug and report the traceback)"
    )


def report(prog: str, exc: BaseException) -> int:
    """Print `exc` as one line on stderr under `prog`'s name; the exit code to end with."""
    failure = explain(exc)
    print(f"{prog}: error: {failure}", file=sys.stderr)
    return failure.code


def _one_line(text: str, limit: int = 400) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
