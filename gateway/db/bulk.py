"""Many rows in one INSERT, with the ids the database gave them in the order of the rows.

A Core insert of the table, not the ORM's bulk insert: the ORM leaves out the columns whose
value is None and runs each run of rows with the same columns as a statement of its own (the
events of one message alternate: ``case_opened`` has no message), about two statements per
message, each result spliced onto the ones before. The rows given here name every column they
set, None included, so all of them go in one statement.

SQLAlchemy's ``returning(..., sort_by_parameter_order=True)`` promises that order; on
PostgreSQL it keeps its multi-row statements (a sentinel orders the returned rows), but SQLite
has no sentinel for an integer key, so SQLAlchemy runs the INSERT once per row there and
splices the one-row results together, which costs more with every row (a filing batch of 100
messages inserted ~500 rows one at a time: 4 ms of CPU per message, bench/profile_ingest.py).

On SQLite the returned ids are sorted instead: every transaction there holds the database's
one write lock from ``BEGIN IMMEDIATE`` (gateway/db/session.py), so no other writer inserts
meanwhile, and SQLite inserts the rows of a statement (and the statements of one executemany)
in order, giving each new row a key one above the largest in the table: the rows' ids ascend in
the order of the rows, whatever order RETURNING hands them back in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import InstrumentedAttribute, Session

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite


def conflict_insert(session: Session) -> Callable[[Any], postgresql.Insert | sqlite.Insert]:
    """The INSERT of ``session``'s database that takes ``on_conflict_do_nothing`` (PostgreSQL's
    or SQLite's). PostgreSQL's dialect is imported here, once a PostgreSQL database is used:
    on SQLite neither the daemon nor its workers load it (2.3 MB each)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    return sqlite_insert


def insert_ids(session: Session, key: InstrumentedAttribute[int],
               rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert ``rows`` into the table of the integer primary key ``key``; the new keys, one per
    row, in the order of ``rows``."""
    if not rows:
        return []
    table = key.class_.__table__
    column = table.c[key.key]
    statement = insert(table)
    if session.get_bind().dialect.name == "sqlite":
        return sorted(session.scalars(statement.returning(column), rows))
    return list(session.scalars(statement.returning(column, sort_by_parameter_order=True),
                                rows))
