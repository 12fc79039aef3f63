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


class ArchiveIdentityError(ArchiveError):
    """Raised when an archive's id file is damaged, or the archive is not the one expected
    (a database filed from another archive). The message is one actionable line."""


class ArchiveReplacedError(ArchiveWriteError):
    """Raised instead of writing when the archive at the open path is no longer the one this
    process opened (its ledger file replaced or gone, the folder re-created).

    A write error, so intakes answer it with a temporary failure like any other; unlike them it
    does not heal by retrying, and a daemon stops on it (``Archive.on_replaced``).
    """
