"""The archive facade: store bytes durably with a ledger receipt, read them back, verify."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from archive.blobstore import BlobStore, FilesystemBlobStore, PendingSync
from archive.entries import LedgerEntry, Receipt
from archive.ledger import FileLedger, Ledger, LedgerHead, NewEntry
from archive.verify import EntryCheck, VerifyReport, verify_archive


class Archive:
    """Blob store + ledger behind one small interface; knows nothing of cases or classification.

    ``store_many`` is the write path. It returns once the blobs (file and folder) and the
    ledger entries are fsynced, which is the moment an intake may acknowledge upstream
    (ARCHITECTURE contract 1). ``write_blobs`` and ``write_entries`` are its two halves for a
    caller that waits for the fsyncs elsewhere (the daemon's group committer), in its order.
    """

    def __init__(self, blobs: BlobStore, ledger: Ledger) -> None:
        self.blobs = blobs
        self.ledger = ledger

    @classmethod
    def open(cls, root: Path) -> Archive:
        """The filesystem archive: ``root/blobs``, ``root/tmp`` and ``root/ledger``."""
        root = Path(root)
        return cls(FilesystemBlobStore(root), FileLedger(root / "ledger"))

    def ensure(self) -> None:
        """Create the folders and the empty ledger (``init`` and start-up)."""
        self.blobs.ensure()
        self.ledger.ensure()

    def close(self) -> None:
        """Release the ledger's open files (a later write opens them again)."""
        self.ledger.close()

    def clean_tmp(self) -> int:
        """Remove temporary files that crashed writes left behind (run at start-up)."""
        return self.blobs.clean_tmp()

    def store(self, raw: bytes, receipt: Receipt) -> LedgerEntry:
        return self.store_many([(raw, receipt)])[0]

    def store_many(self, items: Sequence[tuple[bytes, Receipt]]) -> list[LedgerEntry]:
        """Blobs first, then their ledger entries: an entry never names a blob not yet durable."""
        if not items:
            return []
        hashes, blobs = self.write_blobs([raw for raw, _ in items])
        blobs.sync()
        entries, written = self.write_entries(hashes, items)
        written.sync()
        return entries

    # The two halves of ``store_many`` for a caller that waits for fsyncs elsewhere (the
    # daemon's group committer): each writes, the returned PendingSync makes it durable. The
    # order is the contract: write_blobs, its sync, write_entries, its sync, then acknowledge.

    def write_blobs(self, raws: Sequence[bytes], hashes: Sequence[str] | None = None,
                    ) -> tuple[list[str], PendingSync]:
        return self.blobs.write_many(raws, hashes)

    def write_entries(self, hashes: Sequence[str], items: Sequence[tuple[bytes, Receipt]],
                      wait: bool = True) -> tuple[list[LedgerEntry], PendingSync]:
        """Only once the blobs are durable (``sync`` of ``write_blobs`` returned)."""
        return self.ledger.write_many(
            [NewEntry(sha, len(raw), receipt)
             for sha, (raw, receipt) in zip(hashes, items, strict=True)], wait)

    def store_record(self, kind: str, raw: bytes, receipt: Receipt) -> LedgerEntry:
        """Store a record that is not mail (an access-log entry) in the same chain."""
        (sha256,) = self.blobs.put_many([raw])
        return self.ledger.append_many([NewEntry(sha256, len(raw), receipt, kind=kind)])[0]

    def tombstone(self, sha256: str, receipt: Receipt) -> LedgerEntry:
        """Retention: record that a blob is removed, then remove it. The entry is durable
        before the blob goes, so a crash in between leaves a blob that is merely still there."""
        size = self.blobs.size_of(sha256) if self.blobs.exists(sha256) else 0
        entry = self.ledger.append_many([NewEntry(sha256, size, receipt, kind="tombstone")])[0]
        self.blobs.remove(sha256)
        return entry

    def read(self, sha256: str) -> bytes:
        return self.blobs.read(sha256)

    def entries(self, after_seq: int = 0, until_seq: int | None = None,
                ) -> Iterator[LedgerEntry]:
        """Entries with ``after_seq < seq <= until_seq``, in ledger order."""
        return self.ledger.entries(after_seq, until_seq)

    def head(self) -> LedgerHead | None:
        return self.ledger.head()

    def verify(
        self,
        progress: Callable[[int], None] | None = None,
        extra_check: EntryCheck | None = None,
        since: int = 0,
    ) -> VerifyReport:
        return verify_archive(self.ledger, self.blobs, progress, extra_check, since)
