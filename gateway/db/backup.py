"""A consistent copy of the database and its way back: SQLite's online backup API, PostgreSQL's
``pg_dump`` (custom format) and ``pg_restore``.

Both copies are one snapshot: ``sqlite3.Connection.backup`` copies every page in one step
under one read transaction (WAL lets the daemon write meanwhile), ``pg_dump`` reads in one
repeatable-read transaction. The database password never goes on a command line (``ps`` shows
those): it is handed to the PostgreSQL tools in ``PGPASSWORD``.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL

from gateway.core.errors import DatabaseError
from gateway.db.session import Database, schema_state

SQLITE_FILE = "commgate.db"
POSTGRESQL_FILE = "commgate.pgdump"


@dataclass(frozen=True)
class DatabaseCopy:
    backend: str  # "sqlite" or "postgresql"
    file: Path
    revision: str | None
    tool_version: str  # "sqlite 3.40.1", "pg_dump (PostgreSQL) 15.20"


def dump_database(db: Database, folder: Path) -> DatabaseCopy:
    """Copy the database into ``folder`` (one file); the snapshot's schema revision with it."""
    if db.dialect == "sqlite":
        return _sqlite_backup(db, folder / SQLITE_FILE)
    if db.dialect == "postgresql":
        return _pg_dump(db, folder / POSTGRESQL_FILE)
    raise DatabaseError(f"cannot back up a {db.dialect} database (SQLite or PostgreSQL only)")


def database_is_empty(db: Database) -> bool:
    """No table at all in the database (its current schema on PostgreSQL)."""
    return not inspect(db.engine).get_table_names()


def sqlite_path(url: URL) -> Path | None:
    return Path(url.database) if url.database and url.database != ":memory:" else None


def restore_database(db: Database, copy: Path, backend: str) -> None:
    """Load ``copy`` (as :func:`dump_database` made it) into the empty database ``db``."""
    if backend != db.dialect:
        raise DatabaseError(f"the backup holds a {backend} database and this home is configured "
                            f"for {db.dialect}: set database.url to a {backend} database")
    if backend == "sqlite":
        _sqlite_restore(db, copy)
    else:
        _pg_restore(db, copy)


# -- SQLite --------------------------------------------------------------------------------

def _sqlite_backup(db: Database, target: Path) -> DatabaseCopy:
    source_path = sqlite_path(db.engine.url)
    if source_path is None:
        raise DatabaseError("an in-memory SQLite database cannot be backed up")
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    destination = sqlite3.connect(target)
    try:
        source.execute("PRAGMA busy_timeout=60000")
        source.backup(destination)  # every page in one step: one consistent snapshot
        destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        revision = _sqlite_revision(destination)
    finally:
        destination.close()
        source.close()
    _fsync(target)
    return DatabaseCopy("sqlite", target, revision, f"sqlite {sqlite3.sqlite_version}")


def _sqlite_revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return str(row[0]) if row else None


def _sqlite_restore(db: Database, copy: Path) -> None:
    target = sqlite_path(db.engine.url)
    if target is None:
        raise DatabaseError("cannot restore into an in-memory SQLite database")
    db.engine.dispose()  # no connection of ours holds the empty file while it is replaced
    source = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)
        destination.execute("PRAGMA journal_mode=WAL")  # as the gateway runs it
    finally:
        destination.close()
        source.close()
    _fsync(target)


# -- PostgreSQL ----------------------------------------------------------------------------

def _pg_dump(db: Database, target: Path) -> DatabaseCopy:
    before = schema_state(db.engine).current
    tool = _pg_tool("pg_dump", db)
    _run([tool, "--format=custom", "--no-owner", "--no-privileges", f"--file={target}",
          f"--dbname={_libpq_url(db.engine.url)}"], db, "pg_dump")
    if schema_state(db.engine).current != before:
        raise DatabaseError("the database schema changed while it was dumped (an upgrade ran): "
                            "run the backup again")
    _fsync(target)
    return DatabaseCopy("postgresql", target, before, _version_line(tool))


def _pg_restore(db: Database, copy: Path) -> None:
    tool = _pg_tool("pg_restore", db)
    _run([tool, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
          f"--dbname={_libpq_url(db.engine.url)}", str(copy)], db, "pg_restore")


def _pg_tool(name: str, db: Database) -> str:
    """The client tool, refused in one line when it is older than the server (pg_dump cannot
    read a newer server's catalogue; pg_restore may not know a newer dump's format)."""
    tool = shutil.which(name)
    if tool is None:
        raise DatabaseError(f"{name} not found: install the PostgreSQL client tools of the "
                            "server's major version (e.g. postgresql-client-15)")
    with db.engine.connect() as connection:
        server = int(connection.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    found = re.search(r"\)\s+(\d+)", _version_line(tool))
    client = int(found.group(1)) if found else 0
    if client < server:
        raise DatabaseError(f"{name} {client} is older than the PostgreSQL {server} server: "
                            f"install postgresql-client-{server} and put its {name} first on "
                            "PATH")
    return tool


def _version_line(tool: str) -> str:
    done = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _libpq_url(url: URL) -> str:
    """The URL as libpq reads it: no driver in the scheme, no password (see :func:`_run`)."""
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False)


def _run(argv: list[str], db: Database, name: str) -> None:
    env = dict(os.environ)
    password = db.engine.url.password
    if password:
        env["PGPASSWORD"] = str(password)
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = lines[0] if lines else f"exit status {done.returncode}"
        raise DatabaseError(f"{name} failed: {reason}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
