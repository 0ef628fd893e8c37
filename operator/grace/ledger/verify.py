"""Verification of a whole ledger: signatures, the hash chain, checkpoints and witnesses.

It names the first bad sequence number, because "the ledger is broken" is useless to an auditor:
what matters is which decisions can still be trusted (everything before it) and which cannot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from grace.ledger.entry import (
    GENESIS_HASH,
    Checkpoint,
    LedgerEntry,
    remember_canonical,
    signed_part,
)
from grace.ledger.keys import Keyring
from grace.ledger.merkle import MerkleTree, leaf_hash
from grace.ledger.records import (
    ParsedLog,
    Unreadable,
    deferred_line,
    parse_record,
)


@dataclass(frozen=True)
class Problem:
    seq: int
    message: str


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    first_bad_seq: int | None
    problem: str
    """What is wrong at `first_bad_seq` ("" when ok)."""
    checked: int
    """Entries whose position, signature and chain link verified."""
    checkpoints_checked: int
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()
    witnessed_matching: int = 0
    """Witnessed checkpoints of this log (right origin, trusted key, valid signature)."""
    unproven: tuple[str, ...] = ()
    """What this run could not prove (said in the output, so that "ok" is never more than it is)."""

    def summary(self) -> str:
        if self.ok:
            return (
                f"ok: {_count(self.checked, 'entry', 'entries')} and "
                f"{_count(self.checkpoints_checked, 'checkpoint', 'checkpoints')} verified"
            )
        if self.first_bad_seq is None:
            return f"FAILED: {self.problem}"
        return f"TAMPERED at seq {self.first_bad_seq}: {self.problem}"


@dataclass(frozen=True)
class Expectation:
    """What the auditor expects to find, beyond a chain without faults."""

    source: str
    """Where the ledger was read from, for messages ("ledger.jsonl", "namespace grace-system")."""
    witness_named: bool
    """A witness (file or namespace) was given: it must hold checkpoints of this log."""
    allow_empty: bool = False


def judge(
    report: VerifyReport, entries: int, checkpoints: int, expect: Expectation
) -> VerifyReport:
    """A clean chain is not yet "ok": nothing at all where a ledger was expected, or a named
    witness that holds none of this log's checkpoints, is a failure (a typo in a CronJob, or a
    ledger deleted wholesale, must not stay green); and without a witness the report says that
    a cut-off tail could not be ruled out."""
    if not report.ok:
        return report
    failure = ""
    if entries == 0 and not expect.allow_empty:
        failure = (
            f"no ledger entries in {expect.source}: a ledger was expected there (wrong file, "
            "namespace or prefix, or the ledger was deleted); pass --allow-empty if none is "
            "expected yet"
        )
    elif expect.witness_named and checkpoints and not report.witnessed_matching:
        failure = (
            f"the witness holds none of this ledger's checkpoints though {expect.source} holds "
            f"{_count(checkpoints, 'checkpoint', 'checkpoints')}: the wrong witness was named, "
            "or its checkpoints were removed"
        )
    unproven = list(report.unproven)
    if not expect.witness_named and entries:
        unproven.append(
            "the tail is complete: without a witness (--witness-namespace or --witness), the "
            "newest entries could have been cut off together with their checkpoints unnoticed"
        )
    if entries == 0 and not failure:
        unproven.append(f"anything at all: {expect.source} holds no entries (--allow-empty)")
    return replace(
        report,
        ok=not failure,
        problem=failure or report.problem,
        unproven=tuple(unproven),
    )


def verify_log(
    log: ParsedLog,
    keyring: Keyring,
    *,
    witnessed: Sequence[Checkpoint] = (),
    origin: str | None = None,
    every_signature: bool = False,
) -> VerifyReport:
    report = verify(
        log.entries,
        log.checkpoints,
        keyring,
        witnessed=witnessed,
        origin=origin,
        unreadable=log.unreadable,
        every_signature=every_signature,
    )
    if log.torn_tail:
        note = f"ignored an incomplete last line ({len(log.torn_tail)} bytes): never acknowledged"
        report = replace(report, notes=(*report.notes, note))
    return report


def verify(
    entries: Sequence[LedgerEntry],
    checkpoints: Sequence[Checkpoint],
    keyring: Keyring,
    *,
    witnessed: Sequence[Checkpoint] = (),
    origin: str | None = None,
    unreadable: Unreadable | None = None,
    every_signature: bool = False,
) -> VerifyReport:
    """Check everything and report the smallest sequence number that cannot be trusted.

    `witnessed` are checkpoints read from outside the writer's reach (another namespace, a
    witness file): only they reveal a truncated tail or an old state presented as current.

    Unless `every_signature`, a ledger is first proven by its checkpoints: a valid signed
    checkpoint whose Merkle root the entries' exact bytes reproduce proves every entry it
    covers as strongly as their own signatures would (see docs/ledger.md), so only the entries
    after the newest such checkpoint have their signatures checked. Anything that does not
    hold on that path (a broken link, a root that differs, a bad checkpoint) is judged by the
    full check below, entry by entry: the report of a damaged ledger is the same either way.
    """
    if not every_signature and unreadable is None:
        proven = _prove_by_checkpoints(entries, checkpoints, keyring, witnessed, origin)
        if proven is not None:
            return proven
    problems: list[Problem] = []
    notes: list[str] = []
    tree = MerkleTree()
    good = _check_entries(entries, keyring, tree, problems)
    if unreadable is not None and unreadable.seq <= good:
        problems.append(
            Problem(
                unreadable.seq, f"line {unreadable.line} is not a valid record: {unreadable.reason}"
            )
        )
        good = unreadable.seq

    expected_origin = origin or next((c.origin for c in [*checkpoints, *witnessed]), None)
    valid_log = _valid_checkpoints(checkpoints, "ledger", expected_origin, keyring, problems, notes)
    valid_witness = _valid_checkpoints(
        witnessed, "witnessed", expected_origin, keyring, problems, notes, verified=valid_log
    )
    matched = _check_roots(
        [(c, "ledger") for c in valid_log] + [(c, "witnessed") for c in valid_witness],
        tree,
        len(entries),
        good,
        problems,
    )

    newest_log = max((c.tree_size for c in valid_log if c.tree_size in matched), default=0)
    newest_witness = max((c.tree_size for c in valid_witness), default=0)
    if newest_log < newest_witness <= min(good, len(entries)):
        problems.append(
            Problem(
                newest_log,
                f"the ledger's newest checkpoint is at tree size {newest_log}, but tree size "
                f"{newest_witness} was witnessed: an old checkpoint is presented as the newest",
            )
        )
    if entries and not checkpoints and not witnessed:
        notes.append("no checkpoints: a truncated tail cannot be detected")
    elif witnessed and newest_witness < len(entries):
        notes.append(
            f"seq {newest_witness}..{len(entries) - 1} are not witnessed yet: only their "
            "signatures and chain protect them against truncation"
        )

    checked = len(checkpoints) + len(witnessed)
    matching = len(valid_witness)
    if not problems:
        return VerifyReport(True, None, "", good, checked, (), tuple(notes), matching)
    first = min(problems, key=lambda p: p.seq)
    return VerifyReport(
        False, first.seq, first.message, good, checked, tuple(problems), tuple(notes), matching
    )


def _prove_by_checkpoints(
    entries: Sequence[LedgerEntry],
    checkpoints: Sequence[Checkpoint],
    keyring: Keyring,
    witnessed: Sequence[Checkpoint],
    origin: str | None,
) -> VerifyReport | None:
    """The clean report of a ledger proven by its checkpoints, or None to check it in full.

    Every entry's link (seq, prev_hash, a trusted key id, an unused idempotency key) is checked
    and hashed from its stored bytes; the entries up to the newest valid checkpoint whose root
    those bytes reproduce need no signature of their own (the writer signed that root, which
    commits to each of their bytes, signatures included); the entries after it do.
    """
    tree = MerkleTree()
    prev_hash = GENESIS_HASH
    keys: set[str] = set()
    for seq, entry in enumerate(entries):
        pending = deferred_line(entry)
        if pending is None:
            entry_hash, leaf = entry.hashes
        else:
            body = pending[2]
            entry_hash, leaf = hashlib.sha256(body).hexdigest(), leaf_hash(body)
        if (
            entry.seq != seq
            or entry.prev_hash != prev_hash
            or entry.key_id not in keyring
            or entry.idempotency_key in keys
        ):
            return None
        keys.add(entry.idempotency_key)
        prev_hash = entry_hash
        tree.append(leaf)

    problems: list[Problem] = []
    notes: list[str] = []
    expected_origin = origin or next((c.origin for c in [*checkpoints, *witnessed]), None)
    valid_log = _valid_checkpoints(checkpoints, "ledger", expected_origin, keyring, problems, notes)
    valid_witness = _valid_checkpoints(
        witnessed, "witnessed", expected_origin, keyring, problems, notes, verified=valid_log
    )
    total = len(entries)
    matched = _check_roots(
        [(c, "ledger") for c in valid_log] + [(c, "witnessed") for c in valid_witness],
        tree,
        total,
        total,
        problems,
    )
    newest_log = max((c.tree_size for c in valid_log if c.tree_size in matched), default=0)
    newest_witness = max((c.tree_size for c in valid_witness), default=0)
    if problems or newest_log < newest_witness or (total and not checkpoints and not witnessed):
        return None
    covered = max(matched, default=0)
    for stored in entries[covered:]:
        settled, signature_ok = settle(stored, keyring)
        if isinstance(settled, str) or not (
            signature_ok
            or keyring.verify(settled.key_id, settled.signed_bytes(), settled.signature)
        ):
            return None
        if settled.hashes[0] != (
            hashlib.sha256(pending[2]).hexdigest()
            if (pending := deferred_line(stored))
            else stored.hashes[0]
        ):
            return None  # a line that verified only once read strictly: judge it in full
    if witnessed and newest_witness < total:
        notes.append(
            f"seq {newest_witness}..{total - 1} are not witnessed yet: only their "
            "signatures and chain protect them against truncation"
        )
    if covered:
        proof = f"seq 0..{covered - 1} proven by the signed checkpoint at tree size {covered}"
        rest = f"; signatures checked for seq {covered}..{total - 1}" if covered < total else ""
        notes.append(proof + rest)
    checked = len(checkpoints) + len(witnessed)
    return VerifyReport(True, None, "", total, checked, (), tuple(notes), len(valid_witness))


def _check_entries(
    entries: Sequence[LedgerEntry], keyring: Keyring, tree: MerkleTree, problems: list[Problem]
) -> int:
    """Walk the chain; stop at the first bad entry (everything after it hangs off a bad link)."""
    first_position: dict[int, int] = {}
    for position, entry in enumerate(entries):
        first_position.setdefault(entry.seq, position)
    prev_hash = GENESIS_HASH
    keys: dict[str, int] = {}
    for seq, stored in enumerate(entries):
        settled, signature_ok = settle(stored, keyring)
        if isinstance(settled, str):
            problems.append(Problem(seq, settled))
            return seq
        entry = settled
        if not (  # the usual case, checked inline; `_entry_problem` says what is wrong
            signature_ok
            and entry.seq == seq
            and entry.prev_hash == prev_hash
            and entry.idempotency_key not in keys
        ):
            message = _entry_problem(
                seq, entry, prev_hash, keyring, keys, first_position, signature_ok=signature_ok
            )
            if message:
                problems.append(Problem(seq, message))
                return seq
        keys[entry.idempotency_key] = seq
        entry_hash, leaf_hash = entry.hashes
        prev_hash = entry_hash
        tree.append(leaf_hash)
    return len(entries)


def settle(entry: LedgerEntry, keyring: Keyring) -> tuple[LedgerEntry | str, bool]:
    """An entry read with `parse_lines(deferred=True)`: (the entry, signature verified), or why
    its line is unreadable.

    The fast path verifies the signature over the stored bytes minus the signature member. The
    writer only ever signs canonical JSON, so a signature that verifies over those bytes proves
    the line *is* the canonical form of the entry (no duplicate key, no NaN, no other spelling):
    the bytes are then hashed as they are, without re-encoding. Any other line takes the strict
    reader and the full checks, which give the same verdict and message as before.
    """
    pending = deferred_line(entry)
    if pending is None:
        return entry, False
    number, line, body = pending
    signed = signed_part(body, entry.signature)
    if signed is not None and keyring.verify(entry.key_id, signed, entry.signature):
        return remember_canonical(entry, body), True
    try:
        strict = parse_record(line)
    except ValueError as exc:
        return f"line {number} is not a valid record: {exc}", False
    if not isinstance(strict, LedgerEntry):
        return f"line {number} is not an entry", False
    return strict, False


def _entry_problem(
    seq: int,
    entry: LedgerEntry,
    prev_hash: str,
    keyring: Keyring,
    keys: dict[str, int],
    first_position: dict[int, int],
    *,
    signature_ok: bool = False,
) -> str:
    if entry.seq != seq:
        if entry.seq < seq:
            return f"seq {entry.seq} appears again where seq {seq} belongs (duplicated or moved)"
        if first_position.get(seq, -1) > seq:
            return f"entries out of order: seq {entry.seq} stands where seq {seq} belongs"
        return f"entry seq {seq} is missing (the next entry is seq {entry.seq})"
    if entry.key_id not in keyring:
        return f"signed by key id {entry.key_id}, which is not a trusted key (foreign key)"
    if not signature_ok and not keyring.verify(entry.key_id, entry.signed_bytes(), entry.signature):
        return "signature does not verify: the entry was altered or signed by another key"
    if entry.prev_hash != prev_hash:
        before = "the genesis hash" if seq == 0 else f"the hash of seq {seq - 1}"
        return f"prev_hash is not {before}: an entry was removed, replaced or reordered"
    if entry.idempotency_key in keys:
        first = keys[entry.idempotency_key]
        return f"idempotency key {entry.idempotency_key!r} was already used by seq {first}"
    return ""


def _valid_checkpoints(
    checkpoints: Sequence[Checkpoint],
    source: str,
    origin: str | None,
    keyring: Keyring,
    problems: list[Problem],
    notes: list[str],
    *,
    verified: Sequence[Checkpoint] = (),
) -> list[Checkpoint]:
    """The checkpoints whose origin, key and signature hold. One equal (field for field) to a
    checkpoint in `verified` is not verified twice: the witness usually holds the very
    checkpoints the ledger does."""
    valid: list[Checkpoint] = []
    foreign = 0
    known = {(c.tree_size, c.root_hash, c.key_id, c.signature, c.origin) for c in verified}
    for checkpoint in checkpoints:
        size = checkpoint.tree_size
        if checkpoint.origin != origin:
            if source == "witnessed":
                foreign += 1
            else:
                problems.append(
                    Problem(
                        max(size - 1, 0),
                        f"ledger checkpoint at tree size {size} names origin "
                        f"{checkpoint.origin!r}, not {origin!r}",
                    )
                )
            continue
        if checkpoint.key_id not in keyring:
            # a checkpoint under an unknown key means the keyring itself is not the one that
            # signed this log (a swapped public key): no entry can be trusted, from seq 0
            problems.append(
                Problem(
                    0,
                    f"{source} checkpoint at tree size {size} is signed by key id "
                    f"{checkpoint.key_id}, which is not trusted: the public key was swapped "
                    "or the checkpoint forged",
                )
            )
            continue
        same = (size, checkpoint.root_hash, checkpoint.key_id, checkpoint.signature, origin)
        if same not in known and not keyring.verify(
            checkpoint.key_id, checkpoint.note_body(), checkpoint.signature
        ):
            problems.append(
                Problem(
                    max(size - 1, 0),
                    f"{source} checkpoint at tree size {size}: signature does not verify "
                    "(checkpoint altered)",
                )
            )
            continue
        valid.append(checkpoint)
    if foreign:
        notes.append(f"ignored {foreign} witnessed checkpoints of other logs")
    return valid


def _check_roots(
    checkpoints: list[tuple[Checkpoint, str]],
    tree: MerkleTree,
    total: int,
    good: int,
    problems: list[Problem],
) -> set[int]:
    """Compare each checkpoint with the recomputed tree; return the sizes nobody disputes."""
    mismatched: list[tuple[Checkpoint, str]] = []
    agreed: set[int] = set()
    disputed: set[int] = set()
    for checkpoint, source in sorted(checkpoints, key=lambda pair: pair[0].tree_size):
        size = checkpoint.tree_size
        if size > total:
            problems.append(
                Problem(
                    total,
                    f"{source} checkpoint covers {size} entries but the ledger holds {total}: "
                    f"seq {total}..{size - 1} were removed (tail truncated, or an old state "
                    "presented as current)",
                )
            )
        elif size <= good:  # beyond `good` the entry problem already explains a mismatch
            if tree.root(size).hex() == checkpoint.root_hash:
                agreed.add(size)
            else:
                disputed.add(size)
                mismatched.append((checkpoint, source))
    agreed -= disputed
    for checkpoint, source in mismatched:
        size = checkpoint.tree_size
        # the entries can only be trusted up to the newest size every checkpoint agrees on
        bound = max((s for s in agreed if s < size), default=0)
        problems.append(
            Problem(
                bound,
                f"seq {bound}..{size - 1} do not hash to the root of the {source} checkpoint "
                f"at tree size {size}: history was rewritten",
            )
        )
    return agreed


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
