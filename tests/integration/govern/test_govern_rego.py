"""The Rego itself: `opa test` passes with at least 90% coverage; `opa check`/`opa fmt` clean."""

from __future__ import annotations

import json
import subprocess

from grace.govern import default_policy_dir
from grace_lab.localcluster.opa import opa_binary


def opa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(opa_binary()), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_opa_test_passes_with_coverage_of_at_least_90_percent() -> None:
    policies = str(default_policy_dir())
    run = opa("test", policies, "--coverage", "--format=json")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    report = json.loads(run.stdout)
    covered = sum(
        f.get("covered_lines", 0) for name, f in report["files"].items() if "_test" not in name
    )
    missed = sum(
        f.get("not_covered_lines", 0) for name, f in report["files"].items() if "_test" not in name
    )
    assert covered / (covered + missed) >= 0.90
    assert report["coverage"] >= 90


def test_policy_is_strict_v1_rego_and_formatted() -> None:
    policies = str(default_policy_dir())
    check = opa("check", "--strict", "--v1-compatible", policies)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = opa("fmt", "--list", policies)
    assert fmt.returncode == 0 and fmt.stdout.strip() == "", fmt.stdout + fmt.stderr
