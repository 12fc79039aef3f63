"""The append-only, hash-chained ledger of every receipt (one JSON line per entry)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from archive.blobstore import PendingSync, describe_os_error, fsync_dir
from archive.entries import (
    GENESIS_HASH,
    LedgerEntry,
    Receipt,
    compute_entry_hash,
    in_key_order,
)
from archive.errors import ArchiveReplacedError, ArchiveWriteError, LedgerFormatError

log = logging.getLogger(__name__)

_SEQ_PREFIX = re.compile(rb'^\{"seq":(\d+),')
_TAIL_CHUNK = 64 * 1024
# Must stay what LedgerEntry.to_line writes: compact, UTF-8 as is, keys in insertion order
# (the envelope's in sorted order, see in_key_order).
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class LedgerHead:
    seq: int
    entry_hash: str


@dataclass(frozen=True)
class NewEntry:
    """What the archive asks the ledger to record for one blob."""

    sha256: str
    size: int
    receipt: Receipt
    kind: str = "receipt"


@dataclass(frozen=True)
class LedgerLine:
    """A raw ledger line and where it stood, for ``verify`` (which must see damaged lines)."""

    number: int
    raw: bytes


class Ledger(Protocol):

    def ensure(self) -> None: ...
    def pin(self) -> None: ...
    def replaced(self) -> str | None: ...

    def append_many(self, items: Sequence[NewEntry]) -> list[LedgerEntry]: ...

    def write_many(self, items: Sequence[NewEntry], wait: bool = True,
                   ) -> tuple[list[LedgerEntry], PendingSync]: ...

    def entries(self, after_seq: int = 0, until_seq: int | None = None,
                ) -> Iterator[LedgerEntry]: ...

    def raw_lines(self) -> Iterator[LedgerLine]: ...

    def head(self) -> LedgerHead | None: ...

    def close(self) -> None: ...


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class FileLedger:
    """``ledger.jsonl`` in ``root``, appended under an exclusive ``flock`` and fsynced.

    Several processes (the daemon and a CLI import) may append at once: the lock serialises
    them, and each re-reads the tail when the file grew behind its back, so sequence numbers and
    the hash chain stay gapless.

    The first ledger file opened is the one this object writes to for good: should another file
    take its path (the folder deleted and re-created, a copy restored over it), writes raise
    ArchiveReplacedError rather than follow the path into an archive this process never opened.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / "ledger.jsonl"
        self.lock_path = self.root / "ledger.lock"
        self._thread_lock = threading.Lock()
        self._cached: tuple[int, LedgerHead | None] | None = None  # (file size, head)
        self._ensured = False
        # Kept open between appends (each open and close is a system call on the hot path).
        self._lock_file: Any = None
        self._file: Any = None
        # (st_dev, st_ino) of the ledger file first opened; never changes once set.
        self._identity: tuple[int, int] | None = None

    def ensure(self) -> None:
        if self._ensured:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                self.path.touch()
                fsync_dir(self.root)
        except OSError as exc:
            raise ArchiveWriteError(describe_os_error(exc, self.root)) from exc
        self._ensured = True

    def pin(self) -> None:
        """Open the ledger now, making it the file this object writes to (at start-up)."""
        self.ensure()
        with self._thread_lock:
            try:
                self._open_files()
            except OSError as exc:
                self._raise_if_replaced()
                raise ArchiveWriteError(describe_os_error(exc, self.root)) from exc
            self._raise_if_replaced()  # pinned before: still that file?

    def replaced(self) -> str | None:
        """Why the file at ``path`` is not the pinned ledger (None: it is, or none is pinned).

        One ``stat``: cheap enough to ask before every batch.
        """
        if self._identity is None:
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return self._gone()
        except OSError:
            return None  # not a different file: the write that follows reports the error
        if (st.st_dev, st.st_ino) != self._identity:
            return self._swapped()
        return None

    def append_many(self, items: Sequence[NewEntry]) -> list[LedgerEntry]:
        """Append entries; return once they are fsynced.

        The lock covers only numbering, chaining and the write; the fsync comes after it is
        released. Concurrent writers then overlap their fsyncs and share the file system's
        journal commits instead of queueing one flush each behind the lock (group commit).
        An entry is durable when the fsync that follows its own write returns; entries a crash
        leaves written but not acknowledged are complete and valid (their blobs were durable
        before they were written), so the chain stays sound.
        """
        entries, pending = self.write_many(items)
        pending.sync()
        return entries

    def write_many(self, items: Sequence[NewEntry], wait: bool = True,
                   ) -> tuple[list[LedgerEntry], PendingSync]:
        """The first half of ``append_many``: entries numbered, chained and written, not fsynced.

        Only call it once the blobs the entries name are durable. With ``wait=False`` it raises
        BlockingIOError instead of waiting when another process or thread is appending, so a
        caller on an event loop can retry on a thread. The returned ``PendingSync`` must be
        synced before anyone is told the entries are stored.
        """
        if not items:
            return [], PendingSync([], [], self.root)
        self.ensure()
        if not self._thread_lock.acquire(blocking=wait):
            raise BlockingIOError(errno.EWOULDBLOCK, "another thread is appending")
        try:
            for _ in range(3):
                try:
                    lock, ledger = self._open_files()
                    fcntl.flock(lock.fileno(),
                                fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
                except (BlockingIOError, ArchiveReplacedError):
                    raise
                except OSError as exc:
                    self._raise_if_replaced()
                    raise ArchiveWriteError(describe_os_error(exc, self.root)) from exc
                try:
                    # Checked under the lock on every write: had someone replaced the ledger (a
                    # re-created archive folder), the path would lead to an archive this process
                    # never opened, and the open descriptor to a file nobody reads any more:
                    # refuse. Had someone deleted or replaced the lock file, the lock held would
                    # be one other writers no longer take: take the current one.
                    try:
                        st = os.stat(self.path)
                    except FileNotFoundError:
                        raise self._refusal(self._gone()) from None
                    if (st.st_dev, st.st_ino) != self._identity:
                        raise self._refusal(self._swapped())
                    if self._holds_current_lock(lock):
                        entries = self._write_locked(ledger, st.st_size, items)
                        break
                except OSError as exc:
                    raise ArchiveWriteError(describe_os_error(exc, self.root)) from exc
                finally:
                    with contextlib.suppress(OSError):
                        fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
                lock.close()
                self._lock_file = None
            else:
                raise ArchiveWriteError(f"the ledger lock {self.lock_path} keeps being replaced")
        finally:
            self._thread_lock.release()
        # ``keep`` holds the file object: closed meanwhile, it still stays open for the fsync.
        return entries, PendingSync([], [], self.root, keep=(ledger,), on_error=self._forget_head)

    def close(self) -> None:
        """Close the ledger and lock files (they are also closed when the object is collected)."""
        with self._thread_lock:
            for file in (self._lock_file, self._file):
                if file is not None:
                    file.close()
            self._lock_file = self._file = None
            self._cached = None

    def _forget_head(self) -> None:
        self._cached = None

    def _gone(self) -> str:
        return f"its ledger {self.path} is gone"

    def _swapped(self) -> str:
        return f"its ledger {self.path} was replaced"

    @staticmethod
    def _refusal(reason: str) -> ArchiveReplacedError:
        return ArchiveReplacedError(
            f"{reason}: this process will not write to a ledger it did not open; stopping: "
            f"restore the archive or restart to open the new one")

    def _raise_if_replaced(self) -> None:
        reason = self.replaced()
        if reason is not None:
            raise self._refusal(reason)

    def _holds_current_lock(self, lock: Any) -> bool:
        try:
            return os.path.samestat(os.fstat(lock.fileno()), os.stat(self.lock_path))
        except FileNotFoundError:
            return False

    def _open_files(self) -> tuple[Any, Any]:
        """The lock file and the ledger, opened once and kept open (under ``_thread_lock``)."""
        if self._lock_file is None:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._lock_file = os.fdopen(fd, "rb", buffering=0)
        if self._file is None:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
            st = os.fstat(fd)
            if self._identity not in (None, (st.st_dev, st.st_ino)):
                os.close(fd)  # closed by close(), and now another file: never write to it
                raise self._refusal(self._swapped())
            self._identity = (st.st_dev, st.st_ino)
            self._file = os.fdopen(fd, "rb", buffering=0)
        return self._lock_file, self._file

    def _write_locked(self, ledger: Any, size: int, items: Sequence[NewEntry],
                      ) -> list[LedgerEntry]:
        """Number, chain and write the entries to ``ledger``, which is ``size`` bytes long."""
        fd = ledger.fileno()
        if self._cached and self._cached[0] == size:
            head = self._cached[1]  # the file is as this object left it: nothing to re-read
        else:
            size = self._drop_torn_tail(fd)
            head = self._read_head(fd, size)
        seq, prev = (head.seq, head.entry_hash) if head else (0, GENESIS_HASH)
        now = utc_now_iso()
        entries: list[LedgerEntry] = []
        lines: list[str] = []
        for item in items:
            seq += 1
            fields = {
                "seq": seq,
                "time": now,
                "kind": item.kind,
                "sha256": item.sha256,
                "size": item.size,
                "direction": item.receipt.direction,
                "transport": item.receipt.transport,
                "envelope": in_key_order(item.receipt.envelope),
                "prev_hash": prev,
            }
            prev = compute_entry_hash(fields)
            entries.append(LedgerEntry(**fields, entry_hash=prev))
            # What LedgerEntry.to_line writes (seq first), without building the dict again.
            fields["entry_hash"] = prev
            lines.append(_LINE_ENCODER.encode(fields))
        payload = ("\n".join(lines) + "\n").encode()
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            # Nothing of this batch was acknowledged: cut whatever part did reach the file so
            # the next writer starts from a clean tail (or, failing that, drops it as torn).
            self._cached = None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
        self._cached = (size + len(payload), LedgerHead(seq, prev))
        return entries

    def _drop_torn_tail(self, fd: int) -> int:
        """A line without its newline was cut by a crash before fsync returned: never acked."""
        size = os.fstat(fd).st_size
        if size == 0:
            return 0
        last = os.pread(fd, 1, size - 1)
        if last == b"\n":
            return size
        start = max(0, size - _TAIL_CHUNK)
        while True:
            chunk = os.pread(fd, size - start, start)
            cut = chunk.rfind(b"\n")
            if cut >= 0 or start == 0:
                keep = start + cut + 1 if cut >= 0 else 0
                break
            start = max(0, start - _TAIL_CHUNK)
        log.warning("ledger %s: removing a torn final line (%d bytes) left by a crash",
                    self.path, size - keep)
        os.ftruncate(fd, keep)
        os.fsync(fd)
        self._cached = None
        return keep

    def _read_head(self, fd: int, size: int) -> LedgerHead | None:
        if size == 0:
            return None
        end = size - 1  # position of the final newline
        start = max(0, end - _TAIL_CHUNK)
        while True:
            chunk = os.pread(fd, end - start, start)
            cut = chunk.rfind(b"\n")
            if cut >= 0 or start == 0:
                line = chunk[cut + 1 :] if cut >= 0 else chunk
                break
            start = max(0, start - _TAIL_CHUNK)
        entry = LedgerEntry.from_line(line)
        return LedgerHead(entry.seq, entry.entry_hash)

    def head(self) -> LedgerHead | None:
        if not self.path.exists():
            return None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            # A torn tail is not an entry: read the head from the last complete line.
            data_end = size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                tail = os.pread(fd, min(size, _TAIL_CHUNK), max(0, size - _TAIL_CHUNK))
                data_end = size - (len(tail) - tail.rfind(b"\n") - 1)
            return self._read_head(fd, data_end)
        finally:
            os.close(fd)

    def raw_lines(self) -> Iterator[LedgerLine]:
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                yield LedgerLine(number, raw)

    def entries(self, after_seq: int = 0, until_seq: int | None = None,
                ) -> Iterator[LedgerEntry]:
        """Complete entries with ``after_seq < seq <= until_seq`` (no upper bound if None).

        Reading starts near the first wanted line, found by bisecting the file on the ``seq``
        each line starts with, so a few entries in the middle of a long ledger cost a few
        reads, not a pass over every line before them; skipped lines are not even parsed.
        """
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            start = self._offset_of_seq(fh, after_seq + 1) if after_seq > 0 else 0
            fh.seek(start)
            number = None if start else 0  # line numbers are only known from the top
            for raw in fh:
                number = None if number is None else number + 1
                if not raw.endswith(b"\n"):
                    return  # torn tail: not an entry
                match = _SEQ_PREFIX.match(raw)
                if match:
                    seq = int(match.group(1))
                    if seq <= after_seq:
                        continue
                    if until_seq is not None and seq > until_seq:
                        return
                try:
                    entry = LedgerEntry.from_line(raw)
                except LedgerFormatError:
                    log.error("ledger %s line %s is unreadable; run 'commgate archive verify'",
                              self.path, number if number is not None else f"at byte {start}+")
                    raise
                if until_seq is not None and entry.seq > until_seq:
                    return
                yield entry

    def _offset_of_seq(self, fh: Any, seq: int) -> int:
        """A line start at or before the line of ``seq`` (0 when unsure).

        Lines are in ``seq`` order, so bisecting on byte offsets finds it in about log2(size)
        small reads. A line whose ``seq`` cannot be read (a damaged ledger) makes it give up
        and return 0: reading from the top is slow but always right.
        """
        low, high = 0, os.fstat(fh.fileno()).st_size  # low: a line start before ``seq``
        while high - low > _TAIL_CHUNK:
            middle = (low + high) // 2
            fh.seek(middle)
            fh.readline()  # the rest of the line ``middle`` falls in
            line_start = fh.tell()
            match = _SEQ_PREFIX.match(fh.read(32))
            if line_start >= high:
                high = middle
            elif match is None:
                return 0
            elif int(match.group(1)) < seq:
                low = line_start
            else:
                high = middle
        return low
