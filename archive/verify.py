"""Recompute every hash of the archive and name the first inconsistency precisely."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from archive.blobstore import BlobStore
from archive.entries import GENESIS_HASH, LedgerEntry
from archive.errors import BlobNotFoundError, LedgerFormatError
from archive.ledger import Ledger


@dataclass(frozen=True)
class Inconsistency:
    """The first thing found wrong: the sequence number it concerns and what is wrong."""

    seq: int
    problem: str  # machine-readable: missing-blob, altered-blob, altered-entry, ...
    detail: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.problem}: {self.detail}"


@dataclass(frozen=True)
class VerifyReport:
    entries: int
    blobs: int
    head_seq: int
    first_problem: Inconsistency | None

    @property
    def ok(self) -> bool:
        return self.first_problem is None


EntryCheck = Callable[[LedgerEntry], Inconsistency | None]


def verify_archive(
    ledger: Ledger,
    blobs: BlobStore,
    progress: Callable[[int], None] | None = None,
    extra_check: EntryCheck | None = None,
    since: int = 0,
) -> VerifyReport:
    """Walk the chain from the genesis entry; stop at the first inconsistency.

    Checks, per entry: the line parses, its hash matches its content (edited entry), its
    sequence number follows the previous one (removed or reordered entry), its ``prev_hash``
    names the previous entry (spliced chain), its blob exists and hashes to its name with the
    recorded size (missing or altered blob). Each distinct blob is re-hashed once.
    ``extra_check`` lets a caller compare each entry with an independent record of it.
    ``since`` makes a run incremental where it is expensive: the whole chain is still checked
    (cheap, and the only way to trust entry ``since``), but blobs only from that seq on.
    """
    expected_seq, prev_hash = 1, GENESIS_HASH
    checked_blobs: set[str] = set()
    # A blob may be missing only because retention removed it: then a later tombstone entry
    # names it. Missing blobs wait here until their tombstone turns up or the ledger ends.
    awaiting_tombstone: dict[str, Inconsistency] = {}
    entries = 0
    for line in ledger.raw_lines():
        if not line.raw.endswith(b"\n"):
            # A torn tail is a write a crash interrupted before it was acknowledged.
            break
        try:
            entry = LedgerEntry.from_line(line.raw)
        except LedgerFormatError as exc:
            return _report(entries, checked_blobs, expected_seq - 1, Inconsistency(
                expected_seq, "unreadable-entry", f"ledger line {line.number}: {exc}"))
        problem = _check_entry(entry, expected_seq, prev_hash, blobs, checked_blobs,
                               check_blob=entry.seq >= since and entry.kind != "tombstone")
        if problem is not None and problem.problem == "missing-blob":
            awaiting_tombstone.setdefault(entry.sha256, problem)
            problem = None
        if problem is None and extra_check is not None:
            problem = extra_check(entry)
        if problem:
            return _report(entries, checked_blobs, expected_seq - 1,
                           _earliest(problem, awaiting_tombstone))
        if entry.kind == "tombstone":
            awaiting_tombstone.pop(entry.sha256, None)
        entries += 1
        expected_seq, prev_hash = entry.seq + 1, entry.entry_hash
        if progress:
            progress(entries)
    missing = min(awaiting_tombstone.values(), key=lambda p: p.seq, default=None)
    return _report(entries, checked_blobs, expected_seq - 1, missing)


def _earliest(problem: Inconsistency, missing: dict[str, Inconsistency]) -> Inconsistency:
    return min([problem, *missing.values()], key=lambda p: p.seq)


def _report(entries: int, blobs: set[str], head: int, problem: Inconsistency | None
            ) -> VerifyReport:
    return VerifyReport(entries=entries, blobs=len(blobs), head_seq=head, first_problem=problem)


def _check_entry(
    entry: LedgerEntry,
    expected_seq: int,
    prev_hash: str,
    blobs: BlobStore,
    checked_blobs: set[str],
    check_blob: bool = True,
) -> Inconsistency | None:
    if entry.computed_hash() != entry.entry_hash:
        return Inconsistency(entry.seq, "altered-entry",
                             "the entry's content does not match its entry_hash")
    if entry.seq != expected_seq:
        kind = "missing-entry" if entry.seq > expected_seq else "reordered-entry"
        return Inconsistency(expected_seq, kind,
                             f"expected seq {expected_seq}, found seq {entry.seq}")
    if entry.prev_hash != prev_hash:
        return Inconsistency(entry.seq, "broken-chain",
                             "prev_hash does not name the previous entry")
    if not check_blob or entry.sha256 in checked_blobs:
        return None
    try:
        actual = blobs.hash_of_stored(entry.sha256)
        size = blobs.size_of(entry.sha256)
    except BlobNotFoundError:
        return Inconsistency(entry.seq, "missing-blob", f"blob {entry.sha256} is missing")
    if actual != entry.sha256:
        return Inconsistency(entry.seq, "altered-blob",
                             f"blob {entry.sha256} now hashes to {actual}")
    if size != entry.size:
        return Inconsistency(entry.seq, "altered-blob",
                             f"blob {entry.sha256} has {size} bytes, the entry says {entry.size}")
    checked_blobs.add(entry.sha256)
    return None
