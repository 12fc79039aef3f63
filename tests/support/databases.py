"""The test databases: which backends run, and throw-away PostgreSQL databases copied from a
migrated template."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

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
def fresh_pg_database(template: str | None, prefix: str = "commgate_t") -> Iterator[str]:
    """A database copied from the migrated template (fast), or an empty one when ``template``
    is None, dropped afterwards; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = pg_admin()
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def empty_database_like(db_url: str, sqlite_file: Path, prefix: str) -> Iterator[str]:
    """An empty database of ``db_url``'s backend (a SQLite file not yet made, or a new
    PostgreSQL database dropped afterwards): what a restore or a rebuild writes into."""
    if db_url.startswith("sqlite"):
        yield f"sqlite+pysqlite:///{sqlite_file}"
        return
    with fresh_pg_database(None, prefix=prefix) as url:
        yield url


class PgDatabases:
    """Fresh copies of the template, one per test, made and dropped off the test's time.

    CREATE DATABASE ... TEMPLATE and DROP DATABASE each take seconds on a busy server while a
    test takes milliseconds; one background thread makes the next copy while a test runs and
    four others drop the used ones (a drop never delays the next copy; each DROP waits for a
    checkpoint, and drops waiting together share one).
    Each test still gets a database nobody used before.
    """

    def __init__(self, template: str, prefix: str = "commgate_t") -> None:
        self.template = template
        self.prefix = prefix
        self.admin = pg_admin()
        self.maker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-make")
        self.dropper = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pg-drop")
        self.spare: Future[str] | None = None
        self.drops: list[Future[None]] = []

    def take(self) -> str:
        """The URL of a fresh copy of the template (the next one is started at once)."""
        name = self.spare.result() if self.spare else self._create()
        self.spare = self.maker.submit(self._create)
        return pg_url(name)

    def give_back(self, url: str) -> None:
        """Drop the database of ``url`` in the background (a test is done with it)."""
        self.drops.append(self.dropper.submit(self._drop, url.rsplit("/", 1)[1]))

    def close(self) -> None:
        """Drop the spare and wait for every drop; a drop that failed fails here."""
        if self.spare is not None:
            self.give_back(pg_url(self.spare.result()))
        self.maker.shutdown(wait=True)
        self.dropper.shutdown(wait=True)
        self.admin.dispose()
        for dropped in self.drops:
            dropped.result()

    def _create(self) -> str:
        name = f"{self.prefix}_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return name

    def _drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
