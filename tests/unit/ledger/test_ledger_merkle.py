"""Merkle trees agree with RFC 6962: published vectors, and the RFC's definitions for sizes 1..64."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest

from grace.ledger import merkle
from grace.ledger.merkle import MerkleAccumulator, MerkleTree

# The RFC 6962 reference inputs and tree heads used by Certificate Transparency implementations.
CT_INPUTS = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f"]
]  # fmt: skip
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [  # (0-based leaf index, tree size, audit path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
CT_CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip

CT_LEAVES = [merkle.leaf_hash(data) for data in CT_INPUTS]


# Straight transcriptions of RFC 6962 section 2.1, to hold the real implementation against.
def mth(data: Sequence[bytes]) -> bytes:
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(data[:k]) + mth(data[k:])).digest()


def path(m: int, data: Sequence[bytes]) -> list[bytes]:
    n = len(data)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*path(m, data[:k]), mth(data[k:])]
    return [*path(m - k, data[k:]), mth(data[:k])]


def subproof(m: int, data: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(data)
    if m == n:
        return [] if whole else [mth(data)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*subproof(m, data[:k], whole), mth(data[k:])]
    return [*subproof(m - k, data[k:], False), mth(data[:k])]


DATA = [f"entry {i}".encode() for i in range(64)]
LEAVES = [merkle.leaf_hash(d) for d in DATA]
TREE = MerkleTree(LEAVES)


def flip(digest: bytes) -> bytes:
    return bytes([digest[0] ^ 1]) + digest[1:]


def test_the_rfc_6962_reference_roots() -> None:
    tree = MerkleTree(CT_LEAVES)
    assert merkle.EMPTY_ROOT.hex() == CT_ROOTS[0]
    for size in range(len(CT_ROOTS)):
        assert tree.root(size).hex() == CT_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "expected"), CT_INCLUSION)
def test_the_rfc_6962_reference_inclusion_proofs(
    index: int, size: int, expected: list[str]
) -> None:
    proof = MerkleTree(CT_LEAVES).inclusion_proof(index, size)
    assert [node.hex() for node in proof] == expected
    root = bytes.fromhex(CT_ROOTS[size])
    assert merkle.verify_inclusion(index, size, CT_LEAVES[index], proof, root)


@pytest.mark.parametrize(("old", "new", "expected"), CT_CONSISTENCY)
def test_the_rfc_6962_reference_consistency_proofs(old: int, new: int, expected: list[str]) -> None:
    proof = MerkleTree(CT_LEAVES).consistency_proof(old, new)
    assert [node.hex() for node in proof] == expected
    old_root, new_root = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
    assert merkle.verify_consistency(old, new, old_root, new_root, proof)


def test_roots_match_the_definition_for_every_size_up_to_64() -> None:
    accumulator = MerkleAccumulator()
    for size in range(1, 65):
        accumulator.append(LEAVES[size - 1])
        expected = mth(DATA[:size])
        assert TREE.root(size) == expected
        assert accumulator.root() == expected
        assert accumulator.size == size


@pytest.mark.parametrize("size", [0, 1, 5, 8, 13])
def test_a_root_looked_ahead_is_exact_and_leaves_no_trace(size: int) -> None:
    """A checkpoint is signed before its entries are stored; if they never are (another writer
    won the race), other leaves take their place and every root must still be right."""
    tree = MerkleTree(LEAVES[:size])
    tree.root()  # a memo of the current tree, as the Ledger has one
    others = [flip(leaf) for leaf in LEAVES[size : size + 7]]
    assert tree.root_after(others) == MerkleTree([*LEAVES[:size], *others]).root()
    assert len(tree) == size and tree.root() == mth(DATA[:size])
    for leaf in LEAVES[size : size + 7]:  # the leaves that were stored instead
        tree.append(leaf)
    for end in range(size, size + 8):
        assert tree.root(end) == mth(DATA[:end])


def test_every_inclusion_proof_up_to_64_matches_and_verifies() -> None:
    for size in range(1, 65):
        root = mth(DATA[:size])
        for index in range(size):
            proof = TREE.inclusion_proof(index, size)
            assert proof == path(index, DATA[:size])
            assert merkle.verify_inclusion(index, size, LEAVES[index], proof, root)


def test_inclusion_proofs_refuse_any_change() -> None:
    for size in (1, 2, 3, 7, 8, 13, 64):
        root = mth(DATA[:size])
        for index in range(size):
            proof = TREE.inclusion_proof(index, size)
            assert not merkle.verify_inclusion(index, size, flip(LEAVES[index]), proof, root)
            assert not merkle.verify_inclusion(index, size, LEAVES[index], proof, flip(root))
            bigger = mth(DATA[: size + 1])
            assert not merkle.verify_inclusion(index, size + 1, LEAVES[index], proof, bigger)
            assert not merkle.verify_inclusion(size, size, LEAVES[index], proof, root)
            for at in range(len(proof)):
                bad = [*proof[:at], flip(proof[at]), *proof[at + 1 :]]
                assert not merkle.verify_inclusion(index, size, LEAVES[index], bad, root)
            if size > 1:
                other = (index + 1) % size
                assert not merkle.verify_inclusion(other, size, LEAVES[index], proof, root)
                assert not merkle.verify_inclusion(index, size, LEAVES[index], proof[:-1], root)


def test_every_consistency_proof_up_to_64_matches_and_verifies() -> None:
    roots = [mth(DATA[:size]) for size in range(65)]
    for new in range(1, 65):
        for old in range(1, new + 1):
            proof = TREE.consistency_proof(old, new)
            assert proof == ([] if old == new else subproof(old, DATA[:new], True))
            assert merkle.verify_consistency(old, new, roots[old], roots[new], proof)
            assert not merkle.verify_consistency(old, new, flip(roots[old]), roots[new], proof)
            assert not merkle.verify_consistency(old, new, roots[old], flip(roots[new]), proof)
            if proof:
                bad = [flip(proof[0]), *proof[1:]]
                assert not merkle.verify_consistency(old, new, roots[old], roots[new], bad)


def test_a_rewritten_prefix_is_not_consistent_with_its_old_root() -> None:
    rewritten = MerkleTree([*LEAVES[:10], merkle.leaf_hash(b"forged"), *LEAVES[11:40]])
    old_root = TREE.root(20)
    proof = rewritten.consistency_proof(20, 40)
    assert not merkle.verify_consistency(20, 40, old_root, rewritten.root(40), proof)


def test_consistency_edge_cases() -> None:
    root = TREE.root(5)
    assert merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, root, [])
    assert not merkle.verify_consistency(6, 5, root, root, [])
    assert not merkle.verify_consistency(3, 5, TREE.root(3), root, [])
    with pytest.raises(ValueError):
        TREE.consistency_proof(10, 5)
    with pytest.raises(ValueError):
        TREE.inclusion_proof(5, 5)


def test_leaves_and_nodes_cannot_be_confused() -> None:
    left, right = LEAVES[0], LEAVES[1]
    assert merkle.leaf_hash(left + right) != merkle.node_hash(left, right)
