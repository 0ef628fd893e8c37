"""Canonical encoding, entry construction, key ids, keyrings, rotation and the key Secret."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import JsonValue, ValidationError

from grace.ledger import (
    EntryType,
    Keyring,
    Ledger,
    MemoryStore,
    Signer,
    Subject,
    canonical_json,
    next_entry,
    secret_manifest,
    sign_checkpoint,
    verify,
)
from grace.ledger.chain import EntryTooLargeError, Head
from grace.ledger.entry import GENESIS_HASH, LedgerEntry, format_time
from grace.ledger.keys import (
    KeyFileError,
    checkpoint_note,
    derive_key_id,
    note_key_hash,
    note_verifier_key,
    raw_public_bytes,
)
from grace.ledger.records import entry_line, parse_record
from tests.unit.ledger.ledger_fixtures import ORIGIN, fixed_clock, mission


def make_entry(
    signer: Signer, data: dict[str, JsonValue] | None = None, head: Head | None = None
) -> LedgerEntry:
    return next_entry(
        head or Head(),
        type="step.finished",
        subject=mission("m1"),
        data=data if data is not None else {"replicas": 3},
        idempotency_key="m1/step/0",
        time=format_time(fixed_clock()()),
        signer=signer,
    )


def test_canonical_json_is_sorted_compact_utf8_and_refuses_nan() -> None:
    assert canonical_json({"b": 1, "a": [1.5, "é", None, True]}) == (
        '{"a":[1.5,"é",null,true],"b":1}'.encode()
    )
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    with pytest.raises(ValueError):
        canonical_json({"x": float("inf")})


def test_an_entry_chains_from_genesis_and_signs_everything_but_its_signature(
    signer: Signer,
) -> None:
    first = make_entry(signer)
    assert first.seq == 0 and first.prev_hash == GENESIS_HASH
    assert first.time == "2026-01-01T00:00:00.000000Z"
    assert Keyring([signer.public_key]).verify(signer.key_id, first.signed_bytes(), first.signature)
    assert b'"signature"' not in first.signed_bytes()
    second = make_entry(signer, head=Head().after(first))
    assert second.seq == 1 and second.prev_hash == first.entry_hash()
    assert first.entry_hash() == hashlib.sha256(first.canonical()).hexdigest()


def test_entries_refuse_data_without_a_canonical_form(signer: Signer) -> None:
    with pytest.raises(ValueError):
        make_entry(signer, {"score": float("nan")})
    with pytest.raises(EntryTooLargeError):
        make_entry(signer, {"blob": "x" * 70_000})


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"nested": {"z": [1, 2.5, "ü"], "a": {}}, "n": None, "t": True, "f": False},
        {"quote": 'say "hi"\\', "ctl": "\t\n\x00\x1f", "emoji": "\U0001f600", "big": 10**30},
        {"b": -0.0, "a": 1e-300, "key_id": "x", "signature": "y", "subject": {"kind": "z"}},
        {"type": EntryType.MISSION_FINISHED},  # a str subclass is stored as the plain str
    ],
)
def test_a_built_entry_is_the_entry_a_reader_validates(
    signer: Signer, data: dict[str, JsonValue]
) -> None:
    """next_entry assembles the canonical bytes itself and skips re-validation: the entry must
    equal what the strict reader makes of its own line, byte for byte and field for field."""
    subject = Subject(kind="Mission", namespace="ns-é", name='odd "name"', uid="u\\1")
    entry = next_entry(
        Head(3, "ab" * 32),
        type="x-y.z_Q",
        subject=subject,
        data=data,
        idempotency_key='k "é" \\ /',
        time="2026-01-01T00:00:00Z",
        signer=signer,
    )
    validated = LedgerEntry.model_validate(entry.model_dump())
    assert entry == validated and entry.model_dump() == validated.model_dump()
    assert all(type(value) is not EntryType for value in entry.data.values())
    assert entry.canonical() == canonical_json(validated.model_dump(mode="json"))
    assert entry.signed_bytes() == canonical_json(validated.model_dump(exclude={"signature"}))
    assert parse_record(entry_line(entry).rstrip(b"\n")) == entry
    assert Keyring([signer.public_key]).verify(signer.key_id, entry.signed_bytes(), entry.signature)
    with pytest.raises(ValidationError):  # frozen like a validated entry
        entry.seq = 4  # type: ignore[misc]


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("data", {"t": (1, 2)}),  # a tuple reads back as a list
        ("data", {"x": {1: "int key"}}),  # an int key reads back as a str
        ("data", {2: "top-level int key"}),
        ("data", {"s": {1, 2}}),  # no JSON form
        ("data", {"b": b"bytes"}),
        ("data", {"inf": float("inf")}),
        ("data", {"surrogate": "\ud800"}),  # no UTF-8 form
        ("type", "Step.Finished"),
        ("type", "nodot"),
        ("idempotency_key", ""),
        ("idempotency_key", "k" * 513),
        ("time", "2026-01-01 00:00:00"),
    ],
)
def test_next_entry_refuses_what_a_reader_would_not_read_back(
    signer: Signer, change: str, value: object
) -> None:
    fields: dict[str, Any] = {
        "type": "step.finished",
        "data": {"replicas": 3},
        "idempotency_key": "m1/step/0",
        "time": "2026-01-01T00:00:00Z",
    }
    fields[change] = value
    with pytest.raises(ValueError):
        next_entry(Head(), subject=mission("m1"), signer=signer, **fields)


def test_a_record_line_round_trips_exactly(signer: Signer) -> None:
    entry = make_entry(signer, {"nested": {"z": [1, 2.5, "ü"]}, "n": None})
    line = entry_line(entry)
    assert parse_record(line.rstrip(b"\n")) == entry
    reparsed = parse_record(line.rstrip(b"\n"))
    assert isinstance(reparsed, LedgerEntry) and entry_line(reparsed) == line


@pytest.mark.parametrize(
    "mangle",
    [
        lambda line: line.replace(b'"seq":0', b'"seq":"0"'),  # no coercion of types
        lambda line: line.replace(b'{"entry":{', b'{"entry":{"extra":1,'),  # no unknown fields
        lambda line: line.replace(b'{"entry":{', b'{"entry":{"seq":7,'),  # no duplicate keys
        lambda line: line.replace(b'"entry"', b'"note"'),  # no unknown record kinds
        lambda line: line.replace(b'"replicas":3', b'"replicas":NaN'),  # no NaN
    ],
)
def test_unreadable_records_are_refused(signer: Signer, mangle: Callable[[bytes], bytes]) -> None:
    line = entry_line(make_entry(signer)).rstrip(b"\n")
    with pytest.raises(ValueError):
        parse_record(mangle(line))


def test_the_key_id_is_derived_from_the_public_key(signer: Signer) -> None:
    raw = raw_public_bytes(signer.public_key)
    assert signer.key_id == hashlib.sha256(raw).hexdigest()[:16]
    reloaded = Signer.from_pem(signer.private_pem().encode())
    assert reloaded.key_id == signer.key_id
    (public,) = Keyring.from_pem(signer.public_pem())
    assert derive_key_id(public) == signer.key_id


def test_a_non_ed25519_key_is_refused(tmp_path: Path) -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(KeyFileError):
        Signer.from_pem(pem)
    with pytest.raises(KeyFileError):
        Signer.from_file(tmp_path / "missing.pem")
    with pytest.raises(KeyFileError):
        Keyring.from_pem("no key here")


def test_keygen_prints_a_secret_that_mounts_as_signer_and_keyring(tmp_path: Path) -> None:
    old, new = Signer.generate(), Signer.generate()
    manifest = yaml.safe_load(
        secret_manifest(new, name="k", namespace="ops", previous=Keyring([old.public_key]))
    )
    assert manifest["kind"] == "Secret" and manifest["metadata"]["namespace"] == "ops"
    assert manifest["metadata"]["annotations"]["grace.dev/key-id"] == new.key_id
    mount = tmp_path / "secret"
    mount.mkdir()
    for name, text in manifest["stringData"].items():
        (mount / name).write_text(text)
    assert Signer.from_file(mount).key_id == new.key_id
    assert Keyring.load([mount]).key_ids == [new.key_id, old.key_id]


def test_rotation_keeps_history_verifiable_with_the_old_key() -> None:
    old, new = Signer.generate(), Signer.generate()
    store = MemoryStore()
    before = Ledger(store, old, ORIGIN, checkpoint_every=3, clock=fixed_clock())
    for i in range(4):
        before.append("step.finished", mission("m1"), {"i": i}, f"a{i}")
    after = Ledger(store, new, ORIGIN, checkpoint_every=3, clock=fixed_clock())
    for i in range(4):
        after.append("step.finished", mission("m2"), {"i": i}, f"b{i}")
    entries, checkpoints = store.read_entries(), store.read_checkpoints()
    assert {e.key_id for e in entries} == {old.key_id, new.key_id}
    rotated = Keyring([new.public_key, old.public_key])
    assert verify(entries, checkpoints, rotated).ok
    report = verify(entries, checkpoints, Keyring([new.public_key]))  # old key dropped
    assert report.first_bad_seq == 0


def test_a_checkpoint_is_a_c2sp_signed_note(signer: Signer) -> None:
    checkpoint = sign_checkpoint(ORIGIN, 7, hashlib.sha256(b"root").digest(), signer)
    note = checkpoint_note(checkpoint, Keyring([signer.public_key]))
    body, signature_line = note.split("\n\n")
    root_b64 = base64.b64encode(hashlib.sha256(b"root").digest()).decode()
    assert body == f"{ORIGIN}\n7\n{root_b64}"
    dash, name, stamp = signature_line.rstrip("\n").split(" ")
    assert dash == "\u2014" and name == ORIGIN
    blob = base64.b64decode(stamp)
    assert blob[:4] == note_key_hash(ORIGIN, signer.public_key)
    signer.public_key.verify(blob[4:], (body + "\n").encode())
    vkey = note_verifier_key(ORIGIN, signer.public_key)
    assert vkey.startswith(f"{ORIGIN}+{blob[:4].hex()}+")
