"""Which worker files which pending receipts: a batch is claimed, prepared (parsed and
classified) outside any write transaction, then filed in the installation's filing turn.

Parsing and classifying is most of a message's cost and needs no database, so worker processes
do it side by side; threading and writing are short and take turns, so each batch is threaded
over everything filed before it (a reply finds its parent even when another worker filed the
parent a moment ago) and the dedupe on sha256 per alias sees every committed copy.

- **PostgreSQL**: the batch's transaction takes its rows with ``SELECT ... FOR UPDATE SKIP
  LOCKED`` and holds them while the messages are prepared; the filing turn is a transaction
  advisory lock (:data:`FILING_LOCK`) taken just before threading. A worker that dies loses its
  connection, the server rolls its transaction back and the rows are pending and unlocked again.
- **SQLite**: there are no row locks and every write transaction is ``BEGIN IMMEDIATE`` (one
  writer at a time, which is the filing turn). A worker writes its name and a lease end into the
  rows it takes, in one short transaction, and files in a second one only the rows still
  pending and still its own. The daemon releases a dead worker's rows at once
  (:func:`release_worker`); a lease that ran out (the worker hung, or the whole daemon was
  killed) may be taken by another worker. Should the first one wake up, its filing transaction
  finds the rows no longer its own and skips them: nothing is filed twice.

Batches of different workers may commit out of ledger order (by at most the batches in
flight); the threader is built for that (a late parent re-homes its orphan replies, rule
``referenced-by``), and each batch is in ledger order itself.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from gateway.core.clock import utcnow
from gateway.db.models import LedgerReceipt, Message
from gateway.db.session import Database

# The key of the PostgreSQL advisory lock that is the filing turn (any constant of our own).
FILING_LOCK = 0x636D6766  # "cmgf"
_numbers = itertools.count(1)


def worker_name(label: str | None = None) -> str:
    """A name unique among the workers of every node: host, process and ``label`` (the
    daemon names its worker processes; a process's in-process workers are numbered)."""
    return f"{socket.gethostname()}:{os.getpid()}:{label or next(_numbers)}"


@dataclass
class Batch:
    """Pending receipts one worker holds, in ledger order, and the (sha256, alias) pairs of
    them already filed (the duplicates, which are not worth preparing)."""

    receipts: list[LedgerReceipt]
    filed_before: set[tuple[str, str]] = field(default_factory=set)


class Claims:
    """Claim, file and release batches of the processing queue for one worker."""

    def __init__(self, db: Database, worker: str, lease_seconds: float) -> None:
        self.db = db
        self.worker = worker
        self.lease = timedelta(seconds=lease_seconds)

    @contextmanager
    def claim(self, size: int) -> Iterator[tuple[Batch, FilingTurn]]:
        """Up to ``size`` pending receipts for this worker; on leaving, what was not filed is
        free again (an exception releases the batch)."""
        if self.db.dialect == "postgresql":
            with self.db.session() as session:
                receipts = list(session.scalars(
                    select(LedgerReceipt).where(LedgerReceipt.status == "pending")
                    .order_by(LedgerReceipt.seq).limit(size).with_for_update(skip_locked=True)))
                batch = Batch(receipts, _filed(session, receipts))
                yield batch, _PgTurn(session, receipts)
            return
        with self.db.session() as session:
            now = utcnow()
            seqs = list(session.scalars(
                select(LedgerReceipt.seq).where(
                    LedgerReceipt.status == "pending",
                    or_(LedgerReceipt.lease_until.is_(None), LedgerReceipt.lease_until < now))
                .order_by(LedgerReceipt.seq).limit(size)))
            if seqs:
                session.execute(update(LedgerReceipt).where(LedgerReceipt.seq.in_(seqs))
                                .values(claimed_by=self.worker, lease_until=now + self.lease))
            receipts = list(session.scalars(select(LedgerReceipt).where(
                LedgerReceipt.seq.in_(seqs)).order_by(LedgerReceipt.seq)))
            batch = Batch(receipts, _filed(session, receipts))
        try:
            yield batch, _SqliteTurn(self.db, self.worker, seqs)
        except BaseException:
            if seqs:
                self.release(seqs)
            raise

    def release(self, seqs: Sequence[int]) -> None:
        """Give rows this worker holds back to the queue (it stops before filing them)."""
        with self.db.session() as session:
            _free(session, LedgerReceipt.seq.in_(seqs), LedgerReceipt.claimed_by == self.worker)


def release_worker(db: Database, worker: str) -> int:
    """Free the pending rows a dead worker held (SQLite; on PostgreSQL its connection's end
    did that): the daemon calls it when it finds a worker process gone. The number freed."""
    if db.dialect == "postgresql":
        return 0
    with db.session() as session:
        return _free(session, LedgerReceipt.claimed_by == worker)


def release_dead_here(db: Database) -> int:
    """Free the pending rows held by workers of this host whose process is gone (a daemon or
    an import that was killed): called at start, so their batches need not wait for the lease
    to run out. SQLite only (PostgreSQL released them with the connection). The number freed."""
    if db.dialect == "postgresql":
        return 0
    prefix = f"{socket.gethostname()}:"
    with db.session() as session:
        holders = set(session.scalars(select(LedgerReceipt.claimed_by).where(
            LedgerReceipt.status == "pending", LedgerReceipt.claimed_by.startswith(prefix))))
        dead = [h for h in holders if h and not _alive(h.removeprefix(prefix).split(":")[0])]
        return _free(session, LedgerReceipt.claimed_by.in_(dead)) if dead else 0


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _free(session: Session, *where: object) -> int:
    result = session.execute(update(LedgerReceipt).where(
        LedgerReceipt.status == "pending", *where)  # type: ignore[arg-type]
        .values(claimed_by=None, lease_until=None))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _filed(session: Session, receipts: Sequence[LedgerReceipt]) -> set[tuple[str, str]]:
    if not receipts:
        return set()
    rows = session.execute(select(Message.sha256, Message.alias).where(
        Message.sha256.in_({r.sha256 for r in receipts})))
    return {(sha, alias) for sha, alias in rows}


class FilingTurn(Protocol):
    """The filing transaction of a claimed batch: ``with turn.file() as (session, receipts)``
    yields the receipts still this worker's, in the transaction that files them."""

    def file(self) -> AbstractContextManager[tuple[Session, list[LedgerReceipt]]]: ...


class _PgTurn:
    def __init__(self, session: Session, receipts: list[LedgerReceipt]) -> None:
        self.session = session
        self.receipts = receipts

    @contextmanager
    def file(self) -> Iterator[tuple[Session, list[LedgerReceipt]]]:
        # Waits for the batch another worker is filing; its commit is then visible to every
        # statement here (READ COMMITTED).
        self.session.execute(select(func.pg_advisory_xact_lock(FILING_LOCK)))
        yield self.session, self.receipts


class _SqliteTurn:
    def __init__(self, db: Database, worker: str, seqs: list[int]) -> None:
        self.db = db
        self.worker = worker
        self.seqs = seqs

    @contextmanager
    def file(self) -> Iterator[tuple[Session, list[LedgerReceipt]]]:
        with self.db.session() as session:  # BEGIN IMMEDIATE: one filer at a time
            mine = (LedgerReceipt.seq.in_(self.seqs), LedgerReceipt.status == "pending",
                    LedgerReceipt.claimed_by == self.worker)
            receipts = list(session.scalars(select(LedgerReceipt).where(*mine)
                                            .order_by(LedgerReceipt.seq)))
            yield session, receipts
            session.execute(update(LedgerReceipt).where(
                LedgerReceipt.seq.in_(self.seqs), LedgerReceipt.claimed_by == self.worker)
                .values(claimed_by=None, lease_until=None))
