"""Two writers at once, and a writer killed with SIGKILL: the chain never forks or loses an entry."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Sequence

import pytest

from grace.ledger import (
    Checkpoint,
    ConfigMapStore,
    ConfigMapWitness,
    EntryType,
    Head,
    Ledger,
    LedgerEntry,
    Subject,
)
from grace.ledger.configmapstore import parse_segments
from tests.integration.ledger.conftest import SMALL, LedgerSite

pytestmark = pytest.mark.cluster


class CountingStore(ConfigMapStore):
    """Counts the compare-and-swaps it lost: proof that the two writers really raced."""

    lost_races = 0

    def append_batch(
        self,
        entries: Sequence[LedgerEntry],
        expected: Head,
        checkpoint: Checkpoint | None = None,
    ) -> int:
        stored = super().append_batch(entries, expected, checkpoint)
        self.lost_races += not stored
        return stored


def test_two_writers_appending_at_once_never_fork_the_chain(site: LedgerSite) -> None:
    stores: list[CountingStore] = []
    writers: dict[str, Ledger] = {}
    for name in ("a", "b"):
        api = site.connect()  # each writer has its own connection, like a separate replica
        stores.append(CountingStore(api, site.namespace, prefix=site.prefix, policy=SMALL))
        witness = ConfigMapWitness(api, site.witness_namespace, site.origin)
        writers[name] = Ledger(
            stores[-1], site.signer, site.origin, checkpoint_every=5, witnesses=[witness]
        )
        writers[name].refresh()  # both load the (empty) ledger before racing
    acked: dict[str, dict[str, LedgerEntry]] = {name: {} for name in writers}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(name: str, ledger: Ledger) -> None:
        try:
            start.wait()
            for i in range(25):
                subject = Subject(kind="Mission", namespace="shop", name=f"{name}-{i // 5}")
                own = ledger.append(EntryType.STEP_FINISHED, subject, {"i": i}, f"{name}-{i}")
                acked[name][own.idempotency_key] = own
                # the same event delivered to both replicas: recorded once, same entry for both
                shared_subject = Subject(kind="Mission", namespace="shop", name="shared")
                shared = ledger.append(
                    EntryType.STEP_FINISHED, shared_subject, {"i": i}, f"shared-{i}"
                )
                acked[name][shared.idempotency_key] = shared
        except BaseException as exc:
            errors.append(exc)
            raise

    threads = [threading.Thread(target=run, args=item) for item in writers.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors

    report = site.report()
    assert report.ok, report.summary()
    stored = parse_segments(site.store().segments()).entries
    assert len(stored) == 75  # 25 + 25 own entries, 25 shared ones once
    by_key = {entry.idempotency_key: entry for entry in stored}
    assert len(by_key) == 75
    for name in writers:
        for key, entry in acked[name].items():
            assert by_key[key] == entry, f"writer {name}'s acknowledged {key} is not as stored"
    assert {k: e for k, e in acked["a"].items() if k.startswith("shared-")} == {
        k: e for k, e in acked["b"].items() if k.startswith("shared-")
    }
    assert sum(store.lost_races for store in stores) > 0, "the writers never raced"
    assert all(cm.immutable for cm in site.segment_objects()[:-1])


def _read_acks(lines: str, acked: dict[str, int]) -> None:
    for line in lines.splitlines():
        i, seq = line.split()
        acked[f"k-{i}"] = int(seq)


def test_a_writer_killed_mid_append_loses_no_acknowledged_entry(site: LedgerSite) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    acked: dict[str, int] = {}
    for round_ in range(4):
        start = max((int(key[2:]) for key in acked), default=-1) + 1
        child = site.writer(start, 100_000)
        assert child.stdout is not None
        target = rng.randint(3, 20)
        for _ in range(target):
            line = child.stdout.readline()
            assert line, f"the writer died on its own (round {round_}, seed {seed})"
            _read_acks(line, acked)
        time.sleep(rng.uniform(0, 0.03))  # somewhere inside a later append, seal or checkpoint
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
        _read_acks(rest, acked)  # acknowledged before the kill landed
        assert child.returncode == -signal.SIGKILL

        report = site.report()
        assert report.ok, f"round {round_} (seed {seed}): {report.summary()}"
        stored = {e.idempotency_key: e.seq for e in parse_segments(site.store().segments()).entries}
        lost = {key: seq for key, seq in acked.items() if stored.get(key) != seq}
        assert not lost, f"round {round_} (seed {seed}): acknowledged but not stored: {lost}"

    # a restarted writer replays every key it may have sent: nothing is recorded twice
    size = len(stored)
    replay = subprocess.run(
        site.writer_command(0, size + 2),
        capture_output=True,
        text=True,
        env=site.writer_env(),
        timeout=60,
        check=True,
    )
    replayed: dict[str, int] = {}
    _read_acks(replay.stdout, replayed)
    assert {key: replayed[key] for key in stored} == stored
    entries = parse_segments(site.store().segments()).entries
    assert len(entries) == size + 2
    assert [e.idempotency_key for e in entries] == [f"k-{i}" for i in range(size + 2)]
    report = site.report()
    assert report.ok, report.summary()
    cli = site.cli_verify()
    assert cli.returncode == 0, cli.stdout + cli.stderr
