"""Inclusion proofs for a Mission's entries and consistency proofs between two checkpoints.

A proof is a self-contained JSON document: an auditor holding only the trusted public keys can
check that these entries are exactly what the signed checkpoint committed to, without the rest
of the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from grace.ledger import merkle
from grace.ledger.entry import Checkpoint, LedgerEntry
from grace.ledger.keys import Keyring
from grace.ledger.merkle import MerkleTree
from grace.ledger.query import EntryFilter


class _Proof(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class InclusionProof(_Proof):
    seq: int = Field(ge=0)
    tree_size: int = Field(ge=1)
    leaf_hash: str
    path: list[str]
    """Sibling hashes (hex) from the leaf up, RFC 6962 PATH order."""


class MissionProof(_Proof):
    mission: str
    namespace: str | None = None
    checkpoint: Checkpoint | None
    entries: list[LedgerEntry]
    proofs: list[InclusionProof]
    pending: list[int]
    """Mission entries newer than the checkpoint: not provable until the next checkpoint."""


class ConsistencyProof(_Proof):
    old: Checkpoint
    new: Checkpoint
    path: list[str]


def tree_of(entries: Sequence[LedgerEntry]) -> MerkleTree:
    return MerkleTree([entry.leaf_hash() for entry in entries])


def newest_matching_checkpoint(
    tree: MerkleTree, checkpoints: Sequence[Checkpoint]
) -> Checkpoint | None:
    """The newest checkpoint that these entries actually reproduce."""
    for checkpoint in sorted(checkpoints, key=lambda c: c.tree_size, reverse=True):
        size = checkpoint.tree_size
        if 0 < size <= len(tree) and tree.root(size).hex() == checkpoint.root_hash:
            return checkpoint
    return None


def prove_mission(
    entries: Sequence[LedgerEntry],
    checkpoints: Sequence[Checkpoint],
    mission: str,
    namespace: str | None = None,
    *,
    tree: MerkleTree | None = None,
) -> MissionProof:
    tree = tree or tree_of(entries)
    checkpoint = newest_matching_checkpoint(tree, checkpoints)
    size = checkpoint.tree_size if checkpoint else 0
    where = EntryFilter(mission=mission, namespace=namespace)
    # positions, not the seq fields: a proof must be about where an entry really stands
    chosen = [(index, entry) for index, entry in enumerate(entries) if where.matches(entry)]
    covered = [(index, entry) for index, entry in chosen if index < size]
    proofs = [
        InclusionProof(
            seq=index,
            tree_size=size,
            leaf_hash=tree.leaf(index).hex(),
            path=[node.hex() for node in tree.inclusion_proof(index, size)],
        )
        for index, _ in covered
    ]
    return MissionProof(
        mission=mission,
        namespace=namespace,
        checkpoint=checkpoint,
        entries=[entry for _, entry in covered],
        proofs=proofs,
        pending=[index for index, _ in chosen if index >= size],
    )


def verify_mission_proof(proof: MissionProof, keyring: Keyring) -> list[str]:
    """Everything wrong with a Mission proof; empty when every entry is proven."""
    problems: list[str] = []
    checkpoint = proof.checkpoint
    if checkpoint is None:
        return ["no checkpoint covers this Mission yet"] if proof.entries else []
    if not keyring.verify(checkpoint.key_id, checkpoint.note_body(), checkpoint.signature):
        return [f"checkpoint at tree size {checkpoint.tree_size} is not signed by a trusted key"]
    if len(proof.proofs) != len(proof.entries):
        return ["one inclusion proof per entry is required"]
    root = bytes.fromhex(checkpoint.root_hash)
    for entry, inclusion in zip(proof.entries, proof.proofs, strict=True):
        if not keyring.verify(entry.key_id, entry.signed_bytes(), entry.signature):
            problems.append(f"seq {entry.seq}: signature does not verify")
        elif inclusion.seq != entry.seq or inclusion.leaf_hash != entry.leaf_hash().hex():
            problems.append(f"seq {entry.seq}: the proof is for another entry")
        elif not merkle.verify_inclusion(
            entry.seq,
            checkpoint.tree_size,
            entry.leaf_hash(),
            [bytes.fromhex(node) for node in inclusion.path],
            root,
        ):
            problems.append(f"seq {entry.seq}: not included in the checkpointed tree")
    return problems


def prove_consistency(
    entries: Sequence[LedgerEntry],
    old: Checkpoint,
    new: Checkpoint,
    *,
    tree: MerkleTree | None = None,
) -> ConsistencyProof:
    tree = tree or tree_of(entries)
    path = tree.consistency_proof(old.tree_size, new.tree_size)
    return ConsistencyProof(old=old, new=new, path=[node.hex() for node in path])


def verify_consistency_proof(proof: ConsistencyProof, keyring: Keyring) -> list[str]:
    """Empty when the new checkpoint's tree extends the old one's without rewriting it."""
    problems = [
        f"checkpoint at tree size {c.tree_size} is not signed by a trusted key"
        for c in (proof.old, proof.new)
        if not keyring.verify(c.key_id, c.note_body(), c.signature)
    ]
    if proof.old.origin != proof.new.origin:
        problems.append("the two checkpoints belong to different logs")
    if not merkle.verify_consistency(
        proof.old.tree_size,
        proof.new.tree_size,
        bytes.fromhex(proof.old.root_hash),
        bytes.fromhex(proof.new.root_hash),
        [bytes.fromhex(node) for node in proof.path],
    ):
        problems.append(
            f"tree size {proof.new.tree_size} does not extend tree size {proof.old.tree_size}"
        )
    return problems
