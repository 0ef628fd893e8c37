"""The file backend under crashes and concurrent writers: nothing committed is ever lost."""

from __future__ import annotations

import itertools
import os
import queue
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from grace.ledger import (
    FileStore,
    FileWitness,
    Keyring,
    Ledger,
    LedgerCorruptedError,
    Signer,
    VerifyReport,
    parse_lines,
    verify_log,
)
from tests.unit.ledger.ledger_fixtures import ORIGIN, fixed_clock, mission

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
WRITER = HERE / "ledger_writer.py"


def append_some(path: Path, signer: Signer, count: int) -> None:
    with FileStore(path) as store:
        ledger = Ledger(store, signer, ORIGIN, checkpoint_every=4, clock=fixed_clock())
        for i in range(count):
            ledger.append("step.finished", mission("m1"), {"i": i}, f"k{i}")


def report_for(path: Path, signer: Signer, witness: Path | None = None) -> VerifyReport:
    witnessed = parse_lines(witness.read_bytes()).checkpoints if witness else []
    return verify_log(
        parse_lines(path.read_bytes()), Keyring([signer.public_key]), witnessed=witnessed
    )


def test_a_torn_last_line_is_ignored_by_readers_and_cut_by_the_next_writer(
    tmp_path: Path, signer: Signer
) -> None:
    path = tmp_path / "ledger.jsonl"
    append_some(path, signer, 6)
    committed = path.read_bytes()
    with path.open("ab") as f:
        f.write(b'{"entry":{"data":{"i":6},"idempo')  # the writer died mid-line

    before = report_for(path, signer)
    assert before.ok and before.checked == 6
    assert any("incomplete last line" in note for note in before.notes)

    with FileStore(path) as store:
        assert store.dropped_on_open == b'{"entry":{"data":{"i":6},"idempo'
        assert len(store.read_entries()) == 6
    assert path.read_bytes() == committed


def test_a_live_writer_repairs_a_tear_left_by_another_process(
    tmp_path: Path, signer: Signer
) -> None:
    path = tmp_path / "ledger.jsonl"
    store = FileStore(path)
    ledger = Ledger(store, signer, ORIGIN, clock=fixed_clock())
    ledger.append("step.finished", mission("m1"), {}, "k0")
    with path.open("ab") as f:
        f.write(b'{"entry":{"da')  # a second replica crashed mid-write
    ledger.append("step.finished", mission("m1"), {}, "k1")
    store.close()
    report = report_for(path, signer)
    assert report.ok and report.checked == 2


def test_a_corrupted_committed_line_stops_the_writer_and_is_named_by_verify(
    tmp_path: Path, signer: Signer
) -> None:
    path = tmp_path / "ledger.jsonl"
    append_some(path, signer, 6)
    lines = path.read_bytes().splitlines(keepends=True)
    entry_lines = [i for i, line in enumerate(lines) if line.startswith(b'{"entry"')]
    lines[entry_lines[3]] = b"\x00\x00garbage\n"
    path.write_bytes(b"".join(lines))
    with pytest.raises(LedgerCorruptedError):
        FileStore(path)
    report = report_for(path, signer)
    assert report.first_bad_seq == 3
    assert "not a valid record" in report.problem


def writer(path: Path, key: Path, prefix: str, count: int, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "operator")}
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(path), str(key), prefix, str(count), *extra],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture
def key_file(tmp_path: Path, signer: Signer) -> Path:
    path = tmp_path / "private.pem"
    path.write_text(signer.private_pem())
    return path


def test_two_processes_appending_at_once_never_fork_or_lose(
    tmp_path: Path, signer: Signer, key_file: Path
) -> None:
    path, witness = tmp_path / "ledger.jsonl", tmp_path / "witness" / "cp.jsonl"
    go = tmp_path / "go"
    extra = ("--witness", str(witness), "--checkpoint-every", "8", "--start-when", str(go))
    children = [writer(path, key_file, name, 120, *extra) for name in ("a", "b")]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "READY"
    go.touch()
    outputs = [child.communicate(timeout=60)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0]

    report = report_for(path, signer, witness)
    assert report.ok, report.summary()
    entries = parse_lines(path.read_bytes()).entries
    assert len(entries) == 240
    acknowledged = {
        f"{name}-{line.split()[0]}": int(line.split()[1])
        for name, out in zip("ab", outputs, strict=True)
        for line in out.splitlines()
    }
    assert {e.idempotency_key: e.seq for e in entries} == acknowledged
    writers = [e.idempotency_key[0] for e in entries]
    switches = sum(1 for x, y in itertools.pairwise(writers) if x != y)
    assert switches >= 1  # the two really wrote at the same time


def test_kill_9_mid_line_loses_nothing_committed(
    tmp_path: Path, signer: Signer, key_file: Path
) -> None:
    path = tmp_path / "ledger.jsonl"
    child = writer(path, key_file, "w", 1000, "--half-write-at", "25")
    acknowledged = read_until_half(child)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert len(acknowledged) == 25

    assert not path.read_bytes().endswith(b"\n")  # really torn
    assert_recovered(path, signer, acknowledged)


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_at_a_random_moment_loses_nothing_committed(
    tmp_path: Path, signer: Signer, key_file: Path, seed: int
) -> None:
    rng = random.Random(seed)
    path, witness = tmp_path / "ledger.jsonl", tmp_path / "witness" / "cp.jsonl"
    extra = ("--witness", str(witness), "--checkpoint-every", "5")
    child = writer(path, key_file, "w", 100_000, *extra)
    assert child.stdout is not None
    acknowledged: dict[str, int] = {}
    target = rng.randint(5, 60)
    while len(acknowledged) < target:
        i, seq = child.stdout.readline().split()
        acknowledged[f"w-{i}"] = int(seq)
    os.kill(child.pid, signal.SIGKILL)
    for line in child.stdout.read().splitlines():  # acknowledged before the kill landed
        i, seq = line.split()
        acknowledged[f"w-{i}"] = int(seq)
    child.wait(timeout=10)
    assert_recovered(path, signer, acknowledged, witness)


def read_until_half(child: subprocess.Popen[str]) -> dict[str, int]:
    assert child.stdout is not None
    acknowledged: dict[str, int] = {}
    for line in child.stdout:
        if line.strip() == "HALF":
            return acknowledged
        i, seq = line.split()
        acknowledged[f"w-{i}"] = int(seq)
    raise AssertionError("the writer never reached its half write")


def assert_recovered(
    path: Path,
    signer: Signer,
    acknowledged: dict[str, int],
    witness: Path | None = None,
    prefixes: tuple[str, ...] = ("w",),
) -> None:
    """Verify is clean, every acknowledged entry is there, and a restart duplicates nothing."""
    report = report_for(path, signer, witness)
    assert report.ok, report.summary()
    with FileStore(path):  # the next writer repairs a torn tail
        pass
    assert path.read_bytes().endswith(b"\n")
    entries = parse_lines(path.read_bytes()).entries
    stored = {e.idempotency_key: e.seq for e in entries}
    assert {k: stored.get(k) for k in acknowledged} == acknowledged

    # the restarted operator replays the same events: all of them are found, none duplicated
    count = max(int(k.split("-")[1]) for k in acknowledged) + 3
    replayed = {f"{prefix}-{i}" for prefix in prefixes for i in range(count)}
    with FileStore(path) as store:
        ledger = Ledger(store, signer, ORIGIN, witnesses=[FileWitness(witness)] if witness else [])
        for prefix in prefixes:
            for i in range(count):
                subject = mission(f"{prefix}-m{i // 5}")
                key = f"{prefix}-{i}"
                entry = ledger.append("step.finished", subject, {"i": i}, key)
                if key in acknowledged:
                    assert entry.seq == acknowledged[key]
    final = report_for(path, signer, witness)
    assert final.ok, final.summary()
    # durable but unacknowledged entries (other threads ran ahead) stay, replays add none
    assert final.checked == len(set(stored) | replayed)


def read_acks(
    lines: list[str], acknowledged: dict[str, int], writes: list[int], prefix: str = "w"
) -> None:
    for line in lines:
        word, _, rest = line.partition(" ")
        if word == "WRITE":
            writes.append(int(rest))
        elif word not in ("HALF", "READY"):
            acknowledged[f"{prefix}-{word}"] = int(rest)


def test_kill_9_during_group_commits_loses_nothing_acknowledged(
    tmp_path: Path, signer: Signer, key_file: Path
) -> None:
    path, witness = tmp_path / "ledger.jsonl", tmp_path / "witness" / "cp.jsonl"
    extra = ("--witness", str(witness), "--checkpoint-every", "7", "--threads", "6")
    child = writer(path, key_file, "w", 100_000, *extra)
    assert child.stdout is not None
    acknowledged: dict[str, int] = {}
    writes: list[int] = []
    while len(acknowledged) < 150:
        read_acks([child.stdout.readline().strip()], acknowledged, writes)
    os.kill(child.pid, signal.SIGKILL)
    read_acks(child.stdout.read().splitlines(), acknowledged, writes)  # acked before the kill
    child.wait(timeout=10)
    assert max(writes) >= 2  # appends really were grouped: several entries in one fsync
    assert_recovered(path, signer, acknowledged, witness)


def test_kill_9_in_the_middle_of_a_group_commit_write(
    tmp_path: Path, signer: Signer, key_file: Path
) -> None:
    path = tmp_path / "ledger.jsonl"
    child = writer(path, key_file, "w", 10_000, "--threads", "6", "--half-write-batch")
    assert child.stdout is not None
    acknowledged: dict[str, int] = {}
    for line in child.stdout:
        if line.startswith("HALF"):
            batch = int(line.split()[1])
            break
        read_acks([line.strip()], acknowledged, [])
    else:
        raise AssertionError("the writer never grouped several appends into one write")
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert batch >= 2
    assert not path.read_bytes().endswith(b"\n")  # really torn, in the middle of the batch
    assert_recovered(path, signer, acknowledged)


class Drained:
    """A child's stdout, read all the time by a thread: a child whose pipe filled up would
    block in `print` while holding the file lock, and the other child could then never get it
    (CI hung here: b's unread output stalled a, whose output the test was waiting for)."""

    def __init__(self, child: subprocess.Popen[str]) -> None:
        self.child = child
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.child.stdout is not None
        for line in self.child.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def next(self) -> str:
        line = self.lines.get(timeout=120)
        assert line is not None, f"the writer ended early ({self.child.wait()})"
        return line

    def kill(self) -> list[str]:
        """SIGKILL, then every line it printed before it died."""
        os.kill(self.child.pid, signal.SIGKILL)
        self.child.wait(timeout=10)
        self._pump.join(timeout=10)
        rest: list[str] = []
        while (line := self.lines.get(timeout=10)) is not None:
            rest.append(line)
        return rest


def test_kill_9_of_two_group_committing_processes_loses_nothing_acknowledged(
    tmp_path: Path, signer: Signer, key_file: Path
) -> None:
    """Two replicas, each with four threads appending at once (group commits racing for the
    file lock, checkpoints in the same writes as their entries), killed at different moments."""
    path, witness = tmp_path / "ledger.jsonl", tmp_path / "witness" / "cp.jsonl"
    go = tmp_path / "go"
    extra = ("--witness", str(witness), "--checkpoint-every", "5", "--threads", "4")
    children = {
        # 3,000 each: the file lock is not fair, so one writer can starve the other until it
        # is done; a few seconds at worst, and in the usual run both are killed long before
        name: Drained(writer(path, key_file, name, 3_000, *extra, "--start-when", str(go)))
        for name in ("a", "b")
    }
    for child in children.values():
        assert child.next() == "READY"
    go.touch()
    acknowledged: dict[str, int] = {}
    writes: list[int] = []
    for name, child in children.items():  # a is killed first, b goes on alone for a while
        own: dict[str, int] = {}
        while len(own) < 120:
            read_acks([child.next()], own, writes, prefix=name)
        read_acks(child.kill(), own, writes, prefix=name)  # acknowledged before the kill
        acknowledged |= own
    assert max(writes) >= 2  # appends really were grouped
    entries = parse_lines(path.read_bytes()).entries
    owners = [e.idempotency_key[0] for e in entries]
    assert sum(1 for x, y in itertools.pairwise(owners) if x != y) >= 1  # they really raced
    assert_recovered(path, signer, acknowledged, witness, prefixes=("a", "b"))


def test_kill_9_in_the_middle_of_a_write_that_carries_its_checkpoint(
    tmp_path: Path, signer: Signer, key_file: Path
) -> None:
    """A checkpoint due after a batch goes in the batch's own write: torn there, the entries
    before it are complete but were never acknowledged, and the half checkpoint is cut."""
    path, witness = tmp_path / "ledger.jsonl", tmp_path / "witness" / "cp.jsonl"
    extra = ("--witness", str(witness), "--checkpoint-every", "6", "--threads", "3")
    child = writer(path, key_file, "w", 10_000, *extra, "--half-write-checkpoint")
    assert child.stdout is not None
    acknowledged: dict[str, int] = {}
    for line in child.stdout:
        if line.startswith("HALF"):
            break
        read_acks([line.strip()], acknowledged, [])
    else:
        raise AssertionError("the writer never wrote a checkpoint with its entries")
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    data = path.read_bytes()
    torn = data[data.rfind(b"\n") + 1 :]
    assert torn.startswith(b'{"checkpoint":')  # really torn inside the checkpoint
    entries = parse_lines(data).entries
    assert len(entries) > len(acknowledged)  # the write's entries: durable, never acknowledged
    assert_recovered(path, signer, acknowledged, witness)
