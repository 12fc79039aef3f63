"""Immutable, content-addressed, tamper-evident archive of raw messages."""

from archive.blobstore import BlobStore, FilesystemBlobStore, sha256_hex
from archive.entries import GENESIS_HASH, LedgerEntry, Receipt
from archive.errors import ArchiveError, ArchiveWriteError, BlobNotFoundError, LedgerFormatError
from archive.ledger import FileLedger, Ledger, LedgerHead
from archive.store import Archive
from archive.verify import Inconsistency, VerifyReport

__all__ = [
    "GENESIS_HASH",
    "Archive",
    "ArchiveError",
    "ArchiveWriteError",
    "BlobNotFoundError",
    "BlobStore",
    "FileLedger",
    "FilesystemBlobStore",
    "Inconsistency",
    "Ledger",
    "LedgerEntry",
    "LedgerFormatError",
    "LedgerHead",
    "Receipt",
    "VerifyReport",
    "sha256_hex",
]
