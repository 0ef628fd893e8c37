"""RFC 6962 / RFC 9162 Merkle tree hashing with inclusion and consistency proofs.

Following the RFC exactly (0x00 leaf prefix, 0x01 node prefix, split at the largest power of two)
means any CT-style tool can check GRACE's proofs, and second-preimage tricks between leaves and
inner nodes are impossible. Everything here works on leaf *hashes*, so callers hash once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256 of the empty string."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """Leaf hashes plus a memo of subtree hashes, so many proofs over one tree stay cheap."""

    def __init__(self, leaves: Sequence[bytes] = ()) -> None:
        self._leaves: list[bytes] = list(leaves)
        self._memo: dict[tuple[int, int], bytes] = {}
        self._memo_up_to: int | None = None
        """While `root_after` looks ahead: only subtrees ending here are remembered."""

    def __len__(self) -> int:
        return len(self._leaves)

    def append(self, leaf: bytes) -> None:
        self._leaves.append(leaf)

    def leaf(self, index: int) -> bytes:
        return self._leaves[index]

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (all of them by default)."""
        n = len(self._leaves) if size is None else size
        if not 0 <= n <= len(self._leaves):
            raise ValueError(f"tree size {n} outside 0..{len(self._leaves)}")
        return EMPTY_ROOT if n == 0 else self._hash(0, n)

    def root_after(self, extra: Sequence[bytes]) -> bytes:
        """MTH of these leaves followed by `extra`, leaving the tree as it was.

        For a checkpoint signed before its entries are stored (and stored in the same write):
        nothing about `extra` is remembered, so the tree stays right if they never are.
        """
        size = len(self._leaves)
        self._leaves.extend(extra)
        self._memo_up_to = size
        try:
            return self.root()
        finally:
            del self._leaves[size:]
            self._memo_up_to = None

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 PATH(index, D[0:size]): the audit path from leaf to root."""
        n = len(self._leaves) if size is None else size
        if not 0 <= index < n <= len(self._leaves):
            raise ValueError(f"no leaf {index} in a tree of size {n}")
        return self._path(index, 0, n)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 6962 PROOF(old_size, D[0:new_size]): the old tree is a prefix of the new one."""
        n = len(self._leaves) if new_size is None else new_size
        if not 0 <= old_size <= n <= len(self._leaves):
            raise ValueError(f"no consistency proof from {old_size} to {n}")
        if old_size in (0, n):
            return []
        return self._subproof(old_size, 0, n, True)

    def _hash(self, start: int, end: int) -> bytes:
        if end - start == 1:
            return self._leaves[start]
        key = (start, end)
        cached = self._memo.get(key)
        if cached is None:
            k = _split(end - start)
            cached = node_hash(self._hash(start, start + k), self._hash(start + k, end))
            if self._memo_up_to is None or end <= self._memo_up_to:
                self._memo[key] = cached
        return cached

    def _path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*self._path(m, start, start + k), self._hash(start + k, end)]
        return [*self._path(m - k, start + k, end), self._hash(start, start + k)]

    def _subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [self._hash(start, end)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, whole), self._hash(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self._hash(start, start + k)]


class MerkleAccumulator:
    """The root of a growing tree in O(log n) memory: one hash per full subtree, left to right.

    MTH splits at the largest power of two, so the root is the right fold of the perfect
    subtrees that the binary digits of the size describe.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> None:
        size, digest = 1, leaf
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, digest = left_size + size, node_hash(left, digest)
        self._stack.append((size, digest))
        self._size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        digest = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            digest = node_hash(left, digest)
        return digest


def root(leaves: Sequence[bytes]) -> bytes:
    return MerkleTree(leaves).root()


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, digest = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            digest = node_hash(sibling, digest)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn, sn = fn >> 1, sn >> 1
        else:
            digest = node_hash(digest, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and digest == expected_root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2 (an empty old tree is consistent with everything)."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a full subtree: its root is the first node of the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(node, fr), node_hash(node, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, node)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root
