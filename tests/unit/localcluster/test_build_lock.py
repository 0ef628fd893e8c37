"""Two builds into one cache at once (two `grace cluster build`, a test run beside a demo): the
second waits for the first and uses what it built, instead of removing the first one's
`.partial` directory and writing into the same Go work directories. Real processes and a real
fcntl lock on a cache of their own (GRACE_CACHE); no Go toolchain needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grace_lab.localcluster.binaries import _build, build_lock, cache_dir

CHILD = """
from grace_lab.localcluster.binaries import _build, cache_dir

dest = cache_dir() / "bin" / "tool-1"

def builder(d):
    (d / "tool").write_text("built by the second process")

_build(dest, ("tool",), builder)
print((dest / "tool").read_text())
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRACE_CACHE", str(tmp_path / "cache"))
    return cache_dir()


def test_a_second_build_waits_for_the_first_and_uses_its_result(cache: Path) -> None:
    dest = cache / "bin" / "tool-1"
    with build_lock():  # the first build, in this process
        second = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            env={**os.environ, "GRACE_CACHE": str(cache)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert second.stderr is not None
        # The second process says it waits before it blocks (or exits: then the lock failed).
        waiting = second.stderr.readline()
        assert waiting.startswith("# waiting for another build"), waiting
        assert second.poll() is None
        partial = dest.with_name("tool-1.partial")
        partial.mkdir(parents=True)
        (partial / "tool").write_text("built by the first process")
        partial.rename(dest)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert out.strip() == "built by the first process"
    assert sorted(p.name for p in (cache / "bin").iterdir()) == ["tool-1"]


def test_a_build_alone_takes_the_lock_and_leaves_no_partial_directory(cache: Path) -> None:
    dest = cache / "bin" / "tool-2"
    stale = dest.with_name("tool-2.partial")
    stale.mkdir(parents=True)
    (stale / "half-written").write_text("from a build that was killed")

    _build(dest, ("tool",), lambda d: (d / "tool").write_text("built"))

    assert (dest / "tool").read_text() == "built"
    assert not (dest / "half-written").exists()
    assert sorted(p.name for p in (cache / "bin").iterdir()) == ["tool-2"]
