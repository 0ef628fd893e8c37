"""Ledger entries and checkpoints as values, and the one canonical byte encoding they are signed in.

Everything that is hashed or signed goes through `canonical_json`, so a verifier on another
machine recomputes exactly the bytes the writer signed from the parsed value alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from json.encoder import encode_basestring
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from grace.ledger import merkle

GENESIS_HASH = "0" * 64
"""The `prev_hash` of entry 0: there is no previous entry."""

MAX_ENTRY_BYTES = 64 * 1024
"""Upper bound of one encoded entry, so that a ConfigMap segment can never pass the 1 MiB limit."""

_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"
_TYPE_PATTERN = r"^[a-z][a-z0-9-]*(\.[a-z][a-zA-Z0-9_-]*)+$"
_ORIGIN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,253}$"
_HEX64 = r"^[0-9a-f]{64}$"
_KEY_ID = r"^[0-9a-f]{16}$"
_B64_SIG = r"^[A-Za-z0-9+/]{86}==$"

Hash = Annotated[str, Field(pattern=_HEX64)]
KeyId = Annotated[str, Field(pattern=_KEY_ID)]
Signature = Annotated[str, Field(pattern=_B64_SIG)]
Origin = Annotated[str, Field(pattern=_ORIGIN_PATTERN)]


class EntryType(StrEnum):
    """The lifecycle events GRACE records; other dotted lower-case types are accepted too."""

    MISSION_PROPOSED = "mission.proposed"
    POLICY_DECIDED = "policy.decided"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_DECIDED = "approval.decided"
    STEP_STARTED = "step.started"
    STEP_FINISHED = "step.finished"
    VERIFICATION_FINISHED = "verification.finished"
    ROLLBACK_STARTED = "rollback.started"
    ROLLBACK_FINISHED = "rollback.finished"
    MISSION_FINISHED = "mission.finished"
    AUTONOMY_CHANGED = "autonomy.changed"
    KEY_ROTATED = "key.rotated"


class _Value(BaseModel):
    # strict: a verifier must not coerce "5" into 5, or an edit could keep a valid signature
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Subject(_Value):
    """The Kubernetes object an entry is about."""

    kind: str = Field(min_length=1, max_length=63)
    namespace: str = Field(default="", max_length=253)
    name: str = Field(min_length=1, max_length=253)
    uid: str = Field(default="", max_length=64)


class LedgerEntry(_Value):
    """One signed, chained event. `seq` is also the entry's leaf index in the Merkle tree."""

    seq: int = Field(ge=0)
    time: str = Field(pattern=_TIME_PATTERN)
    type: str = Field(pattern=_TYPE_PATTERN, max_length=100)
    subject: Subject
    data: dict[str, JsonValue]
    idempotency_key: str = Field(min_length=1, max_length=512)
    prev_hash: Hash
    key_id: KeyId
    signature: Signature

    def signed_bytes(self) -> bytes:
        """What the signature covers: every field but the signature itself."""
        return canonical_json(self.model_dump(mode="json", exclude={"signature"}))

    def canonical(self) -> bytes:
        return self.canonical_bytes

    def entry_hash(self) -> str:
        """The value the next entry's `prev_hash` must carry."""
        return self.hashes[0]

    def leaf_hash(self) -> bytes:
        return self.hashes[1]

    @cached_property
    def canonical_bytes(self) -> bytes:
        """Computed once per entry; `remember_canonical` presets it when the bytes are proven."""
        return canonical_json(self.model_dump(mode="json"))

    @cached_property
    def hashes(self) -> tuple[str, bytes]:
        """(entry hash, Merkle leaf hash): the chain and the tree both hash the canonical bytes."""
        canonical = self.canonical_bytes
        return hashlib.sha256(canonical).hexdigest(), merkle.leaf_hash(canonical)

    def parsed_time(self) -> datetime:
        return parse_time(self.time)


class Checkpoint(_Value):
    """A signed tree head: "the first `tree_size` entries of `origin` hash to `root_hash`".

    The signature covers `note_body()`, the C2SP tlog-checkpoint text, so a checkpoint can also
    be handed out as a signed note (see `keys.checkpoint_note`).
    """

    origin: Origin
    tree_size: int = Field(ge=0)
    root_hash: Hash
    key_id: KeyId
    signature: Signature

    def note_body(self) -> bytes:
        return checkpoint_note_body(self.origin, self.tree_size, bytes.fromhex(self.root_hash))

    def same_tree(self, other: Checkpoint) -> bool:
        """Two checkpoints state the same thing even when signed by different (rotated) keys."""
        return (self.origin, self.tree_size, self.root_hash) == (
            other.origin,
            other.tree_size,
            other.root_hash,
        )


_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
"""What `json.dumps` builds for these arguments on every call (the encoder keeps no state)."""


def canonical_json(value: JsonValue) -> bytes:
    """Sorted keys, no whitespace, UTF-8, and NaN/Infinity refused (they have no JSON form)."""
    return canonical_text(value).encode("utf-8")


def canonical_text(value: JsonValue) -> str:
    """`canonical_json` before its UTF-8 encoding, to build a larger canonical text from."""
    return _CANONICAL.encode(value)


json_string: Callable[[str], str] = encode_basestring
"""One string as `canonical_json` spells it (quoted, escaped, non-ASCII kept)."""


_ENTRY_FIELDS = frozenset(LedgerEntry.model_fields)
TIME_FORMAT = re.compile(_TIME_PATTERN)
TYPE_FORMAT = re.compile(_TYPE_PATTERN)


def built_entry(fields: dict[str, Any], canonical: bytes) -> LedgerEntry:
    """A LedgerEntry from field values that `chain.next_entry` built and checked itself.

    Validation would re-check, field by field, what was just made to fit (and copy `data` once
    more): on the append path that costs as much as the rest of the Python work together.
    `fields` must be exactly what `LedgerEntry.model_validate` would produce (the entry tests
    compare the two), and `canonical` its canonical bytes.
    """
    entry = LedgerEntry.__new__(LedgerEntry)
    _preset(fields, canonical)  # the cached properties, outside the fields
    object.__setattr__(entry, "__dict__", fields)
    object.__setattr__(entry, "__pydantic_fields_set__", set(_ENTRY_FIELDS))
    object.__setattr__(entry, "__pydantic_extra__", None)
    object.__setattr__(entry, "__pydantic_private__", None)
    return entry


def remember_canonical(entry: LedgerEntry, canonical: bytes) -> LedgerEntry:
    """Preset the canonical bytes (and their hashes) of an entry whose canonical form is known.

    Only for bytes proven to be `canonical_json` of the entry: built by `chain.next_entry`, or a
    stored line whose signature verified over exactly these bytes (see `signed_part`). Frozen
    pydantic models keep cached properties in `__dict__`, outside equality and dumps; set there,
    they are never computed again (nor through the property's lock).
    """
    _preset(entry.__dict__, canonical)
    return entry


def _preset(slots: dict[str, Any], canonical: bytes) -> None:
    slots["canonical_bytes"] = canonical
    slots["hashes"] = (hashlib.sha256(canonical).hexdigest(), merkle.leaf_hash(canonical))


def signed_part(canonical: bytes, signature: str) -> bytes | None:
    """The canonical bytes of an entry without its signature member, by cutting, not re-encoding.

    In canonical JSON the top-level `"signature"` member sits between `"seq"` and `"subject"`,
    and no later member (subject's fixed string fields, time, type) can hold an unescaped
    `"`; so the last occurrence of `,"signature":"<sig>"` is the top-level one. Applied to a line
    that is not canonical the result is merely bytes nobody signed: the signature check then fails
    and the caller takes the slow path, so this can only ever speed up a verdict, never change it.
    """
    member = b',"signature":"' + signature.encode("ascii") + b'"'
    at = canonical.rfind(member)
    if at < 0:
        return None
    return canonical[:at] + canonical[at + len(member) :]


def checkpoint_note_body(origin: str, tree_size: int, root_hash: bytes) -> bytes:
    root_b64 = base64.b64encode(root_hash).decode("ascii")
    return f"{origin}\n{tree_size}\n{root_b64}\n".encode()


def valid_origin(origin: str) -> bool:
    return re.fullmatch(_ORIGIN_PATTERN, origin) is not None


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a `Z`: one spelling per instant."""
    if moment.tzinfo is UTC:  # utc_now(): "+00:00" becomes "Z", nothing to convert
        return moment.isoformat(timespec="microseconds")[:-6] + "Z"
    if moment.tzinfo is None:
        raise ValueError("ledger times must be timezone-aware")
    # isoformat is the C spelling of "%Y-%m-%dT%H:%M:%S.%f", at a fraction of strftime's cost
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def utc_now() -> datetime:
    return datetime.now(UTC)
