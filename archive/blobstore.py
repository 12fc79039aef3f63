"""Content-addressed blob storage: the exact raw bytes, named by their sha256, never rewritten."""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import itertools
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from archive.errors import ArchiveWriteError, BlobNotFoundError

_READ_CHUNK = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore(Protocol):
    """Where blob bytes live. ``put_many`` returns only once every blob is durable."""

    def ensure(self) -> None: ...

    def put_many(self, blobs: Sequence[bytes]) -> list[str]: ...

    def write_many(self, blobs: Sequence[bytes], hashes: Sequence[str] | None = None,
                   ) -> tuple[list[str], PendingSync]: ...

    def read(self, sha256: str) -> bytes: ...

    def exists(self, sha256: str) -> bool: ...

    def hash_of_stored(self, sha256: str) -> str: ...

    def size_of(self, sha256: str) -> int: ...

    def describe(self) -> str: ...

    def clean_tmp(self, older_than: float = 3600.0) -> int: ...

    def remove(self, sha256: str) -> bool: ...


def describe_os_error(exc: OSError, where: Path) -> str:
    """Turn an OSError into the one line an operator can act on."""
    if exc.errno == errno.ENOSPC:
        return f"disk full: no space left to write the archive at {where}; free space or move it"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"archive folder {where} is not writable ({exc.strerror}); fix its permissions"
    if exc.errno == errno.EDQUOT:
        return f"disk quota exceeded writing the archive at {where}"
    return f"cannot write the archive at {where}: {exc.strerror or exc}"


def fsync_dir(path: Path | str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PendingSync:
    """Writes that are done but not yet durable: descriptors and folders still to fsync.

    ``sync`` fsyncs them one after the other and then closes the descriptors (``keep`` holds
    open files it fsyncs but does not own). A caller with threads to spare runs ``jobs``
    concurrently instead and passes what they raised to ``finish``: fsyncs issued together
    share one journal commit and one disk flush, where one after the other each waits for its
    own. Either way the descriptors are closed exactly once.
    """

    __slots__ = ("dirs", "fds", "keep", "on_error", "where")

    def __init__(self, fds: list[int], dirs: list[str], where: Path,
                 keep: Sequence[Any] = (), on_error: Callable[[], None] | None = None) -> None:
        self.fds = fds
        self.dirs = dirs
        self.where = where
        self.keep = keep
        self.on_error = on_error

    def jobs(self, parallel: int = 8) -> list[Callable[[], None]]:
        """At most ``parallel`` callables that together fsync everything (none closes)."""
        targets: list[Callable[[], None]] = [
            *(functools.partial(os.fsync, fd) for fd in self.fds),
            *(functools.partial(os.fsync, file.fileno()) for file in self.keep),
            *(functools.partial(fsync_dir, folder) for folder in self.dirs)]
        if len(targets) <= parallel:
            return targets
        return [functools.partial(_run_all, targets[n::parallel]) for n in range(parallel)]

    def sync(self) -> None:
        error: BaseException | None = None
        try:
            _run_all(self.jobs(parallel=1))
        except BaseException as exc:
            error = exc
        self.finish([error] if error else [])

    def finish(self, errors: Sequence[BaseException | None] = ()) -> None:
        """Close the descriptors; raise ArchiveWriteError if any fsync failed."""
        self.close()
        failures = [error for error in errors if error is not None]
        if not failures:
            return
        if self.on_error is not None:
            self.on_error()
        for error in failures:
            if isinstance(error, OSError):
                raise ArchiveWriteError(describe_os_error(error, self.where)) from error
        raise failures[0]

    def close(self) -> None:
        fds, self.fds, self.keep = self.fds, [], ()
        for fd in fds:
            os.close(fd)


def _run_all(calls: Sequence[Callable[[], None]]) -> None:
    for call in calls:
        call()


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
        self._ensured = False
        # The hot path builds paths as strings: pathlib objects cost more than the system calls.
        self._blob_prefix = f"{self.blob_dir}/"
        self._tmp_prefix = f"{self.tmp_dir}/"
        self._tmp_tag = uuid.uuid4().hex[:12]
        self._tmp_counter = itertools.count()

    def describe(self) -> str:
        return f"filesystem:{self.root}"

    def ensure(self) -> None:
        if self._ensured:
            return
        try:
            self.blob_dir.mkdir(parents=True, exist_ok=True)
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            # All 256 shard folders up front: a batch then only adds files, never folders.
            missing = [self.blob_dir / f"{n:02x}" for n in range(256)
                       if not (self.blob_dir / f"{n:02x}").is_dir()]
            for shard in missing:
                shard.mkdir(exist_ok=True)
            if missing:
                fsync_dir(self.blob_dir)
        except OSError as exc:
            raise ArchiveWriteError(describe_os_error(exc, self.root)) from exc
        self._ensured = True

    def path_of(self, sha256: str) -> Path:
        return Path(self._file_of(sha256))

    def _file_of(self, sha256: str) -> str:
        """The blob's file as a string (pathlib costs more than the read on small mail); only
        a real digest gets a path, so nothing from outside can name another file."""
        if not _HEX64.fullmatch(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return f"{self._blob_prefix}{sha256[:2]}/{sha256}"

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).exists()

    def read(self, sha256: str) -> bytes:
        try:
            with open(self._file_of(sha256), "rb", buffering=0) as stream:
                return stream.readall()
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

    def remove(self, sha256: str) -> bool:
        """Delete a blob (retention expiry, after its tombstone is durable); False if absent."""
        path = self.path_of(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise ArchiveWriteError(describe_os_error(exc, path)) from exc
        fsync_dir(path.parent)
        return True

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Make every blob durable: write and rename them all, then fsync files and folders.

        Every blob file and every touched folder is fsynced before this returns, as POSIX
        requires. Because nothing is fsynced while the batch is being written, the file system
        commits the whole batch (data and renames) at the first fsync (ext4 and XFS journal it
        as one transaction) and the remaining fsyncs find nothing left to do: a batch costs
        about one disk flush instead of one or two per message (group commit).

        A crash before the fsyncs may leave a blob under its final name with incomplete
        content. It was never acknowledged, and it is never trusted: a blob found already in
        place is re-hashed and rewritten if it does not match its name.
        """
        hashes, pending = self.write_many(blobs)
        pending.sync()
        return hashes

    def write_many(self, blobs: Sequence[bytes], hashes: Sequence[str] | None = None,
                   ) -> tuple[list[str], PendingSync]:
        """The first half of ``put_many``: every blob in place under its name, not yet durable.

        Returns the hashes (``hashes`` when the caller already computed them) and what is left
        to fsync. Only short, non-blocking-in-practice calls happen here (stat, create, write
        to the page cache, rename): a caller may run this half where waiting is expensive and
        only ``PendingSync.sync`` on a thread of its own.
        """
        self.ensure()
        if hashes is None:
            hashes = [sha256_hex(data) for data in blobs]
        fds: list[int] = []  # kept open after the rename: fsync needs no second open
        shards: dict[str, None] = {}  # ordered set of the folders to fsync
        done: set[str] = set()
        try:
            for data, sha in zip(blobs, hashes, strict=True):
                if sha in done:
                    continue
                done.add(sha)
                shard = f"{self._blob_prefix}{sha[:2]}"
                final = f"{shard}/{sha}"
                shards[shard] = None
                if self._intact_at(final, sha, len(data)):
                    # Stored before: fsynced all the same, it may not be durable yet.
                    fds.append(os.open(final, os.O_RDONLY))
                    continue
                tmp, fd = self._write_tmp(data, sha)
                fds.append(fd)
                try:
                    os.rename(tmp, final)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            raise ArchiveWriteError(describe_os_error(exc, self.root)) from exc
        return list(hashes), PendingSync(fds, list(shards), self.root)

    def _intact_at(self, path: str, sha256: str, size: int) -> bool:
        """True when a blob is already stored under ``path`` with the right size and hash."""
        try:
            if os.stat(path).st_size != size:
                return False
            return self.hash_of_stored(sha256) == sha256
        except (OSError, BlobNotFoundError):
            return False

    def _write_tmp(self, data: bytes, name: str) -> tuple[str, int]:
        """Write ``data`` to a new temporary file; returns its path and its open descriptor."""
        # Unique without a system call: a random part per store object, then a counter.
        tmp = f"{self._tmp_prefix}{name}.{self._tmp_tag}{next(self._tmp_counter)}.tmp"
        # Created read-only: the descriptor is still writable, later opens for writing are not.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return tmp, fd

    def clean_tmp(self, older_than: float = 3600.0) -> int:
        """Remove leftovers of writes a crash interrupted (never acknowledged). Only old ones:
        another process may be writing the young ones right now."""
        removed = 0
        cutoff = time.time() - older_than
        if self.tmp_dir.exists():
            for leftover in self.tmp_dir.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if leftover.stat().st_mtime < cutoff:
                        leftover.unlink()
                        removed += 1
        return removed

    def iter_hashes(self) -> Iterator[str]:
        if not self.blob_dir.exists():
            return
        for shard in sorted(self.blob_dir.iterdir()):
            for blob in sorted(shard.iterdir()):
                yield blob.name

