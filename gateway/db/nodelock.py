"""Exactly one node polls each mailbox: a PostgreSQL advisory lock per mailbox.

With several gateway nodes on one PostgreSQL (ARCHITECTURE, Scale), every node configures the
same mailboxes; the node holding a mailbox's session-level advisory lock polls it, the others
stand by and take over when that node's connection (and with it the lock) goes away. Archive
deduplication would keep a double poll correct, but two nodes moving the same messages on the
server would trip over each other. On SQLite (one machine) the lock is always granted.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, create_engine, func, select
from sqlalchemy.pool import NullPool

from gateway.db.session import Database


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (advisory locks are keyed by bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class NodeLock:
    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.name = name
        self.key = lock_key(f"commgate:{name}")
        self._connection: Connection | None = None

    @property
    def held(self) -> bool:
        return self.db.dialect != "postgresql" or self._connection is not None

    def acquire(self) -> bool:
        """Try once, without waiting; True when this node may poll."""
        if self.db.dialect != "postgresql" or self._connection is not None:
            return True
        # A connection of its own, outside the pool: the lock lives as long as it does.
        engine = create_engine(self.db.engine.url, poolclass=NullPool)
        connection = engine.connect()
        try:
            granted = bool(connection.execute(select(func.pg_try_advisory_lock(self.key)))
                           .scalar())
            connection.commit()
        except Exception:
            connection.close()
            raise
        if not granted:
            connection.close()
            return False
        self._connection = connection
        return True

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.execute(select(func.pg_advisory_unlock(self.key)))
                connection.commit()
            finally:
                connection.close()
