"""Shared fixtures: real SQLite and real PostgreSQL, a fresh home per test, the CLI in-process.

Every test that takes ``db_url`` (directly or through ``home``/``app``) runs once per backend.
PostgreSQL tests work in a database created for the test from a migrated template and dropped
afterwards; they fail (never skip) when no server answers, unless COMMGATE_TEST_BACKENDS
excludes ``postgresql``. Tests marked ``corpora`` read the shared third-party corpora (CORPORA)
and skip when they are absent; see ``pytest_collection_modifyitems`` for when that is an error.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.bootstrap import App
from gateway.config import DATABASE_URL_ENV
from gateway.db.session import Database
from gateway.installation import init_home
from tests.support.cli import CliResult, run_cli
from tests.support.corpora import CORPORA_MISSING, REQUIRE_CORPORA_ENV
from tests.support.databases import (
    BACKENDS,
    PG_ADMIN_URL,
    PgDatabases,
    fresh_pg_database,
    pg_admin,
    pg_url,
)
from tests.support.mail import ALIASES
from tests.support.web import TEST_HASHING, configure_web


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "corpora: reads the shared third-party corpora; skipped when they are absent")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Absent corpora are an error, not a skip, where COMMGATE_REQUIRE_CORPORA is set.

    Not keyed on ``CI``: the README's command must stay green in a fresh clone on any machine,
    and many machines set ``CI`` without having the corpora. The CI entry point (.ci/run), whose
    machine puts them beside the clone, sets the variable, so a CI that lost them stops with
    this one line instead of silently skipping the corpus tests.
    """
    required = os.environ.get(REQUIRE_CORPORA_ENV, "") not in ("", "0")
    if CORPORA_MISSING and required and any(i.get_closest_marker("corpora") for i in items):
        raise pytest.UsageError(f"{CORPORA_MISSING} ({REQUIRE_CORPORA_ENV} is set)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a ``corpora`` test when the corpora are absent, before any of its fixtures runs."""
    if CORPORA_MISSING and item.get_closest_marker("corpora"):
        pytest.skip(CORPORA_MISSING)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated database that each test's database is copied from (fast CREATE ... TEMPLATE)."""
    name = f"commgate_tpl_{uuid.uuid4().hex[:10]}"
    admin = pg_admin()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - environment problem, reported clearly
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}. Start it or set "
                    f"COMMGATE_TEST_BACKENDS=sqlite")
    url = pg_url(name)
    Database.open(url, schema="create").close()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_databases(pg_template: str) -> Iterator[PgDatabases]:
    """The tests' fresh PostgreSQL databases, made and dropped in the background."""
    databases = PgDatabases(pg_template)
    yield databases
    databases.close()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+pysqlite:///{tmp_path / 'commgate.db'}"
        return
    databases: PgDatabases = request.getfixturevalue("pg_databases")
    url = databases.take()
    yield url
    databases.give_back(url)


@pytest.fixture
def home(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised home (prefix NPC, three aliases) whose database is this test's backend."""
    monkeypatch.setenv(DATABASE_URL_ENV, db_url)
    path = tmp_path / "home"
    init_home(str(path), "NPC", ALIASES)
    configure_web(path, password_hashing=TEST_HASHING)
    return path


@pytest.fixture
def app(home: Path) -> Iterator[App]:
    application = App.open(home)
    yield application
    application.close()


@pytest.fixture(scope="module", params=BACKENDS)
def module_app(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """One installation (as ``app``, each backend) shared by the tests of a module, for tests
    that only read what a fixture made in it: a home costs seconds, a test milliseconds."""
    root = tmp_path_factory.mktemp("module")
    with pytest.MonkeyPatch.context() as patch, _module_db(request, root) as url:
        patch.setenv(DATABASE_URL_ENV, url)
        init_home(str(root / "home"), "NPC", ALIASES)
        configure_web(root / "home", password_hashing=TEST_HASHING)
        application = App.open(root / "home")
        yield application
        application.close()


@contextmanager
def _module_db(request: pytest.FixtureRequest, root: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+pysqlite:///{root / 'commgate.db'}"
        return
    with fresh_pg_database(request.getfixturevalue("pg_template")) as url:
        yield url


@pytest.fixture
def cli(home: Path):  # type: ignore[no-untyped-def]
    """Run ``commgate --home HOME ARGS...`` in-process and capture what it prints."""

    def run(*args: str, use_home: bool = True) -> CliResult:
        return run_cli(*(["--home", str(home)] if use_home else []), *args)

    return run


@pytest.fixture
def small_fs(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Mount a real tmpfs of a given size (a real full or read-only disk); unmounted after."""
    mounts: list[Path] = []

    def mount(size_kib: int, name: str = "fs") -> Path:
        target = tmp_path / name
        target.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs",
                               str(target)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
        mounts.append(target)
        return target

    yield mount
    for target in mounts:
        subprocess.run(["umount", "-l", str(target)], check=False)
