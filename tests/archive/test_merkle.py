"""RFC 9162 tree math: published vectors, an independent naive model, and tampering."""

from __future__ import annotations

import hashlib
import random

import pytest

from archive import merkle

# The Certificate Transparency reference inputs (RFC 6962 / 9162 test vectors).
CT_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
# (leaf index, tree size, audit path)
CT_INCLUSION = [
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
]
# (first size, second size, consistency proof)
CT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]


# --- an independent, deliberately naive model of RFC 9162 §2.1 --------------------------------

def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(d: list[bytes]) -> bytes:
    if not d:
        return _h(b"")
    if len(d) == 1:
        return _h(b"\x00" + d[0])
    k = _k(len(d))
    return _h(b"\x01" + naive_mth(d[:k]) + naive_mth(d[k:]))


def naive_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*naive_path(m, d[:k]), naive_mth(d[k:])]
    return [*naive_path(m - k, d[k:]), naive_mth(d[:k])]


def naive_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [naive_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*naive_subproof(m, d[:k], b), naive_mth(d[k:])]
    return [*naive_subproof(m - k, d[k:], False), naive_mth(d[:k])]


def leaves(n: int, salt: int = 0) -> list[bytes]:
    return [hashlib.sha256(f"{salt}:{i}".encode()).digest() for i in range(n)]


# --- published vectors ------------------------------------------------------------------------

def test_roots_match_the_ct_reference_vectors_for_0_to_8_leaves():
    for n in range(9):
        assert merkle.root_hash(CT_LEAVES[:n]) == CT_ROOTS[n], n
    assert CT_ROOTS[0] == merkle.EMPTY_ROOT


def test_inclusion_proofs_match_the_ct_reference_vectors():
    for index, size, expected in CT_INCLUSION:
        proof = merkle.inclusion_proof(CT_LEAVES, index, size)
        assert [p.hex() for p in proof] == expected, (index, size)
        assert merkle.verify_inclusion(CT_LEAVES[index], index, size, proof, CT_ROOTS[size])


def test_consistency_proofs_match_the_ct_reference_vectors():
    for first, second, expected in CT_CONSISTENCY:
        proof = merkle.consistency_proof(CT_LEAVES, first, second)
        assert [p.hex() for p in proof] == expected, (first, second)
        assert merkle.verify_consistency(first, second, CT_ROOTS[first], CT_ROOTS[second], proof)


# --- against the naive model ------------------------------------------------------------------

def test_streaming_root_equals_the_naive_recursion_for_every_size_up_to_64():
    d = leaves(64)
    builder = merkle.TreeBuilder()
    for n in range(1, 65):
        builder.append(d[n - 1])
        assert builder.root() == naive_mth(d[:n]) == merkle.root_hash(d[:n]), n
        assert len(builder._stack) == bin(n).count("1")  # O(log n) memory


def test_every_inclusion_proof_up_to_64_leaves_equals_the_naive_path_and_verifies():
    d = leaves(64)
    for n in range(1, 65):
        root = naive_mth(d[:n])
        for m in range(n):
            proof = merkle.inclusion_proof(d, m, n)
            assert proof == naive_path(m, d[:n]), (m, n)
            assert merkle.verify_inclusion(d[m], m, n, proof, root)


def test_consistency_proofs_equal_the_naive_subproof_and_verify():
    rng = random.Random(9162)
    d = leaves(64)
    pairs = [(m, n) for n in range(2, 65) for m in (1, n - 1, rng.randrange(1, n))]
    for m, n in pairs:
        proof = merkle.consistency_proof(d, m, n)
        assert proof == naive_subproof(m, d[:n], True), (m, n)
        assert merkle.verify_consistency(m, n, naive_mth(d[:m]), naive_mth(d[:n]), proof)


def test_range_roots_serves_many_overlapping_ranges_in_one_pass():
    d = leaves(50)
    consumed = []

    def stream():
        for leaf in d:
            consumed.append(leaf)
            yield leaf

    wanted = [(0, 37), (0, 50), (32, 37), (36, 37), (0, 0), (16, 32), (48, 50)]
    roots = merkle.range_roots(stream(), wanted)
    for start, end in wanted:
        assert roots[(start, end)] == naive_mth(d[start:end])
    assert len(consumed) == 50


def test_range_roots_stops_reading_once_it_has_what_it_needs():
    consumed = []

    def stream():
        for leaf in leaves(100):
            consumed.append(leaf)
            yield leaf

    merkle.range_roots(stream(), [(0, 10)])
    assert len(consumed) == 10


def test_range_roots_refuses_non_subtree_ranges_and_short_input():
    with pytest.raises(ValueError, match="not a subtree"):
        merkle.range_roots(leaves(8), [(1, 4)])  # not a node of any RFC 9162 tree
    with pytest.raises(ValueError, match="found only 8"):
        merkle.range_roots(leaves(8), [(0, 9)])


# --- tampering --------------------------------------------------------------------------------

def _flip(b: bytes) -> bytes:
    return bytes([b[0] ^ 1]) + b[1:]


def test_altering_a_leaf_the_root_or_the_proof_fails_inclusion():
    d = leaves(1000)
    root = merkle.root_hash(d)
    proof = merkle.inclusion_proof(d, 617, 1000)
    assert merkle.verify_inclusion(d[617], 617, 1000, proof, root)
    assert not merkle.verify_inclusion(_flip(d[617]), 617, 1000, proof, root)
    assert not merkle.verify_inclusion(d[617], 617, 1000, proof, _flip(root))
    for i in range(len(proof)):
        bad = [*proof[:i], _flip(proof[i]), *proof[i + 1:]]
        assert not merkle.verify_inclusion(d[617], 617, 1000, bad, root)
    assert not merkle.verify_inclusion(d[617], 616, 1000, proof, root)  # wrong position
    # A different tree shape (size 618 puts leaf 617 on the right edge) fails. Sizes giving the
    # same shape for this leaf may pass: the size is authenticated by the signed checkpoint.
    assert not merkle.verify_inclusion(d[617], 617, 618, proof, root)
    assert not merkle.verify_inclusion(d[617], 617, 1000, proof[:-1], root)  # truncated
    assert not merkle.verify_inclusion(d[617], 617, 1000, [*proof, proof[0]], root)  # padded
    assert not merkle.verify_inclusion(d[617], 1000, 1000, proof, root)  # out of range


def test_altering_history_or_the_proof_fails_consistency():
    d = leaves(300)
    first, second = 100, 300
    old_root = merkle.root_hash(d[:first])
    proof = merkle.consistency_proof(d, first, second)
    new_root = merkle.root_hash(d)
    assert merkle.verify_consistency(first, second, old_root, new_root, proof)

    rewritten = list(d)
    rewritten[42] = _flip(rewritten[42])  # an entry before the first checkpoint changes
    forged_proof = merkle.consistency_proof(rewritten, first, second)
    forged_root = merkle.root_hash(rewritten)
    assert not merkle.verify_consistency(first, second, old_root, forged_root, forged_proof)
    assert not merkle.verify_consistency(first, second, old_root, forged_root, proof)

    for i in range(len(proof)):
        bad = [*proof[:i], _flip(proof[i]), *proof[i + 1:]]
        assert not merkle.verify_consistency(first, second, old_root, new_root, bad)
    assert not merkle.verify_consistency(first, second, old_root, new_root, [])
    assert not merkle.verify_consistency(second, first, new_root, old_root, proof)
    assert not merkle.verify_consistency(first, first, old_root, _flip(old_root), [])
    assert merkle.verify_consistency(0, second, merkle.EMPTY_ROOT, new_root, [])


def test_leaves_fed_in_batches_give_the_same_roots_as_one_by_one():
    rng = random.Random(9162)
    leaves = [rng.randbytes(32) for _ in range(300)]
    ranges = {(0, 300), (0, 257), (256, 288), (128, 192), (299, 300), (0, 0)}
    expected = merkle.range_roots(iter(leaves), ranges)
    tree = merkle.RangeRoots(ranges)
    cut = 0
    while cut < len(leaves):  # uneven batches, as the chunks of a verify walk come
        step = rng.randint(1, 40)
        tree.extend_hashes([merkle.leaf_hash(leaf) for leaf in leaves[cut:cut + step]])
        cut += step
    assert tree.roots() == expected


def test_whole_subtrees_hashed_level_by_level_give_the_same_roots_and_captures():
    rng = random.Random(6962)
    leaves = [merkle.leaf_hash(rng.randbytes(32)) for _ in range(300)]
    ranges = {(0, 300), (0, 257), (256, 288), (128, 192), (299, 300), (64, 65), (0, 0)}
    expected = merkle.RangeRoots(ranges)
    expected.extend_hashes(leaves)
    tree = merkle.RangeRoots(ranges)
    cut = 0
    while cut < len(leaves):  # chunks of any size at any offset, as verify's chunks come
        step = rng.randint(1, 70)
        pieces, captured = merkle.subtree_pieces(cut, leaves[cut:cut + step],
                                                 tree.capture_sorted)
        for height, node in pieces:
            tree.append_subtree(node, height)
        tree.add_captured(captured)
        cut += min(step, len(leaves) - cut)
    assert tree.size == 300 and tree.roots() == expected.roots()
    with pytest.raises(ValueError, match="cannot start"):
        tree.append_subtree(leaves[0], 3)  # 300 is not a multiple of 8
