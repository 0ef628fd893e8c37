"""A machine that cannot run a real node gets one line saying what is missing, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from grace.cli.main import main
from grace_lab.localcluster import node


def test_not_root_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(node.os, "geteuid", lambda: 1000)
    code = main(["cluster", "--dir", str(tmp_path / "c"), "up", "--real-node"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("grace: real node unavailable on this machine: missing root")
    assert not (tmp_path / "c").exists(), "nothing was started"


def test_no_overlayfs_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    filesystems = tmp_path / "filesystems"
    filesystems.write_text("nodev\tproc\nnodev\ttmpfs\n\text4\n")
    real_path = node.Path

    def fake_path(p: str | Path, *rest: str) -> Path:
        return filesystems if str(p) == "/proc/filesystems" else real_path(p, *rest)

    monkeypatch.setattr(node, "Path", fake_path)
    reason = node.unavailable_reason()
    assert reason is not None and "the overlay filesystem" in reason
