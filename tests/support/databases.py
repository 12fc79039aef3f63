"""The test databases: which backends run, and throw-away PostgreSQL databases copied from a
migrated template."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text

PG_ADMIN_URL = os.environ.get(
    "COMMGATE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = os.environ.get("COMMGATE_TEST_BACKENDS", "sqlite,postgresql").split(",")


def pg_admin() -> Engine:
    """An autocommit engine on the server's admin database (CREATE / DROP DATABASE)."""
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def pg_url(name: str) -> str:
    """The URL of database ``name`` on the test server."""
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def fresh_pg_database(template: str, prefix: str = "commgate_t") -> Iterator[str]:
    """A database copied from the migrated template (fast), dropped afterwards; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
