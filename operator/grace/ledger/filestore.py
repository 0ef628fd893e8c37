"""The append-only JSON-lines file backend (a PVC), and a file witness for checkpoints.

A record is committed once its whole line, newline included, is written and fsynced under an
exclusive flock; only then does `append` return True. A crash can therefore leave at most one
incomplete last line, which was never acknowledged: the next writer cuts it off (and logs it)
before writing, and readers ignore it. Readers take a shared lock, so they never see a record
before it is durable.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from grace.ledger.chain import Head
from grace.ledger.entry import Checkpoint, LedgerEntry
from grace.ledger.records import checkpoint_line, entry_line, parse_record
from grace.ledger.store import LedgerCorruptedError, extends

log = logging.getLogger(__name__)

_READ_CHUNK = 1 << 20


class AppendOnlyFile:
    """One file of newline-terminated records shared by several processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        if created:
            _fsync_dir(self.path.parent)
        self._inode = os.fstat(self._fd).st_ino
        self._offset = 0
        self._lines = 0
        self.mutex = threading.RLock()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @contextmanager
    def locked(self, *, exclusive: bool) -> Iterator[None]:
        with self.mutex:
            fcntl.flock(self._fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def sync(self, consume: Callable[[int, bytes], None]) -> None:
        """Feed every complete line not seen yet to `consume(line_number, line)`."""
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            inode = -1
        if inode != self._inode:
            raise LedgerCorruptedError(f"{self.path} was removed or replaced while in use")
        size = os.fstat(self._fd).st_size
        if size < self._offset:
            raise LedgerCorruptedError(
                f"{self.path} shrank from {self._offset} to {size} bytes: committed records "
                "were removed"
            )
        while self._offset < size:
            chunk = os.pread(self._fd, min(_READ_CHUNK, size - self._offset), self._offset)
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                if len(chunk) < size - self._offset:  # a line longer than a chunk
                    chunk = os.pread(self._fd, size - self._offset, self._offset)
                    cut = chunk.rfind(b"\n") + 1
                if cut == 0:
                    return  # only an incomplete last line is left
            for line in chunk[:cut].split(b"\n")[:-1]:
                self._lines += 1
                self._offset += len(line) + 1
                consume(self._lines, line)

    def drop_torn_tail(self) -> bytes:
        """Cut an incomplete last line left by a writer that died mid-write (hold the lock)."""
        size = os.fstat(self._fd).st_size
        if size <= self._offset:
            return b""
        dropped = os.pread(self._fd, size - self._offset, self._offset)
        os.ftruncate(self._fd, self._offset)
        os.fsync(self._fd)
        log.warning(
            "ledger %s: dropped an incomplete last line (%d bytes, never acknowledged): %r",
            self.path,
            len(dropped),
            dropped[:200],
        )
        return dropped

    def write(self, lines: Sequence[bytes]) -> None:
        """Append whole lines with one fsync (hold the exclusive lock, after `sync`).

        The caller already holds the records it wrote, so they are not read back: the file's
        position simply moves past them.
        """
        data = b"".join(lines)
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            # the data and what is needed to read it back (the new size): enough for a record
            # to survive a crash, and a third cheaper than fsync's full metadata flush on ext4
            os.fdatasync(self._fd)
        except BaseException:
            # leave no half record behind for the next writer to trip over
            os.ftruncate(self._fd, self._offset)
            raise
        self._offset += len(data)
        self._lines += len(lines)


class FileStore:
    """The ledger as one append-only file, safe for several writer processes at once."""

    def __init__(self, path: str | Path) -> None:
        self._file = AppendOnlyFile(path)
        self._entries: list[LedgerEntry] = []
        self._checkpoints: list[Checkpoint] = []
        self._head = Head()
        with self._file.locked(exclusive=True):
            self._file.sync(self._consume)
            self.dropped_on_open = self._file.drop_torn_tail()

    @property
    def path(self) -> Path:
        return self._file.path

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> FileStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_entries(self, start: int = 0) -> list[LedgerEntry]:
        with self._file.locked(exclusive=False):
            self._file.sync(self._consume)
            return self._entries[start:]

    def read_checkpoints(self) -> list[Checkpoint]:
        with self._file.locked(exclusive=False):
            self._file.sync(self._consume)
            return list(self._checkpoints)

    def head(self) -> Head:
        with self._file.locked(exclusive=False):
            self._file.sync(self._consume)
            return self._head

    def append(self, entry: LedgerEntry, expected: Head) -> bool:
        return self.append_batch([entry], expected) == 1

    def append_batch(
        self,
        entries: Sequence[LedgerEntry],
        expected: Head,
        checkpoint: Checkpoint | None = None,
    ) -> int:
        """All the entries (and the checkpoint after them) in one write and one fsync, or none."""
        with self._file.locked(exclusive=True):
            self._file.sync(self._consume)
            self._file.drop_torn_tail()
            if self._head != expected or not extends(expected, entries):
                return 0
            lines = [entry_line(entry) for entry in entries]
            if checkpoint is not None:
                lines.append(checkpoint_line(checkpoint))
            self._file.write(lines)
            self._entries.extend(entries)
            self._head = self._head.after(entries[-1])
            if checkpoint is not None:
                self._checkpoints.append(checkpoint)
            return len(entries)

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self._file.locked(exclusive=True):
            self._file.sync(self._consume)
            self._file.drop_torn_tail()
            if any(c.same_tree(checkpoint) for c in self._checkpoints):
                return
            self._file.write([checkpoint_line(checkpoint)])
            self._checkpoints.append(checkpoint)

    def _consume(self, number: int, line: bytes) -> None:
        try:
            record = parse_record(line)
        except ValueError as exc:
            raise LedgerCorruptedError(f"{self.path} line {number}: {exc}") from exc
        if isinstance(record, Checkpoint):
            self._checkpoints.append(record)
            return
        if record.seq != self._head.size or record.prev_hash != self._head.last_hash:
            raise LedgerCorruptedError(
                f"{self.path} line {number}: seq {record.seq} does not extend the chain at seq "
                f"{self._head.size}: run `grace ledger verify`"
            )
        self._entries.append(record)
        self._head = self._head.after(record)


class FileWitness:
    """Checkpoints appended to a file the writer's own ledger volume does not hold."""

    def __init__(self, path: str | Path) -> None:
        self._file = AppendOnlyFile(path)
        self._checkpoints: list[Checkpoint] = []

    def close(self) -> None:
        self._file.close()

    def record(self, checkpoint: Checkpoint) -> None:
        with self._file.locked(exclusive=True):
            self._file.sync(self._consume)
            self._file.drop_torn_tail()
            if not any(c.same_tree(checkpoint) for c in self._checkpoints):
                self._file.write([checkpoint_line(checkpoint)])
                self._checkpoints.append(checkpoint)

    def checkpoints(self) -> list[Checkpoint]:
        with self._file.locked(exclusive=False):
            self._file.sync(self._consume)
            return list(self._checkpoints)

    def _consume(self, number: int, line: bytes) -> None:
        try:
            record = parse_record(line)
        except ValueError as exc:
            raise LedgerCorruptedError(f"{self._file.path} line {number}: {exc}") from exc
        if not isinstance(record, Checkpoint):
            raise LedgerCorruptedError(f"{self._file.path} line {number}: not a checkpoint")
        self._checkpoints.append(record)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
