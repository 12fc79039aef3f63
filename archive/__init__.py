"""Immutable, content-addressed, tamper-evident archive of raw messages."""

from archive.blobstore import BlobStore, FilesystemBlobStore, sha256_hex
from archive.checkpoints import (
    Checkpoint,
    CheckpointError,
    KeyLocationError,
    generate_key,
    inclusion_proof,
    load_checkpoints,
    public_key_path,
    verify_checkpoints,
    verify_inclusion,
    write_checkpoint,
)
from archive.entries import GENESIS_HASH, LedgerEntry, Receipt
from archive.errors import (
    ArchiveError,
    ArchiveIdentityError,
    ArchiveReplacedError,
    ArchiveWriteError,
    BlobNotFoundError,
    LedgerFormatError,
)
from archive.identity import ArchiveId
from archive.ledger import FileLedger, Ledger, LedgerHead
from archive.store import Archive
from archive.verify import Inconsistency, VerifyReport

__all__ = [
    "GENESIS_HASH",
    "Archive",
    "ArchiveError",
    "ArchiveId",
    "ArchiveIdentityError",
    "ArchiveReplacedError",
    "ArchiveWriteError",
    "BlobNotFoundError",
    "BlobStore",
    "Checkpoint",
    "CheckpointError",
    "FileLedger",
    "FilesystemBlobStore",
    "Inconsistency",
    "KeyLocationError",
    "Ledger",
    "LedgerEntry",
    "LedgerFormatError",
    "LedgerHead",
    "Receipt",
    "VerifyReport",
    "generate_key",
    "inclusion_proof",
    "load_checkpoints",
    "public_key_path",
    "sha256_hex",
    "verify_checkpoints",
    "verify_inclusion",
    "write_checkpoint",
]
