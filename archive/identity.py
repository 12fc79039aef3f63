"""Which archive this is: a random id written once when the archive is created.

A process that opened an archive must never append to another one that later took its place
(the folder deleted or moved away and a new one made at the same path): it would file its
receipts into a ledger that is not the one its database mirrors. The id tells archives apart
across processes and restarts (the database keeps a copy, see gateway/installation.py); within a
process the open ledger file's (st_dev, st_ino) does, which costs one ``stat`` per batch.

The id is not part of the hash chain: binding it into the first entry or the genesis hash would
change every existing archive's seq 1 or its verification. A signed checkpoint still proves the
chain; the id only names the archive.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from archive.blobstore import describe_os_error, fsync_dir
from archive.errors import ArchiveIdentityError, ArchiveWriteError

ID_FILE = "archive-id.json"


@dataclass(frozen=True)
class ArchiveId:
    """The archive's name for itself: a random UUID and when it was made."""

    id: str
    created: str

    def to_bytes(self) -> bytes:
        return (json.dumps({"archive_id": self.id, "created": self.created}) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: Path) -> ArchiveId:
        try:
            value = json.loads(data)
            return cls(id=str(uuid.UUID(value["archive_id"])), created=str(value["created"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ArchiveIdentityError(
                f"the archive id file {where} is damaged ({exc}); restore it from a backup"
            ) from exc


def id_path(root: Path) -> Path:
    return Path(root) / ID_FILE


def read_archive_id(root: Path) -> ArchiveId | None:
    """The id of the archive at ``root``; None when it has none (made before ids existed)."""
    path = id_path(root)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ArchiveIdentityError(f"cannot read the archive id {path}: {exc.strerror}") from exc
    return ArchiveId.from_bytes(data, path)


def create_archive_id(root: Path) -> ArchiveId:
    """Give the archive at ``root`` an id, once: an id already there is kept and returned.

    Written to a temporary file, fsynced, then hard-linked into place: unlike a rename, a link
    never replaces a file, so two processes creating it at once agree on the first one.
    """
    root = Path(root)
    new = ArchiveId(str(uuid.uuid4()),
                    datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))
    tmp = root / f".{ID_FILE}.{uuid.uuid4().hex}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            os.write(fd, new.to_bytes())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, id_path(root))
        except FileExistsError:
            pass
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        fsync_dir(root)
    except OSError as exc:
        raise ArchiveWriteError(describe_os_error(exc, root)) from exc
    found = read_archive_id(root)
    if found is None:  # removed again at once: someone is tearing the folder down
        raise ArchiveIdentityError(f"the archive id {id_path(root)} vanished as it was written")
    return found
