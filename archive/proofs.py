"""Everything an evidence package needs from the ledger, in ONE pass: the wanted entries, an
RFC 9162 inclusion proof for each, and the checkpoint the proofs lead to (signed in the same
pass when the ledger grew since the last one).

Why one pass: reading the entries, signing a checkpoint and building the proofs each walk the
whole ledger; on a ledger of a million entries each walk costs seconds, for an export of one
case. The tree is the ledger's first ``tree_size`` entries as they stood when the pass began;
entries appended meanwhile are not in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive import merkle
from archive.checkpoints import (
    Checkpoint,
    CheckpointError,
    append_locked,
    archive_root,
    checkpoint_log_locked,
    ledger_lines,
    load_checkpoints,
    load_private_key,
    proof_json,
    refuse_unless_extended,
    sign_checkpoint,
)
from archive.entries import LedgerEntry
from archive.errors import LedgerFormatError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from archive.store import Archive


@dataclass(frozen=True)
class ProvenEntries:
    """The wanted entries by seq, their JSON-ready inclusion proofs by seq, and the tree head
    they lead to: signed (``checkpoint``) or, without a key, unsigned (``root_hash`` only)."""

    entries: dict[int, LedgerEntry]
    proofs: dict[int, dict[str, Any]]
    tree_size: int
    root_hash: str
    checkpoint: Checkpoint | None


def prove_entries(archive: Archive, seqs: Iterable[int], key_path: Path | None
                  ) -> ProvenEntries:
    """Entries ``seqs`` with inclusion proofs against a checkpoint signed with ``key_path``
    now if the ledger grew (as ``write_checkpoint(only_if_grown=True)``: it refuses a ledger
    whose earlier checkpoint no longer matches), or against the unsigned tree head of the
    whole ledger when ``key_path`` is None."""
    wanted = set(seqs)
    if key_path is None:
        return _prove(archive, wanted, None, None)
    key = load_private_key(Path(key_path), archive_root(archive))
    with checkpoint_log_locked(archive):
        previous = load_checkpoints(archive)
        return _prove(archive, wanted, previous[-1] if previous else None, key)


def _prove(archive: Archive, wanted: set[int], last: Checkpoint | None,
           key: Ed25519PrivateKey | None) -> ProvenEntries:
    head = archive.ledger.head()
    size = head.seq if head else 0
    if wanted and not 1 <= min(wanted) <= max(wanted) <= size:
        raise CheckpointError(f"ledger entries {sorted(wanted)[:3]}... are not all in the "
                              f"ledger of {size} entries; run 'commgate archive verify'")
    if last is not None and last.tree_size > size:
        refuse_unless_extended(last, size, None)
    paths = {seq: merkle.inclusion_ranges(seq - 1, size) for seq in wanted}
    ranges = {r for path in paths.values() for r in path} | {(0, size)}
    if last is not None:
        ranges.add((0, last.tree_size))
    tree = merkle.RangeRoots(ranges)
    entries: dict[int, LedgerEntry] = {}
    leaves: dict[int, str] = {}
    try:
        if size:
            for seq, leaf, raw in ledger_lines(archive):
                if seq in wanted:
                    entries[seq], leaves[seq] = LedgerEntry.from_line(raw), leaf.hex()
                tree.append(leaf)
                if tree.size == size:
                    break
        roots = tree.roots()
    except (LedgerFormatError, ValueError) as exc:
        raise CheckpointError(f"cannot read the ledger: {exc}; run 'commgate archive verify'"
                              ) from exc
    if last is not None:
        refuse_unless_extended(last, size, roots[(0, last.tree_size)])
    root = roots[(0, size)].hex()
    checkpoint = None
    if key is not None:
        if last is not None and last.tree_size == size:
            checkpoint = last
        else:
            checkpoint = sign_checkpoint(key, size, bytes.fromhex(root))
            append_locked(archive, checkpoint)
    hexes = {r: node.hex() for r, node in roots.items()}  # proofs share most of their nodes
    proofs = {seq: proof_json(seq, size, leaves[seq], root, [hexes[r] for r in path])
              for seq, path in paths.items()}
    return ProvenEntries(entries, proofs, size, root, checkpoint)
