"""The tamper corpus: every way of rewriting history is detected, at the right sequence number.

The reference ledger (conftest.Corpus) has 14 entries, seq 0..13, checkpoints at tree sizes
4, 5, 9, 10, 14, each also written to a witness file the attacker cannot reach.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from grace.ledger import (
    Checkpoint,
    Keyring,
    Signer,
    VerifyReport,
    canonical_json,
    parse_lines,
    verify_log,
)
from grace.ledger.configmapstore import SegmentPolicy, parse_segments
from grace.ledger.entry import LedgerEntry
from tests.unit.ledger.ledger_fixtures import Corpus, cut_segments, write_corpus


def check(
    corpus: Corpus,
    lines: list[bytes] | None = None,
    *,
    keyring: Keyring | None = None,
    witness: bool = True,
) -> VerifyReport:
    data = b"".join(lines) if lines is not None else corpus.path.read_bytes()
    witnessed = parse_lines(corpus.witness_path.read_bytes()).checkpoints if witness else []
    report = verify_log(parse_lines(data), keyring or corpus.keyring, witnessed=witnessed)
    # `grace ledger verify` reads deferred (signatures checked over the stored bytes): it must
    # come to the very same verdict, at the same seq, for the same reason
    fast = verify_log(
        parse_lines(data, deferred=True), keyring or corpus.keyring, witnessed=witnessed
    )
    assert fast == report
    # proven by checkpoints where they hold, else entry by entry: a damaged ledger is judged the
    # same as by checking every signature
    every = verify_log(
        parse_lines(data, deferred=True),
        keyring or corpus.keyring,
        witnessed=witnessed,
        every_signature=True,
    )
    assert same_verdict(every, report)
    return report


def same_verdict(a: VerifyReport, b: VerifyReport) -> bool:
    return (a.ok, a.first_bad_seq, a.problem, a.problems, a.checked) == (
        b.ok,
        b.first_bad_seq,
        b.problem,
        b.problems,
        b.checked,
    )


def check_segments(
    corpus: Corpus, texts: list[tuple[str, str]], witnessed: list[Checkpoint] | None = None
) -> VerifyReport:
    report = verify_log(parse_segments(texts), corpus.keyring, witnessed=witnessed or [])
    fast = parse_segments(texts, deferred=True)
    assert verify_log(fast, corpus.keyring, witnessed=witnessed or []) == report
    every = verify_log(fast, corpus.keyring, witnessed=witnessed or [], every_signature=True)
    assert same_verdict(every, report)
    return report


def position(lines: list[bytes], seq: int) -> int:
    """Index of the line holding entry `seq`."""
    for index, line in enumerate(lines):
        record = json.loads(line)
        if "entry" in record and record["entry"]["seq"] == seq:
            return index
    raise AssertionError(f"no entry {seq}")


def checkpoint_position(lines: list[bytes], size: int) -> int:
    for index, line in enumerate(lines):
        record = json.loads(line)
        if "checkpoint" in record and record["checkpoint"]["tree_size"] == size:
            return index
    raise AssertionError(f"no checkpoint {size}")


def edited(line: bytes, **changes: Any) -> bytes:
    record = json.loads(line)
    kind = next(iter(record))
    record[kind].update(changes)
    return canonical_json(record) + b"\n"


def resigned(line: bytes, signer: Signer, **changes: Any) -> bytes:
    """An entry edited and signed again by `signer` (an attacker's key)."""
    body = json.loads(line)["entry"]
    body.update(changes)
    body["key_id"] = changes.get("key_id", signer.key_id)
    body.pop("signature")
    body["signature"] = signer.sign(canonical_json(body))
    return canonical_json({"entry": body}) + b"\n"


def test_the_untouched_ledger_verifies(corpus: Corpus) -> None:
    report = check(corpus)
    assert report.ok, report.summary()
    assert report.checked == 14
    assert report.first_bad_seq is None


# -- edit a field ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("data", {"step": 99}),
        ("time", "2026-01-01T00:00:59.000000Z"),
        ("type", "mission.finished"),
        ("subject", {"kind": "Mission", "namespace": "shop", "name": "other", "uid": "u"}),
        ("idempotency_key", "m2/forged"),
        ("prev_hash", "ab" * 32),
    ],
)
def test_an_edited_field_is_found_at_its_entry(corpus: Corpus, field: str, value: Any) -> None:
    lines = corpus.lines()
    at = position(lines, 6)
    lines[at] = edited(lines[at], **{field: value})
    report = check(corpus, lines)
    assert not report.ok
    assert report.first_bad_seq == 6
    assert "signature does not verify" in report.problem


def test_an_edited_sequence_number_is_found(corpus: Corpus) -> None:
    lines = corpus.lines()
    at = position(lines, 6)
    lines[at] = edited(lines[at], seq=60)
    report = check(corpus, lines)
    assert report.first_bad_seq == 6
    assert "seq 6 is missing" in report.problem


def test_an_edited_checkpoint_is_found(corpus: Corpus) -> None:
    lines = corpus.lines()
    at = checkpoint_position(lines, 9)
    lines[at] = edited(lines[at], root_hash="cd" * 32)
    report = check(corpus, lines)
    assert report.first_bad_seq == 8
    assert "checkpoint at tree size 9: signature does not verify" in report.problem


# -- delete, reorder, duplicate ----------------------------------------------------------------


@pytest.mark.parametrize("seq", [0, 6, 13])
def test_a_deleted_entry_is_found(corpus: Corpus, seq: int) -> None:
    lines = corpus.lines()
    del lines[position(lines, seq)]
    report = check(corpus, lines)
    assert report.first_bad_seq == seq
    expected = "were removed" if seq == 13 else f"seq {seq} is missing"
    assert expected in report.problem


def test_two_reordered_entries_are_found(corpus: Corpus) -> None:
    lines = corpus.lines()
    a, b = position(lines, 6), position(lines, 7)
    lines[a], lines[b] = lines[b], lines[a]
    report = check(corpus, lines)
    assert report.first_bad_seq == 6
    assert "out of order" in report.problem


def test_a_replayed_entry_is_found(corpus: Corpus) -> None:
    lines = corpus.lines()
    at = position(lines, 6)
    lines.insert(at + 1, lines[at])
    report = check(corpus, lines)
    assert report.first_bad_seq == 7
    assert "seq 6 appears again" in report.problem


# -- truncate the tail -------------------------------------------------------------------------


def test_a_truncated_tail_is_found_by_the_witness(corpus: Corpus) -> None:
    lines = corpus.lines()
    truncated = lines[: position(lines, 12)]  # seq 12, 13 and checkpoint 14 are gone
    report = check(corpus, truncated)
    assert report.first_bad_seq == 12
    assert "seq 12..13 were removed" in report.problem


def test_a_truncated_tail_is_found_by_a_checkpoint_left_behind(corpus: Corpus) -> None:
    lines = corpus.lines()
    gone = {position(lines, 12), position(lines, 13)}  # the checkpoint at 14 stays
    report = check(corpus, [line for i, line in enumerate(lines) if i not in gone], witness=False)
    assert report.first_bad_seq == 12
    assert "ledger checkpoint covers 14 entries but the ledger holds 12" in report.problem


def test_dropping_only_the_last_entry_is_found(corpus: Corpus) -> None:
    lines = corpus.lines()
    report = check(corpus, lines[: position(lines, 13)])
    assert report.first_bad_seq == 13


# -- present an old checkpoint as new ----------------------------------------------------------


def test_rolling_back_to_an_old_checkpoint_is_found(corpus: Corpus) -> None:
    lines = corpus.lines()
    rolled_back = lines[: checkpoint_position(lines, 9) + 1]  # a consistent older state
    assert check(corpus, rolled_back, witness=False).ok  # alone it looks fine...
    report = check(corpus, rolled_back)  # ...but the witness saw more
    assert report.first_bad_seq == 9
    assert "old state presented as current" in report.problem


def test_hiding_newer_checkpoints_is_found(corpus: Corpus) -> None:
    lines = corpus.lines()
    hidden = {checkpoint_position(lines, 10), checkpoint_position(lines, 14)}
    report = check(corpus, [line for i, line in enumerate(lines) if i not in hidden])
    assert report.first_bad_seq == 9
    assert "old checkpoint is presented as the newest" in report.problem


# -- foreign keys ------------------------------------------------------------------------------


def test_an_entry_signed_with_a_foreign_key_is_found(corpus: Corpus) -> None:
    attacker = Signer.generate()
    lines = corpus.lines()
    at = position(lines, 6)
    lines[at] = resigned(lines[at], attacker, data={"step": 99})
    report = check(corpus, lines)
    assert report.first_bad_seq == 6
    assert f"key id {attacker.key_id}, which is not a trusted key" in report.problem


def test_a_foreign_signature_under_a_trusted_key_id_is_found(corpus: Corpus) -> None:
    attacker = Signer.generate()
    lines = corpus.lines()
    at = position(lines, 6)
    lines[at] = resigned(lines[at], attacker, data={"step": 99}, key_id=corpus.signer.key_id)
    report = check(corpus, lines)
    assert report.first_bad_seq == 6
    assert "signature does not verify" in report.problem


# -- swap the public key -----------------------------------------------------------------------


def test_a_swapped_public_key_is_found_even_when_everything_is_re_signed(corpus: Corpus) -> None:
    """The attacker re-signs the whole history and puts their key in trusted.pem."""
    attacker = Signer.generate()
    forged = _resign_everything(corpus.lines(), attacker)
    swapped = Keyring([attacker.public_key])
    assert check(corpus, forged, keyring=swapped, witness=False).ok  # self-consistent...
    report = check(corpus, forged, keyring=swapped)  # ...but the witness knows the real key
    assert report.first_bad_seq == 0
    assert "the public key was swapped" in report.problem


def test_a_swapped_public_key_rejects_the_genuine_history(corpus: Corpus) -> None:
    report = check(corpus, keyring=Keyring([Signer.generate().public_key]))
    assert report.first_bad_seq == 0
    assert "not a trusted key" in report.problem


def test_history_rewritten_with_the_real_key_is_bounded_by_the_witness(corpus: Corpus) -> None:
    """Whoever steals the key can re-sign a new history, but not the checkpoints already witnessed."""
    lines = corpus.lines()
    at = position(lines, 6)
    lines[at] = edited(lines[at], data={"step": 99})
    forged = _resign_everything(lines, corpus.signer)
    assert check(corpus, forged, witness=False).ok  # internally perfect...
    report = check(corpus, forged)  # ...but checkpoint 9 was witnessed with the old root
    assert report.first_bad_seq == 5  # the newest witnessed checkpoint that still matches
    assert "seq 5..8 do not hash to the root of the witnessed checkpoint at tree size 9" in (
        report.problem
    )


# -- replace a sealed ConfigMap segment --------------------------------------------------------


def test_a_replaced_sealed_segment_is_found(tmp_path: Any, corpus: Corpus) -> None:
    segments = cut_segments(corpus.lines(), SegmentPolicy(max_entries=4))
    assert [s.sealed for s in segments] == [True, True, True, False]
    assert segments[1].entries[0].seq == 4
    other = write_corpus(tmp_path / "other", corpus.signer)  # same key, another history
    other_lines = [line.replace(b'"step":', b'"stage":') for line in other.lines()]
    forged = cut_segments(
        _resign_everything(other_lines, corpus.signer), SegmentPolicy(max_entries=4)
    )
    segments[1] = forged[1]
    texts = [(f"grace-ledger-{s.index:06d}", s.text) for s in segments]
    witnessed = parse_lines(corpus.witness_path.read_bytes()).checkpoints
    report = check_segments(corpus, texts, witnessed)
    assert report.first_bad_seq == 4
    assert "prev_hash is not the hash of seq 3" in report.problem


def test_a_deleted_sealed_segment_is_found(corpus: Corpus) -> None:
    segments = cut_segments(corpus.lines(), SegmentPolicy(max_entries=4))
    del segments[1]
    texts = [(f"grace-ledger-{s.index:06d}", s.text) for s in segments]
    report = check_segments(corpus, texts)
    assert report.first_bad_seq == 4
    assert "seq 4 is missing" in report.problem


def test_an_unreadable_segment_is_found_at_its_first_entry(corpus: Corpus) -> None:
    segments = cut_segments(corpus.lines(), SegmentPolicy(max_entries=4))
    texts = [(f"grace-ledger-{s.index:06d}", s.text) for s in segments]
    texts[2] = (texts[2][0], "{not json\n" + texts[2][1])
    report = check_segments(corpus, texts)
    assert report.first_bad_seq == 8
    assert "grace-ledger-000002" in report.problem


# -- helpers -----------------------------------------------------------------------------------


def _resign_everything(lines: list[bytes], signer: Signer) -> list[bytes]:
    """Rebuild a whole history under `signer`: new signatures, new chain, new checkpoints."""
    from grace.ledger.chain import Head, sign_checkpoint
    from grace.ledger.merkle import MerkleTree

    out: list[bytes] = []
    head, tree = Head(), MerkleTree()
    for line in lines:
        record = json.loads(line)
        if "entry" in record:
            body = record["entry"]
            body.update(prev_hash=head.last_hash, key_id=signer.key_id)
            body.pop("signature")
            body["signature"] = signer.sign(canonical_json(body))
            entry = LedgerEntry.model_validate(body)
            head = head.after(entry)
            tree.append(entry.leaf_hash())
            out.append(canonical_json({"entry": body}) + b"\n")
        else:
            size = record["checkpoint"]["tree_size"]
            checkpoint = sign_checkpoint(
                record["checkpoint"]["origin"], size, tree.root(size), signer
            )
            out.append(canonical_json({"checkpoint": checkpoint.model_dump(mode="json")}) + b"\n")
    return out


def test_a_clean_ledger_is_proven_by_its_checkpoints_and_says_how(corpus: Corpus) -> None:
    """The entries a verified checkpoint covers need no signature check of their own; the
    report names the checkpoint that proved them and where signature checks took over."""
    data = corpus.path.read_bytes()
    witnessed = parse_lines(corpus.witness_path.read_bytes()).checkpoints
    log = parse_lines(data, deferred=True)
    proven = verify_log(log, corpus.keyring, witnessed=witnessed)
    every = verify_log(
        parse_lines(data, deferred=True), corpus.keyring, witnessed=witnessed, every_signature=True
    )
    assert proven.ok and every.ok and proven.checked == every.checked == len(log.entries)
    newest = max(c.tree_size for c in log.checkpoints)
    assert 0 < newest <= len(log.entries)
    proof = f"seq 0..{newest - 1} proven by the signed checkpoint at tree size {newest}"
    assert any(note.startswith(proof) for note in proven.notes), proven.notes
    assert not any("proven by the signed checkpoint" in note for note in every.notes)
