"""A child process appending to the ConfigMap ledger in a loop, reporting every acknowledged entry.

The kill -9 test runs it and SIGKILLs it at a random moment. It prints `<i> <seq>` after each
`Ledger.append` returned (the entry is committed: that is the acknowledgement a caller sees),
for i in [START, COUNT), under the idempotency key `k-<i>`. `operator` must be on
PYTHONPATH.
"""

from __future__ import annotations

import argparse

from kubernetes import client, config

from grace.ledger import ConfigMapStore, ConfigMapWitness, Ledger, SegmentPolicy, Signer, Subject


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--context", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--witness-namespace", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--origin", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--max-bytes", type=int, required=True)
    parser.add_argument("--max-entries", type=int, required=True)
    parser.add_argument("--checkpoint-every", type=int, default=4)
    parser.add_argument("start", type=int)
    parser.add_argument("count", type=int)
    args = parser.parse_args()

    api = client.CoreV1Api(config.new_client_from_config(args.kubeconfig, context=args.context))
    policy = SegmentPolicy(max_bytes=args.max_bytes, max_entries=args.max_entries)
    ledger = Ledger(
        ConfigMapStore(api, args.namespace, prefix=args.prefix, policy=policy),
        Signer.from_file(args.key),
        args.origin,
        checkpoint_every=args.checkpoint_every,
        witnesses=[ConfigMapWitness(api, args.witness_namespace, args.origin)],
    )
    for i in range(args.start, args.count):
        subject = Subject(kind="Mission", namespace="shop", name=f"m{i // 5}")
        kind = "mission.finished" if i % 5 == 4 else "step.finished"
        entry = ledger.append(kind, subject, {"i": i}, f"k-{i}")
        print(f"{i} {entry.seq}", flush=True)


if __name__ == "__main__":
    main()
