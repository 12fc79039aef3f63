"""Case events in the ledger: every transaction that adds case events (or changes any other
state: its row images, gateway/db/row_images.py, for ``commgate db rebuild``) appends one
``events`` entry to the archive's hash chain before it commits.

The entry's blob is the JSON list of the events (id, case, when, who, what, the claim of a
command-line ``--as``) exactly as the database holds them, so ``archive verify`` can name an
event row that was deleted, altered or added behind the application's back, and the signed
checkpoints cover the staff's decisions as they cover the mail. The discipline is the access
log's: the record is durable in the ledger before the database commits, so a crash can leave an
entry whose transaction never committed (``archive verify`` then names its events as missing)
but never a committed event that the ledger lacks. A commit that fails after the entry was
written appends a ``void`` entry naming it, so verify does not report the rolled-back events.

One entry per committing transaction, not one per event: a filing batch of the worker that
records hundreds of events adds one ledger write (see docs/ledger-events.md for the cost).

The hook is armed per session factory (:func:`record_events_to`); sessions made without it
(a bare ``Database`` in a test, the migrations) record nothing here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, sessionmaker

from archive import Archive, LedgerEntry, Receipt
from gateway.core import principal
from gateway.db import row_images
from gateway.db.bulk import conflict_insert
from gateway.db.models import Case, CaseEvent, LedgerReceipt

KIND = "events"
TRANSPORT = "case-events"
_ARCHIVE = "commgate.events_archive"
_PENDING = "commgate.events_pending"
_WRITTEN = "commgate.events_written"
_SAVEPOINTS = "commgate.events_savepoints"
# The PostgreSQL advisory lock an events writer holds (shared) from before its ledger write to
# its commit, and a catch-up takes (exclusively) before it voids an entry without its row.
_WRITERS_LOCK = 0x636D67_0018


def record_events_to(sessions: sessionmaker[Session], archive: Archive) -> None:
    """Every session this factory makes appends its new case events to ``archive``."""
    sessions.configure(info={_ARCHIVE: archive})


def note_inserted(session: Session, rows: Sequence[Mapping[str, Any]], ids: Iterable[int]
                  ) -> None:
    """Events inserted with a bulk statement (which the flush hook cannot see): their rows as
    inserted and the ids the database gave them, in the same order."""
    if _ARCHIVE not in session.info:
        return
    stored = _as_stored([row.get("data") for row in rows])
    session.info.setdefault(_PENDING, []).extend(
        _record(event_id, row["case_id"], row["at"], row["actor"], row["kind"],
                row.get("message_pk"), data, row.get("claimed_as"))
        for row, event_id, data in zip(rows, ids, stored, strict=True))


def event_record(row: CaseEvent | Any) -> dict[str, Any]:
    """The canonical record of one event row (an ORM object or a selected row)."""
    return event_records([row])[0]


def event_records(rows: Sequence[CaseEvent | Any]) -> list[dict[str, Any]]:
    """:func:`event_record` of each row."""
    stored = _as_stored([row.data for row in rows])
    return [_record(row.id, row.case_id, row.at, row.actor, row.kind, row.message_pk, data,
                    getattr(row, "claimed_as", None)) for row, data in zip(rows, stored,
                                                                            strict=True)]


def _as_stored(values: list[Any]) -> list[Any]:
    """Each event's data as its JSON column gives it back (tuples made lists, keys strings),
    in one round trip for them all: one per event cost 0.15 ms per message profiled (five events
    each; the encoder is built anew for every call with these options)."""
    return list(json.loads(canonical([value or {} for value in values])))


def canonical(record: Mapping[str, Any] | Sequence[Any]) -> str:
    """The text two records of the same event share, whoever wrote it and in which order."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)


def _record(event_id: int, case_id: int, at: datetime, actor: str, kind: str,
            message_pk: int | None, data: Any, claimed_as: str | None = None) -> dict[str, Any]:
    """``data`` as stored already (:func:`_as_stored`)."""
    record = {"id": int(event_id), "case_id": int(case_id), "at": _iso(at), "actor": actor,
              "kind": kind, "message_pk": message_pk, "data": data}
    if claimed_as is not None:  # only when there is one: entries written before 0020 still match
        record["claimed_as"] = claimed_as
    return record


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat()


def _after_flush(session: Session, _context: Any) -> None:
    if _ARCHIVE not in session.info:
        return
    row_images.after_flush(session)
    new = [obj for obj in session.new if isinstance(obj, CaseEvent)]
    if new:
        session.info.setdefault(_PENDING, []).extend(event_records(new))


def _before_commit(session: Session) -> None:
    archive = session.info.get(_ARCHIVE)
    if archive is None:
        return
    session.flush()  # the events' ids (the commit's own flush comes after this hook)
    pending = session.info.pop(_PENDING, [])
    rows = row_images.images(session)
    if not pending and not rows:
        return
    refs = {case_id: ref for case_id, ref in session.execute(select(Case.id, Case.ref).where(
        Case.id.in_({record["case_id"] for record in pending}))).all()} if pending else {}
    who = principal.current.get()
    body: dict[str, Any] = {"events": [record | {"case_ref": refs.get(record["case_id"], "")}
                                       for record in pending], "rows": rows}
    if who is not None:
        body["principal"] = {"os_user": who.os_user, "claim": who.claim}
    raw = canonical(body).encode()
    _hold_writer_lock(session)  # until the commit: a catch-up does not void this entry
    envelope: dict[str, Any] = {"count": len(pending),
                                "rows": sum(len(image["rows"]) + len(image.get("deleted", ()))
                                            for image in rows.values())}
    if pending:
        envelope |= {"first_id": pending[0]["id"], "last_id": pending[-1]["id"]}
    if who is not None:
        envelope["os_user"] = who.os_user
    entry = archive.store_record(KIND, raw, Receipt(transport=TRANSPORT, direction="internal",
                                                    envelope=envelope))
    session.info[_WRITTEN] = entry
    _mirror(session, entry)


def _after_commit(session: Session) -> None:
    session.info.pop(_WRITTEN, None)
    row_images.forget(session)
    session.info.pop(_SAVEPOINTS, None)


def _after_transaction_create(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested and _ARCHIVE in session.info:
        marks = session.info.setdefault(_SAVEPOINTS, {})
        marks[id(transaction)] = len(session.info.get(_PENDING, []))


def _after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    if previous.nested:  # a savepoint: forget only the events flushed inside it
        mark = session.info.get(_SAVEPOINTS, {}).pop(id(previous), None)
        if mark is not None and _PENDING in session.info:
            del session.info[_PENDING][mark:]
        return
    _after_rollback(session)


def _after_rollback(session: Session) -> None:
    """The transaction is gone: its events were not committed. An entry already written for
    them is voided by a second entry, so verify does not look for them."""
    session.info.pop(_PENDING, None)
    session.info.pop(_SAVEPOINTS, None)
    row_images.forget(session)
    written: LedgerEntry | None = session.info.pop(_WRITTEN, None)
    archive = session.info.get(_ARCHIVE)
    if written is None or archive is None:
        return
    void_entry(archive, written.seq, "rolled back")
    # Its receipts row went with the transaction; the daemon's catch-up mirrors both entries.


def void_entry(archive: Archive, seq: int, reason: str) -> LedgerEntry:
    """Append the entry that says the events of entry ``seq`` were never committed."""
    raw = canonical({"void": seq, "reason": reason}).encode()
    return archive.store_record(KIND, raw, Receipt(transport=TRANSPORT, direction="internal",
                                                   envelope={"void": seq}))


def wait_for_event_writers(session: Session) -> None:
    """Wait until no transaction is between its events entry and its commit (PostgreSQL: the
    writers hold the shared lock, this takes it exclusively until ``session`` ends). SQLite
    needs nothing: a writer holds the database's one write lock from its BEGIN to its end."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _WRITERS_LOCK})


def _hold_writer_lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"),
                        {"key": _WRITERS_LOCK})


def _mirror(session: Session, entry: LedgerEntry) -> None:
    """The database's copy of the entry, in the same transaction (verify compares every entry
    with its row). Idempotent: a daemon's catch-up may be mirroring it at the same moment."""
    row = {"seq": entry.seq, "kind": entry.kind, "sha256": entry.sha256,
           "entry_hash": entry.entry_hash, "size": entry.size, "alias": entry.alias,
           "direction": entry.direction, "transport": entry.transport,
           "envelope": dict(entry.envelope), "received_at": datetime.fromisoformat(entry.time),
           "status": "recorded"}
    insert = conflict_insert(session)
    session.execute(insert(LedgerReceipt).on_conflict_do_nothing(index_elements=["seq"]), [row])


def _do_orm_execute(state: ORMExecuteState) -> Any:
    if _ARCHIVE not in state.session.info:
        return None
    return row_images.on_execute(state)


event.listen(Session, "after_flush", _after_flush)
event.listen(Session, "do_orm_execute", _do_orm_execute)
event.listen(Session, "before_commit", _before_commit)
event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_transaction_create", _after_transaction_create)
event.listen(Session, "after_soft_rollback", _after_soft_rollback)
