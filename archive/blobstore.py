"""Content-addressed blob storage: the exact raw bytes, named by their sha256, never rewritten."""

from __future__ import annotations

import errno
import hashlib
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from archive.errors import ArchiveWriteError, BlobNotFoundError

_READ_CHUNK = 1 << 20


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore(Protocol):
    """Where blob bytes live. ``put_many`` returns only once every blob is durable."""

    def ensure(self) -> None: ...

    def put_many(self, blobs: Sequence[bytes]) -> list[str]: ...

    def read(self, sha256: str) -> bytes: ...

    def exists(self, sha256: str) -> bool: ...

    def hash_of_stored(self, sha256: str) -> str: ...

    def size_of(self, sha256: str) -> int: ...

    def describe(self) -> str: ...


def describe_os_error(exc: OSError, where: Path) -> str:
    """Turn an OSError into the one line an operator can act on."""
    if exc.errno == errno.ENOSPC:
        return f"disk full: no space left to write the archive at {where}; free space or move it"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"archive folder {where} is not writable ({exc.strerror}); fix its permissions"
    if exc.errno == errno.EDQUOT:
        return f"disk quota exceeded writing the archive at {where}"
    return f"cannot write the archive at {where}: {exc.strerror or exc}"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemBlobStore:
    """Blobs as read-only files ``blobs/<first two hex>/<sha256>`` below ``root``.

    A blob is written to ``tmp/``, fsynced, renamed into place and its folder fsynced: after a
    crash either the whole blob is there under its name or nothing is (tmp leftovers are ignored
    and cleaned). Writing the same bytes twice is a no-op, which makes every intake idempotent.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blob_dir = self.root / "blobs"
        self.tmp_dir = self.root / "tmp"

    def describe(self) -> str:
        return f"filesystem:{self.root}"

    def ensure(self) -> None:
        try:
            self.blob_dir.mkdir(parents=True, exist_ok=True)
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArchiveWriteError(describe_os_error(exc, self.root)) from exc

    def path_of(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.blob_dir / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).exists()

    def read(self, sha256: str) -> bytes:
        try:
            return self.path_of(sha256).read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFoundError(f"blob {sha256} is missing from {self.blob_dir}") from exc

    def size_of(self, sha256: str) -> int:
        try:
            return self.path_of(sha256).stat().st_size
        except FileNotFoundError as exc:
            raise BlobNotFoundError(f"blob {sha256} is missing from {self.blob_dir}") from exc

    def hash_of_stored(self, sha256: str) -> str:
        """Re-hash the stored file (streaming, so 50 MB blobs cost no memory)."""
        digest = hashlib.sha256()
        try:
            with open(self.path_of(sha256), "rb") as fh:
                while chunk := fh.read(_READ_CHUNK):
                    digest.update(chunk)
        except FileNotFoundError as exc:
            raise BlobNotFoundError(f"blob {sha256} is missing from {self.blob_dir}") from exc
        return digest.hexdigest()

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Make every blob durable; one folder fsync per touched shard, not one per blob."""
        self.ensure()
        hashes: list[str] = []
        dirty_dirs: set[Path] = set()
        new_shards = False
        try:
            for data in blobs:
                sha = sha256_hex(data)
                hashes.append(sha)
                final = self.path_of(sha)
                if final.exists():
                    continue
                shard = final.parent
                if not shard.exists():
                    shard.mkdir(exist_ok=True)
                    new_shards = True
                self._write_durably(data, final)
                dirty_dirs.add(shard)
            for shard in dirty_dirs:
                fsync_dir(shard)
            if new_shards:
                fsync_dir(self.blob_dir)
        except OSError as exc:
            raise ArchiveWriteError(describe_os_error(exc, self.root)) from exc
        return hashes

    def _write_durably(self, data: bytes, final: Path) -> None:
        tmp = self.tmp_dir / f"{final.name}.{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fchmod(fd, 0o444)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.rename(tmp, final)

    def clean_tmp(self) -> int:
        """Remove leftovers of writes that a crash interrupted (never acknowledged)."""
        removed = 0
        if self.tmp_dir.exists():
            for leftover in self.tmp_dir.iterdir():
                leftover.unlink(missing_ok=True)
                removed += 1
        return removed

    def iter_hashes(self) -> Iterator[str]:
        if not self.blob_dir.exists():
            return
        for shard in sorted(self.blob_dir.iterdir()):
            for blob in sorted(shard.iterdir()):
                yield blob.name

