"""The one way an intake hands messages in: archive durably, queue, and only then let go.

``accept`` returns after the archive write is durable; the caller acknowledges upstream
(removes the dropped file, answers 250, moves the IMAP message) only after it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select, tuple_

from archive import LedgerEntry, Receipt, sha256_hex
from archive.blobstore import PendingSync
from gateway.config import Settings
from gateway.core import metrics
from gateway.core.context import Context
from gateway.db.models import LedgerReceipt

log = logging.getLogger(__name__)
# How long archived entries gather before they are queued in one database transaction. Nobody
# waits on it (the sender has its 250 already, the worker starts a little later); what it saves
# is interpreter time on the busy loop's GIL: a transaction costs ~2 ms of CPU plus ~0.07 ms per
# entry (SQLite, measured), i.e. ~0.19 ms per message at 300 messages/s with 50 ms windows and
# ~0.1 ms with 200 ms windows. 100 ms: the daemon's gap scan used to queue most entries of each
# window early (twice: it ran after every window, gateway/daemon/supervisor.py:_scan_due); now
# the recorder alone queues them, two windows where there were a window and a scan.
RECORD_GATHER_SECONDS = 0.1
# Batches up to this size are written on the event loop (a page-cache write, well under a
# millisecond) and only fsynced on a thread; larger ones go to a thread whole.
INLINE_WRITE_BYTES = 256 * 1024
FSYNC_THREADS = 8
# Archive batches in flight at once. Each costs two fsync rounds (blobs and their folders, then
# the ledger), so a delivery that finds every writer busy waits for one of them to finish both
# before its own batch starts. With two writers, four SMTP clients waited 4-5 ms per message on
# top of their own fsyncs (bench/smtp_accept.py, timed in the daemon); with four, 0.6-2.5 ms.
# Half the fsync threads: a batch of one message fsyncs its blob and its folder at once.
MAX_WRITERS = FSYNC_THREADS // 2


@dataclass(frozen=True)
class Delivery:
    raw: bytes
    receipt: Receipt

    @property
    def alias(self) -> str:
        return str(self.receipt.envelope.get("alias", ""))


@dataclass
class Accepted:
    entries: list[LedgerEntry] = field(default_factory=list)
    duplicates: int = 0


def accept(app: Context, deliveries: Sequence[Delivery], skip_known: bool = True) -> Accepted:
    """Archive ``deliveries`` and queue them for processing.

    With ``skip_known`` a message whose exact bytes are already archived for the same alias is
    not archived again (a re-run import, a file dropped twice): it counts as a duplicate.
    """
    result = Accepted()
    todo: list[Delivery] = []
    todo_hashes: list[str] = []  # computed once: the archive names the blobs by them
    keys = [(sha256_hex(d.raw), d.alias) for d in deliveries]
    known: set[tuple[str, str]] = set()
    if skip_known and keys:
        with app.db.session() as session:
            known = {(sha, alias) for sha, alias in session.execute(
                select(LedgerReceipt.sha256, LedgerReceipt.alias).where(
                    tuple_(LedgerReceipt.sha256, LedgerReceipt.alias).in_(set(keys))))}
    for key, delivery in zip(keys, deliveries, strict=True):
        if key in known:
            result.duplicates += 1
            continue
        known.add(key)
        todo.append(delivery)
        todo_hashes.append(key[0])
    for delivery in todo:
        metrics.count_accepted(delivery.receipt.transport)
    try:
        result.entries = app.archive.store_many([(d.raw, d.receipt) for d in todo],
                                                todo_hashes)
    except Exception:
        for delivery in todo:
            metrics.count_archive_failure(delivery.receipt.transport)
        raise
    for delivery in todo:
        metrics.count_archived(delivery.receipt.transport)
    # Durable from here on. Queueing is bookkeeping: if the database is unavailable now, the
    # next catch_up (the daemon's worker, the next import) finds these entries in the ledger
    # as entries without a database row, so the delivery still succeeds.
    try:
        app.queue(result.entries)
    except Exception as exc:
        log.warning("archived seq %s..%s but could not queue them in the database (%s); they "
                    "are filed from the ledger by the next catch-up (the running daemon, or "
                    "the next import)", result.entries[0].seq if result.entries else "-",
                    result.entries[-1].seq if result.entries else "-", first_line(exc))
    return result


class Intake(Protocol):
    """A source of mail run by the daemon (SMTP server, IMAP mailbox, drop folder)."""

    name: str

    async def start(self) -> None:
        """Begin taking mail; returns once the intake is listening or connected."""

    async def stop(self) -> None:
        """Stop taking new mail; a delivery in flight is either finished or refused (4xx)."""

    def status(self) -> str:
        """One line for the daemon's log: connected, listening, retrying ..."""

    def reconfigure(self, settings: Settings) -> None:
        """A SIGHUP applied new live settings (gateway/daemon/live.py): pick up what the
        intake copied at start (the SMTP intake: the aliases it takes mail for)."""


class GroupCommitter:
    """Lets concurrent deliveries (SMTP sessions, several mailboxes) share archive writes.

    Classic group commit: a delivery submitted while ``max_writers`` batches are being made
    durable waits and joins the next batch, so under load one fsync round covers many messages,
    and an idle system adds no waiting at all (the first delivery starts a batch at once).
    ``submit`` returns the ledger entry as soon as the message is durable (the caller may then
    acknowledge), or raises ArchiveWriteError, after which the caller must answer with a
    temporary failure.

    A batch goes through the archive's two halves in contract order: blobs written, blobs
    fsynced, ledger entries written, ledger fsynced. The writes are short and, for batches up to
    ``inline_bytes``, run right here on the loop; only the fsyncs wait on a worker thread. A
    worker thread that ran the whole write would have to win the interpreter lock back from the
    busy loop after each of its dozen or so system calls; this way it needs it twice.

    Queueing the entries for the worker runs behind, overlapping the next archive write: it is
    bookkeeping that ``catch_up`` repairs, so it must not delay the acknowledgement (nor fail
    it: during a database outage mail is still archived and acknowledged).
    """

    def __init__(self, app: Context, on_archived: Callable[[], None] = lambda: None,
                 max_batch: int = 256, max_writers: int = MAX_WRITERS,
                 inline_bytes: int = INLINE_WRITE_BYTES) -> None:
        self.app = app
        self.on_archived = on_archived
        self.max_batch = max_batch
        # More than one batch may be in flight: the fsyncs of one batch's ledger entries and of
        # the next batch's blobs then share the file system's journal commit.
        self.max_writers = max_writers
        self.inline_bytes = inline_bytes
        self._waiting: list[tuple[Delivery, asyncio.Future[LedgerEntry]]] = []
        self._unrecorded: list[LedgerEntry] = []
        self._writers: set[asyncio.Task[None]] = set()
        self._recorder: asyncio.Task[None] | None = None
        # How queueing in the database went: None before the first try. The worker reads
        # these to notice an outage it did not see itself, and its end.
        self.database_answers: bool | None = None
        self.record_failures = 0
        # While the recorder queues entries: since when (time.monotonic()) and how many; the
        # daemon's watchdog (gateway/daemon/health.py) sees a recorder that hangs by it.
        self.recording: tuple[float, int] | None = None
        # Each archive write in progress: since when and how many deliveries (the watchdog's
        # view of an archive that hangs, a dead network file system say).
        self._write_started: dict[asyncio.Task[None], tuple[float, int]] = {}
        # Archive work waits on threads of its own, clear of the recorder's database work on
        # the default executor.
        self._fsyncs: _FsyncThreads | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def submit(self, delivery: Delivery) -> LedgerEntry:
        return await self.submit_many([delivery])[0]

    def submit_many(self, deliveries: Sequence[Delivery]) -> list[asyncio.Future[LedgerEntry]]:
        """Queue deliveries for the same batch; each future resolves once its message is durable.

        Await every future (or ``asyncio.gather`` them with ``return_exceptions=True``).
        """
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[LedgerEntry]] = [loop.create_future() for _ in deliveries]
        for delivery in deliveries:
            metrics.count_accepted(delivery.receipt.transport)
        self._waiting.extend(zip(deliveries, futures, strict=True))
        self._start_writers()
        return futures

    async def drain(self) -> None:
        """Wait until everything submitted is archived and queued (for a clean shutdown)."""
        while busy := [t for t in (*self._writers, self._recorder) if t and not t.done()]:
            await asyncio.gather(*busy)

    def _start_writers(self) -> None:
        while self._waiting and len(self._writers) < self.max_writers:
            batch = self._waiting[: self.max_batch]
            del self._waiting[: self.max_batch]
            writer = asyncio.get_running_loop().create_task(self._write(batch))
            self._writers.add(writer)
            self._write_started[writer] = (time.monotonic(), len(batch))
            writer.add_done_callback(self._writer_done)

    def _writer_done(self, writer: asyncio.Task[None]) -> None:
        self._writers.discard(writer)
        self._write_started.pop(writer, None)
        self._start_writers()  # those who arrived meanwhile form the next batch

    async def _write(self, batch: list[tuple[Delivery, asyncio.Future[LedgerEntry]]]) -> None:
        try:
            entries = await self._store([(delivery.raw, delivery.receipt) for delivery, _ in batch])
        except Exception as exc:
            for delivery, future in batch:
                metrics.count_archive_failure(delivery.receipt.transport)
                if not future.done():
                    future.set_exception(exc)
            return
        for delivery, _ in batch:
            metrics.count_archived(delivery.receipt.transport)
        for (_, future), entry in zip(batch, entries, strict=True):
            if not future.done():
                future.set_result(entry)
        self._unrecorded.extend(entries)
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_batches())

    async def _store(self, items: list[tuple[bytes, Receipt]]) -> list[LedgerEntry]:
        """``Archive.store_many``, in the same order, with the waiting done off the loop."""
        archive = self.app.archive
        loop = asyncio.get_running_loop()
        raws = [raw for raw, _ in items]
        if sum(map(len, raws)) <= self.inline_bytes:
            hashes, blobs = archive.write_blobs(raws, [sha256_hex(raw) for raw in raws])
        else:  # hashing and copying megabytes would stall every session on the loop
            hashes, blobs = await loop.run_in_executor(self._pool(), archive.write_blobs, raws)
        await self._sync(blobs)
        try:
            entries, written = archive.write_entries(hashes, items, wait=False)
        except BlockingIOError:  # another writer holds the ledger: wait for it off the loop
            entries, written = await loop.run_in_executor(
                self._pool(), archive.write_entries, hashes, items)
        await self._sync(written)
        return entries

    async def _sync(self, pending: PendingSync) -> None:
        """All fsyncs of one step at once: the file system commits them together."""
        if self._fsyncs is None:
            self._fsyncs = _FsyncThreads(FSYNC_THREADS)
        pending.finish(await self._fsyncs.run(pending.jobs(FSYNC_THREADS)))

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(FSYNC_THREADS, thread_name_prefix="archive")
        return self._executor

    async def _record_batches(self) -> None:
        while self._unrecorded:
            # Let entries gather: one database transaction for many deliveries costs the
            # SMTP sessions far less interpreter time than one per batch (nobody waits on it).
            await asyncio.sleep(RECORD_GATHER_SECONDS)
            entries, self._unrecorded = self._unrecorded, []
            self.recording = (time.monotonic(), len(entries))
            try:
                await asyncio.to_thread(self.app.queue, entries)
            except Exception as exc:
                self._record_failed(entries, exc)
            else:
                if self.database_answers is False:
                    log.debug("queueing archived mail in the database works again")
                self.database_answers = True
            finally:
                self.recording = None
            self.on_archived()

    @property
    def writing_since(self) -> float | None:
        """When the oldest archive write in progress began (time.monotonic()), if any."""
        return min((since for since, _ in self._write_started.values()), default=None)

    @property
    def unarchived(self) -> int:
        """Deliveries waiting for, or in, an archive write (not yet acknowledged)."""
        return len(self._waiting) + sum(n for _, n in self._write_started.values())

    @property
    def unrecorded(self) -> int:
        """Archived entries not yet queued in the database (waiting, or being queued)."""
        return len(self._unrecorded) + (self.recording[1] if self.recording else 0)

    def _record_failed(self, entries: list[LedgerEntry], exc: Exception) -> None:
        """Dropped, not retried here: the worker's gap scan (``Processor.catch_up``) queues
        every ledger entry without a database row once the database answers. Said once per
        outage: under load a batch fails every ``RECORD_GATHER_SECONDS``."""
        self.record_failures += 1
        level = logging.DEBUG if self.database_answers is False else logging.WARNING
        self.database_answers = False
        log.log(level, "archived seq %d..%d but could not queue them in the database (%s); "
                "mail is still acknowledged, and what was not queued is filed from the ledger "
                "once the database answers", entries[0].seq, entries[-1].seq, first_line(exc))


def first_line(exc: BaseException) -> str:
    """The gist of an exception for a log line (a driver's error goes on with SQL and URLs)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _FsyncThreads:
    """Threads that run a group of fsyncs concurrently and wake the loop once for the group.

    ``run_in_executor`` per fsync would cost two futures, their chaining and one loop wake-up
    each; a message needs three fsyncs. The threads only ever block in the kernel.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._queue: queue.SimpleQueue[tuple[_FsyncGroup, int, Callable[[], None]]] = (
            queue.SimpleQueue())
        self._threads = 0
        self._idle = 0
        self._lock = threading.Lock()

    def run(self, jobs: Sequence[Callable[[], None]],
            ) -> asyncio.Future[list[BaseException | None]]:
        """Start ``jobs``; the future's result lists what each raised (None: it succeeded)."""
        loop = asyncio.get_running_loop()
        group = _FsyncGroup(loop, len(jobs))
        if not jobs:
            group.future.set_result([])
        for number, job in enumerate(jobs):
            self._queue.put((group, number, job))
        with self._lock:
            wanted = min(self.size, self._threads + len(jobs) - self._idle)
            start, self._threads = max(0, wanted - self._threads), max(self._threads, wanted)
        for _ in range(start):
            threading.Thread(target=self._work, name="archive-fsync", daemon=True).start()
        return group.future

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            group, number, job = self._queue.get()
            with self._lock:
                self._idle -= 1
            try:
                job()
            except BaseException as exc:
                group.done(number, exc)
            else:
                group.done(number, None)


class _FsyncGroup:
    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.loop = loop
        self.future: asyncio.Future[list[BaseException | None]] = loop.create_future()
        self.results: list[BaseException | None] = [None] * count
        self.remaining = count
        self.lock = threading.Lock()

    def done(self, number: int, error: BaseException | None) -> None:
        with self.lock:
            self.results[number] = error
            self.remaining -= 1
            last = self.remaining == 0
        if last:
            with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile
                self.loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if not self.future.done():
            self.future.set_result(self.results)
