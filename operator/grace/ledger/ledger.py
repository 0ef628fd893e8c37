"""The Ledger: what the rest of GRACE calls to record an event, checkpoint and prove.

It keeps an in-memory view of the stored chain (entries, Merkle tree, idempotency index) and
extends it only through the store's compare-and-swap, so replicas and restarts never fork or
duplicate. Calls block on I/O: from async kopf handlers use `await asyncio.to_thread(...)`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime

from pydantic import JsonValue

from grace.ledger.chain import Head, next_entry, sign_checkpoint
from grace.ledger.entry import (
    Checkpoint,
    EntryType,
    LedgerEntry,
    Subject,
    format_time,
    utc_now,
    valid_origin,
)
from grace.ledger.keys import Keyring, Signer
from grace.ledger.merkle import MerkleTree
from grace.ledger.proof import (
    ConsistencyProof,
    MissionProof,
    newest_matching_checkpoint,
    prove_consistency,
    prove_mission,
)
from grace.ledger.query import EntryFilter, select
from grace.ledger.store import LedgerCorruptedError, LedgerStore, Witness
from grace.ledger.verify import VerifyReport, verify

log = logging.getLogger(__name__)

GATHER_SECONDS = 0.0005
"""How long a writer waits at most for more appends to join its batch, when the last batch had
more than have queued yet: far below an fsync (~1-5 ms), and it lets the callers that were just
answered queue their next append in time, so batches are about as large as the number of
concurrent writers. The wait ends as soon as as many as in the last batch have queued."""

_NOBODY_GATHERS = 1 << 62

CHECKPOINT_TYPES = frozenset({EntryType.MISSION_FINISHED.value})
"""Entry types after which a checkpoint is written at once (a Mission's record is complete)."""


class LedgerContentionError(RuntimeError):
    """Lost the compare-and-swap race too many times in a row."""


class _Pending:
    """One caller's append, waiting in the group-commit queue until a writer settles it."""

    __slots__ = ("_entry", "_error", "_signal", "data", "done", "key", "subject", "type")

    def __init__(self, type: str, subject: Subject, data: dict[str, JsonValue], key: str) -> None:
        self.type, self.subject, self.data, self.key = type, subject, data, key
        self.done = False
        # a lock taken now and released by `wake`: a one-shot signal at a tenth of an Event's cost
        self._signal = threading.Lock()
        self._signal.acquire()
        self._entry: LedgerEntry | None = None
        self._error: BaseException | None = None

    def wait(self) -> None:
        """Block until `wake`: settled, or handed the lead."""
        self._signal.acquire()

    def wake(self) -> None:
        self._signal.release()

    def settle(self, entry: LedgerEntry) -> None:
        self._entry, self.done = entry, True

    def fail(self, error: BaseException) -> None:
        self._error, self.done = error, True

    def outcome(self) -> LedgerEntry:
        if self._error is not None:
            raise self._error
        if self._entry is None:  # cannot happen: the writer that took it settled it
            raise RuntimeError("ledger append was never settled")
        return self._entry


class Ledger:
    def __init__(
        self,
        store: LedgerStore,
        signer: Signer,
        origin: str,
        *,
        checkpoint_every: int = 64,
        witnesses: Sequence[Witness] = (),
        clock: Callable[[], datetime] = utc_now,
        max_attempts: int = 100,
    ) -> None:
        if not valid_origin(origin):
            raise ValueError(f"invalid origin {origin!r}: use a schema-less URL like grace.dev/c1")
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.origin = origin
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.witness_failures = 0
        """How many witness writes failed (a metric: checkpoints that did not leave the writer)."""
        self._store = store
        self._witnesses = list(witnesses)
        self._clock = clock
        self._max_attempts = max_attempts
        self._lock = threading.RLock()
        self._entries: list[LedgerEntry] = []
        self._tree = MerkleTree()
        self._by_key: dict[str, int] = {}
        self._checkpoints: list[Checkpoint] = []
        self._head = Head()
        self._loaded = False
        self._checkpoint_due = False
        self._queued = threading.Condition(threading.Lock())
        """Guards the queue; notified when as many appends queued as the leader gathers."""
        self._queue: list[_Pending] = []
        self._gather_target = _NOBODY_GATHERS
        self._committing = False
        self._last_batch = 0
        self._newest_checkpoint = (0, 0)
        """(how many checkpoints were known, the largest tree size among them)"""

    # -- writing ---------------------------------------------------------------------------

    def append(
        self,
        type: str,
        subject: Subject,
        data: Mapping[str, JsonValue],
        idempotency_key: str,
    ) -> LedgerEntry:
        """Record one event, exactly once per `idempotency_key`, and return once it is durable.

        A retried call (kopf delivers at least once, a crash may come between the write and the
        status update) returns the entry already stored under that key instead of a new one.
        `data` must be plain JSON (str, int, float, bool, None, lists, dicts): ValueError else.

        Group commit: appends from several threads at once (two Missions finishing together)
        queue up while one of them writes; the next writer takes the whole queue and stores it
        in one write (one fsync, one ConfigMap update). Nobody returns before its own entry is
        committed.
        """
        pending = _Pending(str(type), subject, dict(data), idempotency_key)
        with self._queued:
            self._queue.append(pending)
            if len(self._queue) >= self._gather_target:
                self._queued.notify()  # the leader gathering a batch has all it waits for
            lead = not self._committing
            self._committing = True
        if not lead:
            pending.wait()  # until settled, or handed the lead
            if pending.done:
                return pending.outcome()
        self._lead(pending)
        return pending.outcome()

    def _lead(self, own: _Pending) -> None:
        """Commit what queued up, then hand the lead to the oldest append still waiting."""
        with self._queued:
            if len(self._queue) < self._last_batch:
                # others append too: let those just answered queue their next append, but
                # never wait long for one that does not come (a writer that finished)
                self._gather_target = self._last_batch
                self._queued.wait(GATHER_SECONDS)
                self._gather_target = _NOBODY_GATHERS
            batch, self._queue = self._queue, []
        self._last_batch = len(batch)
        try:
            with self._lock:
                self._ensure_loaded()
                self._commit(batch)
        except BaseException as exc:  # every caller in the batch hears of it
            for waiting in batch:
                if not waiting.done:
                    waiting.fail(exc)
        finally:
            for waiting in batch:
                if waiting is not own:
                    waiting.wake()
            with self._queued:
                if self._queue:
                    self._queue[0].wake()  # it leads next; `_committing` stays True
                else:
                    self._committing = False

    def _commit(self, batch: list[_Pending]) -> None:
        """Store every pending append of `batch` (holding `_lock`), settling each one."""
        for attempt in range(self._max_attempts):
            entries: list[LedgerEntry] = []
            claims: list[list[_Pending]] = []
            keys: dict[str, int] = {}
            head = self._head
            for pending in batch:
                if pending.done:
                    continue
                existing = self._by_key.get(pending.key)
                if existing is not None:
                    pending.settle(self._stored_for(pending, self._entries[existing]))
                    continue
                if pending.key in keys:  # the same key twice in one batch: one entry
                    claims[keys[pending.key]].append(pending)
                    continue
                try:
                    entry = next_entry(
                        head,
                        type=pending.type,
                        subject=pending.subject,
                        data=pending.data,
                        idempotency_key=pending.key,
                        time=format_time(self._clock()),
                        signer=self.signer,
                    )
                except ValueError as exc:
                    pending.fail(exc)
                    continue
                keys[pending.key] = len(entries)
                entries.append(entry)
                claims.append([pending])
                head = head.after(entry)
            if not entries:
                return
            # a checkpoint due after this batch is signed now and stored in the same write
            checkpoint = self._batch_checkpoint(entries)
            stored = self._store.append_batch(entries, self._head, checkpoint)
            for entry, (first, *same_key) in zip(entries[:stored], claims[:stored], strict=True):
                self._take(entry)
                first.settle(entry)  # built for it
                for pending in same_key:
                    pending.settle(self._stored_for(pending, entry))
            if checkpoint is not None and stored == len(entries):
                self._checkpoints.append(checkpoint)
                self._checkpoint_due = False
                self._witness(checkpoint)
            elif 0 < stored < len(entries):  # (all stored and none due: still none due)
                self._checkpoint_if_due(entries[:stored])
            if stored == len(entries):
                return
            if not stored:
                self._refresh(after_conflict=True)
                if attempt >= 2:  # jittered, growing, capped: a rival's batch takes ~1 fsync
                    time.sleep(random.uniform(0, min(0.002 * attempt, 0.05)))
        error = LedgerContentionError(f"no append after {self._max_attempts} attempts")
        for pending in batch:
            if not pending.done:
                pending.fail(error)

    def _stored_for(self, pending: _Pending, stored: LedgerEntry) -> LedgerEntry:
        if stored.type != pending.type or stored.subject != pending.subject:
            log.warning(
                "idempotency key %r already records a %s about %s/%s; kept that one",
                pending.key,
                stored.type,
                stored.subject.kind,
                stored.subject.name,
            )
        return stored

    def checkpoint(self) -> Checkpoint:
        """Sign the current tree head, store it, and hand it to every witness."""
        with self._lock:
            self._ensure_loaded()
            return self._checkpoint()

    # -- reading ---------------------------------------------------------------------------

    @property
    def size(self) -> int:
        with self._lock:
            self._ensure_loaded()
            return len(self._entries)

    @property
    def head(self) -> Head:
        with self._lock:
            self._ensure_loaded()
            return self._head

    def refresh(self) -> None:
        """Pick up what other writers appended."""
        with self._lock:
            self._refresh()

    def entries(
        self,
        *,
        mission: str | None = None,
        namespace: str | None = None,
        types: Collection[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[LedgerEntry]:
        with self._lock:
            self._refresh()
            where = EntryFilter(mission, namespace, tuple(types), since, until)
            return select(self._entries, where)

    def checkpoints(self) -> list[Checkpoint]:
        with self._lock:
            self._refresh()
            return list(self._checkpoints)

    def latest_checkpoint(self) -> Checkpoint | None:
        with self._lock:
            self._refresh()
            return newest_matching_checkpoint(self._tree, self._checkpoints)

    def prove(self, mission: str, namespace: str | None = None) -> MissionProof:
        """Inclusion proofs for every entry of a Mission, checkpointing first if needed."""
        with self._lock:
            self._refresh()
            proof = prove_mission(
                self._entries, self._checkpoints, mission, namespace, tree=self._tree
            )
            if proof.pending:
                self._checkpoint()
                proof = prove_mission(
                    self._entries, self._checkpoints, mission, namespace, tree=self._tree
                )
            return proof

    def consistency(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """Prove that the checkpoint at `new_size` (default: newest) extends the one at `old_size`."""
        with self._lock:
            self._refresh()
            by_size = {c.tree_size: c for c in self._checkpoints}
            new = (
                by_size.get(new_size)
                if new_size is not None
                else newest_matching_checkpoint(self._tree, self._checkpoints)
            )
            old = by_size.get(old_size)
            if old is None or new is None:
                raise ValueError(f"no checkpoints at tree sizes {old_size} and {new_size}")
            return prove_consistency(self._entries, old, new, tree=self._tree)

    def verify(self, keyring: Keyring) -> VerifyReport:
        """Re-read the whole store and check it, with what the witnesses hold."""
        # witnesses first: they only ever hold checkpoints whose entries are already stored
        witnessed = [c for w in self._witnesses for c in w.checkpoints()]
        return verify(
            self._store.read_entries(),
            self._store.read_checkpoints(),
            keyring,
            witnessed=witnessed,
            origin=self.origin,
        )

    # -- internals -------------------------------------------------------------------------

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._refresh()
            self._loaded = True

    def _refresh(self, *, after_conflict: bool = False) -> None:
        new = self._store.read_entries(len(self._entries))
        for entry in new:
            if entry.seq != self._head.size or entry.prev_hash != self._head.last_hash:
                raise LedgerCorruptedError(
                    f"stored seq {entry.seq} does not extend seq {self._head.size - 1} as seen "
                    "before: the ledger was rewritten"
                )
            self._take(entry)
        self._checkpoints = self._store.read_checkpoints()
        if after_conflict and not new:
            stored = self._store.head()
            if stored.size < self._head.size or (
                stored.size == self._head.size and stored != self._head
            ):
                raise LedgerCorruptedError(
                    f"the stored ledger ends at seq {stored.size - 1}, but this writer already "
                    f"saw seq {self._head.size - 1}: the tail was removed"
                )

    def _take(self, entry: LedgerEntry) -> None:
        self._by_key.setdefault(entry.idempotency_key, len(self._entries))
        self._entries.append(entry)
        entry_hash, leaf_hash = entry.hashes
        self._tree.append(leaf_hash)
        self._head = Head(entry.seq + 1, entry_hash)

    def _due(self, entries: Sequence[LedgerEntry], size: int) -> bool:
        """A checkpoint is due at tree size `size`, whose last entries are `entries`."""
        if self._newest_checkpoint[0] != len(self._checkpoints):  # the list changed: recount
            sizes = (c.tree_size for c in self._checkpoints)
            self._newest_checkpoint = (len(self._checkpoints), max(sizes, default=0))
        return (
            any(entry.type in CHECKPOINT_TYPES for entry in entries)
            or size - self._newest_checkpoint[1] >= self.checkpoint_every
            or self._checkpoint_due
        )

    def _batch_checkpoint(self, entries: Sequence[LedgerEntry]) -> Checkpoint | None:
        """The checkpoint due right after `entries` (not stored yet), or None."""
        size = len(self._entries) + len(entries)
        if not self._due(entries, size):
            return None
        root = self._tree.root_after([entry.leaf_hash() for entry in entries])
        return sign_checkpoint(self.origin, size, root, self.signer)

    def _checkpoint_if_due(self, entries: Sequence[LedgerEntry]) -> None:
        if self._due(entries, len(self._entries)):
            try:
                self._checkpoint()
            except Exception:  # the entry is committed; the next append retries the checkpoint
                log.exception("ledger checkpoint at tree size %d failed", len(self._entries))
                self._checkpoint_due = True

    def _checkpoint(self) -> Checkpoint:
        self._refresh()
        size = len(self._entries)
        root = self._tree.root(size).hex()
        same_size = [c for c in self._checkpoints if c.tree_size == size]
        if any(c.root_hash != root for c in same_size):
            raise LedgerCorruptedError(f"a stored checkpoint at tree size {size} has another root")
        if same_size:
            checkpoint = same_size[0]
        else:
            checkpoint = sign_checkpoint(self.origin, size, bytes.fromhex(root), self.signer)
            self._store.add_checkpoint(checkpoint)
            self._checkpoints.append(checkpoint)
        self._checkpoint_due = False
        self._witness(checkpoint)
        return checkpoint

    def _witness(self, checkpoint: Checkpoint) -> None:
        for witness in self._witnesses:
            try:
                witness.record(checkpoint)
            except Exception as exc:
                self.witness_failures += 1
                log.error(
                    "witness %r refused checkpoint %d: %s", witness, checkpoint.tree_size, exc
                )
