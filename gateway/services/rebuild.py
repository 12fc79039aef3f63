"""``commgate db rebuild``: the whole database again, from the ledger and the blobs alone.

Every ledger entry becomes its ``receipts`` row again (mail queued, other entries recorded).
Every ``events`` entry carries the row images of the transaction that wrote it
(gateway/db/row_images.py): the rows it inserted, updated or deleted in every state table and
the case events it added. They are applied in ledger order with their ids, which is the order
the transactions committed wherever two of them touched the same row (each wrote its entry
while it held that row's lock). Nothing is re-filed, so threading, classification and the
case references come out as they were. Entries voided (their transaction never committed) are
skipped; mail no entry filed (archived, then the database was lost before the worker came to
it) stays queued and the daemon files it at its start.

All of it, the schema included, runs in one database transaction: a rebuild that fails leaves
the database empty, and it can simply be run again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive import Archive, LedgerEntry
from gateway.config import load_settings
from gateway.core.errors import DatabaseError
from gateway.db import row_images
from gateway.db.backup import database_is_empty
from gateway.db.event_ledger import KIND as EVENTS_KIND
from gateway.db.models import Base
from gateway.db.session import Database, migrate_on
from gateway.processing.pipeline import queue_entries
from gateway.services.base import View

CHUNK = 1000  # ledger entries per receipts insert


@dataclass(frozen=True)
class Rebuilt(View):
    """What a rebuild recreated."""

    database: str
    entries: int  # ledger entries, each now a receipts row
    transactions: int  # events entries whose row images were applied
    voided: int  # events entries skipped: their transaction never committed
    rows: int  # rows written from the images (case events included)
    queued: int  # mail no entry filed: the daemon files it

    def lines(self) -> list[str]:
        queued = (f"; {self.queued} archived messages were not filed yet and are queued: the "
                  "daemon files them when it starts" if self.queued else "")
        return [f"rebuilt {self.database} from the ledger: {self.entries} entries, "
                f"{self.transactions} transactions ({self.rows} rows) applied, {self.voided} "
                f"voided skipped{queued}",
                "passwords are never in the ledger: every web account is locked until "
                "`commgate users passwd NAME` sets a new one"]


def rebuild_database(home: Path) -> Rebuilt:
    """Recreate the configured database (empty or absent, refused otherwise) from the ledger
    and the blobs of the home's archive."""
    settings = load_settings(home)
    url = settings.database_url()
    name = url.render_as_string(hide_password=True)
    db = Database.open(url, schema="unchecked")
    try:
        if not database_is_empty(db):
            raise DatabaseError(
                f"the database {name} holds {_tables(db)} tables; rebuild needs an empty one: "
                "drop it (or move the SQLite file away) or set database.url elsewhere")
        archive = Archive.open(settings.archive_path)
        try:
            entries, void = _survey(archive)
            with db.engine.begin() as connection:
                done = _replay(connection, archive, entries, void)
                _reset_sequences(connection)
        finally:
            archive.close()
    finally:
        db.close()
    return Rebuilt(name, *done)


def _tables(db: Database) -> int:
    from sqlalchemy import inspect

    return len(inspect(db.engine).get_table_names())


def _survey(archive: Archive) -> tuple[list[LedgerEntry], set[int]]:
    """Every entry (envelopes only), the seqs voided, and a refusal when an ``events`` entry
    was written by a version that recorded no row images (before that, no rebuild)."""
    entries = list(archive.entries())
    void = {int(e.envelope["void"]) for e in entries
            if e.kind == EVENTS_KIND and "void" in e.envelope}
    old = [e.seq for e in entries if e.kind == EVENTS_KIND and "void" not in e.envelope
           and "rows" not in e.envelope and e.seq not in void]
    if old:
        raise DatabaseError(
            f"ledger entries up to seq {old[-1]} ({len(old)} events entries, the first at seq "
            f"{old[0]}) carry no row images (written by an older commgate): rebuild cannot "
            "recreate the database from this ledger; restore a backup instead (commgate "
            "restore DIR)")
    return entries, void


def _replay(connection: Connection, archive: Archive, entries: list[LedgerEntry],
            void: set[int]) -> tuple[int, int, int, int, int]:
    migrate_on(connection)
    if connection.dialect.name == "sqlite":
        # Checked at the commit: an image may name a row a later table of the same entry adds.
        connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    # A plain session: the hooks that write ledger entries are armed only on an installation's
    # session factory, so replaying writes nothing to the ledger.
    session = Session(bind=connection)
    for start in range(0, len(entries), CHUNK):
        queue_entries(session, entries[start:start + CHUNK])
    transactions = voided = rows = 0
    for entry in entries:
        if entry.kind != EVENTS_KIND or "void" in entry.envelope:
            continue
        if entry.seq in void:
            voided += 1
            continue
        body: dict[str, Any] = json.loads(archive.read(entry.sha256))
        try:
            rows += row_images.apply(session, body.get("rows", {}), body.get("events", []))
            session.flush()
        except IntegrityError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise DatabaseError(f"ledger seq {entry.seq}: its row images do not apply ({reason})"
                                ": the ledger does not hold the whole history (entries "
                                "filed by an older commgate?); nothing was rebuilt") from None
        transactions += 1
    queued = session.scalar(text("SELECT count(*) FROM receipts WHERE status = 'pending'")) or 0
    return len(entries), transactions, voided, rows, int(queued)


def _reset_sequences(connection: Connection) -> None:
    """PostgreSQL: each serial id's sequence past the greatest id rebuilt (the rows were
    inserted with their ids, which does not move a sequence). SQLite needs nothing."""
    if connection.dialect.name != "postgresql":
        return
    for table in Base.metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or keys[0].autoincrement is False:
            continue
        column = keys[0].name
        sequence = connection.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                     {"t": table.name, "c": column})
        if sequence is None:
            continue
        connection.execute(text(
            f'SELECT setval(:s, coalesce((SELECT max("{column}") FROM "{table.name}"), 0) + 1, '
            "false)"), {"s": sequence})
