"""The operator's wheel (what the image installs) holds the operator, its CLI and nothing of the
lab: no local cluster, no simulated shop, no `grace demo` or `grace cluster`. Built the way the
Dockerfile builds it (`pip wheel --no-deps .` from the repository root), then listed."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # setuptools packs whatever its build directory holds, stale modules of an earlier build
    # included (the Dockerfile builds in a clean context): build in a fresh one, outside the tree.
    extra = out / "setup.cfg"
    extra.write_text(f"[build]\nbuild_base = {out / 'build'}\n")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), "."],
        cwd=REPO,
        env={**os.environ, "DIST_EXTRA_CONFIG": str(extra)},
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("*.whl")
    assert built.name.startswith("grace_operator-")
    return zipfile.ZipFile(built)


def test_the_wheel_holds_the_operator_and_its_cli(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for module in (
        "grace/__init__.py",
        "grace/py.typed",
        "grace/runtime/app.py",
        "grace/runtime/kube.py",
        "grace/handlers/__init__.py",
        "grace/run/machine.py",
        "grace/run/actions/__init__.py",
        "grace/ledger/__init__.py",
        "grace/cli/main.py",
        "grace/cli/approvals_cmd.py",
        "grace/cli/ledger_cmd.py",
    ):
        assert module in names, f"{module} is missing from the wheel"


def test_the_wheel_holds_nothing_of_the_lab(wheel: zipfile.ZipFile) -> None:
    lab = [
        name
        for name in wheel.namelist()
        if name.startswith("grace_lab/")
        or {"localcluster", "sim", "grace_lab"} & set(Path(name).parts)
        or Path(name).stem in ("demo_cmd", "cluster_cmd", "make_image")
    ]
    assert lab == [], f"the lab leaked into the operator's wheel: {lab}"
    packages = {Path(name).parts[0] for name in wheel.namelist() if ".dist-info" not in name}
    assert packages == {"grace"}


def test_the_wheel_adds_no_lab_commands(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "grace = grace.cli.main:entry" in text
    assert "kubectl-grace = grace.cli.main:kubectl_main" in text
    assert "grace.commands" not in text
    assert "grace_lab" not in text
