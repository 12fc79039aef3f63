"""Exceptions of the archive package: one base class, each subclass says when it is raised."""


class ArchiveError(Exception):
    """Base class of every error the archive raises."""


class ArchiveWriteError(ArchiveError):
    """Raised when bytes could not be made durable (disk full, read-only folder, I/O error).

    Intakes answer it with a *temporary* failure (SMTP 451/452, IMAP: leave the message where it
    is, drop folder: keep the file), so the sender retries and nothing is lost.
    """


class BlobNotFoundError(ArchiveError):
    """Raised when a blob named by a ledger entry is not in the blob store."""


class LedgerFormatError(ArchiveError):
    """Raised when a ledger line cannot be read as an entry (altered, truncated or foreign data)."""
