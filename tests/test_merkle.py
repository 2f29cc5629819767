"""Merkle tree against the RFC 6962 reference vectors published by transparency-dev/merkle
(testonly/constants.go and proof/verify_test.go, Apache-2.0), and against corrupted proofs named
after the corruption they apply."""

import pytest

from pocketstudio.policy.merkle import (EMPTY_ROOT, MemoryTree, ProofError, consistency_proof, hash_leaf,
                                        inclusion_proof, verify_consistency, verify_inclusion)

LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f"]]
ROOTS = [bytes.fromhex(h) for h in [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]]
H = bytes.fromhex
INCLUSION = [  # (leaf number, 1-based as in the source; tree size; proof)
    (1, 8, [H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (6, 8, [H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (3, 3, [H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (2, 5, [H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
]
CONSISTENCY = [
    (1, 8, [H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (6, 8, [H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 5, [H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
    (6, 7, [H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
]
SOME_HASH = H("abacaba000000000000000000000000000000000000000000060061e00123456")


@pytest.fixture(scope="module")
def tree():
    return MemoryTree(LEAVES)


def test_reference_roots(tree):
    assert tree.root(0) == EMPTY_ROOT
    assert [tree.root(n) for n in range(1, 9)] == ROOTS


@pytest.mark.parametrize("leaf,size,proof", INCLUSION, ids=lambda v: str(v) if isinstance(v, int) else "proof")
def test_reference_inclusion_proofs(tree, leaf, size, proof):
    assert inclusion_proof(tree.node, leaf - 1, size) == proof
    verify_inclusion(leaf - 1, size, hash_leaf(LEAVES[leaf - 1]), proof, ROOTS[size - 1])


@pytest.mark.parametrize("size1,size2,proof", CONSISTENCY, ids=lambda v: str(v) if isinstance(v, int) else "proof")
def test_reference_consistency_proofs(tree, size1, size2, proof):
    assert consistency_proof(tree.node, size1, size2) == proof
    verify_consistency(size1, size2, ROOTS[size1 - 1], ROOTS[size2 - 1], proof)


def _inclusion_corruptions(i, n, proof, root, leaf):
    yield "leaf-index-minus-1", (i - 1, n, leaf, proof, root)
    yield "leaf-index-plus-1", (i + 1, n, leaf, proof, root)
    yield "leaf-index-xor-2", (i ^ 2, n, leaf, proof, root)
    yield "tree-size-doubled", (i, n * 2, leaf, proof, root)
    yield "tree-size-halved", (i, n // 2, leaf, proof, root)
    yield "wrong-leaf", (i, n, hash_leaf(b"WrongLeaf"), proof, root)
    yield "empty-root", (i, n, leaf, proof, EMPTY_ROOT)
    yield "random-root", (i, n, leaf, proof, SOME_HASH)
    yield "trailing-garbage", (i, n, leaf, proof + [b""], root)
    yield "trailing-root", (i, n, leaf, proof + [root], root)
    yield "preceding-garbage", (i, n, leaf, [b""] + proof, root)
    yield "preceding-root", (i, n, leaf, [root] + proof, root)
    for k in range(len(proof)):
        bad = list(proof)
        bad[k] = bytes([bad[k][0] ^ 8]) + bad[k][1:]
        yield f"modified-proof-{k}-bit-3", (i, n, leaf, bad, root)
    if proof:
        yield "removed-component", (i, n, leaf, proof[:-1], root)
    if len(proof) > 1:
        yield "inserted-component", (i, n, leaf, [proof[0], SOME_HASH] + proof[1:], root)


@pytest.mark.parametrize("leaf,size,proof", INCLUSION)
def test_corrupted_inclusion_proofs_fail(leaf, size, proof):
    i = leaf - 1
    for name, args in _inclusion_corruptions(i, size, proof, ROOTS[size - 1], hash_leaf(LEAVES[i])):
        with pytest.raises(ProofError):
            verify_inclusion(*args)
            pytest.fail(f"corruption {name} verified")


def _consistency_corruptions(m, n, r1, r2, proof):
    yield "size1-minus-1", (m - 1, n, r1, r2, proof)
    yield "size1-plus-1", (m + 1, n, r1, r2, proof)
    yield "size1-xor-2", (m ^ 2, n, r1, r2, proof)
    yield "size2-doubled", (m, n * 2, r1, r2, proof)
    yield "size2-halved", (m, n // 2, r1, r2, proof)
    yield "wrong-root1", (m, n, SOME_HASH, r2, proof)
    yield "wrong-root2", (m, n, r1, SOME_HASH, proof)
    yield "swapped-roots", (m, n, r2, r1, proof)
    yield "empty-proof", (m, n, r1, r2, [])
    yield "trailing-garbage", (m, n, r1, r2, proof + [b""])
    yield "trailing-root1", (m, n, r1, r2, proof + [r1])
    yield "trailing-root2", (m, n, r1, r2, proof + [r2])
    yield "preceding-garbage", (m, n, r1, r2, [b""] + proof)
    yield "preceding-root1", (m, n, r1, r2, [r1] + proof)
    yield "preceding-root2", (m, n, r1, r2, [r2] + proof)
    yield "preceding-proof-0", (m, n, r1, r2, [proof[0]] + proof)
    yield "truncated-proof", (m, n, r1, r2, proof[:-1])
    for k in range(len(proof)):
        bad = list(proof)
        bad[k] = bytes([bad[k][0] ^ 16]) + bad[k][1:]
        yield f"modified-proof-{k}-bit-4", (m, n, r1, r2, bad)


@pytest.mark.parametrize("size1,size2,proof", CONSISTENCY)
def test_corrupted_consistency_proofs_fail(size1, size2, proof):
    for name, args in _consistency_corruptions(size1, size2, ROOTS[size1 - 1], ROOTS[size2 - 1], proof):
        with pytest.raises(ProofError):
            verify_consistency(*args)
            pytest.fail(f"corruption {name} verified")


def test_edge_cases_from_the_reference_suite():
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 1, b"x" * 32, b"y" * 32, [])
    with pytest.raises(ProofError):
        verify_consistency(1, 0, ROOTS[0], EMPTY_ROOT, [])  # time travel
    with pytest.raises(ProofError):
        verify_consistency(1, 1, EMPTY_ROOT, ROOTS[0], [])
    with pytest.raises(ProofError):
        verify_consistency(1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    with pytest.raises(ProofError):
        verify_inclusion(0, 0, SOME_HASH, [], EMPTY_ROOT)
    leaf = hash_leaf(b"data")
    verify_inclusion(0, 1, leaf, [], leaf)
    with pytest.raises(ProofError):
        verify_inclusion(0, 1, b"", [], leaf)


def test_every_proof_of_every_small_tree_verifies():
    for n in range(1, 40):
        t = MemoryTree([n.to_bytes(2, "big") + bytes([i]) for i in range(n)])
        for i in range(n):
            verify_inclusion(i, n, t.levels[0][i], inclusion_proof(t.node, i, n), t.root())
        for m in range(n + 1):
            verify_consistency(m, n, t.root(m), t.root(n), consistency_proof(t.node, m, n))
