"""Ledger throughput against the cryptographic limit: verify and append vs raw Ed25519.

Run `.venv/bin/python bench/ledger.py --quick` from the repository root; the last stdout line is
one JSON object with every figure.

- Raw Ed25519 (`cryptography`, the same library and key) signs and verifies the very bytes the
  ledger signs, in the same run: `verify_ratio_to_raw` and `append_ratio_to_raw_sign` compare
  the ledger with that limit. Verify is CPU-bound and single-threaded, so verify and raw
  verify are timed in process CPU time, interleaved over several rounds (the median round
  counts): on a shared machine, wall time measures the neighbours. `verify_*` is `grace ledger
  verify` as it runs by default (entries a verified checkpoint covers are proven by its signed
  Merkle root, see operator/grace/ledger/README.md); `verify_every_signature_*` is
  `--every-signature`, one Ed25519 verify per entry.
- Appends are durable (an append returns once its bytes are fsynced, or once the API server
  stored the ConfigMap), so they are timed on the wall clock, with WRITERS threads appending
  at once (several Missions finishing together): group commit stores what queued up while
  the previous write was in flight in one write (a checkpoint due after it too). The
  one-writer figure is printed beside it.
- The disk's own limit is measured in the same rounds: `raw_fdatasync_per_s` appends one
  batch's bytes and fdatasyncs a bare file, nothing else. WRITERS writers that each wait for
  their own append can put at most WRITERS entries in one fdatasync, so
  `file_ratio_to_fsync_bound` = file appends / (WRITERS x raw fdatasyncs) says how much of
  what the disk allows the ledger reaches (the rest is signing and Python on the critical
  path, and the scheduler waking the writers). On a busy disk no code reaches 5,000/s with 8
  writers: that needs an fdatasync under 1.6 ms.
- The ConfigMap backend needs a kube-apiserver: a private LocalCluster is started under /tmp
  and stopped at the end (`--no-cluster` skips that part, `--kubeconfig` uses another cluster).
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, "operator")

from grace.ledger import (
    ConfigMapStore,
    ConfigMapWitness,
    FileStore,
    FileWitness,
    Keyring,
    Ledger,
    LedgerEntry,
    MemoryStore,
    Signer,
    Subject,
    parse_lines,
    verify_log,
)
from grace.ledger.proof import prove_consistency, prove_mission

ORIGIN = "grace.dev/bench"
WRITERS = 8
MORE_WRITERS = 16
ROUNDS = 5
GOAL_PER_S = 5_000
"""Issue 15's target for durable file appends with several concurrent writers."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def event(i: int, missions: int) -> tuple[Subject, dict[str, Any]]:
    subject = Subject(kind="Mission", namespace="shop", name=f"m{i % missions}", uid=str(i))
    data = {"step": i, "action": "scale", "replicas": 3, "reason": "error-rate above 0.02"}
    return subject, data


def fill(ledger: Ledger, count: int, missions: int, writers: int = 1, tag: str = "") -> float:
    """Appends/s (wall clock) with `writers` threads appending `count` entries in all."""
    errors: list[BaseException] = []

    def run(first: int) -> None:
        try:
            for i in range(first, count, writers):
                subject, data = event(i, missions)
                ledger.append("step.finished", subject, data, f"bench{tag}-{i}")
        except BaseException as exc:  # reported below, not lost in a thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return count / elapsed


class FsyncCounter:
    """Counts fsyncs while the file backend writes: entries per fsync shows group commit."""

    def __init__(self) -> None:
        self.calls = 0
        self._real = os.fdatasync

    def __enter__(self) -> FsyncCounter:
        def counting(fd: Any) -> None:
            self.calls += 1
            self._real(fd)

        os.fdatasync = counting
        return self

    def __exit__(self, *exc: object) -> None:
        os.fdatasync = self._real


def raw_fsync_rate(directory: Path, record_bytes: int, count: int = 100) -> float:
    """Appends of `record_bytes` + fdatasync per second on a fresh file, nothing else: the
    disk's own limit for one writer, which WRITERS waiting writers can at best multiply."""
    path = directory / f"raw-fsync-{secrets.token_hex(4)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    record = b"x" * (record_bytes - 1) + b"\n"
    try:
        started = time.perf_counter()
        for _ in range(count):
            os.write(fd, record)
            os.fdatasync(fd)
        return count / (time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink()


def cpu_rate(count: int, work: Callable[[], object]) -> float:
    started = time.process_time()
    work()
    return count / max(time.process_time() - started, 1e-9)


def raw_sign_rate(signer: Signer, messages: list[bytes]) -> float:
    return cpu_rate(len(messages), lambda: [signer.sign(m) for m in messages])


def compare_verify(
    data: bytes, entries: list[LedgerEntry], keyring: Keyring, witnessed: list[Any]
) -> dict[str, float]:
    """`grace ledger verify`'s work (parse + verify) vs bare Ed25519 verify of the same bytes."""
    key = next(iter(keyring))
    gc.collect()  # what the append rounds left behind: `grace ledger verify` starts fresh
    pairs = [(e.signed_bytes(), base64.b64decode(e.signature)) for e in entries]
    rounds: list[tuple[float, float]] = []
    for _ in range(ROUNDS):

        def check() -> None:
            report = verify_log(parse_lines(data, deferred=True), keyring, witnessed=witnessed)
            assert report.ok, report.summary()

        def check_every() -> None:
            log_ = parse_lines(data, deferred=True)
            report = verify_log(log_, keyring, witnessed=witnessed, every_signature=True)
            assert report.ok, report.summary()

        ledger_rate = cpu_rate(len(entries), check)
        every_rate = cpu_rate(len(entries), check_every)
        raw_rate = cpu_rate(len(pairs), lambda: [key.verify(s, m) for m, s in pairs])
        rounds.append((ledger_rate, raw_rate, every_rate))
    return {
        "verify_entries_per_s": round(statistics.median(r[0] for r in rounds)),
        "raw_ed25519_verify_per_s": round(statistics.median(r[1] for r in rounds)),
        "verify_ratio_to_raw": round(statistics.median(r[0] / r[1] for r in rounds), 3),
        "verify_every_signature_entries_per_s": round(statistics.median(r[2] for r in rounds)),
        "verify_every_signature_ratio_to_raw": round(
            statistics.median(r[2] / r[1] for r in rounds), 3
        ),
    }


def file_figures(
    signer: Signer, keyring: Keyring, count: int, missions: int, figures: dict[str, Any]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # one writer, WRITERS and MORE_WRITERS at once, interleaved over rounds on fresh files
        # (the disk's fsync latency and the CPU left by the neighbours swing): the median
        # round's figures, and in the same round the two limits of an append:
        # - the disk: a write of one batch's bytes + fdatasync on a bare file, no ledger;
        #   n writers that each wait for their own append put at most n entries in one
        #   fdatasync, so n x raw fdatasyncs/s is the most group commit can reach
        # - the CPU: the same ledger on the memory backend with the same writers (chaining,
        #   signing, the group-commit handoff, no I/O): file appends cannot be faster
        rounds: list[dict[str, float]] = []
        for r in range(ROUNDS):
            figure: dict[str, float] = {}
            with FileStore(Path(tmp) / f"one-{r}.jsonl") as store:
                figure["one"] = fill(
                    Ledger(store, signer, ORIGIN), count // 8, missions, tag=f"1-{r}"
                )
            figure["raw"] = raw_fsync_rate(Path(tmp), WRITERS * 485)
            for n in (WRITERS, MORE_WRITERS):
                with FileStore(Path(tmp) / f"many-{n}-{r}.jsonl") as store:
                    ledger = Ledger(store, signer, ORIGIN)
                    figure[f"file{n}"] = fill(ledger, count // 2, missions, n, tag=f"{n}-{r}")
                memory = Ledger(MemoryStore(), signer, ORIGIN)
                figure[f"cpu{n}"] = fill(memory, count // 2, missions, n, tag=f"m{n}-{r}")
                figure[f"fsync{n}"] = n * figure["raw"]
                figure[f"bound{n}"] = min(figure[f"fsync{n}"], figure[f"cpu{n}"])
                figure[f"ratio{n}"] = figure[f"file{n}"] / figure[f"bound{n}"]
                figure[f"cpu_lower{n}"] = figure[f"cpu{n}"] - figure[f"fsync{n}"]
            rounds.append(figure)

        def median(key: str | Callable[[dict[str, float]], float]) -> float:
            return statistics.median(key(f) if callable(key) else f[key] for f in rounds)

        figures["file_appends_per_s_one_writer"] = round(median("one"))
        figures["file_appends_per_s"] = round(median(f"file{WRITERS}"))
        figures["file_writers"] = WRITERS
        figures["file_group_commit_speedup"] = round(
            median(lambda f: f[f"file{WRITERS}"] / f["one"]), 2
        )
        figures["raw_fdatasync_per_s"] = round(median("raw"))
        # WRITERS appends per fdatasync is the most group commit can do with WRITERS writers
        figures["file_ratio_to_fsync_bound"] = round(
            median(lambda f: f[f"file{WRITERS}"] / (WRITERS * f["raw"])), 3
        )
        for n, suffix in ((WRITERS, ""), (MORE_WRITERS, f"_{MORE_WRITERS}_writers")):
            if suffix:
                figures[f"file_appends_per_s{suffix}"] = round(median(f"file{n}"))
            figures[f"fsync_bound_per_s{suffix}"] = round(median(f"fsync{n}"))
            figures[f"cpu_bound_per_s{suffix}"] = round(median(f"cpu{n}"))
            figures[f"file_bound_per_s{suffix}"] = round(median(f"bound{n}"))
            figures[f"file_ratio_to_bound{suffix}"] = round(median(f"ratio{n}"), 3)
            cpu_lower = median(f"cpu_lower{n}") < 0
            figures[f"file_limited_by{suffix}"] = "cpu" if cpu_lower else "fdatasync"
        figures["file_goal_per_s"] = GOAL_PER_S
        reached = [n for n in (WRITERS, MORE_WRITERS) if median(f"file{n}") >= GOAL_PER_S]
        figures["file_goal_reached_with_writers"] = reached[0] if reached else None
        if not reached:
            figures["file_goal_missed_because"] = (
                f"with {MORE_WRITERS} writers the bound is "
                f"{figures[f'file_bound_per_s_{MORE_WRITERS}_writers']}/s "
                f"({figures[f'file_limited_by_{MORE_WRITERS}_writers']}: "
                f"{MORE_WRITERS} x {figures['raw_fdatasync_per_s']} fdatasyncs/s, "
                f"CPU {figures[f'cpu_bound_per_s_{MORE_WRITERS}_writers']}/s) "
                f"and the ledger reaches {figures[f'file_appends_per_s_{MORE_WRITERS}_writers']}/s"
            )

        path = Path(tmp) / "ledger.jsonl"
        store, witness = FileStore(path), FileWitness(Path(tmp) / "witness.jsonl")
        ledger = Ledger(store, signer, ORIGIN, checkpoint_every=64, witnesses=[witness])
        with FsyncCounter() as fsyncs:
            figures["file_appends_per_s_with_witness"] = round(
                fill(ledger, count, missions, WRITERS)
            )
        figures["file_fsyncs_per_1000_entries"] = round(fsyncs.calls * 1000 / count)
        ledger.checkpoint()
        data = path.read_bytes()
        figures["file_bytes_per_entry"] = round(len(data) / count)

        log_ = parse_lines(data)
        messages = [e.signed_bytes() for e in log_.entries]
        figures["raw_ed25519_sign_per_s"] = round(raw_sign_rate(signer, messages))
        figures["append_ratio_to_raw_sign"] = round(
            figures["file_appends_per_s"] / figures["raw_ed25519_sign_per_s"], 3
        )
        figures.update(compare_verify(data, log_.entries, keyring, witness.checkpoints()))

        started = time.perf_counter()
        reopened = FileStore(path)
        figures["file_open_ms"] = round((time.perf_counter() - started) * 1000, 1)
        reopened.close()

        checkpoints = log_.checkpoints
        proof = prove_mission(log_.entries, checkpoints, "m1", "shop")
        figures["mission_entries"] = len(proof.entries)
        figures["mission_proof_bytes"] = len(proof.model_dump_json())
        figures["inclusion_path_hashes"] = len(proof.proofs[0].path)
        consistency = prove_consistency(log_.entries, checkpoints[0], checkpoints[-1])
        figures["consistency_path_hashes"] = len(consistency.path)
        figures["checkpoints"] = len(checkpoints)
        store.close()
        witness.close()


def configmap_figures(
    signer: Signer, kubeconfig: Path, count: int, missions: int, figures: dict[str, Any]
) -> None:
    """Appends/s to ConfigMap segments with WRITERS threads, then 1 writer, same cluster."""
    from kubernetes import client, config

    api_client = config.new_client_from_config(str(kubeconfig))
    core = client.CoreV1Api(api_client)
    names = [f"bench-ledger-{secrets.token_hex(3)}", f"bench-witness-{secrets.token_hex(3)}"]
    for name in names:
        core.create_namespace({"metadata": {"name": name}})
    try:
        store = ConfigMapStore(core, names[0])
        witness = ConfigMapWitness(core, names[1], ORIGIN)
        ledger = Ledger(store, signer, ORIGIN, checkpoint_every=64, witnesses=[witness])
        figures["configmap_appends_per_s"] = round(fill(ledger, count, missions, WRITERS, tag="cm"))
        one = Ledger(ConfigMapStore(core, names[0], prefix="one-writer"), signer, ORIGIN + "/one")
        figures["configmap_appends_per_s_one_writer"] = round(
            fill(one, max(count // 4, 50), missions, tag="cm1")
        )
        figures["configmap_segments"] = len(store.segments())
    finally:
        for name in names:
            core.delete_namespace(name)
        api_client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--no-cluster", action="store_true", help="skip the ConfigMap backend")
    parser.add_argument("--kubeconfig", type=Path, help="use this cluster, start none")
    args = parser.parse_args()
    count = 2_000 if args.quick else 20_000
    missions = count // 8
    signer = Signer.generate()
    keyring = Keyring([signer.public_key])
    figures: dict[str, Any] = {"entries": count}

    figures["memory_appends_per_s"] = round(
        fill(Ledger(MemoryStore(), signer, ORIGIN, checkpoint_every=64), count, missions)
    )
    file_figures(signer, keyring, count, missions, figures)

    if not args.no_cluster:
        cm_count = 400 if args.quick else 4_000
        if args.kubeconfig:
            configmap_figures(signer, args.kubeconfig, cm_count, missions, figures)
        else:
            from grace_lab.localcluster.cluster import LocalCluster

            workdir = Path(tempfile.mkdtemp(prefix="grace-bench-ledger-"))
            cluster = LocalCluster(workdir / "cluster", nodes=1)
            try:
                log(f"starting a private cluster in {cluster.dir}")
                cluster.up()
                configmap_figures(signer, cluster.kubeconfig, cm_count, missions, figures)
            finally:
                cluster.down()
                shutil.rmtree(workdir, ignore_errors=True)

    for name, value in figures.items():
        print(f"{name:>34}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
