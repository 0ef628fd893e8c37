"""The signed, tamper-evident ledger: every GRACE decision and outcome, hash-chained and checkpointed.

Import from here; the submodules are the layers (entry -> merkle/keys -> chain -> store ->
backends -> ledger), and nothing in this package imports the rest of GRACE.
"""

from __future__ import annotations

from grace.ledger.chain import Head, next_entry, sign_checkpoint
from grace.ledger.configmapstore import ConfigMapStore, ConfigMapWitness, SegmentPolicy
from grace.ledger.entry import (
    Checkpoint,
    EntryType,
    LedgerEntry,
    Subject,
    canonical_json,
)
from grace.ledger.filestore import FileStore, FileWitness
from grace.ledger.keys import Keyring, Signer, secret_manifest
from grace.ledger.ledger import Ledger, LedgerContentionError
from grace.ledger.proof import (
    ConsistencyProof,
    InclusionProof,
    MissionProof,
    verify_consistency_proof,
    verify_mission_proof,
)
from grace.ledger.records import ParsedLog, parse_lines
from grace.ledger.store import (
    LedgerCorruptedError,
    LedgerStore,
    MemoryStore,
    MemoryWitness,
    Witness,
)
from grace.ledger.verify import Problem, VerifyReport, verify, verify_log

__all__ = [
    "Checkpoint",
    "ConfigMapStore",
    "ConfigMapWitness",
    "ConsistencyProof",
    "EntryType",
    "FileStore",
    "FileWitness",
    "Head",
    "InclusionProof",
    "Keyring",
    "Ledger",
    "LedgerContentionError",
    "LedgerCorruptedError",
    "LedgerEntry",
    "LedgerStore",
    "MemoryStore",
    "MemoryWitness",
    "MissionProof",
    "ParsedLog",
    "Problem",
    "SegmentPolicy",
    "Signer",
    "Subject",
    "VerifyReport",
    "Witness",
    "canonical_json",
    "next_entry",
    "parse_lines",
    "secret_manifest",
    "sign_checkpoint",
    "verify",
    "verify_consistency_proof",
    "verify_log",
    "verify_mission_proof",
]
