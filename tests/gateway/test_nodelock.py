"""The node lock that leaves a job (a mailbox's polling, checkpoint signing) to one node of
several on one PostgreSQL (docs/two-nodes.md): held by one, taken over when the holder's
connection ends, and noticed as lost by a holder whose connection the server dropped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text

from gateway.db.nodelock import KEEPALIVE_IDLE, NodeLock
from gateway.db.session import Database


@pytest.fixture
def two_nodes(db_url: str) -> Iterator[tuple[Database, Database]]:
    """Two Database objects on one database, as two nodes have."""
    first = Database.open(db_url, schema="create")
    second = Database.open(db_url, schema="unchecked")
    yield first, second
    first.close()
    second.close()


def backend_pid(lock: NodeLock) -> int:
    connection = lock._connection
    assert connection is not None
    pid = int(connection.execute(select(func.pg_backend_pid())).scalar_one())
    connection.commit()
    return pid


def test_one_node_holds_a_job_and_the_other_takes_over_after_release(two_nodes):
    db_a, db_b = two_nodes
    a, b = NodeLock(db_a, "imap:sales"), NodeLock(db_b, "imap:sales")
    other_job = NodeLock(db_b, "archive-checkpoints")
    try:
        assert a.acquire() and a.still_held()
        if db_a.dialect != "postgresql":
            # One machine: there is no other node to leave the job to.
            assert b.acquire() and b.still_held()
            return
        assert not b.acquire() and not b.hold() and not b.still_held()
        assert other_job.hold()  # another job is free for the taking
        a.release()
        assert not a.still_held()
        assert b.hold() and b.still_held()
        assert not a.hold()
    finally:
        for lock in (a, b, other_job):
            lock.release()


def test_a_holder_whose_connection_the_server_dropped_knows_it_lost_the_job(two_nodes):
    db_a, db_b = two_nodes
    if db_a.dialect != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite grants every job to its one node")
    a, b = NodeLock(db_a, "archive-checkpoints"), NodeLock(db_b, "archive-checkpoints")
    try:
        assert a.acquire()
        connection = a._connection
        assert connection is not None
        # What lets the server free the lock of a holder whose machine vanished.
        shown = connection.execute(text("SHOW tcp_keepalives_idle")).scalar_one()
        assert shown == str(KEEPALIVE_IDLE)
        connection.commit()
        with db_b.engine.connect() as admin:  # the server ends the holder's session
            assert admin.execute(select(func.pg_terminate_backend(backend_pid(a)))).scalar_one()
        assert b.hold()  # the lock went with the session
        assert not a.still_held()
        assert not a.hold()  # and stays with the node that took it
        a.release()  # nothing left to release: no error
    finally:
        a.release()
        b.release()
