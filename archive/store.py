"""The archive facade: store bytes durably with a ledger receipt, read them back, verify."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from archive.blobstore import BlobStore, FilesystemBlobStore, PendingSync
from archive.entries import LedgerEntry, Receipt
from archive.errors import ArchiveIdentityError, ArchiveReplacedError
from archive.identity import ArchiveId, create_archive_id, read_archive_id
from archive.ledger import FileLedger, Ledger, LedgerHead, NewEntry
from archive.verify import EntryCheck, VerifyReport, verify_archive


class Archive:
    """Blob store + ledger behind one small interface; knows nothing of cases or classification.

    ``store_many`` is the write path. It returns once the blobs (file and folder) and the
    ledger entries are fsynced, which is the moment an intake may acknowledge upstream
    (ARCHITECTURE contract 1). ``write_blobs`` and ``write_entries`` are its two halves for a
    caller that waits for the fsyncs elsewhere (the daemon's group committer), in its order.

    An open archive writes only to the archive it first wrote to (or ``pin``ned): every write
    first checks that the ledger at its path is still that file (one ``stat`` per batch) and
    raises ArchiveReplacedError otherwise, after telling ``on_replaced`` (the daemon stops).
    """

    def __init__(self, blobs: BlobStore, ledger: Ledger, root: Path | None = None) -> None:
        self.blobs = blobs
        self.ledger = ledger
        self.root = root
        self.archive_id: ArchiveId | None = None  # as read when pinned
        self._pinned = False
        # Called (from whichever thread wrote) each time a write is refused as above.
        self.on_replaced: Callable[[ArchiveReplacedError], None] | None = None

    @classmethod
    def open(cls, root: Path) -> Archive:
        """The filesystem archive: ``root/blobs``, ``root/tmp``, ``root/ledger``, its id file."""
        root = Path(root)
        return cls(FilesystemBlobStore(root), FileLedger(root / "ledger"), root)

    def ensure(self) -> None:
        """Create the folders and the empty ledger (``init`` and start-up); a new archive, one
        whose ledger is still empty, gets its id (an older one is given one by ``adopt_id``)."""
        self.blobs.ensure()
        self.ledger.ensure()
        if self.root is not None and self.ledger.head() is None:
            create_archive_id(self.root)  # kept if there is one already

    def read_id(self) -> ArchiveId | None:
        """The id in the archive folder now (None: an archive made before ids existed)."""
        return read_archive_id(self.root) if self.root is not None else None

    def adopt_id(self) -> ArchiveId:
        """Give an archive made before ids existed its id (the owner, once, at start-up)."""
        if self.root is None:
            raise ArchiveIdentityError("this archive has no folder to keep an id in")
        return create_archive_id(self.root)

    def pin(self) -> ArchiveId | None:
        """Make the archive now at the path the one this object writes to, and hold its id.

        The daemon pins at start-up, after checking the id against its database; otherwise the
        first write pins. Raises ArchiveReplacedError if another archive was pinned before.
        """
        try:
            self.ledger.pin()
        except ArchiveReplacedError as exc:
            raise self._refused() from exc
        if not self._pinned:
            self.archive_id = self.read_id()
            self._pinned = True
        return self.archive_id

    def close(self) -> None:
        """Release the ledger's open files (a later write opens them again)."""
        self.ledger.close()

    def clean_tmp(self) -> int:
        """Remove temporary files that crashed writes left behind (run at start-up)."""
        return self.blobs.clean_tmp()

    def store(self, raw: bytes, receipt: Receipt) -> LedgerEntry:
        return self.store_many([(raw, receipt)])[0]

    def store_many(self, items: Sequence[tuple[bytes, Receipt]],
                   hashes: Sequence[str] | None = None) -> list[LedgerEntry]:
        """Blobs first, then their ledger entries: an entry never names a blob not yet durable.
        ``hashes``: the sha256 hex digests of the items' bytes, when the caller has them (each
        is the blob's name; a wrong one would store bytes under another name)."""
        if not items:
            return []
        hashes, blobs = self.write_blobs([raw for raw, _ in items], hashes)
        blobs.sync()
        entries, written = self.write_entries(hashes, items)
        written.sync()
        return entries

    # The two halves of ``store_many`` for a caller that waits for fsyncs elsewhere (the
    # daemon's group committer): each writes, the returned PendingSync makes it durable. The
    # order is the contract: write_blobs, its sync, write_entries, its sync, then acknowledge.

    def write_blobs(self, raws: Sequence[bytes], hashes: Sequence[str] | None = None,
                    ) -> tuple[list[str], PendingSync]:
        self.check_same()  # not even blobs go into an archive this process did not open
        return self.blobs.write_many(raws, hashes)

    def write_entries(self, hashes: Sequence[str], items: Sequence[tuple[bytes, Receipt]],
                      wait: bool = True) -> tuple[list[LedgerEntry], PendingSync]:
        """Only once the blobs are durable (``sync`` of ``write_blobs`` returned)."""
        try:
            return self.ledger.write_many(
                [NewEntry(sha, len(raw), receipt)
                 for sha, (raw, receipt) in zip(hashes, items, strict=True)], wait)
        except ArchiveReplacedError as exc:  # checked again under the ledger's lock
            raise self._refused() from exc

    def store_record(self, kind: str, raw: bytes, receipt: Receipt) -> LedgerEntry:
        """Store a record that is not mail (an access-log entry) in the same chain."""
        self.check_same()
        (sha256,) = self.blobs.put_many([raw])
        return self._append(NewEntry(sha256, len(raw), receipt, kind=kind))

    def tombstone(self, sha256: str, receipt: Receipt) -> LedgerEntry:
        """Retention: record that a blob is removed, then remove it. The entry is durable
        before the blob goes, so a crash in between leaves a blob that is merely still there."""
        self.check_same()
        size = self.blobs.size_of(sha256) if self.blobs.exists(sha256) else 0
        entry = self._append(NewEntry(sha256, size, receipt, kind="tombstone"))
        self.blobs.remove(sha256)
        return entry

    def check_same(self) -> None:
        """Raise ArchiveReplacedError unless the archive at the path is the one pinned (a write
        pins it when none is yet). One ``stat``: done before every batch."""
        if not self._pinned:
            self.pin()
        elif (reason := self.ledger.replaced()) is not None:
            raise self._refused(reason)

    def _append(self, item: NewEntry) -> LedgerEntry:
        try:
            return self.ledger.append_many([item])[0]
        except ArchiveReplacedError as exc:
            raise self._refused() from exc

    def _refused(self, reason: str | None = None) -> ArchiveReplacedError:
        """The one line to stop on (read again only now: this is not the write path)."""
        held = self.archive_id.id if self.archive_id else "none"
        reason = reason or self.ledger.replaced() or "its ledger was replaced"
        try:
            found = self.read_id()
        except ArchiveIdentityError:
            found = None
        if self.root is not None and not self.root.exists():
            what = "the folder is gone"
        elif found is not None and found.id != held:
            what = f"found {found.id}"
        else:
            what = reason
        error = ArchiveReplacedError(
            f"archive at {self.root or self.ledger} is not the one this process opened "
            f"(id {held}, {what}); stopping: restore the archive or restart to open the new one")
        if self.on_replaced is not None:
            self.on_replaced(error)
        return error

    def read(self, sha256: str) -> bytes:
        return self.blobs.read(sha256)

    def entries(self, after_seq: int = 0, until_seq: int | None = None,
                ) -> Iterator[LedgerEntry]:
        """Entries with ``after_seq < seq <= until_seq``, in ledger order. Once pinned, only
        the pinned archive's: a foreign one's entries are not ours to file."""
        if self._pinned:
            self.check_same()
        return self.ledger.entries(after_seq, until_seq)

    def head(self) -> LedgerHead | None:
        if self._pinned:
            self.check_same()
        return self.ledger.head()

    def verify(
        self,
        progress: Callable[[int], None] | None = None,
        extra_check: EntryCheck | None = None,
        since: int = 0,
    ) -> VerifyReport:
        return verify_archive(self.ledger, self.blobs, progress, extra_check, since)
