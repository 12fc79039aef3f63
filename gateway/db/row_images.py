"""Row images: what a committing transaction left in every state table, for its ledger entry.

``commgate db rebuild`` recreates the database from the ledger alone, so each transaction that
changes state records, in the ``events`` entry it writes before it commits
(gateway/db/event_ledger.py), the rows it inserted, updated or deleted. Which rows: the primary
keys it *touched*, collected as it runs (ORM flushes, and every DML statement executed through
the session: bulk inserts report their keys by ``RETURNING``, updates and deletes by a select
of the keys their ``WHERE`` names, bulk updates by the keys in their parameters). What rows:
the touched keys are read back once, just before the commit, so the image is the row as
committed (defaults, triggers and later statements of the same transaction included); a key
whose row is gone is a deletion. Rebuild applies the images in ledger order.

Not recorded (rebuild recomputes them or they are not state): ``case_events`` (the entry's
``events`` list holds those rows already), the insertion or deletion of ``receipts`` rows (the
ledger entries themselves are their source) and their claim columns (a worker's lease),
``ledger_high_water`` (a trigger keeps it), ``intake_checkpoints`` (where an IMAP poll stands
and which archive the database belongs to: re-established at the next start; a poller that
starts over finds the messages archived already).
"""

from __future__ import annotations

import base64
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, LargeBinary, Table, inspect, select
from sqlalchemy.orm import ORMExecuteState, PassiveFlag, Session, object_mapper

from gateway.db.bulk import conflict_insert
from gateway.db.models import Base, UTCDateTime

# session.info key: {table name: set of primary-key tuples} touched in this transaction.
TOUCHED = "commgate.rows_touched"
UNTRACKED = frozenset({"case_events", "ledger_high_water", "intake_checkpoints",
                       "alembic_version"})
# Rows the ledger entries themselves are (one per entry): their insertion and deletion are not
# recorded, only the updates of their processing state.
LEDGER_ROWS = frozenset({"receipts"})
VOLATILE = {"receipts": frozenset({"claimed_by", "lease_until"})}
# Secrets never enter the append-only ledger (an old password hash there could be cracked
# offline for ever): a rebuilt account gets LOCKED instead, so its owner sets a new password.
SECRETS = {"users": frozenset({"password_hash"})}
LOCKED = "!locked: set a new password (commgate users passwd) after db rebuild"
CHUNK = 500  # keys per read-back statement (SQLite's bound-parameter limit is far above)

Encoder = Callable[[Any], Any]


def tracked(table: Table) -> bool:
    return table.name not in UNTRACKED and table.name in Base.metadata.tables


def touch(session: Session, table: Table, keys: Iterable[tuple[Any, ...]]) -> None:
    """Rows of ``table`` this transaction changed (their primary keys)."""
    session.info.setdefault(TOUCHED, {}).setdefault(table.name, set()).update(keys)


def forget(session: Session) -> None:
    session.info.pop(TOUCHED, None)


# -- collecting ----------------------------------------------------------------------------

def after_flush(session: Session) -> None:
    """The ORM's inserts, updates and deletes of this flush."""
    added_or_deleted = [*session.new, *session.deleted]  # each property builds a new set
    for obj, changed in (*((obj, False) for obj in added_or_deleted),
                         *((obj, True) for obj in session.dirty)):
        mapper = object_mapper(obj)
        table = mapper.local_table
        if not isinstance(table, Table) or not tracked(table):
            continue
        if table.name in LEDGER_ROWS and not changed:
            continue
        if changed and not _changes_state(obj, table):
            continue
        key = mapper.primary_key_from_instance(obj)
        if None not in key:
            touch(session, table, [tuple(key)])


def _changes_state(obj: Any, table: Table) -> bool:
    """Did the flush change a column of ``obj`` that is state (``Session.is_modified`` without
    collections, volatile columns aside)? Only an attribute set since the last flush can
    have changed: SQLAlchemy keeps its old value in ``committed_state``, where its own UPDATE
    looks too (asking every attribute of every dirty row cost 4 % of filing's profile)."""
    state = inspect(obj)
    volatile = VOLATILE.get(table.name, frozenset())
    for key in state.committed_state:
        impl = state.manager[key].impl
        if key in volatile or hasattr(impl, "get_collection"):  # as is_modified skips them
            continue
        added, _, deleted = impl.get_history(state, state.dict, PassiveFlag.NO_CHANGE)
        if added or deleted:
            return True
    return False


def on_execute(state: ORMExecuteState) -> Any:
    """Every DML statement executed through a recording session reports the keys it touches.
    Returns the statement's result when it had to run it (an insert read by RETURNING)."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    statement: Any = state.statement
    table = statement.table
    if not isinstance(table, Table) or not tracked(table):
        return None
    pk = list(table.primary_key.columns)
    names = [column.key for column in pk]
    params: Any = state.parameters  # one mapping, or a list of them (executemany)
    many = params if isinstance(params, list) else None
    if table.name in LEDGER_ROWS and not state.is_update:
        return None
    if state.is_insert:
        return _insert(state, table, names, many)
    if many is None and statement.whereclause is None and params and all(
            name in params for name in names):
        many = [dict(params)]  # one row's update by primary key
    if many is not None:  # an update or delete by primary key, one parameter set per row
        volatile = VOLATILE.get(table.name, frozenset())
        rows = [row for row in many if set(row) - volatile - set(names)]
        touch(state.session, table, (tuple(row[name] for name in names) for row in rows))
        return None
    if state.is_update and table.name in VOLATILE:
        values = {getattr(key, "key", key) for key in (getattr(statement, "_values", None) or {})}
        if values and values <= VOLATILE[table.name]:
            return None  # a worker's claim or its release: not state
    where = statement.whereclause
    query = select(*pk) if where is None else select(*pk).where(where)
    touch(state.session, table, (tuple(row) for row in state.session.execute(query)))
    return None


def _insert(state: ORMExecuteState, table: Table, names: list[str],
            many: list[dict[str, Any]] | None) -> Any:
    single: Any = state.parameters or {}
    rows = many if many is not None else [single]
    if rows and all(all(row.get(name) is not None for name in names) for row in rows):
        touch(state.session, table, (tuple(row[name] for name in names) for row in rows))
        return None
    statement: Any = state.statement
    returned = {d.get("name") for d in statement.returning_column_descriptions or ()}
    if not set(names) <= returned:
        statement = statement.returning(*table.primary_key.columns)
    result = state.invoke_statement(statement=statement).freeze()
    keys = result().mappings().all()
    touch(state.session, table, (tuple(row[name] for name in names) for row in keys))
    return result()


# -- reading back --------------------------------------------------------------------------

@dataclass(frozen=True)
class TableCodec:
    """A table's columns in image order and how each value goes into JSON and back."""

    table: Table
    columns: list[Column[Any]]
    encode: list[Encoder | None]
    decode: list[Encoder | None]


_CODECS: dict[str, TableCodec] = {}


def codec(name: str) -> TableCodec:
    found = _CODECS.get(name)
    if found is None:
        table = Base.metadata.tables[name]
        secret = SECRETS.get(name, frozenset())
        columns = [column for column in table.columns if column.key not in secret]
        found = TableCodec(table, columns, [_encoder(c) for c in columns],
                           [_decoder(c) for c in columns])
        _CODECS[name] = found
    return found


def _encoder(column: Column[Any]) -> Encoder | None:
    if isinstance(column.type, UTCDateTime):
        return lambda value: None if value is None else value.isoformat()
    if isinstance(column.type, LargeBinary):
        return lambda value: None if value is None else base64.b64encode(value).decode()
    return None


def _decoder(column: Column[Any]) -> Encoder | None:
    if isinstance(column.type, UTCDateTime):
        return lambda value: None if value is None else datetime.fromisoformat(value)
    if isinstance(column.type, LargeBinary):
        return lambda value: None if value is None else base64.b64decode(value)
    return None


def images(session: Session) -> dict[str, Any]:
    """The touched rows as committed: ``{table: {"columns": [...], "rows": [[...]],
    "deleted": [[key...]]}}``, tables in dependency order. Empty: nothing was touched."""
    touched: dict[str, set[tuple[Any, ...]]] = session.info.pop(TOUCHED, {})
    found: dict[str, Any] = {}
    for table in Base.metadata.sorted_tables:
        keys = touched.get(table.name)
        if not keys:
            continue
        table_codec = codec(table.name)
        pk = list(table.primary_key.columns)
        positions = [table_codec.columns.index(column) for column in pk]
        rows: list[list[Any]] = []
        present: set[tuple[Any, ...]] = set()
        first = sorted({key[0] for key in keys})
        for start in range(0, len(first), CHUNK):
            query = select(*table_codec.columns).where(pk[0].in_(first[start:start + CHUNK]))
            for row in session.execute(query):
                key = tuple(row[i] for i in positions)
                if key not in keys:
                    continue  # another row of the same first key column (composite keys)
                present.add(key)
                rows.append([value if encode is None else encode(value)
                             for value, encode in zip(row, table_codec.encode, strict=True)])
        rows.sort(key=operator.itemgetter(*positions))  # one key column: its value, no tuple
        image: dict[str, Any] = {"columns": [column.key for column in table_codec.columns],
                                 "rows": rows}
        deleted = sorted(keys - present)
        if deleted:
            image["deleted"] = [list(key) for key in deleted]
        found[table.name] = image
    return found


def decoded_rows(name: str, image: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An image's rows as column-keyed values ready to insert (types restored)."""
    table_codec = codec(name)
    by_name = {column.key: (column, decode) for column, decode
               in zip(table_codec.columns, table_codec.decode, strict=True)}
    columns = [by_name[name_] for name_ in image["columns"]]
    return [{column.key: value if decode is None else decode(value)
             for (column, decode), value in zip(columns, row, strict=True)}
            for row in image["rows"]]


# -- applying (commgate db rebuild) --------------------------------------------------------

def apply(session: Session, rows: Mapping[str, Any], events: list[dict[str, Any]]) -> int:
    """One entry's images into the database: its deletions (dependants first), then its rows
    inserted or updated by primary key and its case events (dependencies first). The number
    of rows written."""
    dialect_insert = conflict_insert(session)
    order = Base.metadata.sorted_tables
    for table in reversed(order):
        image = rows.get(table.name)
        if image and image.get("deleted"):
            pk = list(table.primary_key.columns)
            for key in image["deleted"]:
                session.execute(table.delete().where(*(c == v for c, v in zip(pk, key,
                                                                              strict=True))))
    written = 0
    for table in order:
        if table.name == "case_events":
            values = [_event_row(record) for record in events]
        else:
            image = rows.get(table.name)
            values = decoded_rows(table.name, image) if image else []
            for value in values:
                value.update(dict.fromkeys(VOLATILE.get(table.name, ())))
                value.update(dict.fromkeys(SECRETS.get(table.name, ()), LOCKED))
        if not values:
            continue
        keys = [column.key for column in table.primary_key.columns]
        statement = dialect_insert(table)
        others = {c.key: statement.excluded[c.key] for c in table.columns if c.key not in keys}
        statement = (statement.on_conflict_do_update(index_elements=keys, set_=others) if others
                     else statement.on_conflict_do_nothing(index_elements=keys))
        session.execute(statement, values)
        written += len(values)
    return written


def _event_row(record: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": record["id"], "case_id": record["case_id"],
            "at": datetime.fromisoformat(record["at"]), "actor": record["actor"],
            "kind": record["kind"], "message_pk": record["message_pk"], "data": record["data"],
            "claimed_as": record.get("claimed_as")}
