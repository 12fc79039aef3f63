"""RFC 9162 (Certificate Transparency v2) Merkle tree math over the ledger, with no I/O.

Why: a hash chain proves order, but proving one entry means re-hashing everything before it.
A Merkle tree lets an auditor check one entry with ~log2(n) hashes (inclusion proof) and check
that a later tree only appended to an earlier one (consistency proof). Leaf and interior nodes
are hashed with distinct prefixes (0x00 / 0x01) so a leaf can never pass for a subtree.

Leaves here are byte strings (for the ledger: the 32 bytes of each ``entry_hash``, in sequence
order). Every proof node is the tree head MTH of a contiguous range of leaves, so proofs are
planned as ranges first and the hashes are then computed in one streaming pass
(:func:`range_roots`), which keeps memory at O(log n) per range however long the ledger is.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Collection, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256

Range = tuple[int, int]  # [start, end) in leaf indices


def leaf_hash(data: bytes) -> bytes:
    """HASH(0x00 || data): the 0x00 prefix keeps leaves apart from interior nodes."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """HASH(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2), as RFC 9162 §2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


class TreeBuilder:
    """Appends leaves and keeps only the perfect subtrees of the right edge (O(log n) hashes).

    ``capture`` names perfect subtrees ``(start, height)`` whose hashes should be kept when
    they complete, which is how :func:`range_roots` collects proof nodes in the same pass.
    """

    def __init__(self, capture: Collection[tuple[int, int]] = ()) -> None:
        self.size = 0
        self._stack: list[bytes] = []
        self._capture = capture
        self.captured: dict[tuple[int, int], bytes] = {}

    def append(self, data: bytes) -> None:
        self.append_hash(leaf_hash(data))

    def append_hash(self, hashed_leaf: bytes) -> None:
        """Add an already hashed leaf (``leaf_hash(data)``)."""
        self.append_subtree(hashed_leaf, 0)

    def extend_hashes(self, hashed_leaves: Iterable[bytes]) -> None:
        for hashed_leaf in hashed_leaves:
            self.append_subtree(hashed_leaf, 0)

    def append_subtree(self, node: bytes, height: int) -> None:
        """Add a whole perfect subtree of ``2 ** height`` leaves (its hash ``node``; a hashed
        leaf is one of height 0); the tree's size must be a multiple of its width. The same
        merges as appending its leaves one by one; nodes inside it are the caller's to capture
        (:func:`subtree_pieces` does)."""
        width = 1 << height
        start = self.size
        if start % width:
            raise ValueError(f"a subtree of {width} leaves cannot start at leaf {start}")
        stack, capture = self._stack, self._capture
        stack.append(node)
        if capture and (start, height) in capture:
            self.captured[(start, height)] = node
        self.size = size = start + width
        merged = size >> height
        while not merged & 1:  # one merge per trailing zero bit above this subtree's height
            merged >>= 1
            height += 1
            right = stack.pop()
            stack[-1] = node = _sha256(b"\x01" + stack[-1] + right).digest()
            if capture and (size - (1 << height), height) in capture:
                self.captured[(size - (1 << height), height)] = node

    def root(self) -> bytes:
        """MTH of the leaves so far: fold the right-edge subtrees from the right."""
        if not self._stack:
            return EMPTY_ROOT
        root = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            root = node_hash(left, root)
        return root


def root_hash(leaves: Iterable[bytes]) -> bytes:
    """MTH(D[n]) of all ``leaves`` (leaf data, not yet hashed), streaming."""
    builder = TreeBuilder()
    for data in leaves:
        builder.append(data)
    return builder.root()


def perfect_pieces(start: int, end: int) -> list[tuple[int, int]]:
    """Split a range into aligned perfect subtrees ``(start, height)``, largest first.

    For every range an RFC 9162 proof uses (and every prefix ``[0, n)``), MTH of the range is
    the right fold of these pieces, exactly as :meth:`TreeBuilder.root` folds its stack.
    """
    pieces = []
    while start < end:
        height = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while start + (1 << height) > end:
            height -= 1
        pieces.append((start, height))
        start += 1 << height
    return pieces


class RangeRoots:
    """MTH of each range ``[start, end)`` of a stream of leaves, fed one leaf at a time.

    Ranges may overlap and repeat. Each must be a subtree of some RFC 9162 tree (its start a
    multiple of the power of two at or above its length), as every proof node and every prefix
    ``[0, n)`` is; ``ValueError`` otherwise. Leaves beyond ``needed`` change nothing, so a
    caller walking the whole ledger anyway (``archive verify``) can feed every entry.
    """

    def __init__(self, ranges: Iterable[Range]) -> None:
        ranges = set(ranges)
        for start, end in ranges:
            if not 0 <= start <= end or start % (1 << max(end - start - 1, 0).bit_length()):
                raise ValueError(f"[{start}, {end}) is not a subtree of an RFC 9162 tree")
        self._pieces = {r: perfect_pieces(*r) for r in ranges}
        self.needed = max((end for _, end in ranges), default=0)
        self._capture_sorted: list[tuple[int, int]] | None = None
        self._builder = TreeBuilder({piece for ps in self._pieces.values() for piece in ps})
        self.extend_hashes = self._builder.extend_hashes
        self.append = self._builder.append
        self.append_subtree = self._builder.append_subtree

    @property
    def capture_sorted(self) -> list[tuple[int, int]]:
        """The perfect subtrees ``(start, height)`` the roots are built from, sorted."""
        if self._capture_sorted is None:
            self._capture_sorted = sorted(self._builder._capture)
        return self._capture_sorted

    def add_captured(self, nodes: dict[tuple[int, int], bytes]) -> None:
        """Nodes inside subtrees given whole to ``append_subtree``, captured by whoever
        hashed them (:func:`subtree_pieces`)."""
        self._builder.captured.update(nodes)

    @property
    def size(self) -> int:
        return self._builder.size

    def roots(self) -> dict[Range, bytes]:
        if self._builder.size < self.needed:
            raise ValueError(f"needed {self.needed} leaves, found only {self._builder.size}")
        captured = self._builder.captured
        roots = {}
        for r, ps in self._pieces.items():
            if not ps:
                roots[r] = EMPTY_ROOT
                continue
            root = captured[ps[-1]]
            for piece in reversed(ps[:-1]):
                root = node_hash(captured[piece], root)
            roots[r] = root
        return roots


def subtree_pieces(start: int, hashed_leaves: Sequence[bytes],
                   capture: Sequence[tuple[int, int]] = ()
                   ) -> tuple[list[tuple[int, bytes]], dict[tuple[int, int], bytes]]:
    """Hashed leaves ``start``, ``start + 1``, ... as the aligned perfect subtrees that cover
    them (:func:`perfect_pieces`): ``[(height, hash)]`` in order, for
    :meth:`TreeBuilder.append_subtree`, and the nodes inside them that ``capture`` (sorted,
    as :attr:`RangeRoots.capture_sorted` gives it) names.

    Hashed level by level, a list at a time, with no per-node bookkeeping: this is how
    ``archive verify`` builds the Merkle tree of a chunk of the ledger on whichever core
    checks that chunk."""
    end = start + len(hashed_leaves)
    wanted = capture[bisect.bisect_left(capture, (start, -1)):
                     bisect.bisect_left(capture, (end, -1))]
    pieces: list[tuple[int, bytes]] = []
    captured: dict[tuple[int, int], bytes] = {}
    for piece_start, height in perfect_pieces(start, end):
        level = list(hashed_leaves[piece_start - start:piece_start - start + (1 << height)])
        for lvl in range(height + 1):
            if lvl:
                level = [_sha256(b"\x01" + left + right).digest()
                         for left, right in zip(level[::2], level[1::2], strict=True)]
            for key in wanted:
                key_start, key_height = key
                if key_height == lvl and piece_start <= key_start < piece_start + (1 << height):
                    captured[key] = level[(key_start - piece_start) >> lvl]
        pieces.append((height, level[0]))
    return pieces, captured


def range_roots(leaves: Iterable[bytes], ranges: Iterable[Range]) -> dict[Range, bytes]:
    """MTH of each range ``[start, end)`` of ``leaves`` in one pass; reads no further than needed.

    The ranges are as :class:`RangeRoots` takes them; ``ValueError`` when the leaves run out
    too early."""
    tree = RangeRoots(ranges)
    if tree.needed:
        for data in leaves:
            tree.append(data)
            if tree.size == tree.needed:
                break
    return tree.roots()


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose MTHs form PATH(index, D[size]) (RFC 9162 §2.1.3.1), leaf level first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    out: list[Range] = []
    _path(index, 0, size, out)
    return out


def _path(index: int, lo: int, hi: int, out: list[Range]) -> None:
    n = hi - lo
    if n == 1:
        return
    k = _split(n)
    if index - lo < k:
        _path(index, lo, lo + k, out)
        out.append((lo + k, hi))
    else:
        _path(index, lo + k, hi, out)
        out.append((lo, lo + k))


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The ranges whose MTHs form PROOF(first, D[second]) (RFC 9162 §2.1.4.1)."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    out: list[Range] = []
    if 0 < first < second:
        _subproof(first, 0, second, True, out)
    return out


def _subproof(m: int, lo: int, hi: int, whole: bool, out: list[Range]) -> None:
    n = hi - lo
    if m == n:
        if not whole:
            out.append((lo, hi))
        return
    k = _split(n)
    if m <= k:
        _subproof(m, lo, lo + k, whole, out)
        out.append((lo + k, hi))
    else:
        _subproof(m - k, lo + k, hi, False, out)
        out.append((lo, lo + k))


def inclusion_proof(leaves: Iterable[bytes], index: int, size: int) -> list[bytes]:
    """The audit path for leaf ``index`` in the tree of the first ``size`` leaves."""
    ranges = inclusion_ranges(index, size)
    roots = range_roots(leaves, ranges)
    return [roots[r] for r in ranges]


def consistency_proof(leaves: Iterable[bytes], first: int, second: int) -> list[bytes]:
    """Proof that the tree of ``first`` leaves is a prefix of the tree of ``second`` leaves."""
    ranges = consistency_ranges(first, second)
    roots = range_roots(leaves, ranges)
    return [roots[r] for r in ranges]


def root_from_inclusion(data: bytes, index: int, size: int, proof: Sequence[bytes]
                        ) -> bytes | None:
    """The root the audit path leads to (RFC 9162 §2.1.3.2), or None if the path is malformed."""
    if not 0 <= index < size or any(len(p) != HASH_SIZE for p in proof):
        return None
    fn, sn = index, size - 1
    r = leaf_hash(data)
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(data: bytes, index: int, size: int, proof: Sequence[bytes],
                     root: bytes) -> bool:
    """True when leaf ``data`` is leaf ``index`` of the tree of ``size`` leaves with ``root``."""
    return root_from_inclusion(data, index, size, proof) == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """True when the tree (first, first_root) is a prefix of (second, second_root).

    RFC 9162 §2.1.4.2, plus the trivial cases it leaves out: equal sizes need equal roots and
    an empty proof; the empty tree is a prefix of every tree.
    """
    if not 0 <= first <= second or any(len(p) != HASH_SIZE for p in proof):
        return False
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the old root is itself a node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
