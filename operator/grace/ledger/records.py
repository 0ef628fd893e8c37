"""The JSON-lines record format shared by the file backend, ConfigMap segments and exports.

One line per record, `{"entry": {...}}` or `{"checkpoint": {...}}`, each in canonical JSON, so an
export is byte-for-byte the same stream the backends hold and verifies offline as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from grace.ledger.entry import Checkpoint, LedgerEntry, canonical_json


@dataclass(frozen=True)
class Unreadable:
    """The first line that is not a valid record, and the sequence number it should have held."""

    seq: int
    line: int
    reason: str


@dataclass(frozen=True)
class ParsedLog:
    entries: list[LedgerEntry] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    unreadable: Unreadable | None = None
    torn_tail: bytes = b""
    """Bytes after the last newline: a write that never completed, so never acknowledged."""


_ENTRY_OPEN = b'{"entry":'


def entry_line(entry: LedgerEntry) -> bytes:
    """`canonical_json({"entry": ...})`, built from the entry's cached canonical bytes."""
    return _ENTRY_OPEN + entry.canonical_bytes + b"}\n"


def checkpoint_line(checkpoint: Checkpoint) -> bytes:
    return canonical_json({"checkpoint": checkpoint.model_dump(mode="json")}) + b"\n"


def render(entries: Iterable[LedgerEntry], checkpoints: Iterable[Checkpoint]) -> bytes:
    """Entries in order, each checkpoint right after the entry that completes its tree."""
    by_size: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        by_size.setdefault(checkpoint.tree_size, []).append(checkpoint)
    out = bytearray()
    for checkpoint in by_size.pop(0, []):
        out += checkpoint_line(checkpoint)
    for entry in entries:
        out += entry_line(entry)
        for checkpoint in by_size.pop(entry.seq + 1, []):
            out += checkpoint_line(checkpoint)
    for size in sorted(by_size):
        for checkpoint in by_size[size]:
            out += checkpoint_line(checkpoint)
    return bytes(out)


def parse_record(line: bytes) -> LedgerEntry | Checkpoint:
    """One line to a record; ValueError says what is wrong with it."""
    try:
        value = json.loads(line, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError('a record is {"entry": ...} or {"checkpoint": ...}')
    kind, body = next(iter(value.items()))
    try:
        if kind == "entry":
            return LedgerEntry.model_validate(body)
        if kind == "checkpoint":
            return Checkpoint.model_validate(body)
    except ValidationError as exc:
        raise ValueError(_short(exc)) from exc
    raise ValueError(f"unknown record kind {kind!r}")


def parse_lines(
    data: bytes, *, final_line_complete: bool = False, deferred: bool = False
) -> ParsedLog:
    """Parse a record stream, stopping at the first unreadable line.

    A last line without its newline is a torn write and is set aside in `torn_tail`, unless the
    medium writes whole values atomically (`final_line_complete`, e.g. a ConfigMap).

    `deferred` is for `verify` only: entry lines are read by the fast validator and keep their
    line, so that `verify` can check the signature over the stored bytes themselves. The strict
    reading (duplicate keys, NaN) then happens in `verify`, and only for a line whose signature
    does not verify over its own bytes (see `verify.settle`).
    """
    lines = data.split(b"\n")
    torn = lines.pop()  # b"" when data ends with a newline
    if final_line_complete and torn.strip():
        lines.append(torn)
        torn = b""
    entries: list[LedgerEntry] = []
    checkpoints: list[Checkpoint] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = (deferred and _parse_deferred(number, line)) or parse_record(line)
        except ValueError as exc:
            problem = Unreadable(seq=len(entries), line=number, reason=str(exc))
            return ParsedLog(entries, checkpoints, problem, torn)
        if isinstance(record, LedgerEntry):
            entries.append(record)
        else:
            checkpoints.append(record)
    return ParsedLog(entries, checkpoints, None, torn)


DEFERRED_LINE = "deferred_line"
"""`__dict__` key of an entry read by `_parse_deferred`: (line number, line, entry body)."""


def deferred_line(entry: LedgerEntry) -> tuple[int, bytes, bytes] | None:
    found: tuple[int, bytes, bytes] | None = entry.__dict__.get(DEFERRED_LINE)
    return found


def entry_body(line: bytes) -> bytes:
    """The entry's own JSON inside an entry line (the line minus `{"entry":` and `}`)."""
    return line[len(_ENTRY_OPEN) : -1]


def _parse_deferred(number: int, line: bytes) -> LedgerEntry | None:
    if not (line.startswith(_ENTRY_OPEN) and line.endswith(b"}")):
        return None
    body = entry_body(line)
    try:
        entry = LedgerEntry.model_validate_json(body)
    except ValidationError:
        return None  # the strict reader says precisely what is wrong
    entry.__dict__[DEFERRED_LINE] = (number, line, body)
    return entry


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # a duplicated key could smuggle a second value past a reader that keeps the first one
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ValueError("duplicate key in a JSON object")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _short(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "record"
    return f"{where}: {first['msg']}"
