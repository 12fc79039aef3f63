"""systemd's notify protocol as the real daemon speaks it (issue 18, item 3): READY=1, STATUS=
with the intakes, the backlog and the last verify, WATCHDOG=1 every half WATCHDOG_USEC while
the filing side makes progress, RELOADING=1 on SIGHUP, STOPPING=1. The test binds the unix
datagram socket systemd would (NOTIFY_SOCKET) and reads what arrives."""

from __future__ import annotations

import contextlib
import signal
import smtplib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from gateway.bootstrap import App
from gateway.daemon.health import Stall, stalls
from gateway.daemon.sdnotify import watchdog_seconds
from gateway.db.models import Message
from tests.support.daemon import daemon_process, smtp_ready
from tests.support.dovecot import free_port
from tests.support.mail import make_message
from tests.support.notify import NotifySocket
from tests.support.waiting import wait_for

# A worker process loads the language models before it files: on a loaded machine that takes
# tens of seconds, which the waits for a filed message allow (an upper bound, not a timing).
FILED_SECONDS = 180.0


def configure(home: Path) -> int:
    port = free_port()
    with open(home / "commgate.toml", "a") as fh:
        fh.write(f'\n[smtp]\nenabled = true\nlisten = "127.0.0.1"\nport = {port}\n'
                 '\n[worker]\nprocesses = 1\n')
    return port


def send(port: int, subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail("anna@customer.example", ["sales@northpoint.example"],
                        make_message(subject=subject))


def filed(app: App, subject: str) -> bool:
    with app.db.session() as session:
        return session.scalar(select(Message.id).where(Message.subject == subject)) is not None


@contextlib.contextmanager
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    try:
        yield sock
    finally:
        sock.close()


@contextlib.contextmanager
def filing_blocked(db_url: str) -> Iterator[None]:
    """A lock held by another connection that the filing side waits for: on SQLite the write
    lock (BEGIN IMMEDIATE; the daemon's writers wait up to busy_timeout, 60 s), on PostgreSQL
    the messages table (EXCLUSIVE: reads go on, a filing worker waits as long as it is held)."""
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.split("///", 1)[1], isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        return
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("LOCK TABLE messages IN EXCLUSIVE MODE"))
            yield
            conn.rollback()
    finally:
        engine.dispose()


def test_notify_socket_receives_ready_status_watchdog_reloading_and_stopping(home, tmp_path):
    port = configure(home)
    log_path = tmp_path / "daemon.log"
    app = App.open(home)
    with contextlib.closing(app), notify_socket(tmp_path) as sock:
        # WatchdogSec=10: pings every 5 s, and no part of a busy test machine is silent that long.
        env = {"NOTIFY_SOCKET": str(sock.path), "WATCHDOG_USEC": "10000000"}
        with daemon_process(home, log_path, env) as daemon:
            sock.wait(lambda m: m.get("READY") == "1", "READY=1")
            status = sock.wait(lambda m: "STATUS" in m, "STATUS=")["STATUS"]
            assert "smtp: listening on 127.0.0.1" in status, status
            assert "backlog 0" in status and "last verify: none yet (every 24 h)" in status
            sock.wait(lambda m: m.get("WATCHDOG") == "1", "WATCHDOG=1")
            assert smtp_ready(port)
            send(port, "counted in the backlog")
            wait_for(lambda: filed(app, "counted in the backlog"), what="the message filed",
                     timeout=FILED_SECONDS)
            daemon.send_signal(signal.SIGHUP)
            sock.wait(lambda m: m.get("RELOADING") == "1", "RELOADING=1")
            sock.wait(lambda m: m.get("READY") == "1", "READY=1 after the reload")
            # Still alive after the reload and the filing: pings go on.
            sock.wait(lambda m: m.get("WATCHDOG") == "1", "WATCHDOG=1 after the reload")
            daemon.send_signal(signal.SIGTERM)
            sock.wait(lambda m: m.get("STOPPING") == "1", "STOPPING=1")
            assert daemon.wait(timeout=60) == 0, log_path.read_text()[-3000:]
    assert "WATCHDOG WITHHELD" not in " ".join(m.get("STATUS", "") for m in sock.received)


def test_watchdog_stops_while_the_filing_side_hangs_with_a_backlog(home, tmp_path, db_url):
    port = configure(home)
    log_path = tmp_path / "daemon.log"
    app = App.open(home)
    with contextlib.closing(app), notify_socket(tmp_path) as sock:
        # WatchdogSec=2: pings every second, a stall shows within seconds.
        env = {"NOTIFY_SOCKET": str(sock.path), "WATCHDOG_USEC": "2000000"}
        with daemon_process(home, log_path, env):
            sock.wait(lambda m: m.get("READY") == "1", "READY=1")
            wait_for(lambda: smtp_ready(port), what="the SMTP intake")
            send(port, "filed before the lock")  # the worker process has started
            wait_for(lambda: filed(app, "filed before the lock"), what="the first message",
                     timeout=FILED_SECONDS)
            with filing_blocked(db_url):
                # Idle, with no backlog: the daemon keeps pinging, even while a lock is held.
                for _ in range(2):
                    sock.wait(lambda m: m.get("WATCHDOG") == "1", "WATCHDOG=1 while idle")
                send(port, "waits behind the lock")  # archived and acknowledged regardless
                stalled = sock.wait(lambda m: "WATCHDOG WITHHELD" in m.get("STATUS", ""),
                                    "the stall named in STATUS=")
                assert "WATCHDOG" not in stalled, stalled
                # The next two status updates come without a ping either: systemd would
                # restart the daemon after WatchdogSec.
                for _ in range(2):
                    following = sock.next()
                    assert "WATCHDOG" not in following, following
                    assert "WATCHDOG WITHHELD" in following["STATUS"], following
                assert "watchdog: not telling systemd we are alive" in log_path.read_text()
            # The lock is released: the worker files the message and the pings come back.
            sock.wait(lambda m: m.get("WATCHDOG") == "1", "WATCHDOG=1 after the lock",
                      timeout=FILED_SECONDS)
            wait_for(lambda: filed(app, "waits behind the lock"), what="the message filed",
                     timeout=FILED_SECONDS)
            wait_for(lambda: "pings resumed" in log_path.read_text(), what="the resumed line")


@pytest.mark.parametrize(("variables", "expected"), [
    ({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"}, 30.0),
    ({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
    ({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "30000000"}, None),
])
def test_watchdog_interval_is_systemds_for_this_process_only(monkeypatch, variables, expected):
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert watchdog_seconds() == expected


def test_a_part_silent_past_the_limit_stalls_only_while_mail_waits():
    busy = {"the archive write": 95.0, "worker 0 (pid 7)": 80.0}
    assert stalls(100.0, 10.0, busy, waiting=3) == [Stall("worker 0 (pid 7)", 20.0)]
    assert stalls(100.0, 10.0, busy, waiting=None) == [Stall("worker 0 (pid 7)", 20.0)]
    assert stalls(100.0, 10.0, busy, waiting=0) == []  # idle: nothing waits for it
    assert stalls(100.0, 30.0, busy, waiting=3) == []
