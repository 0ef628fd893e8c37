"""The ConfigMap backend: the ledger as numbered segments, and a witness in another namespace.

Segments `<prefix>-000000`, `-000001`, ... each hold a slice of the record stream under
`ledger.jsonl`. Only the newest segment (the head) changes, by `replace` with its
`resourceVersion`, so a writer whose view is stale gets 409 and re-reads: two replicas never
fork the chain. A head that reaches its byte or entry budget is first sealed (`immutable: true`)
and then the next segment is created, so no segment nears the 1 MiB object limit and a sealed
one cannot be edited, only deleted and recreated (which the chain and the witness reveal, and
which the ledger Role does not even allow).

Checkpoints are witnessed as one immutable ConfigMap each in a second namespace where the
operator's Role may only create and read: it can add checkpoints but never rewrite or delete
one, so truncating the ledger's tail stays detectable.

The decisions (names, budgets, bodies, parsing) are pure functions; the two classes only move
them through a `CoreV1Api` they are given.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from grace.ledger.chain import Head
from grace.ledger.entry import Checkpoint, LedgerEntry, canonical_json
from grace.ledger.records import (
    ParsedLog,
    Unreadable,
    checkpoint_line,
    entry_line,
    parse_lines,
)
from grace.ledger.store import LedgerCorruptedError, extends

log = logging.getLogger(__name__)

DATA_KEY = "ledger.jsonl"
WITNESS_KEY = "checkpoint.json"
LEDGER_LABEL = "grace.dev/ledger"
WITNESS_LABEL = "grace.dev/checkpoint-origin"
FIRST_SEQ_ANNOTATION = "grace.dev/first-seq"
ORIGIN_ANNOTATION = "grace.dev/origin"
PART_OF = {"app.kubernetes.io/part-of": "grace"}
CONFIGMAP_LIMIT = 1024 * 1024
_CONFLICT_STATUSES = (404, 409, 422)  # gone, stale resourceVersion / exists, sealed meanwhile


# -- pure segment decisions ------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentPolicy:
    """When a head segment is full. With MAX_ENTRY_BYTES = 64 KiB, 256 KiB leaves ample room."""

    max_bytes: int = 256 * 1024
    max_entries: int = 512


@dataclass
class Segment:
    """One segment ConfigMap as read (or as about to be written)."""

    index: int
    text: str = ""
    sealed: bool = False
    resource_version: str | None = None
    entries: list[LedgerEntry] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)


class Plan(Enum):
    APPEND = "append"  # replace the head with one more line
    SEAL = "seal"  # seal the full head first, then create the next segment
    CREATE = "create"  # no writable head: create the next segment with the line


def segment_name(prefix: str, index: int) -> str:
    return f"{prefix}-{index:06d}"


def segment_index(prefix: str, name: str) -> int | None:
    head, _, digits = name.rpartition("-")
    if head != prefix or len(digits) != 6 or not digits.isdigit():
        return None
    return int(digits)


def plan_write(
    head: Segment | None, line: bytes, policy: SegmentPolicy, *, entry: bool, entries: int = 1
) -> Plan:
    """Where the next record(s) go: decided before writing, so a segment never overflows.

    `line` may hold several records (a batch of `entries` entries written at once).
    """
    if head is None or head.sealed:
        return Plan.CREATE
    full_bytes = len(head.text.encode()) + len(line) > policy.max_bytes
    full_entries = entry and len(head.entries) + entries > policy.max_entries
    if (full_bytes or full_entries) and head.text:
        return Plan.SEAL
    return Plan.APPEND


def batch_size(head: Segment | None, lines: Sequence[bytes], policy: SegmentPolicy) -> int:
    """How many of `lines` (entries) go in the next write: as many as the head still holds,
    at least one (a full head is then sealed and the line starts the next segment)."""
    if head is None or head.sealed:
        used_bytes, used_entries = 0, 0
    else:
        used_bytes, used_entries = len(head.text.encode()), len(head.entries)
    count = 0
    for line in lines:
        used_bytes += len(line)
        if count and (
            used_bytes > policy.max_bytes or used_entries + count + 1 > policy.max_entries
        ):
            break
        count += 1
    return count


def segment_body(
    namespace: str,
    prefix: str,
    segment: Segment,
    first_seq: int,
) -> dict[str, Any]:
    """The ConfigMap for a segment; `resourceVersion` makes a replace a compare-and-swap."""
    metadata: dict[str, Any] = {
        "name": segment_name(prefix, segment.index),
        "namespace": namespace,
        "labels": {**PART_OF, LEDGER_LABEL: prefix},
        "annotations": {FIRST_SEQ_ANNOTATION: str(first_seq)},
    }
    if segment.resource_version is not None:
        metadata["resourceVersion"] = segment.resource_version
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {DATA_KEY: segment.text},
    }
    if segment.sealed:
        body["immutable"] = True
    return body


def parse_segment(index: int, text: str, *, sealed: bool, resource_version: str | None) -> Segment:
    parsed = parse_lines(text.encode(), final_line_complete=True)
    if parsed.unreadable is not None:
        raise LedgerCorruptedError(
            f"segment {index} line {parsed.unreadable.line}: {parsed.unreadable.reason}"
        )
    return Segment(index, text, sealed, resource_version, parsed.entries, parsed.checkpoints)


def parse_segments(segments: Sequence[tuple[str, str]], *, deferred: bool = False) -> ParsedLog:
    """Join (name, text) segments in order into one record stream, for verification.

    A tampered segment does not raise: its first unreadable line becomes the report's problem.
    `deferred` as in `parse_lines` (for `verify` only).
    """
    entries: list[LedgerEntry] = []
    checkpoints: list[Checkpoint] = []
    for name, text in segments:
        parsed = parse_lines(text.encode(), final_line_complete=True, deferred=deferred)
        entries.extend(parsed.entries)
        checkpoints.extend(parsed.checkpoints)
        if parsed.unreadable is not None:
            where = Unreadable(
                seq=len(entries),
                line=parsed.unreadable.line,
                reason=f"segment {name}: {parsed.unreadable.reason}",
            )
            return ParsedLog(entries, checkpoints, where)
    return ParsedLog(entries, checkpoints)


def origin_id(origin: str) -> str:
    """A label-safe stand-in for an origin (origins may contain '/')."""
    return hashlib.sha256(origin.encode()).hexdigest()[:16]


def witness_name(prefix: str, checkpoint: Checkpoint) -> str:
    return f"{prefix}-{origin_id(checkpoint.origin)}-{checkpoint.tree_size:012d}"


def witness_body(namespace: str, prefix: str, checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": witness_name(prefix, checkpoint),
            "namespace": namespace,
            "labels": {**PART_OF, WITNESS_LABEL: origin_id(checkpoint.origin)},
            "annotations": {ORIGIN_ANNOTATION: checkpoint.origin},
        },
        "immutable": True,
        "data": {WITNESS_KEY: canonical_json(checkpoint.model_dump(mode="json")).decode()},
    }


def parse_witness(data: Mapping[str, str]) -> Checkpoint:
    return Checkpoint.model_validate(json.loads(data[WITNESS_KEY]))


def ledger_role(namespace: str, name: str = "grace-ledger") -> dict[str, Any]:
    """Least privilege for the segments: no delete and no patch, so no sealed segment can go."""
    return _role(namespace, name, ["get", "list", "watch", "create", "update"])


def witness_role(namespace: str, name: str = "grace-ledger-witness") -> dict[str, Any]:
    """Create and read only: checkpoints, once witnessed, are out of the operator's reach."""
    return _role(namespace, name, ["get", "list", "watch", "create"])


def _role(namespace: str, name: str, verbs: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(PART_OF)},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": verbs}],
    }


# -- I/O ---------------------------------------------------------------------------------------


class ConfigMapStore:
    """LedgerStore over ConfigMap segments in one namespace, through the given CoreV1Api."""

    def __init__(
        self,
        api: Any,
        namespace: str,
        *,
        prefix: str = "grace-ledger",
        policy: SegmentPolicy | None = None,
        max_attempts: int = 50,
    ) -> None:
        self._api = api
        self.namespace = namespace
        self.prefix = prefix
        self.policy = policy or SegmentPolicy()
        self._max_attempts = max_attempts
        self._lock = threading.RLock()
        self._loaded = False
        self._sealed_entries: list[LedgerEntry] = []
        self._sealed_checkpoints: list[Checkpoint] = []
        self._sealed_head = Head()
        self._head: Segment | None = None
        self._next_index = 0

    # LedgerStore

    def read_entries(self, start: int = 0) -> list[LedgerEntry]:
        with self._lock:
            self._sync()
            return [*self._sealed_entries, *self._head_entries()][start:]

    def read_checkpoints(self) -> list[Checkpoint]:
        with self._lock:
            self._sync()
            return self._all_checkpoints()

    def head(self) -> Head:
        with self._lock:
            self._sync()
            return self._current_head()

    def append(self, entry: LedgerEntry, expected: Head) -> bool:
        return self.append_batch([entry], expected) == 1

    def append_batch(
        self,
        entries: Sequence[LedgerEntry],
        expected: Head,
        checkpoint: Checkpoint | None = None,
    ) -> int:
        """Many entries per `replace` of the head segment (one API write instead of one each),
        the checkpoint in the last of those writes."""
        with self._lock:
            if not self._loaded:
                self._sync()
            if self._current_head() != expected or not extends(expected, entries):
                return 0
            lines = [entry_line(entry) for entry in entries]
            done = 0
            while done < len(entries):
                count = batch_size(self._head, lines[done:], self.policy)
                records: list[LedgerEntry | Checkpoint] = list(entries[done : done + count])
                chunk_lines = lines[done : done + count]
                if done + count == len(entries) and checkpoint is not None:
                    records.append(checkpoint)
                    chunk_lines.append(checkpoint_line(checkpoint))
                if not self._write(records, chunk_lines, first_seq=entries[done].seq):
                    return done
                done += count
            return done

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self._lock:
            for _ in range(self._max_attempts):
                self._sync()
                if any(c.same_tree(checkpoint) for c in self._all_checkpoints()):
                    return
                first_seq = self._current_head().size
                if self._write([checkpoint], [checkpoint_line(checkpoint)], first_seq=first_seq):
                    return
            raise LedgerCorruptedError(
                f"could not store checkpoint {checkpoint.tree_size}: contention"
            )

    def segments(self) -> list[tuple[str, str]]:
        """Every segment as (name, text), freshly listed: what `verify --from-cluster` reads."""
        found: list[tuple[int, str, str]] = []
        for item in self._list(f"{LEDGER_LABEL}={self.prefix}"):
            index = segment_index(self.prefix, item.metadata.name)
            if index is not None:
                found.append((index, item.metadata.name, (item.data or {}).get(DATA_KEY, "")))
        return [(name, text) for _, name, text in sorted(found)]

    # internals

    def _head_entries(self) -> list[LedgerEntry]:
        return self._head.entries if self._head else []

    def _all_checkpoints(self) -> list[Checkpoint]:
        return [*self._sealed_checkpoints, *(self._head.checkpoints if self._head else [])]

    def _current_head(self) -> Head:
        head = self._sealed_head
        for entry in self._head_entries():
            head = head.after(entry)
        return head

    def _write(
        self,
        records: Sequence[LedgerEntry | Checkpoint],
        lines: Sequence[bytes],
        *,
        first_seq: int,
    ) -> bool:
        """Records through the segment plan in one API write; False when another writer got
        there first (then nothing was written)."""
        line = b"".join(lines)
        count = sum(1 for r in records if isinstance(r, LedgerEntry))
        plan = plan_write(self._head, line, self.policy, entry=count > 0, entries=count)
        try:
            if plan is Plan.SEAL:
                assert self._head is not None
                self._seal_head(self._head)
                plan = Plan.CREATE
            if plan is Plan.CREATE:
                segment = Segment(self._next_index, line.decode())
            else:
                assert self._head is not None
                head = self._head
                first_seq = head.entries[0].seq if head.entries else first_seq
                segment = Segment(
                    head.index,
                    head.text + line.decode(),
                    False,
                    head.resource_version,
                    list(head.entries),
                    list(head.checkpoints),
                )
            for record in records:
                if isinstance(record, LedgerEntry):
                    segment.entries.append(record)
                else:
                    segment.checkpoints.append(record)
            body = segment_body(self.namespace, self.prefix, segment, first_seq)
            if plan is Plan.CREATE:
                stored = self._api.create_namespaced_config_map(self.namespace, _model(body))
            else:
                stored = self._api.replace_namespaced_config_map(
                    segment_name(self.prefix, segment.index), self.namespace, _model(body)
                )
        except Exception as exc:
            if getattr(exc, "status", None) in _CONFLICT_STATUSES:
                log.debug("ledger segment write lost a race (%s): re-reading", exc)
                return False
            raise
        segment.resource_version = stored.metadata.resource_version
        self._head = segment
        self._next_index = segment.index + 1
        return True

    def _seal_head(self, head: Segment) -> None:
        """Seal the full head: a compare-and-swap on its resourceVersion like every head write."""
        sealed = Segment(
            head.index, head.text, True, head.resource_version, head.entries, head.checkpoints
        )
        first = head.entries[0].seq if head.entries else self._sealed_head.size
        body = segment_body(self.namespace, self.prefix, sealed, first)
        self._api.replace_namespaced_config_map(
            segment_name(self.prefix, head.index), self.namespace, _model(body)
        )
        self._seal(sealed)

    def _seal(self, segment: Segment) -> None:
        head = self._sealed_head
        for entry in segment.entries:
            if entry.seq != head.size or entry.prev_hash != head.last_hash:
                raise LedgerCorruptedError(
                    f"segment {segment_name(self.prefix, segment.index)}: seq {entry.seq} does "
                    f"not extend seq {head.size - 1}: run `grace ledger verify --from-cluster`"
                )
            head = head.after(entry)
        self._sealed_entries.extend(segment.entries)
        self._sealed_checkpoints.extend(segment.checkpoints)
        self._sealed_head = head
        self._head = None
        self._next_index = segment.index + 1

    def _sync(self) -> None:
        """Bring the view up to date: a full list once, then only the head and what follows."""
        if not self._loaded:
            self._load()
            return
        if self._head is not None:
            obj = self._get(self._head.index)
            if obj is None:
                raise LedgerCorruptedError(
                    f"head segment {segment_name(self.prefix, self._head.index)} was deleted"
                )
            segment = self._parse(self._head.index, obj)
            if not segment.sealed:
                self._check_extends(segment)
                self._head = segment
                return
            self._seal(segment)
        while (obj := self._get(self._next_index)) is not None:
            segment = self._parse(self._next_index, obj)
            if segment.sealed:
                self._seal(segment)
                continue
            self._check_extends(segment)
            self._head = segment
            self._next_index = segment.index + 1
            return

    def _load(self) -> None:
        found: list[tuple[int, Any]] = []
        for item in self._list(f"{LEDGER_LABEL}={self.prefix}"):
            index = segment_index(self.prefix, item.metadata.name)
            if index is not None:
                found.append((index, item))
        found.sort(key=lambda pair: pair[0])
        for position, (index, item) in enumerate(found):
            segment = self._parse(index, item)
            if position == len(found) - 1 and not segment.sealed:
                self._check_extends(segment)
                self._head = segment
                self._next_index = index + 1
            else:
                if not segment.sealed:
                    log.warning("ledger segment %s is not sealed but is not the newest", index)
                self._seal(segment)
        self._loaded = True

    def _check_extends(self, segment: Segment) -> None:
        head = self._sealed_head
        for entry in segment.entries:
            if entry.seq != head.size or entry.prev_hash != head.last_hash:
                raise LedgerCorruptedError(
                    f"segment {segment_name(self.prefix, segment.index)}: seq {entry.seq} does "
                    f"not extend seq {head.size - 1}"
                )
            head = head.after(entry)

    def _parse(self, index: int, obj: Any) -> Segment:
        return parse_segment(
            index,
            (obj.data or {}).get(DATA_KEY, ""),
            sealed=bool(obj.immutable),
            resource_version=obj.metadata.resource_version,
        )

    def _get(self, index: int) -> Any | None:
        try:
            return self._api.read_namespaced_config_map(
                segment_name(self.prefix, index), self.namespace
            )
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise

    def _list(self, selector: str) -> Iterator[Any]:
        yield from _list_configmaps(self._api, self.namespace, selector)


class ConfigMapWitness:
    """Witness: one immutable ConfigMap per checkpoint, in a namespace the writer cannot edit."""

    def __init__(
        self,
        api: Any,
        namespace: str,
        origin: str | None = None,
        *,
        prefix: str = "grace-checkpoint",
    ) -> None:
        self._api = api
        self.namespace = namespace
        self.origin = origin
        self.prefix = prefix

    def record(self, checkpoint: Checkpoint) -> None:
        body = witness_body(self.namespace, self.prefix, checkpoint)
        try:
            self._api.create_namespaced_config_map(self.namespace, _model(body))
        except Exception as exc:
            if getattr(exc, "status", None) != 409:
                raise
            existing = self._api.read_namespaced_config_map(
                witness_name(self.prefix, checkpoint), self.namespace
            )
            if not parse_witness(existing.data or {}).same_tree(checkpoint):
                raise LedgerCorruptedError(
                    f"witness already holds another root for tree size {checkpoint.tree_size}: "
                    "the ledger forked"
                ) from exc

    def checkpoints(self) -> list[Checkpoint]:
        selector = (
            WITNESS_LABEL if self.origin is None else f"{WITNESS_LABEL}={origin_id(self.origin)}"
        )
        found: list[Checkpoint] = []
        for item in _list_configmaps(self._api, self.namespace, selector):
            try:
                found.append(parse_witness(item.data or {}))
            except (KeyError, ValueError) as exc:
                log.warning("unreadable witness ConfigMap %s: %s", item.metadata.name, exc)
        return sorted(found, key=lambda c: c.tree_size)


def _list_configmaps(api: Any, namespace: str, selector: str) -> Iterator[Any]:
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"label_selector": selector, "limit": 20}
        if token:
            kwargs["_continue"] = token
        page = api.list_namespaced_config_map(namespace, **kwargs)
        yield from page.items or []
        meta = page.metadata
        token = getattr(meta, "var_continue", None) or getattr(meta, "_continue", None)
        if not token:
            return


def _model(body: dict[str, Any]) -> Any:
    """The kubernetes client's V1ConfigMap when it is a pydantic model, else the plain dict."""
    from kubernetes import client

    from_dict = getattr(client.V1ConfigMap, "from_dict", None)
    return from_dict(body) if from_dict is not None else body
