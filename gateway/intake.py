"""The one way an intake hands messages in: archive durably, queue, and only then let go.

``accept`` returns after the archive write is durable; the caller acknowledges upstream
(removes the dropped file, answers 250, moves the IMAP message) only after it returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select, tuple_

from archive import LedgerEntry, Receipt, sha256_hex
from gateway.app import App
from gateway.models import LedgerReceipt

log = logging.getLogger(__name__)
RECORD_GATHER_SECONDS = 0.05


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


def accept(app: App, deliveries: Sequence[Delivery], skip_known: bool = True) -> Accepted:
    """Archive ``deliveries`` and queue them for processing.

    With ``skip_known`` a message whose exact bytes are already archived for the same alias is
    not archived again (a re-run import, a file dropped twice): it counts as a duplicate.
    """
    result = Accepted()
    todo: list[Delivery] = []
    keys = [(sha256_hex(d.raw), d.alias) for d in deliveries]
    known: set[tuple[str, str]] = set()
    if skip_known and keys:
        with app.db.session() as session:
            known = {tuple(row) for row in session.execute(
                select(LedgerReceipt.sha256, LedgerReceipt.alias).where(
                    tuple_(LedgerReceipt.sha256, LedgerReceipt.alias).in_(set(keys))))}
    for key, delivery in zip(keys, deliveries, strict=True):
        if key in known:
            result.duplicates += 1
            continue
        known.add(key)
        todo.append(delivery)
    result.entries = app.archive.store_many([(d.raw, d.receipt) for d in todo])
    # Durable from here on. Queueing is bookkeeping: if the database is unavailable now, the
    # worker's catch_up finds these entries in the ledger later, so the delivery still succeeds.
    try:
        app.processor.record(result.entries)
    except Exception as exc:
        log.warning("archived seq %s..%s but could not queue them yet (%s); they are picked up "
                    "from the ledger later", result.entries[0].seq if result.entries else "-",
                    result.entries[-1].seq if result.entries else "-", exc)
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


class GroupCommitter:
    """Lets concurrent deliveries (SMTP sessions, several mailboxes) share archive writes.

    Whoever submits while a write is in flight joins the next batch, so under load one fsync
    round covers many messages and an idle system adds no waiting at all. ``submit`` returns
    the ledger entry as soon as the message is durable (the caller may then acknowledge), or
    raises ArchiveWriteError, after which the caller must answer with a temporary failure.
    Queueing the entries for the worker runs behind, overlapping the next archive write: it is
    bookkeeping that ``catch_up`` repairs, so it must not delay the acknowledgement.
    """

    def __init__(self, app: App, on_archived: Callable[[], None] = lambda: None,
                 max_batch: int = 256, max_writers: int = 4) -> None:
        self.app = app
        self.on_archived = on_archived
        self.max_batch = max_batch
        # A few batches may be in flight at once: their fsyncs then share the file system's
        # journal commits instead of queueing behind each other; the ledger serialises only
        # its own short append.
        self.max_writers = max_writers
        self._waiting: list[tuple[Delivery, asyncio.Future[LedgerEntry]]] = []
        self._unrecorded: list[LedgerEntry] = []
        self._writers: set[asyncio.Task[None]] = set()
        self._recorder: asyncio.Task[None] | None = None

    async def submit(self, delivery: Delivery) -> LedgerEntry:
        future: asyncio.Future[LedgerEntry] = asyncio.get_running_loop().create_future()
        self._waiting.append((delivery, future))
        if len(self._writers) < self.max_writers:
            writer = asyncio.create_task(self._write_batches())
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        return await future

    async def drain(self) -> None:
        """Wait until everything submitted is archived and queued (for a clean shutdown)."""
        while busy := [t for t in (*self._writers, self._recorder) if t and not t.done()]:
            await asyncio.gather(*busy)

    async def _write_batches(self) -> None:
        archive = self.app.archive
        while self._waiting:
            batch = self._waiting[: self.max_batch]
            del self._waiting[: self.max_batch]
            try:
                entries = await asyncio.to_thread(
                    archive.store_many, [(d.raw, d.receipt) for d, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), entry in zip(batch, entries, strict=True):
                if not future.done():
                    future.set_result(entry)
            self._unrecorded.extend(entries)
            if self._recorder is None or self._recorder.done():
                self._recorder = asyncio.create_task(self._record_batches())

    async def _record_batches(self) -> None:
        while self._unrecorded:
            # Let entries gather: one database transaction for many deliveries costs the
            # SMTP sessions far less interpreter time than one per batch (nobody waits on it).
            await asyncio.sleep(RECORD_GATHER_SECONDS)
            entries, self._unrecorded = self._unrecorded, []
            try:
                await asyncio.to_thread(self.app.processor.record, entries)
            except Exception as exc:
                log.warning("archived seq %d..%d but could not queue them yet (%s); they are "
                            "picked up from the ledger later", entries[0].seq, entries[-1].seq,
                            exc)
            self.on_archived()
