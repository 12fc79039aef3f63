"""Engine, sessions and migrations for SQLite (embedded default) and PostgreSQL (multi-node)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from gateway.config import database_url
from gateway.core.errors import ConfigError, DatabaseError, SchemaError
from gateway.db import (
    acted,  # noqa: F401  (registers the hook that stamps who acted)
    sqlite_ids,  # noqa: F401  (registers the hook that keys new rows)
)
from gateway.db.revisions import read_revisions

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
# What ``Database.open`` does about the schema. "create": an empty database is created at the
# newest revision (init, demo, run, ingest: a brand-new installation must just work);
# "existing": an empty one is refused; both refuse a schema behind the code (upgrading is the
# operator's explicit 'commgate db upgrade', after a backup). "unchecked": no look at the
# schema at all (``db current``, ``db upgrade``, ``restore``, which inspect it themselves).
SchemaUse = Literal["create", "existing", "unchecked"]
UPGRADE_HINT = "back up and upgrade: commgate backup DIR && commgate db upgrade"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the daemon and a CLI import work at once; busy_timeout makes writers wait for
    # each other instead of failing. synchronous=NORMAL is enough: everything here is derived
    # from the fsynced archive and is rebuilt from it after a crash.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (the documented
    # recipe; without it SAVEPOINTs misbehave).
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: Any) -> None:
    # Take the write lock when the transaction starts: two processes (daemon and CLI import)
    # then queue for it instead of failing when a read snapshot cannot be upgraded to a write.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _postgres_raw_cursors(dbapi_connection: Any, _record: Any) -> None:
    # psycopg rewrites each statement's %(name)s placeholders into $n with a Python loop that
    # it caches only for statements of at most 50 parameters: a filing batch's multi-row
    # INSERTs and IN lists (thousands of parameters) paid ~0.2 ms of CPU per message for it
    # (bench/profile_filing.py --postgres). Its raw cursors take $n as PostgreSQL does, which
    # SQLAlchemy then renders itself (paramstyle numeric_dollar): nothing to rewrite.
    import psycopg  # only PostgreSQL installations need it loaded

    dbapi_connection.cursor_factory = psycopg.RawCursor
    dbapi_connection.server_cursor_factory = psycopg.RawServerCursor


def make_engine(url: URL | str) -> Engine:
    url = make_url(url)
    if url.get_backend_name() == "postgresql" and url.get_driver_name() == "psycopg":
        engine = create_engine(url, pool_pre_ping=True, paramstyle="numeric_dollar")
        event.listen(engine, "connect", _postgres_raw_cursors)
        return engine
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_autocommit_driver)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


class Database:
    """One engine and its session factory; ``open`` checks the schema is the code's."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: URL | str, schema: SchemaUse = "existing") -> Database:
        try:
            url = database_url(url)
        except ValueError as exc:  # a misspelt scheme would otherwise end in a plugin traceback
            raise ConfigError(f"database URL: {exc}") from None
        engine = make_engine(url)
        try:
            if schema == "unchecked":
                with engine.connect():
                    pass
            else:
                require_current(engine, create=schema == "create")
        except OperationalError as exc:
            safe = engine.url.render_as_string(hide_password=True)
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise DatabaseError(f"cannot use the database {safe}: {reason}") from exc
        except SchemaError:
            engine.dispose()
            raise
        log.debug("opened the database %s (%s)", engine.url.render_as_string(hide_password=True),
                  engine.dialect.name)
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()


def alembic_config() -> AlembicConfig:
    """Alembic's configuration of the migrations; Alembic (11 MB of modules, with the
    scripts it loads) is imported only by what creates, upgrades or downgrades a schema."""
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@dataclass(frozen=True)
class SchemaState:
    """The database's Alembic revision (None: no schema yet) and the code's newest."""

    current: str | None
    head: str
    known: bool  # the code has a migration named ``current`` (False: a newer commgate's)

    @property
    def state(self) -> str:
        """"current", "behind", "empty" or "unknown" (made by a newer commgate)."""
        if self.current is None:
            return "empty"
        if not self.known:
            return "unknown"
        return "current" if self.current == self.head else "behind"


VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps


def schema_state(engine: Engine) -> SchemaState:
    head, revisions = code_revisions()
    with engine.connect() as connection:
        current = database_revision(connection)
    known = current is None or current in revisions
    return SchemaState(current, head, known)


def database_revision(connection: Connection) -> str | None:
    """The database's schema revision, None without one: what Alembic's
    ``MigrationContext.get_current_revision`` reads (its version table's one row), read
    without importing Alembic, which the daemon and its workers then never load."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:  # Alembic refuses it too: a schema of several branches is not ours
        raise SchemaError(f"the database's {VERSION_TABLE} holds {len(rows)} revisions, "
                          f"one expected: {', '.join(sorted(rows))}")
    return rows[0] if rows else None


@lru_cache(maxsize=1)
def code_revisions() -> tuple[str, frozenset[str]]:
    """The code's newest schema revision and all it has, read from the migration scripts'
    text once per process (:mod:`gateway.db.revisions`): Alembic would import each script,
    and itself, into every process that opens a database."""
    return read_revisions(MIGRATIONS / "versions")


def require_current(engine: Engine, create: bool) -> None:
    """Refuse, in one line, a schema other than the code's; create an empty one at the newest
    revision when ``create``. Nothing is ever upgraded here: that is 'commgate db upgrade'."""
    found = schema_state(engine)
    state = found.state
    if state == "current":
        return
    name = engine.url.render_as_string(hide_password=True)
    if state == "empty":
        if not create:
            raise SchemaError(
                f"the database {name} has no commgate schema: 'commgate init' creates one, "
                "'commgate restore DIR' restores a backup into it")
        migrate(engine)
        return
    if state == "behind":
        raise SchemaError(
            f"the database {name} is at schema revision {found.current} and this commgate "
            f"needs {found.head}: {UPGRADE_HINT}")
    raise SchemaError(
        f"the database {name} is at schema revision {found.current}, which this commgate "
        f"(newest {found.head}) does not know: it was made by a newer commgate; run that one")


def migrate(engine: Engine) -> None:
    """Upgrade to the newest revision; a no-op when the schema is already there (``init``
    of an empty database and 'commgate db upgrade' call it; nothing else migrates)."""
    from alembic import command

    config = alembic_config()
    head = code_revisions()[0]
    with engine.begin() as connection:
        current = database_revision(connection)
        if current == head:
            return
        log.info("migrating the database from %s to %s", current or "empty", head)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def migrate_on(connection: Connection) -> None:
    """Create or upgrade the schema inside the caller's transaction (``db rebuild``: the
    schema and the rows it rebuilds commit together, or neither)."""
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (tests of a database behind the code)."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
