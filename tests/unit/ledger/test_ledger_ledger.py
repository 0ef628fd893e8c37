"""The Ledger API the operator calls: exactly-once appends, checkpoints, witnesses, proofs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from grace.ledger import (
    EntryType,
    FileStore,
    FileWitness,
    Keyring,
    Ledger,
    LedgerCorruptedError,
    LedgerStore,
    MemoryStore,
    MemoryWitness,
    Signer,
    Subject,
    Witness,
    verify,
    verify_consistency_proof,
    verify_mission_proof,
)
from grace.ledger.entry import Checkpoint
from grace.ledger.proof import ConsistencyProof, MissionProof
from tests.unit.ledger.ledger_fixtures import ORIGIN, fixed_clock, mission


def new_ledger(
    signer: Signer,
    store: LedgerStore | None = None,
    *,
    checkpoint_every: int = 64,
    witnesses: Sequence[Witness] = (),
) -> Ledger:
    return Ledger(
        store or MemoryStore(),
        signer,
        ORIGIN,
        checkpoint_every=checkpoint_every,
        witnesses=witnesses,
        clock=fixed_clock(),
    )


def test_a_retried_append_returns_the_stored_entry(signer: Signer) -> None:
    ledger = new_ledger(signer)
    first = ledger.append(EntryType.STEP_STARTED, mission("m1"), {"step": 0}, "m1/step-0/started")
    again = ledger.append(EntryType.STEP_STARTED, mission("m1"), {"step": 0}, "m1/step-0/started")
    changed = ledger.append(EntryType.STEP_FINISHED, mission("m1"), {"x": 1}, "m1/step-0/started")
    assert again == first and changed == first
    assert ledger.size == 1


def test_a_retry_from_a_restarted_writer_does_not_duplicate(tmp_path: Path, signer: Signer) -> None:
    path = tmp_path / "ledger.jsonl"
    with FileStore(path) as store:
        before = new_ledger(signer, store)
        entry = before.append("mission.proposed", mission("m1"), {}, "m1/proposed")
    with FileStore(path) as store:  # the operator restarted before it recorded the seq
        after = new_ledger(signer, store)
        assert after.append("mission.proposed", mission("m1"), {}, "m1/proposed") == entry
        assert after.size == 1


def test_two_writers_on_one_store_never_fork(signer: Signer) -> None:
    store = MemoryStore()
    a, b = new_ledger(signer, store), new_ledger(signer, store)
    for i in range(10):
        a.append("step.finished", mission("m1"), {"i": i}, f"a{i}")
        b.append("step.finished", mission("m2"), {"i": i}, f"b{i}")
        b.append("step.finished", mission("m1"), {"i": i}, f"a{i}")  # the same event, retried
    entries = store.read_entries()
    assert len(entries) == 20
    assert [e.seq for e in entries] == list(range(20))
    assert verify(entries, store.read_checkpoints(), Keyring([signer.public_key])).ok


def test_checkpoints_every_n_entries_and_at_every_mission_end(signer: Signer) -> None:
    witness = MemoryWitness()
    ledger = new_ledger(signer, checkpoint_every=4, witnesses=[witness])
    for i in range(3):
        ledger.append("step.finished", mission("m1"), {}, f"s{i}")
    assert ledger.checkpoints() == []
    ledger.append(EntryType.MISSION_FINISHED, mission("m1"), {"phase": "Succeeded"}, "m1/end")
    ledger.append("step.finished", mission("m2"), {}, "m2/s0")
    ledger.append(EntryType.MISSION_FINISHED, mission("m2"), {"phase": "Failed"}, "m2/end")
    for i in range(4):
        ledger.append("step.finished", mission("m3"), {}, f"m3/s{i}")
    sizes = [c.tree_size for c in ledger.checkpoints()]
    assert sizes == [4, 6, 10]
    assert [c.tree_size for c in witness.checkpoints()] == sizes
    assert ledger.latest_checkpoint() == ledger.checkpoints()[-1]


def test_an_explicit_checkpoint_is_idempotent(signer: Signer) -> None:
    ledger = new_ledger(signer)
    ledger.append("step.finished", mission("m1"), {}, "k")
    assert ledger.checkpoint() == ledger.checkpoint()
    assert len(ledger.checkpoints()) == 1


def test_a_failing_witness_does_not_lose_the_entry(signer: Signer) -> None:
    class Unreachable:
        def record(self, checkpoint: Checkpoint) -> None:
            raise ConnectionError("witness down")

        def checkpoints(self) -> list[Checkpoint]:
            return []

    ledger = new_ledger(signer, witnesses=[Unreachable()])
    entry = ledger.append(EntryType.MISSION_FINISHED, mission("m1"), {}, "m1/end")
    assert ledger.entries() == [entry]
    assert [c.tree_size for c in ledger.checkpoints()] == [1]
    assert ledger.witness_failures == 1


def test_a_mission_proof_verifies_offline_and_refuses_edits(signer: Signer) -> None:
    ledger = new_ledger(signer, checkpoint_every=5)
    for i in range(12):
        name = "checkout-rollback" if i % 3 == 0 else f"other-{i}"
        ledger.append("step.finished", mission(name), {"i": i}, f"k{i}")
    keyring = Keyring([signer.public_key])
    proof = ledger.prove("checkout-rollback")
    assert [e.seq for e in proof.entries] == [0, 3, 6, 9]
    assert proof.pending == []
    shipped = MissionProof.model_validate_json(proof.model_dump_json())
    assert verify_mission_proof(shipped, keyring) == []

    bad = proof.proofs[1].model_copy(update={"path": ["00" * 32, *proof.proofs[1].path[1:]]})
    forged = proof.model_copy(update={"proofs": [proof.proofs[0], bad, *proof.proofs[2:]]})
    assert verify_mission_proof(forged, keyring) == ["seq 3: not included in the checkpointed tree"]
    other = Keyring([Signer.generate().public_key])
    assert "not signed by a trusted key" in verify_mission_proof(proof, other)[0]


def test_entries_of_another_kind_join_their_mission_through_data(signer: Signer) -> None:
    ledger = new_ledger(signer)
    approval = Subject(kind="ApprovalRequest", namespace="shop", name="m1-approval")
    ledger.append("mission.proposed", mission("m1"), {}, "a")
    ledger.append(EntryType.APPROVAL_DECIDED, approval, {"mission": "m1", "by": "ana"}, "b")
    ledger.append("mission.proposed", mission("m2"), {}, "c")
    assert [e.seq for e in ledger.entries(mission="m1")] == [0, 1]


def test_consistency_between_checkpoints(signer: Signer) -> None:
    ledger = new_ledger(signer, checkpoint_every=4)
    for i in range(12):
        ledger.append("step.finished", mission("m1"), {"i": i}, f"k{i}")
    keyring = Keyring([signer.public_key])
    proof = ledger.consistency(4, 12)
    assert verify_consistency_proof(proof, keyring) == []
    backwards = ConsistencyProof(old=proof.new, new=proof.old, path=proof.path)
    assert verify_consistency_proof(backwards, keyring) != []  # an old checkpoint as new
    with pytest.raises(ValueError):
        ledger.consistency(5)


def test_filters_by_type_namespace_and_time(signer: Signer) -> None:
    ledger = new_ledger(signer)
    ledger.append("step.started", mission("m1"), {}, "a")
    ledger.append("step.finished", mission("m1"), {}, "b")
    ledger.append("policy.decided", mission("m2", namespace="pay"), {}, "c")
    assert [e.seq for e in ledger.entries(types=["step.*"])] == [0, 1]
    assert [e.seq for e in ledger.entries(namespace="pay")] == [2]
    since = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    until = datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC)
    assert [e.seq for e in ledger.entries(since=since, until=until)] == [1]


def test_a_writer_refuses_to_extend_a_truncated_file(tmp_path: Path, signer: Signer) -> None:
    path = tmp_path / "ledger.jsonl"
    store = FileStore(path)
    ledger = new_ledger(signer, store)
    for i in range(3):
        ledger.append("step.finished", mission("m1"), {}, f"k{i}")
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:1]))  # someone cuts the tail while the operator runs
    with pytest.raises(LedgerCorruptedError):
        ledger.append("step.finished", mission("m1"), {}, "k3")


def test_the_ledger_verifies_itself_with_its_witnesses(tmp_path: Path, signer: Signer) -> None:
    store, witness = FileStore(tmp_path / "l.jsonl"), FileWitness(tmp_path / "w" / "cp.jsonl")
    ledger = new_ledger(signer, store, checkpoint_every=2, witnesses=[witness])
    for i in range(5):
        ledger.append("step.finished", mission("m1"), {}, f"k{i}")
    report = ledger.verify(Keyring([signer.public_key]))
    assert report.ok and report.checked == 5
    assert "seq 4..4 are not witnessed yet" in report.notes[0]


def test_an_invalid_origin_is_refused(signer: Signer) -> None:
    with pytest.raises(ValueError):
        Ledger(MemoryStore(), signer, "has space")
    with pytest.raises(ValueError):
        Ledger(MemoryStore(), signer, ORIGIN, checkpoint_every=0)


def test_a_witness_shared_by_two_ledgers_keeps_them_apart(signer: Signer) -> None:
    witness = MemoryWitness()
    ours = Ledger(MemoryStore(), signer, ORIGIN, checkpoint_every=2, witnesses=[witness])
    theirs = Ledger(
        MemoryStore(), signer, "grace.dev/other", checkpoint_every=2, witnesses=[witness]
    )
    for i in range(4):
        ours.append("step.finished", mission("m1"), {}, f"k{i}")
        theirs.append("step.finished", mission("m9"), {"other": True}, f"k{i}")
    report = ours.verify(Keyring([signer.public_key]))
    assert report.ok, report.summary()
    assert "ignored 2 witnessed checkpoints of other logs" in report.notes
