"""Exactly one node does a job (polls a mailbox, signs checkpoints): a PostgreSQL advisory
lock per job.

With several gateway nodes on one PostgreSQL (ARCHITECTURE, Scale; docs/two-nodes.md), every
node configures the same mailboxes and the same checkpoint key; the node holding a job's
session-level advisory lock does it, the others stand by and take over when that node's
connection (and with it the lock) goes away. Archive deduplication would keep a double poll
correct, but two nodes moving the same messages on the server would trip over each other. On
SQLite (one machine) the lock is always granted.

When the holder's process ends, its kernel closes the connection and the server frees the lock
at once. When its whole machine or network goes away, nobody closes it: the lock connection
asks the server for TCP keepalives (:data:`KEEPALIVE_OPTIONS`), so the server drops it, and
frees the lock, within about :data:`DEAD_PEER_SECONDS`. The holder in turn asks
:meth:`NodeLock.still_held` before each round of work, so a node whose lock connection broke
stops instead of working beside the node that took over.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import Connection, create_engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from gateway.db.session import Database

log = logging.getLogger(__name__)

# Server-side keepalives of the lock connection (settable per session): a holder whose machine
# vanished is noticed after idle + interval * count seconds, and its locks are freed.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 10, 5, 3
DEAD_PEER_SECONDS = KEEPALIVE_IDLE + KEEPALIVE_INTERVAL * KEEPALIVE_COUNT
KEEPALIVE_OPTIONS = (f"-c tcp_keepalives_idle={KEEPALIVE_IDLE} "
                     f"-c tcp_keepalives_interval={KEEPALIVE_INTERVAL} "
                     f"-c tcp_keepalives_count={KEEPALIVE_COUNT}")


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
        url = self.db.engine.url
        connect_args = {} if "options" in url.query else {"options": KEEPALIVE_OPTIONS}
        engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
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

    def still_held(self) -> bool:
        """Whether this node still holds the lock: one round trip on the lock's connection.

        False once that connection broke (the server restarted, the network dropped it): the
        server freed the lock then and another node may hold it now; the next ``acquire``
        tries again."""
        connection = self._connection
        if self.db.dialect != "postgresql":
            return True
        if connection is None:
            return False
        try:
            connection.execute(select(1))
            connection.commit()
        except SQLAlchemyError as exc:
            log.warning("%s: lost the node lock (%s)", self.name,
                        str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
            self._connection = None
            connection.invalidate()
            connection.close()
            return False
        return True

    def hold(self) -> bool:
        """True when this node holds the lock now: a held lock is checked to be still there
        (:meth:`still_held`), else taken if free (:meth:`acquire`)."""
        if self._connection is not None and self.still_held():
            return True
        return self.acquire()

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.execute(select(func.pg_advisory_unlock(self.key)))
                connection.commit()
            except SQLAlchemyError:
                pass  # the connection is gone, and the lock with it
            finally:
                connection.close()
