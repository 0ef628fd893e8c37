"""Ed25519 signing keys, the keyring of trusted public keys, and the key Secret manifest.

A key id is derived from the public key itself (never stated beside it), so swapping the key
behind an id is impossible: a different key simply has a different id. Rotation adds keys to
the keyring; old ones stay so that history signed with them still verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from grace.ledger.entry import Checkpoint

PRIVATE_KEY_FILE = "private.pem"
PUBLIC_KEY_FILE = "public.pem"
TRUSTED_KEYS_FILE = "trusted.pem"
"""File names inside the key Secret (mounted as a directory)."""

_PEM_PUBLIC = b"-----BEGIN PUBLIC KEY-----"
_PEM_END_PUBLIC = b"-----END PUBLIC KEY-----"


class KeyFileError(ValueError):
    """A key file that is missing, unreadable, or not an Ed25519 key."""


def raw_public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def derive_key_id(key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw 32-byte public key."""
    return hashlib.sha256(raw_public_bytes(key)).hexdigest()[:16]


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def note_key_hash(name: str, key: Ed25519PublicKey) -> bytes:
    """The 4-byte key hash of a C2SP signed note: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n\x01" + raw_public_bytes(key)).digest()[:4]


def note_verifier_key(name: str, key: Ed25519PublicKey) -> str:
    """The `name+hash+key` verifier string that signed-note tools (sumdb/note) accept."""
    encoded = base64.b64encode(b"\x01" + raw_public_bytes(key)).decode("ascii")
    return f"{name}+{note_key_hash(name, key).hex()}+{encoded}"


class Signer:
    """The operator's private key: the only thing that can extend the ledger."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key = private_key.public_key()
        self.key_id = derive_key_id(self.public_key)

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, data: bytes) -> Signer:
        if b"PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
            raise KeyFileError("a public key, not the private key that signs")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyFileError("not a PEM private key (-----BEGIN PRIVATE KEY-----)") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"the signing key must be Ed25519, not {type(key).__name__}")
        return cls(key)

    @classmethod
    def from_file(cls, path: str | Path) -> Signer:
        """Load from a file, or from a mounted Secret directory holding `private.pem`."""
        location = Path(path)
        if location.is_dir():
            location = location / PRIVATE_KEY_FILE
        try:
            data = location.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"cannot read signing key {location}: {exc}") from exc
        try:
            return cls.from_pem(data)
        except KeyFileError as exc:
            raise KeyFileError(f"{location}: {exc}") from exc

    def sign(self, message: bytes) -> str:
        # = base64.b64encode(...), without its wrapper call
        return binascii.b2a_base64(self._private.sign(message), newline=False).decode("ascii")

    def private_pem(self) -> str:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    def public_pem(self) -> str:
        return public_pem(self.public_key)


class Keyring:
    """The public keys a verifier trusts, by derived key id. Immutable: `with_key` copies."""

    def __init__(self, keys: Iterable[Ed25519PublicKey] = ()) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for key in keys:
            self._keys.setdefault(derive_key_id(key), key)

    @classmethod
    def from_pem(cls, data: bytes | str) -> Keyring:
        """One or more concatenated `PUBLIC KEY` PEM blocks (a `trusted.pem` bundle)."""
        raw = data.encode() if isinstance(data, str) else data
        keys: list[Ed25519PublicKey] = []
        for block in _pem_blocks(raw):
            try:
                key = serialization.load_pem_public_key(block)
            except ValueError as exc:
                raise KeyFileError(f"unreadable public key: {exc}") from exc
            if not isinstance(key, Ed25519PublicKey):
                raise KeyFileError("ledger public keys must be Ed25519")
            keys.append(key)
        if not keys:
            raise KeyFileError("no PEM public key found")
        return cls(keys)

    @classmethod
    def load(cls, paths: Iterable[str | Path]) -> Keyring:
        """PEM files, or directories (a mounted Secret: `trusted.pem`, else every *.pem)."""
        keys: list[Ed25519PublicKey] = []
        for path in map(Path, paths):
            files = [path]
            if path.is_dir():
                trusted = path / TRUSTED_KEYS_FILE
                files = [trusted] if trusted.exists() else sorted(path.glob("*.pem"))
                files = [f for f in files if f.name != PRIVATE_KEY_FILE]
            for file in files:
                try:
                    data = file.read_bytes()
                except OSError as exc:
                    raise KeyFileError(f"cannot read public key {file}: {exc}") from exc
                keys.extend(cls.from_pem(data))
        return cls(keys)

    def __iter__(self) -> Iterator[Ed25519PublicKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def get(self, key_id: str) -> Ed25519PublicKey | None:
        return self._keys.get(key_id)

    def with_key(self, key: Ed25519PublicKey) -> Keyring:
        return Keyring([*self._keys.values(), key])

    def verify(self, key_id: str, message: bytes, signature_b64: str) -> bool:
        key = self._keys.get(key_id)
        if key is None:
            return False
        try:
            # = base64.b64decode(validate=True), without its per-call regular expression
            key.verify(binascii.a2b_base64(signature_b64, strict_mode=True), message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_pem(self) -> str:
        return "".join(public_pem(key) for key in self._keys.values())


def checkpoint_note(checkpoint: Checkpoint, keyring: Keyring) -> str:
    """The checkpoint as a C2SP signed note, the key name being the log origin."""
    key = keyring.get(checkpoint.key_id)
    if key is None:
        raise KeyFileError(f"key {checkpoint.key_id} is not in the keyring")
    signature = base64.b64decode(checkpoint.signature)
    stamp = base64.b64encode(note_key_hash(checkpoint.origin, key) + signature).decode("ascii")
    body = checkpoint.note_body().decode()
    return f"{body}\n\u2014 {checkpoint.origin} {stamp}\n"


def secret_manifest(
    signer: Signer,
    *,
    name: str = "grace-ledger-key",
    namespace: str = "grace-system",
    previous: Keyring | None = None,
) -> str:
    """The Kubernetes Secret that holds the signing key, as YAML.

    `trusted.pem` lists the new public key first, then every key of `previous`, so a rotated
    Secret still verifies entries signed before the rotation.
    """
    trusted = Keyring([signer.public_key, *(previous or Keyring())])
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "grace", "grace.dev/ledger-key": "true"},
            "annotations": {
                "grace.dev/key-id": signer.key_id,
                "grace.dev/trusted-key-ids": ",".join(trusted.key_ids),
            },
        },
        "type": "Opaque",
        "stringData": {
            PRIVATE_KEY_FILE: signer.private_pem(),
            PUBLIC_KEY_FILE: signer.public_pem(),
            TRUSTED_KEYS_FILE: trusted.to_pem(),
        },
    }
    return yaml.dump(manifest, Dumper=_BlockDumper, sort_keys=False)


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (PEM) as literal blocks, the way people write Secrets by hand."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


def _pem_blocks(data: bytes) -> list[bytes]:
    blocks: list[bytes] = []
    rest = data
    while (start := rest.find(_PEM_PUBLIC)) != -1:
        end = rest.find(_PEM_END_PUBLIC, start)
        if end == -1:
            raise KeyFileError("truncated PEM public key")
        end += len(_PEM_END_PUBLIC)
        blocks.append(rest[start:end] + b"\n")
        rest = rest[end:]
    return blocks
