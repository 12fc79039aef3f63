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

from sqlalchemy import Column, Connection, Integer, event
from sqlalchemy.orm import Mapper, Session, object_session

from gateway.db.models import Base

_NEXT = "commgate.sqlite_next_keys"  # session.info: {table name: next key} of this flush


# Per mapper: the attribute of its table's numbered key and the query of the largest key, or
# None (a composite or non-integer key, or one the database does not number).
_KEYS: dict[Mapper[Any], tuple[str, str, str] | None] = {}


def _serial_key(mapper: Mapper[Any]) -> tuple[str, str, str] | None:
    """(attribute, table name, query of the largest key) of the table's single integer key
    that the database numbers, or None."""
    if mapper in _KEYS:
        return _KEYS[mapper]
    table = mapper.local_table
    keys: list[Column[Any]] = list(getattr(table, "primary_key", ()))
    found = None
    if (len(keys) == 1 and isinstance(keys[0].type, Integer)
            and getattr(table, "autoincrement_column", None) is keys[0]):
        name = getattr(table, "name", "")
        found = (mapper.get_property_by_column(keys[0]).key, name,
                 f'SELECT max("{keys[0].name}") FROM "{name}"')
    _KEYS[mapper] = found
    return found


def _forget(session: Session, *_: Any) -> None:
    session.info.pop(_NEXT, None)


def _before_insert(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
    if connection.dialect.name != "sqlite":
        return
    key = _serial_key(mapper)
    if key is None:
        return
    attribute, table, largest = key
    if getattr(target, attribute) is not None:
        return
    session = object_session(target)
    if session is None:
        return
    following: dict[str, int] = session.info.setdefault(_NEXT, {})
    if table not in following:
        following[table] = (connection.exec_driver_sql(largest).scalar() or 0) + 1
    setattr(target, attribute, following[table])
    following[table] += 1


event.listen(Session, "before_flush", _forget)
event.listen(Session, "after_flush", _forget)
event.listen(Base, "before_insert", _before_insert, propagate=True)
