"""A child process that appends to a file ledger in a loop and reports every acknowledged append.

Run by the crash and concurrency tests: `python ledger_writer.py FILE KEYFILE PREFIX COUNT
[--witness FILE] [--checkpoint-every N] [--half-write-at I] [--start-when FILE]` with `operator` on PYTHONPATH. It prints `<i> <seq>` after each
append returns (committed), and `HALF` when `--half-write-at` made it write half a line and stop,
so the parent can kill -9 it exactly there.
"""

from __future__ import annotations

import argparse
import os
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
    args = parser.parse_args()

    witnesses = [FileWitness(args.witness)] if args.witness else []
    ledger = Ledger(
        FileStore(args.file),
        Signer.from_file(args.key),
        "grace.dev/ledger/test",
        checkpoint_every=args.checkpoint_every,
        witnesses=witnesses,
    )
    ledger.refresh()
    if args.start_when:
        print("READY", flush=True)
        while not os.path.exists(args.start_when):
            time.sleep(0.001)
    real_write = os.write
    for i in range(args.count):
        if i == args.half_write_at:

            def half_write(fd: int, data: Any) -> int:
                whole = bytes(data)
                written = real_write(fd, whole[: len(whole) // 2])
                print("HALF", flush=True)
                time.sleep(60)  # the parent kills us here, mid-line
                return written

            os.write = half_write  # every write now stops halfway
        subject = Subject(kind="Mission", namespace="shop", name=f"{args.prefix}-m{i // 5}")
        entry = ledger.append("step.finished", subject, {"i": i}, f"{args.prefix}-{i}")
        print(f"{i} {entry.seq}", flush=True)


if __name__ == "__main__":
    main()
