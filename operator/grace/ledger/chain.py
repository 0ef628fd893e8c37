"""The pure append step: from the current head and an event, the next signed entry.

Kept free of storage so that both backends, the verifier and the tests share one definition of
what a valid next entry is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import JsonValue

from grace.ledger.entry import (
    GENESIS_HASH,
    MAX_ENTRY_BYTES,
    TIME_FORMAT,
    TYPE_FORMAT,
    Checkpoint,
    LedgerEntry,
    Subject,
    built_entry,
    canonical_text,
    checkpoint_note_body,
    json_string,
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
    """Sign the entry that extends `head`. Raises ValueError for data with no canonical form.

    The canonical bytes are assembled member by member in sorted key order (`data`,
    `idempotency_key`, `key_id`, `prev_hash`, `seq`, [`signature`], `subject`, `time`, `type`),
    each value spelled by `canonical_json`, so the signed payload and the stored line come from
    one encoding and the entry is not validated again after it was built from checked parts.
    """
    type = str(type)
    if len(type) > 100 or not TYPE_FORMAT.fullmatch(type):
        raise ValueError(f"entry type {type!r} is not a dotted lower-case name")
    if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 512:
        raise ValueError("the idempotency key must be a string of 1 to 512 characters")
    if not TIME_FORMAT.fullmatch(time):
        raise ValueError(f"entry time {time!r} is not RFC 3339 UTC with a Z")
    plain = dict(data)
    try:
        data_json = canonical_text(plain)
    except TypeError as exc:  # a set, bytes, a datetime...: no JSON form at all
        raise ValueError(f"entry data is not plain JSON: {exc}") from exc
    if _flat(plain):  # the usual case: `plain` is already a private copy of plain values
        stored = plain
    else:
        # what every reader will see: a tuple reads back as a list, an int key as a str, so
        # data that does not read back equal has no single canonical form and is refused
        stored = json.loads(data_json)
        if stored != plain:
            raise ValueError(
                "entry data is not plain JSON (use str, int, float, bool, None, list, dict)"
            )
    try:
        subject_json = (
            f'{{"kind":{json_string(subject.kind)},"name":{json_string(subject.name)},'
            f'"namespace":{json_string(subject.namespace)},"uid":{json_string(subject.uid)}}}'
        )
    except TypeError as exc:
        raise ValueError(f"entry subject is not plain strings: {exc}") from exc
    before = (
        f'{{"data":{data_json},"idempotency_key":{json_string(idempotency_key)},'
        f'"key_id":"{signer.key_id}","prev_hash":"{head.last_hash}","seq":{head.size:d}'
    ).encode()
    after = f',"subject":{subject_json},"time":"{time}","type":{json_string(type)}}}'.encode()
    payload = before + after
    if len(payload) > MAX_ENTRY_BYTES:
        raise EntryTooLargeError(f"entry of {len(payload)} bytes is over {MAX_ENTRY_BYTES}")
    signature = signer.sign(payload)
    fields: dict[str, Any] = {
        "seq": head.size,
        "time": time,
        "type": type,
        "subject": subject,
        "data": stored,
        "idempotency_key": idempotency_key,
        "prev_hash": head.last_hash,
        "key_id": signer.key_id,
        "signature": signature,
    }
    # signed once, encoded once: the stored bytes are the payload with the signature inserted
    return built_entry(fields, before + b',"signature":"' + signature.encode() + b'"' + after)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _flat(data: dict[str, JsonValue]) -> bool:
    """Only str keys and values of exactly the JSON scalar types (no subclass, no container)."""
    return set(map(type, data)) <= _STR and set(map(type, data.values())) <= _SCALARS


_STR = frozenset({str})


def sign_checkpoint(origin: str, tree_size: int, root_hash: bytes, signer: Signer) -> Checkpoint:
    body = checkpoint_note_body(origin, tree_size, root_hash)
    return Checkpoint(
        origin=origin,
        tree_size=tree_size,
        root_hash=root_hash.hex(),
        key_id=signer.key_id,
        signature=signer.sign(body),
    )
