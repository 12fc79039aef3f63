"""Writing an evidence package's zip: strictly in sequence, hashed on the way out, with the
message bytes copied by a thread of their own while the reports are rendered.

Where the time goes, and why the work is split this way: an export of mail with attachments
is dominated by byte work (reading each blob, re-checking its sha256, the zip's CRC-32,
hashing the package itself, writing it), and every one of those runs in C without the GIL.
So the messages are copied by one thread while the caller renders the CSV and HTML reports
(pure Python), and the package's own sha256 and the file writes run in a third: the two
cores of a small server both work, and nothing is read or written twice.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import tempfile
import threading
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from gateway.core.errors import EvidenceError as EvidenceError  # re-exported

# Small writes (zip headers, small messages) are gathered into pieces of this size before the
# writer thread takes them: one hand-over per piece, not per write.
_PIECE = 1 << 20
# Pieces waiting for the writer thread: bounds the memory an export holds in flight.
_PIECES_IN_FLIGHT = 4


def write_failure(exc: OSError, path: Path) -> EvidenceError:
    """The one line an operator can act on when the package cannot be written."""
    folder = path.parent
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        why = ("disk full" if exc.errno == errno.ENOSPC else "disk quota exceeded"
               if exc.errno == errno.EDQUOT else "file size limit reached")
        return EvidenceError(f"{why} writing the evidence package in {folder}; free space "
                             "or export to another folder (-o)")
    return EvidenceError(f"cannot write the evidence package in {folder}: "
                         f"{exc.strerror or exc}")


class HashingSink:
    """The zip's file, written strictly in sequence and hashed on the way out.

    ``write`` only hands the bytes over: a thread of its own hashes and writes them, in the
    order given. It has no ``seek`` or ``tell``, so zipfile writes each member once, with its
    CRC and sizes in a data descriptor after it, instead of seeking back to rewrite its header.
    The package's sha256 comes from the bytes as written, without reading the file again.
    A failed write (a full disk) is raised by the next ``write`` or by ``close``.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        # Unbuffered: the pieces are large already, and an abandoned package has nothing
        # left in a buffer to flush (into a disk that may be full) when it is closed.
        self.file = open(fd, "wb", buffering=0)  # noqa: SIM115 - closed by close()
        self.digest = hashlib.sha256()
        self.size = 0
        self._pending = bytearray()
        self._pieces: queue.Queue[bytes | bytearray | None] = queue.Queue(_PIECES_IN_FLIGHT)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="evidence-writer",
                                        daemon=True)
        self._thread.start()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        size = len(data)
        self.size += size
        if size >= _PIECE // 4:
            self._hand_over_pending()
            # zipfile passes the caller's bytes on; anything mutable is copied once here.
            self._hand_over(data if type(data) is bytes else bytes(data))
        else:
            self._pending += data
            if len(self._pending) >= _PIECE:
                self._hand_over_pending()
        return size

    def flush(self) -> None:
        """Called by zipfile; the bytes are flushed to the file by ``close``."""

    def close(self) -> None:
        """Write everything handed over, fsync the file and close it."""
        if self._thread.is_alive():
            self._hand_over_pending()
            self._pieces.put(None)
            self._thread.join()
        try:
            if self._error is not None:
                raise self._error
            os.fsync(self.file.fileno())
        except OSError as exc:
            raise write_failure(exc, self.path) from exc
        finally:
            self.file.close()

    def discard(self) -> None:
        """Stop without writing what is still pending (the package is being abandoned)."""
        self._pending = bytearray()
        if self._thread.is_alive():
            self._error = self._error or EvidenceError("package abandoned")
            self._pieces.put(None)
            self._thread.join()
        self.file.close()

    def _hand_over_pending(self) -> None:
        if self._pending:
            piece, self._pending = self._pending, bytearray()
            self._hand_over(piece)

    def _hand_over(self, piece: bytes | bytearray) -> None:
        if self._error is not None:
            raise self._error
        self._pieces.put(piece)

    def _drain(self) -> None:
        while (piece := self._pieces.get()) is not None:
            if self._error is None:  # after a failure, keep taking pieces so no put blocks
                try:
                    self.digest.update(piece)
                    view = memoryview(piece)
                    while view:
                        view = view[self.file.write(view):]
                except OSError as exc:
                    self._error = write_failure(exc, self.path)
                    self._error.__cause__ = exc
                except BaseException as exc:  # re-raised in the thread that writes
                    self._error = exc


class PackageWriter:
    """Writes members into a temporary zip beside the destination, remembering each sha256."""

    def __init__(self, out_path: Path, exported_at: str) -> None:
        self.out_path = out_path
        try:
            fd, name = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.",
                                        suffix=".partial")
        except OSError as exc:
            raise write_failure(exc, out_path) from exc
        self.tmp = Path(name)
        self.sink = HashingSink(self.tmp, fd)
        self.zip = zipfile.ZipFile(self.sink, "w", allowZip64=True)
        stamp = exported_at[:19]
        self.date_time = (int(stamp[0:4]), int(stamp[5:7]), int(stamp[8:10]),
                          int(stamp[11:13]), int(stamp[14:16]), int(stamp[17:19]))
        self.digests: dict[str, str] = {}
        self._stop = threading.Event()
        self._copier: ThreadPoolExecutor | None = None

    def add(self, name: str, data: bytes, compress: bool = True,
            digest: str | None = None) -> str:
        info = zipfile.ZipInfo(name, self.date_time)
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        # Level 1: the text members (mostly hex digests) shrink nearly as much as at the
        # default level 6, at a third of the time.
        self.zip.writestr(info, data, compresslevel=1 if compress else None)
        self.digests[name] = digest or hashlib.sha256(data).hexdigest()
        return name

    def add_message(self, name: str, seq: int, sha256: str, raw: bytes) -> None:
        actual = hashlib.sha256(raw).hexdigest()
        if actual != sha256:
            raise EvidenceError(f"the archived bytes of seq {seq} hash to {actual}, not to "
                                f"{sha256}: run 'commgate archive verify'")
        # Stored, not deflated: the bytes stay as they are and export runs at copying speed.
        self.add(name, raw, compress=False, digest=sha256)

    def start_messages(self, read: Callable[[str], bytes],
                       messages: Sequence[tuple[str, int, str]]) -> Future[int]:
        """Copy ``(member name, seq, sha256)`` messages from the archive into the zip on a
        thread of their own; the future gives the bytes copied (or raises what went wrong).
        No other member may be added until it is done."""
        self._copier = ThreadPoolExecutor(1, thread_name_prefix="evidence-messages")
        return self._copier.submit(self._copy_messages, read, messages)

    def _copy_messages(self, read: Callable[[str], bytes],
                       messages: Sequence[tuple[str, int, str]]) -> int:
        copied = 0
        for name, seq, sha256 in messages:
            if self._stop.is_set():
                raise EvidenceError("package abandoned")
            raw = read(sha256)
            self.add_message(name, seq, sha256, raw)
            copied += len(raw)
        return copied

    def finish(self, sums_name: str) -> tuple[str, int]:
        """Add the checksum list, make the zip durable and link it into place."""
        self._stop_copier()
        sums = "".join(f"{digest}  {name}\n" for name, digest in self.digests.items())
        self.add(sums_name, sums.encode("utf-8"))
        self.zip.close()
        try:
            self.sink.close()
            os.link(self.tmp, self.out_path)  # fails rather than overwrite a file made meanwhile
        except FileExistsError as exc:
            raise EvidenceError(f"{self.out_path} appeared while exporting; not overwritten"
                                ) from exc
        except OSError as exc:
            raise write_failure(exc, self.out_path) from exc
        finally:
            self.tmp.unlink(missing_ok=True)
        return self.sink.digest.hexdigest(), self.sink.size

    def abort(self) -> None:
        self._stop.set()
        self._stop_copier()
        try:
            with contextlib.suppress(Exception):  # abandoned anyway; the first error is raised
                self.zip.close()
        finally:
            self.sink.discard()
            self.tmp.unlink(missing_ok=True)

    def _stop_copier(self) -> None:
        if self._copier is not None:
            self._copier.shutdown(wait=True)
            self._copier = None
