"""Helpers shared by the ledger tests: a fixed clock, subjects, and the reference ledger."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from grace.ledger import (
    EntryType,
    FileStore,
    FileWitness,
    Keyring,
    Ledger,
    Signer,
    Subject,
)
from grace.ledger.configmapstore import Plan, Segment, SegmentPolicy, plan_write
from grace.ledger.entry import LedgerEntry
from grace.ledger.records import parse_record

ORIGIN = "grace.dev/ledger/test"


def fixed_clock() -> Callable[[], datetime]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    counter = itertools.count()
    return lambda: start + timedelta(seconds=next(counter))


def mission(name: str, namespace: str = "shop") -> Subject:
    return Subject(kind="Mission", namespace=namespace, name=name, uid=f"uid-{name}")


@dataclass
class Corpus:
    """A 14-entry ledger of three Missions, checkpointed at 4, 5, 9, 10 and 14, and witnessed."""

    path: Path
    witness_path: Path
    signer: Signer
    keyring: Keyring

    def lines(self) -> list[bytes]:
        return self.path.read_bytes().splitlines(keepends=True)


MISSION_STEPS = [
    EntryType.MISSION_PROPOSED,
    EntryType.POLICY_DECIDED,
    EntryType.STEP_STARTED,
    EntryType.STEP_FINISHED,
    EntryType.MISSION_FINISHED,
]


def write_corpus(directory: Path, signer: Signer) -> Corpus:
    path, witness_path = directory / "ledger.jsonl", directory / "witness" / "checkpoints.jsonl"
    store, witness = FileStore(path), FileWitness(witness_path)
    ledger = Ledger(
        store, signer, ORIGIN, checkpoint_every=4, witnesses=[witness], clock=fixed_clock()
    )
    plan = [("m1", MISSION_STEPS), ("m2", MISSION_STEPS), ("m3", MISSION_STEPS[1:])]
    for name, steps in plan:
        for step, entry_type in enumerate(steps):
            ledger.append(entry_type, mission(name), {"step": step}, f"{name}/{entry_type}")
    store.close()
    witness.close()
    return Corpus(path, witness_path, signer, Keyring([signer.public_key]))


def cut_segments(lines: list[bytes], policy: SegmentPolicy) -> list[Segment]:
    """Cut a record stream into segments exactly as the ConfigMap writer's plan decides."""
    segments: list[Segment] = []
    for line in lines:
        record = parse_record(line.rstrip(b"\n"))
        head = segments[-1] if segments else None
        plan = plan_write(head, line, policy, entry=isinstance(record, LedgerEntry))
        if plan is Plan.SEAL:
            assert head is not None
            head.sealed = True
        if plan is not Plan.APPEND:
            segments.append(Segment(len(segments)))
        segment = segments[-1]
        segment.text += line.decode()
        if isinstance(record, LedgerEntry):
            segment.entries.append(record)
        else:
            segment.checkpoints.append(record)
    return segments
