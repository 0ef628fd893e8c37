"""Ledger throughput and proof sizes: appends/s per backend, verify speed, proof bytes.

Run `.venv/bin/python bench/ledger.py --quick` from the repository root; the last stdout line is
one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, "operator")

from grace.ledger import (
    FileStore,
    FileWitness,
    Keyring,
    Ledger,
    MemoryStore,
    Signer,
    Subject,
    parse_lines,
    verify_log,
)
from grace.ledger.proof import prove_consistency, prove_mission

ORIGIN = "grace.dev/bench"


def fill(ledger: Ledger, count: int, missions: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        subject = Subject(kind="Mission", namespace="shop", name=f"m{i % missions}", uid=str(i))
        data = {"step": i, "action": "scale", "replicas": 3, "reason": "error-rate above 0.02"}
        ledger.append("step.finished", subject, data, f"bench-{i}")
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    args = parser.parse_args()
    count = 2_000 if args.quick else 20_000
    missions = count // 8
    signer = Signer.generate()
    keyring = Keyring([signer.public_key])
    figures: dict[str, float | int] = {"entries": count}

    figures["memory_appends_per_s"] = round(
        fill(Ledger(MemoryStore(), signer, ORIGIN, checkpoint_every=64), count, missions)
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.jsonl"
        store, witness = FileStore(path), FileWitness(Path(tmp) / "witness.jsonl")
        ledger = Ledger(store, signer, ORIGIN, checkpoint_every=64, witnesses=[witness])
        figures["file_appends_per_s"] = round(fill(ledger, count, missions))
        ledger.checkpoint()
        data = path.read_bytes()
        figures["file_bytes_per_entry"] = round(len(data) / count)

        started = time.perf_counter()
        log = parse_lines(data)
        report = verify_log(log, keyring, witnessed=witness.checkpoints())
        elapsed = time.perf_counter() - started
        assert report.ok, report.summary()
        figures["verify_entries_per_s"] = round(count / elapsed)

        started = time.perf_counter()
        reopened = FileStore(path)
        figures["file_open_ms"] = round((time.perf_counter() - started) * 1000, 1)
        reopened.close()

        checkpoints = log.checkpoints
        proof = prove_mission(log.entries, checkpoints, "m1", "shop")
        figures["mission_entries"] = len(proof.entries)
        figures["mission_proof_bytes"] = len(proof.model_dump_json())
        figures["inclusion_path_hashes"] = len(proof.proofs[0].path)
        consistency = prove_consistency(log.entries, checkpoints[0], checkpoints[-1])
        figures["consistency_path_hashes"] = len(consistency.path)
        figures["checkpoints"] = len(checkpoints)
        store.close()
        witness.close()

    for name, value in figures.items():
        print(f"{name:>26}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
