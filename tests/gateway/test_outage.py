"""PostgreSQL outage under SMTP load: every message that got 250 ends up filed in a case.

Issue 11 found thousands of acknowledged messages never filed after PostgreSQL was stopped
for a few seconds under load. Here ``commgate run`` takes mail from several smtplib clients
while its own private PostgreSQL server (not the suite's shared one, which other tests use) is
stopped and started again, in the running daemon and across a daemon restart.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gateway.config import DATABASE_URL_ENV
from gateway.installation import init_home
from tests.support.daemon import smtp_ready
from tests.support.dovecot import free_port
from tests.support.mail import ALIASES, make_message
from tests.support.waiting import wait_for

pytestmark = pytest.mark.postgresql_outage

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb + pg_ctl as the ``postgres`` user, which
    the server requires, since it refuses to run as root), on a free loopback port."""

    def __init__(self) -> None:
        self.bin = Path(PG_BIN[-1]).parent
        self.port = free_port()
        # Not under pytest's tmp_path: the postgres user cannot enter root's private folders.
        self.folder = Path(tempfile.mkdtemp(prefix="commgate-outage-pg-"))
        self.data = self.folder / "data"
        shutil.chown(self.folder, "postgres", "postgres")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/commgate"
        self._as_postgres("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                          "--no-sync")

    def _as_postgres(self, program: str, *args: str) -> None:
        done = subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / program),
                               *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"{program} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        # fsync off: this server stands for availability, not for the database's durability.
        self._as_postgres("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"),
                          "-w", "-t", "60", "-o", f"-p {self.port} -k {self.folder} "
                          "-c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as in a crash of the database host."""
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self) -> None:
        admin = create_engine(self.url.rsplit("/", 1)[0] + "/postgres",
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE commgate"))
        admin.dispose()

    def remove(self) -> None:
        with contextlib.suppress(AssertionError):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    if not PG_BIN:
        pytest.skip("PostgreSQL's initdb is not installed (/usr/lib/postgresql/*/bin): the "
                    "outage test needs a PostgreSQL server of its own to stop")
    if os.geteuid() != 0:
        pytest.skip("the outage test runs its PostgreSQL server as the postgres user, which "
                    "needs root (runuser)")
    server = PrivatePostgres()
    try:
        server.start()
        server.create_database()
        yield server
    finally:
        server.remove()


class Daemon:
    """``commgate run`` in a subprocess, its log in a file."""

    def __init__(self, home: Path, port: int, log_path: Path, env: dict[str, str]) -> None:
        self.home, self.port, self.log_path, self.env = home, port, log_path, env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "gateway.cli.main", "run"],
                                            env=self.env, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: smtp_ready(self.port), what="the SMTP intake to listen")

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("the daemon did not stop on SIGTERM:\n" + self.log()) from None

    def log(self) -> str:
        return self.log_path.read_text()[-4000:]


class Senders:
    """Client threads, each sending one new message after another; they record the
    Message-ID of every message that got 250, and nothing else counts as delivered."""

    def __init__(self, port: int, threads: int = 4, limit: int = 1000) -> None:
        self.port = port
        self.limit = limit  # per thread: the load is bounded even if the test hangs
        self.accepted: list[str] = []
        self.refused = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(n,), daemon=True)
                         for n in range(threads)]

    def __enter__(self) -> Senders:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def done(self) -> bool:
        """Every thread has sent its ``limit``."""
        return not any(thread.is_alive() for thread in self._threads)

    def count(self) -> int:
        with self._lock:
            return len(self.accepted)

    def _send(self, number: int) -> None:
        client: smtplib.SMTP | None = None
        for _ in range(self.limit):
            if self._stop.is_set():
                break
            message_id = f"{uuid.uuid4().hex}@customer.example"
            raw = make_message(subject=f"outage load {number}", message_id=f"<{message_id}>")
            try:
                if client is None:
                    client = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
                client.sendmail("anna@customer.example", [ALIASES[number % len(ALIASES)]], raw)
            except (smtplib.SMTPException, OSError):
                with self._lock:
                    self.refused += 1
                if client is not None:
                    with contextlib.suppress(Exception):
                        client.close()
                client = None
                continue
            with self._lock:
                self.accepted.append(message_id)
        if client is not None:
            with contextlib.suppress(Exception):
                client.quit()


def filed_ids(url: str) -> set[str]:
    """Message-IDs with a messages row in a case and a receipts row that names it as filed."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT m.message_id FROM messages m JOIN cases c ON c.id = m.case_id "
                "JOIN receipts r ON r.message_pk = m.id AND r.status = 'filed'")).scalars()
            return {value.strip("<>") for value in rows}
    finally:
        engine.dispose()


def first_message_filed(port: int, url: str) -> None:
    """Send one message and wait until it is filed: the daemon's workers are then up, so the
    senders' load starts against a daemon that files (not one still starting its workers, which
    acknowledged some 1,400 messages first, all to be filed before the test could end)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail("anna@customer.example", [ALIASES[0]], make_message(
            subject="before the load", message_id="<first@customer.example>"))
    wait_for(lambda: "first@customer.example" in filed_ids(url), what="the first message filed")


def all_filed(url: str, accepted: list[str]) -> bool:
    with contextlib.suppress(Exception):  # the database may still be starting
        return set(accepted) <= filed_ids(url)
    return False


@pytest.fixture
def outage_home(postgres: PrivatePostgres, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> tuple[Path, int, dict[str, str]]:
    monkeypatch.setenv(DATABASE_URL_ENV, postgres.url)
    home = tmp_path / "home"
    init_home(str(home), "NPC", ALIASES)
    port = free_port()
    with open(home / "commgate.toml", "a") as fh:
        fh.write(f'\n[smtp]\nenabled = true\nlisten = "127.0.0.1"\nport = {port}\n'
                 'hostname = "mx.northpoint.test"\n')
    return home, port, {**os.environ, "COMMGATE_HOME": str(home)}


def test_every_250_is_filed_after_postgresql_stops_under_smtp_load(
        postgres: PrivatePostgres, outage_home: tuple[Path, int, dict[str, str]],
        tmp_path: Path) -> None:
    home, port, env = outage_home
    daemon = Daemon(home, port, tmp_path / "daemon.log", env)
    daemon.start()
    try:
        first_message_filed(port, postgres.url)
        with Senders(port) as senders:
            # Some mail filed first: the outage's gap then lies between filed entries.
            wait_for(lambda: len(filed_ids(postgres.url)) >= 20,
                     what="mail filed before the outage")
            postgres.stop()
            stopped_at, before = time.monotonic(), senders.count()
            # Several seconds without the database, with mail still being acknowledged.
            wait_for(lambda: time.monotonic() - stopped_at >= 3
                     and senders.count() >= before + 40,
                     what="mail acknowledged during the outage")
            postgres.start()
            restarted = senders.count()
            wait_for(lambda: senders.count() >= restarted + 20 or senders.done(),
                     what="mail after the outage")
        accepted = list(senders.accepted)
        started = time.monotonic()
        wait_for(lambda: all_filed(postgres.url, accepted),
                 what=f"all {len(accepted)} acknowledged messages to be filed")
        print(f"{len(accepted)} acknowledged ({before} before the outage, {restarted - before} "
              f"during it), all filed {time.monotonic() - started:.1f} s after the last")
    finally:
        code = daemon.stop()
    log = daemon.log_path.read_text()
    assert code == 0, daemon.log()
    # One line when the outage starts and one when it ends, not one per attempt.
    assert log.count("processing paused:") == 1, daemon.log()
    assert log.count("processing resumed after") == 1, daemon.log()
    assert log.count("could not queue them in the database") == 1, daemon.log()


def test_mail_acknowledged_while_postgresql_was_down_is_filed_at_the_next_start(
        postgres: PrivatePostgres, outage_home: tuple[Path, int, dict[str, str]],
        tmp_path: Path) -> None:
    home, port, env = outage_home
    daemon = Daemon(home, port, tmp_path / "daemon.log", env)
    daemon.start()
    try:
        first_message_filed(port, postgres.url)
        with Senders(port, threads=2) as senders:
            wait_for(lambda: len(filed_ids(postgres.url)) >= 5, what="mail filed first")
            postgres.stop()
            before = senders.count()
            wait_for(lambda: senders.count() >= before + 30, what="mail during the outage")
        assert daemon.stop() == 0, daemon.log()
        postgres.start()
        daemon.start()
        accepted = list(senders.accepted)
        wait_for(lambda: all_filed(postgres.url, accepted),
                 what=f"all {len(accepted)} acknowledged messages to be filed")
    finally:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.stop()
    assert "archived entries that had no database row" in daemon.log_path.read_text()
