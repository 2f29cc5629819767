"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.

leaf = SHA-256(0x00 ‖ entry), node = SHA-256(0x01 ‖ left ‖ right). Proof generation follows
RFC 6962 §2.1.1–2.1.2 (PATH and PROOF/SUBPROOF) over any source of subtree hashes; verification
follows RFC 9162 §2.1.3.2 and §2.1.4.2. Names are the spec's.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Sequence

from pocketstudio.core.base.errors import AuditError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(AuditError, ValueError):
    """A proof does not verify; the message says which check failed."""


def hash_leaf(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# A subtree source answers the hash of the perfect subtree at (level, index): leaves
# [index·2^level, (index+1)·2^level). Trees in memory and the database both provide one.
PerfectNode = Callable[[int, int], bytes]


def subtree_hash(node: PerfectNode, start: int, size: int) -> bytes:
    """MTH of leaves [start, start+size), built from perfect subtrees (start is aligned)."""
    if size <= 0:
        raise ValueError("empty subtree")
    if size & (size - 1) == 0 and start % size == 0:
        return node(size.bit_length() - 1, start // size)
    k = _split(size)
    return hash_children(subtree_hash(node, start, k), subtree_hash(node, start + k, size - k))


def root_hash(node: PerfectNode, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else subtree_hash(node, 0, size)


def inclusion_proof(node: PerfectNode, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 6962 §2.1.1."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start = 0
    while size > 1:
        k = _split(size)
        if index < k:
            path.append(subtree_hash(node, start + k, size - k))
            size = k
        else:
            path.append(subtree_hash(node, start, k))
            start, index, size = start + k, index - k, size - k
    return path[::-1]


def consistency_proof(node: PerfectNode, size1: int, size2: int) -> list[bytes]:
    """PROOF(size1, D[size2]) of RFC 6962 §2.1.2."""
    if not 0 <= size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to {size2}")
    if size1 == 0 or size1 == size2:
        return []
    path: list[bytes] = []
    start, m, n, complete = 0, size1, size2, True
    while m != n:
        k = _split(n)
        if m <= k:
            path.append(subtree_hash(node, start + k, n - k))
            n = k
        else:
            path.append(subtree_hash(node, start, k))
            start, m, n, complete = start + k, m - k, n - k, False
    if not complete:
        path.append(subtree_hash(node, start, m))
    return path[::-1]


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, (bytes, bytearray)) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte hash")


def root_from_inclusion_proof(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root that ``proof`` leads to from ``leaf_hash``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash(leaf_hash, "leaf hash")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        _check_hash(p, "proof element")
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
    _check_hash(root, "root")
    if root_from_inclusion_proof(index, size, leaf_hash, proof) != root:
        raise ProofError("inclusion proof leads to another root")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2: the tree of size2 (root2) extends the tree of size1 (root1)."""
    if size2 < size1:
        raise ProofError(f"size2 {size2} is smaller than size1 {size1}")
    if size1 == size2:
        if proof:
            raise ProofError("trees of equal size need an empty proof")
        if root1 != root2:
            raise ProofError("trees of equal size have different roots")
        return
    if size1 == 0:
        if proof:
            raise ProofError("consistency with the empty tree needs an empty proof")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    _check_hash(root1, "root1")
    _check_hash(root2, "root2")
    for p in proof:
        _check_hash(p, "proof element")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != root1:
        raise ProofError("consistency proof does not lead to root1")
    if sr != root2:
        raise ProofError("consistency proof does not lead to root2")


class MemoryTree:
    """A whole tree in memory: the reference the database-backed log is tested against."""

    def __init__(self, entries: Sequence[bytes] = ()):
        self.levels: list[list[bytes]] = [[]]
        for entry in entries:
            self.append(entry)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, entry: bytes) -> None:
        self.append_leaf_hash(hash_leaf(entry))

    def append_leaf_hash(self, leaf: bytes) -> None:
        self.levels[0].append(leaf)
        level, index = 0, len(self.levels[0]) - 1
        while index & 1:
            parent = hash_children(self.levels[level][index - 1], self.levels[level][index])
            level, index = level + 1, index >> 1
            if len(self.levels) <= level:
                self.levels.append([])
            self.levels[level].append(parent)

    def node(self, level: int, index: int) -> bytes:
        return self.levels[level][index]

    def root(self, size: int | None = None) -> bytes:
        return root_hash(self.node, self.size if size is None else size)
