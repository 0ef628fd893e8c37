"""`grace demo` (what `make demo` runs) on the suite's cluster as "the current kube context"."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from kubernetes import client

from grace_lab.localcluster.graceprocess import OperatorProcess
from grace_lab.localcluster.processes import alive
from tests.conftest import REPO, ClusterUnderTest
from tests.support.kube import wait_for


def test_demo_runs_the_bad_release_end_to_end_and_leaves_nothing_behind(
    cluster: ClusterUnderTest, api: Any, tmp_path: Path, operator: OperatorProcess
) -> None:
    operator.stop()  # the session's operator watches every namespace: the demo brings its own
    try:
        env = {
            **os.environ,
            "KUBECONFIG": cluster.kubeconfig,
            "PYTHONPATH": os.pathsep.join(map(str, [REPO / "operator", REPO / "lab", REPO])),
        }
        done = subprocess.run(
            [sys.executable, "-m", "grace.cli.main", "demo", f"--dir={tmp_path}"],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
    finally:
        operator.start()
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert f"the current kube context {cluster.context!r}" in out
    told, approved = out.find("[chat] GRACE asks:"), out.find("alice approves")
    assert 0 <= told < approved, out  # the on-call hears of it before alice approves
    assert re.search(r"\[chat\]   Approve: kubectl grace approve \S+ -n shop", out), out
    assert re.search(r"approved by alice: Mission \S+ may run", out), out
    assert "Succeeded: verified: all checks held" in out
    assert re.search(r"ok: \d+ entr(y|ies) and \d+ checkpoints? verified", out), out
    assert "demo finished: Mission Succeeded, ledger verified" in out
    pid = int(re.search(r"operator pid (\d+)", out).group(1))  # type: ignore[union-attr]
    assert not alive(pid), "the demo's operator outlived it"
    core = client.CoreV1Api(api)

    def shop_gone() -> bool:
        try:
            ns = core.read_namespace("shop")
        except client.ApiException as e:
            return e.status == 404
        return ns.status.phase == "Terminating"

    assert wait_for("the demo's namespace deleted", shop_gone, timeout=30)
