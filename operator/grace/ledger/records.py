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


def entry_line(entry: LedgerEntry) -> bytes:
    return canonical_json({"entry": entry.model_dump(mode="json")}) + b"\n"


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


def parse_lines(data: bytes, *, final_line_complete: bool = False) -> ParsedLog:
    """Parse a record stream, stopping at the first unreadable line.

    A last line without its newline is a torn write and is set aside in `torn_tail`, unless the
    medium writes whole values atomically (`final_line_complete`, e.g. a ConfigMap).
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
            record = parse_record(line)
        except ValueError as exc:
            problem = Unreadable(seq=len(entries), line=number, reason=str(exc))
            return ParsedLog(entries, checkpoints, problem, torn)
        if isinstance(record, LedgerEntry):
            entries.append(record)
        else:
            checkpoints.append(record)
    return ParsedLog(entries, checkpoints, None, torn)


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
