"""What a ledger backend must do, and the in-memory backend used for dry runs and tests.

The one write primitive is a compare-and-swap on the head: an append names the head it extends
and fails when the stored head has moved. Two writers therefore never fork the chain; the one
that loses re-reads, finds out whether its event is already recorded, and tries again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from grace.ledger.chain import Head
from grace.ledger.entry import Checkpoint, LedgerEntry


def extends(head: Head, entries: Sequence[LedgerEntry]) -> bool:
    """The entries are numbered consecutively from `head.size` (a batch to append there)."""
    start = head.size
    return bool(entries) and [e.seq for e in entries] == list(range(start, start + len(entries)))


class LedgerCorruptedError(RuntimeError):
    """The stored ledger contradicts what this writer already saw; appending would hide it."""


class LedgerStore(Protocol):
    def read_entries(self, start: int = 0) -> list[LedgerEntry]:
        """Entries with `seq >= start`, in order, as currently stored."""
        ...

    def read_checkpoints(self) -> list[Checkpoint]: ...

    def head(self) -> Head: ...

    def append(self, entry: LedgerEntry, expected: Head) -> bool:
        """Store `entry` iff the stored head is still `expected`; False when another writer won.

        True means committed: durable, and visible to every later read.
        """
        ...

    def append_batch(
        self,
        entries: Sequence[LedgerEntry],
        expected: Head,
        checkpoint: Checkpoint | None = None,
    ) -> int:
        """Store consecutive `entries` (the first extends `expected`) in as few durable writes
        as the medium allows: group commit, one fsync (or one API write) for many appends.

        Returns how many of them, from the first, are committed (durable and visible); 0 when
        another writer moved the head first. The rest, if any, were not written.

        `checkpoint`, the signed tree head right after the last of `entries`, goes in the same
        (last) write, after them: stored exactly when all the entries are.
        """
        ...

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store a checkpoint; a second one with the same tree is ignored."""
        ...


class Witness(Protocol):
    """Somewhere checkpoints go that the writer cannot rewrite afterwards."""

    def record(self, checkpoint: Checkpoint) -> None: ...

    def checkpoints(self) -> list[Checkpoint]: ...


class MemoryStore:
    """A process-local ledger: for shadow runs and tests, never for the operator's real record."""

    def __init__(self) -> None:
        self._entries: list[LedgerEntry] = []
        self._checkpoints: list[Checkpoint] = []
        self._head = Head()
        self._lock = threading.Lock()

    def read_entries(self, start: int = 0) -> list[LedgerEntry]:
        with self._lock:
            return self._entries[start:]

    def read_checkpoints(self) -> list[Checkpoint]:
        with self._lock:
            return list(self._checkpoints)

    def head(self) -> Head:
        with self._lock:
            return self._head

    def append(self, entry: LedgerEntry, expected: Head) -> bool:
        return self.append_batch([entry], expected) == 1

    def append_batch(
        self,
        entries: Sequence[LedgerEntry],
        expected: Head,
        checkpoint: Checkpoint | None = None,
    ) -> int:
        with self._lock:
            if self._head != expected or not extends(expected, entries):
                return 0
            self._entries.extend(entries)
            self._head = self._head.after(entries[-1])
            if checkpoint is not None:
                self._checkpoints.append(checkpoint)
            return len(entries)

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self._lock:
            if not any(c.same_tree(checkpoint) for c in self._checkpoints):
                self._checkpoints.append(checkpoint)


class MemoryWitness:
    def __init__(self) -> None:
        self._checkpoints: list[Checkpoint] = []

    def record(self, checkpoint: Checkpoint) -> None:
        if not any(c.same_tree(checkpoint) for c in self._checkpoints):
            self._checkpoints.append(checkpoint)

    def checkpoints(self) -> list[Checkpoint]:
        return list(self._checkpoints)
