"""`grace` against a real API server that refuses: one line naming why, exit 1, no traceback.

The cluster-free bad input is in tests/unit/cli/test_bad_input.py; here the API server itself
answers: credentials it does not accept (401), and objects that do not exist (404).
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, ClusterUnderTest

pytestmark = pytest.mark.cluster


def stranger(cluster: ClusterUnderTest, path: Path) -> str:
    """A kubeconfig for the same API server with a token it has never issued."""
    doc: dict[str, Any] = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    context = next(c for c in doc["contexts"] if c["name"] == cluster.context)["context"]
    server = next(c for c in doc["clusters"] if c["name"] == context["cluster"])
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [server],
                "users": [{"name": "stranger", "user": {"token": "not-a-token-it-issued"}}],
                "contexts": [
                    {"name": "stranger", "context": {"cluster": server["name"], "user": "stranger"}}
                ],
                "current-context": "stranger",
            }
        )
    )
    return str(path)


def test_refusals_of_a_real_api_server_are_one_line_and_exit_1(
    cluster: ClusterUnderTest, namespace: str, tmp_path: Path
) -> None:
    unknown = stranger(cluster, tmp_path / "stranger.yaml")
    cases = [
        # (argv, kubeconfig, what the one line says)
        (
            ["run", f"--policy-dir={REPO / 'policies'}", "--metrics-port=0"],
            unknown,
            "401 Unauthorized",
        ),
        (["status", "-n", namespace], unknown, "401 Unauthorized"),
        (["approvals", "-n", namespace], unknown, "Unauthorized"),
        (
            ["approve", "no-such-request", "-n", namespace],
            cluster.kubeconfig,
            f'approvalrequest "no-such-request" not found in namespace {namespace}',
        ),
        (
            ["missions", "show", "no-such-mission", "-n", namespace],
            cluster.kubeconfig,
            f"Mission 'no-such-mission' not found in namespace {namespace}",
        ),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}

    def grace(argv: list[str], kubeconfig: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "grace.cli.main", *argv],
            capture_output=True,
            text=True,
            env={**env, "KUBECONFIG": kubeconfig},
            timeout=120,
            check=False,
        )

    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        results = list(pool.map(grace, [c[0] for c in cases], [c[1] for c in cases]))
    for (argv, _, says), result in zip(cases, results, strict=True):
        said = result.stdout + result.stderr
        assert "Traceback" not in said, (argv, said)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and says in lines[0], (argv, said)
        assert result.returncode == 1, (argv, said)
