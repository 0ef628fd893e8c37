"""An operator with its own flags for one test, and the plugin called as a user would call it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from grace.cli.main import main
from tests.support.stack import OperatorProcess, ensure_policy_configmap


@contextmanager
def private_operator(
    shared: OperatorProcess,
    cluster: Any,
    api: Any,
    prometheus_url: str,
    workdir: Path,
    namespace: str,
    *extra: str,
) -> Iterator[OperatorProcess]:
    """`grace run` with `extra` flags, watching only `namespace`.

    The session's operator watches every namespace, so two operators would both drive the
    test's Missions: it is stopped for the duration and started again (same flags, same
    ledger) afterwards.
    """
    ensure_policy_configmap(api)
    shared.stop()
    own = OperatorProcess(
        cluster.kubeconfig, prometheus_url, workdir, f"--namespace={namespace}", *extra
    )
    try:
        own.start()
        yield own
    finally:
        own.stop()
        shared.start()


@dataclass
class PluginRun:
    code: int
    out: str
    err: str


def plugin(
    capsys: pytest.CaptureFixture[str], cluster: Any, user: str, namespace: str, *argv: str
) -> PluginRun:
    """`kubectl grace ARGV -n NAMESPACE` with `user`'s kube context (their token, their RBAC)."""
    who = (
        ["--context", f"{cluster.context}-{user}"]
        if cluster.local  # the local cluster has a token context per test user
        else ["--context", cluster.context, "--as", user, "--as-group", "system:authenticated"]
    )
    capsys.readouterr()
    code = main([*argv, "-n", namespace, "--kubeconfig", cluster.kubeconfig, *who], "kubectl grace")
    captured = capsys.readouterr()
    return PluginRun(code, captured.out, captured.err)
