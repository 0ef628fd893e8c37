"""A child process that appends to a file ledger in a loop and reports every acknowledged append.

Run by the crash and concurrency tests: `python ledger_writer.py FILE KEYFILE PREFIX COUNT
[--witness FILE] [--checkpoint-every N] [--half-write-at I] [--start-when FILE] [--threads N]
[--half-write-batch] [--half-write-checkpoint]` with `operator` on PYTHONPATH. It prints
`<i> <seq>` after each append returns (committed), `WRITE <n>` for each write of n entries (with
--threads), and `HALF` when `--half-write-at`, `--half-write-batch` or `--half-write-checkpoint`
made it write half a line and stop, so the parent can kill -9 it exactly there.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from typing import Any

from grace.ledger import FileStore, FileWitness, Ledger, Signer, Subject


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("key")
    parser.add_argument("prefix")
    parser.add_argument("count", type=int)
    parser.add_argument("--witness")
    parser.add_argument("--checkpoint-every", type=int, default=16)
    parser.add_argument("--half-write-at", type=int, default=-1)
    parser.add_argument("--start-when", help="wait until this file exists (start together)")
    parser.add_argument("--threads", type=int, default=1, help="appending threads (group commit)")
    parser.add_argument(
        "--half-write-batch",
        action="store_true",
        help="stop halfway through the first write that holds several entries (a group commit)",
    )
    parser.add_argument(
        "--half-write-checkpoint",
        action="store_true",
        help="stop halfway through the first write of entries that carries their checkpoint",
    )
    args = parser.parse_args()

    witnesses = [FileWitness(args.witness)] if args.witness else []
    ledger = Ledger(
        FileStore(args.file),
        Signer.from_file(args.key),
        "grace.dev/ledger/test",
        checkpoint_every=args.checkpoint_every,
        witnesses=witnesses,
        # two of these race for one file on purpose, on a machine that may be busy: what is
        # tested is that nothing acknowledged is lost, not how soon one of them gives up
        max_attempts=10_000,
    )
    ledger.refresh()
    if args.start_when:
        print("READY", flush=True)
        while not os.path.exists(args.start_when):
            time.sleep(0.001)
    real_write = os.write
    printing = threading.Lock()
    writes: list[str] = []
    """`WRITE n` lines, printed by `ack` outside the file lock: a print blocks while the parent
    reads the other writer, and blocking in the lock would stop that writer too, for good."""

    def say(text: str) -> None:
        with printing:
            print(text, flush=True)

    def ack(text: str) -> None:
        with printing:
            while writes:
                print(writes.pop(0))
            print(text, flush=True)

    def write(fd: int, data: Any) -> int:
        whole = bytes(data)
        entries = whole.count(b'{"entry":')
        carries_checkpoint = entries and b'{"checkpoint":' in whole
        if (args.half_write_batch and entries >= 2) or (
            args.half_write_checkpoint and carries_checkpoint
        ):
            last = whole.rfind(b"\n", 0, len(whole) - 1) + 1  # the batch's last record
            written = real_write(fd, whole[: last + (len(whole) - last) // 2])
            say(f"HALF {entries}")
            time.sleep(60)  # the parent kills us here, mid-batch
            return written
        if entries:
            writes.append(f"WRITE {entries}")  # list.append: never blocks
        return real_write(fd, whole)

    if args.threads > 1 or args.half_write_batch or args.half_write_checkpoint:
        os.write = write

    def run(first: int) -> None:
        for i in range(first, args.count, args.threads):
            if i == args.half_write_at:

                def half_write(fd: int, data: Any) -> int:
                    whole = bytes(data)
                    written = real_write(fd, whole[: len(whole) // 2])
                    say("HALF")
                    time.sleep(60)  # the parent kills us here, mid-line
                    return written

                os.write = half_write  # every write now stops halfway
            subject = Subject(kind="Mission", namespace="shop", name=f"{args.prefix}-m{i // 5}")
            entry = ledger.append("step.finished", subject, {"i": i}, f"{args.prefix}-{i}")
            ack(f"{i} {entry.seq}")

    threads = [threading.Thread(target=run, args=(t,)) for t in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
