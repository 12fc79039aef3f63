"""Shared fixtures: real SQLite and real PostgreSQL, a fresh home per test, the CLI in-process.

Every test that takes ``db_url`` (directly or through ``home``/``app``) runs once per backend.
PostgreSQL tests work in a database created for the test from a migrated template and dropped
afterwards; they fail (never skip) when no server answers, unless COMMGATE_TEST_BACKENDS
excludes ``postgresql``. Tests marked ``corpora`` read the shared third-party corpora (CORPORA)
and skip when they are absent; see ``pytest_collection_modifyitems`` for when that is an error.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from bench.corpora import CORPORA_ENV, corpora_root
from gateway.bootstrap import App
from gateway.cli.main import main as cli_main
from gateway.config import DATABASE_URL_ENV
from gateway.db.session import Database
from gateway.installation import init_home

PG_ADMIN_URL = os.environ.get(
    "COMMGATE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = os.environ.get("COMMGATE_TEST_BACKENDS", "sqlite,postgresql").split(",")
CORPORA = corpora_root()
CORPORA_MISSING = None if CORPORA.is_dir() else (
    f"shared corpora not found at {CORPORA}; set {CORPORA_ENV} to the corpora folder to run "
    f"these tests")
REQUIRE_CORPORA_ENV = "COMMGATE_REQUIRE_CORPORA"
FIXTURES = Path(__file__).parent / "fixtures"
ALIASES = ["sales@northpoint.example", "support@northpoint.example", "returns@northpoint.example"]


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


def _pg_admin():  # type: ignore[no-untyped-def]
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated database that each test's database is copied from (fast CREATE ... TEMPLATE)."""
    name = f"commgate_tpl_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - environment problem, reported clearly
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}. Start it or set "
                    f"COMMGATE_TEST_BACKENDS=sqlite")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    Database.open(url).close()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+pysqlite:///{tmp_path / 'commgate.db'}"
        return
    with fresh_pg_database(request.getfixturevalue("pg_template")) as url:
        yield url


@contextmanager
def fresh_pg_database(template: str, prefix: str = "commgate_t") -> Iterator[str]:
    """A database copied from the migrated template (fast), dropped afterwards; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def home(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised home (prefix NPC, three aliases) whose database is this test's backend."""
    monkeypatch.setenv(DATABASE_URL_ENV, db_url)
    path = tmp_path / "home"
    init_home(str(path), "NPC", ALIASES)
    return path


@pytest.fixture
def app(home: Path) -> Iterator[App]:
    application = App.open(home)
    yield application
    application.close()


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@pytest.fixture
def cli(home: Path):  # type: ignore[no-untyped-def]
    """Run ``commgate --home HOME ARGS...`` in-process and capture what it prints."""

    def run(*args: str, use_home: bool = True) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        argv = (["--home", str(home)] if use_home else []) + list(args)
        with redirect_stdout(out), redirect_stderr(err):
            code = cli_main(argv)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


def make_message(
    subject: str = "Question about part 1234",
    body: str = "Hello, could you send us a quote for 20 pieces?\n\nRegards\nAnna",
    sender: str = "Anna Buyer <anna@customer.example>",
    to: str = "sales@northpoint.example",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    date: str = "Mon, 23 Nov 2026 09:15:00 +0100",
    extra_headers: str = "",
) -> bytes:
    """A small, valid RFC 5322 message with CRLF line ends."""
    message_id = message_id or f"<{uuid.uuid4().hex}@customer.example>"
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Date: {date}",
             f"Message-ID: {message_id}"]
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if references:
        lines.append(f"References: {references}")
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
              "Content-Transfer-Encoding: 8bit"]
    if extra_headers:
        lines += extra_headers.strip("\r\n").splitlines()
    head = "\r\n".join(lines)
    return (head + "\r\n\r\n" + body.replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n"
            ).encode("utf-8")


def write_messages(folder: Path, messages: list[bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, raw in enumerate(messages, start=1):
        path = folder / f"{number:05d}.eml"
        path.write_bytes(raw)
        paths.append(path)
    return paths


def python_executable() -> str:
    return sys.executable


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


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


@contextmanager
def daemon_process(home: Path, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``commgate run`` for ``home`` in a subprocess, its output in ``log_path``.

    On leaving, a daemon still running is stopped with SIGTERM; one that does not stop within
    30 s is killed and the test fails with the end of its log.
    """
    with open(log_path, "w") as log:
        daemon = subprocess.Popen([sys.executable, "-m", "gateway.cli.main", "run"],
                                  env={**os.environ, "COMMGATE_HOME": str(home)},
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            yield daemon
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait(timeout=5)
                    raise AssertionError("the daemon did not stop on SIGTERM:\n"
                                         + log_path.read_text()[-3000:]) from None


def wait_for(condition, timeout: float = 30.0, what: str = "condition"):  # type: ignore
    """Poll ``condition`` until it returns something truthy (returned), or fail after
    ``timeout`` seconds: waiting for a state, never sleeping for an assumed duration."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
