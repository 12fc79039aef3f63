"""Keys for the ORM's new rows on SQLite, given before the flush inserts them, so that a flush
inserts each table's rows with one executemany instead of one INSERT ... RETURNING per row.

SQLAlchemy batches an ORM insert that must fetch its key only where the database returns keys
in the order of the rows; SQLite has no sentinel for an integer key, so there the ORM inserts
such rows one at a time (the filing hooks' case events, reviews, feedback and property rows:
about two statements per message, ~0.3 ms of CPU, bench/profile_filing.py). A row whose key is
set is inserted with the others in one executemany.

The key given is the one SQLite would give: a table whose key is an ``INTEGER PRIMARY KEY``
without ``AUTOINCREMENT`` (every table here) gives a new row the largest key in the table plus
one, and every SQLite transaction holds the database's one write lock from its
``BEGIN IMMEDIATE`` (gateway/db/session.py), so nothing else inserts between the read of the
largest key and the flush. The flush inserts the rows of a table in the order it calls
``before_insert`` for them, so they get the keys they would have got one by one. The largest
key is read again at each flush (Core statements between flushes insert rows too).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, Integer, event, func, select
from sqlalchemy.orm import Mapper, Session, object_session

from gateway.db.models import Base

_NEXT = "commgate.sqlite_next_keys"  # session.info: {table name: next key} of this flush


def _serial_key(mapper: Mapper[Any]) -> Column[Any] | None:
    """The table's single integer key that the database numbers, or None."""
    table = mapper.local_table
    keys = list(getattr(table, "primary_key", ()))
    if len(keys) != 1 or not isinstance(keys[0].type, Integer):
        return None
    key = keys[0]
    return key if getattr(table, "autoincrement_column", None) is key else None


def _forget(session: Session, *_: Any) -> None:
    session.info.pop(_NEXT, None)


def _before_insert(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
    if connection.dialect.name != "sqlite":
        return
    key = _serial_key(mapper)
    if key is None:
        return
    attribute = mapper.get_property_by_column(key).key
    if getattr(target, attribute) is not None:
        return
    session = object_session(target)
    if session is None:
        return
    following: dict[str, int] = session.info.setdefault(_NEXT, {})
    name = mapper.local_table.name  # type: ignore[attr-defined]
    if name not in following:
        following[name] = (connection.scalar(select(func.max(key))) or 0) + 1
    setattr(target, attribute, following[name])
    following[name] += 1


event.listen(Session, "before_flush", _forget)
event.listen(Session, "after_flush", _forget)
event.listen(Base, "before_insert", _before_insert, propagate=True)
