"""The pure append step: from the current head and an event, the next signed entry.

Kept free of storage so that both backends, the verifier and the tests share one definition of
what a valid next entry is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import JsonValue, ValidationError

from grace.ledger.entry import (
    GENESIS_HASH,
    MAX_ENTRY_BYTES,
    Checkpoint,
    LedgerEntry,
    Subject,
    canonical_json,
    checkpoint_note_body,
    remember_canonical,
    with_signature,
)
from grace.ledger.keys import Signer


@dataclass(frozen=True)
class Head:
    """Where the chain ends: the next entry gets `seq == size` and `prev_hash == last_hash`."""

    size: int = 0
    last_hash: str = GENESIS_HASH

    def after(self, entry: LedgerEntry) -> Head:
        return Head(entry.seq + 1, entry.entry_hash())


class EntryTooLargeError(ValueError):
    """An entry over MAX_ENTRY_BYTES: put bulky detail in the Mission status, not the ledger."""


def head_of(entries: Iterable[LedgerEntry]) -> Head:
    head = Head()
    for entry in entries:
        head = head.after(entry)
    return head


def next_entry(
    head: Head,
    *,
    type: str,
    subject: Subject,
    data: Mapping[str, JsonValue],
    idempotency_key: str,
    time: str,
    signer: Signer,
) -> LedgerEntry:
    """Sign the entry that extends `head`. Raises ValueError for data with no canonical form."""
    unsigned: dict[str, JsonValue] = {
        "seq": head.size,
        "time": time,
        "type": str(type),
        "subject": subject.model_dump(mode="json"),
        "data": dict(data),
        "idempotency_key": idempotency_key,
        "prev_hash": head.last_hash,
        "key_id": signer.key_id,
    }
    payload = canonical_json(unsigned)
    if len(payload) > MAX_ENTRY_BYTES:
        raise EntryTooLargeError(f"entry of {len(payload)} bytes is over {MAX_ENTRY_BYTES}")
    signature = signer.sign(payload)
    try:
        entry = LedgerEntry.model_validate({**unsigned, "signature": signature})
    except ValidationError as exc:  # e.g. a key that is not a str
        raise ValueError(f"entry data is not plain JSON: {exc.errors()[0]['msg']}") from exc
    # the strict model copies data into plain containers: a tuple would now be a list, which a
    # reader compares unequal to what was signed
    if entry.data != unsigned["data"]:
        raise ValueError(
            "entry data is not plain JSON (use str, int, float, bool, None, list, dict)"
        )
    # signed once, encoded once: the stored bytes are the payload with the signature inserted
    return remember_canonical(entry, with_signature(payload, signature))


def sign_checkpoint(origin: str, tree_size: int, root_hash: bytes, signer: Signer) -> Checkpoint:
    body = checkpoint_note_body(origin, tree_size, root_hash)
    return Checkpoint(
        origin=origin,
        tree_size=tree_size,
        root_hash=root_hash.hex(),
        key_id=signer.key_id,
        signature=signer.sign(body),
    )
