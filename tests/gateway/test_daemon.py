"""`commgate run` as an operator runs it: every intake on one loop, the worker, clean SIGTERM."""

from __future__ import annotations

import contextlib
import gc
import mailbox
import os
import signal
import smtplib
import subprocess
import sys
from pathlib import Path

from gateway.bootstrap import App
from gateway.workflows.cases import list_cases
from tests.support.daemon import daemon_process
from tests.support.databases import pg_admin
from tests.support.dovecot import Dovecot, free_port
from tests.support.imap import append
from tests.support.mail import make_message
from tests.support.waiting import DEADLINE_SECONDS, wait_for


def configure(home: Path, smtp_port: int, imap_port: int, drop: Path) -> None:
    with open(home / "commgate.toml", "a") as fh:
        fh.write(f"""
[smtp]
enabled = true
listen = "127.0.0.1"
port = {smtp_port}
hostname = "mx.northpoint.test"

[[imap]]
name = "sales"
host = "127.0.0.1"
port = {imap_port}
security = "none"
user = "sales"
password_env = "TEST_DAEMON_IMAP_PASSWORD"
alias = "sales@northpoint.example"
after_archive = "move"

[[dropfolders]]
path = "{drop}"
""")


def smtp_ready(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
            return client.noop()[0] == 250
    except OSError:
        return False


def test_daemon_takes_mail_from_smtp_imap_and_a_drop_folder_then_stops(home, tmp_path):
    drop = tmp_path / "Maildir"
    mailbox.Maildir(str(drop))
    smtp_port = free_port()
    log_path = tmp_path / "daemon.log"
    with Dovecot(users={"sales": "sales-secret"}) as dovecot, open(log_path, "w") as log:
        configure(home, smtp_port, dovecot.port, drop)
        env = {**os.environ, "COMMGATE_HOME": str(home),
               "TEST_DAEMON_IMAP_PASSWORD": "sales-secret"}
        # The log goes to a file, not a pipe nobody reads while the test waits.
        daemon = subprocess.Popen([sys.executable, "-m", "gateway.cli.main", "run"], env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: smtp_ready(smtp_port), what="the SMTP intake to listen")
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
                client.sendmail("anna@customer.example", ["sales@northpoint.example"],
                                make_message(subject="by smtp"))
            append(dovecot, [make_message(subject="by imap")])
            mailbox.Maildir(str(drop)).add(make_message(subject="by drop folder"))

            app = App.open(home)
            try:
                def subjects() -> list[str] | None:
                    with app.db.session() as session:
                        found = sorted(c["subject"] for c in list_cases(session))
                    return found if len(found) == 3 else None

                assert wait_for(subjects, what="three cases") == [
                    "by drop folder", "by imap", "by smtp"]
            finally:
                app.close()
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=DEADLINE_SECONDS)  # above the daemon's drain bound
            except subprocess.TimeoutExpired:
                daemon.send_signal(signal.SIGUSR1)  # the daemon logs what each task waits for
                with contextlib.suppress(subprocess.TimeoutExpired):
                    daemon.wait(timeout=2)
                daemon.kill()
                raise AssertionError("the daemon did not stop on SIGTERM:\n"
                                     + log_path.read_text()[-3000:]) from None
    output = log_path.read_text()
    assert daemon.returncode == 0, output[-3000:]
    assert f"listening on 127.0.0.1:{smtp_port}" in output
    assert "imap:sales: connected" in output
    assert "stopped" in output


def test_daemon_signs_checkpoints_and_verifies_on_schedule(home, tmp_path, cli):
    key = tmp_path / "keys" / "checkpoint.key"
    key.parent.mkdir()
    assert cli("archive", "keygen", str(key)).code == 0
    drop = tmp_path / "Maildir"
    mailbox.Maildir(str(drop))
    config = home / "commgate.toml"
    config.write_text(config.read_text().replace(
        'path = "archive"', f'path = "archive"\ncheckpoint_key = "{key}"\n'
        "checkpoint_minutes = 0.005\nverify_hours = 0.0001")
        + f'\n[[dropfolders]]\npath = "{drop}"\n')
    log_path = tmp_path / "daemon.log"
    with daemon_process(home, log_path) as daemon:
        mailbox.Maildir(str(drop)).add(make_message())
        signed = home / "archive" / "checkpoints" / "checkpoints.jsonl"
        wait_for(lambda: signed.exists() and '"tree_size":1' in signed.read_text()
                 .replace(" ", ""), what="a signed checkpoint over the first entry")
        wait_for(lambda: "scheduled verify: archive intact" in log_path.read_text(),
                 what="a scheduled verify")
    assert daemon.returncode == 0, log_path.read_text()[-3000:]
    assert cli("archive", "verify", "--json").json()["checkpoints"] >= 1


def lose_database(app: App) -> None:
    """The database disappears under the running daemon (a real fault, not a stand-in)."""
    from sqlalchemy import text

    url = app.db.engine.url
    app.db.engine.dispose()
    if url.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{url.database}{suffix}").unlink(missing_ok=True)
        return
    admin = pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{url.database}" WITH (FORCE)'))
    admin.dispose()


def test_a_scheduled_verify_without_its_database_logs_one_line_and_lets_the_daemon_run(
        app, caplog):
    from gateway.daemon.supervisor import Daemon

    daemon = Daemon(app)
    lose_database(app)
    with caplog.at_level("ERROR", logger="gateway.daemon.supervisor"):
        daemon._verify()  # before: the exception ended the integrity task for good
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.daemon.supervisor"]
    assert len(lines) == 1
    assert lines[0].startswith("scheduled verify could not run: ")
    assert "\n" not in lines[0]


class _Loaded:
    """An object made at start-up (the rules, a mapper), in a reference cycle as many are."""

    def __init__(self) -> None:
        self.me = self


def test_start_up_objects_are_out_of_the_collectors_sight_once_the_daemon_is_ready():
    # A full collection walks every object it tracks while the event loop waits: the daemon
    # freezes what start-up made, so later collections walk only what was made since.
    from gateway.daemon.supervisor import freeze_startup_heap

    loaded = _Loaded()
    try:
        freeze_startup_heap()
        assert not any(o is loaded for o in gc.get_objects())
        made_later = _Loaded()
        assert any(o is made_later for o in gc.get_objects())
    finally:
        gc.unfreeze()  # the test process's collector as it was


def test_the_gap_scan_waits_while_the_recorder_holds_entries_it_has_yet_to_queue(app):
    # A scan then would find them missing and queue them itself, the recorder again after it
    # (under SMTP load: most entries twice); it still runs every SCAN_EVERY_SECONDS.
    import time

    from gateway.daemon.supervisor import SCAN_EVERY_SECONDS, Daemon

    daemon = Daemon(app)
    now = time.monotonic()
    assert daemon._scan_due(now)  # nothing waits to be queued: scan
    daemon.committer.recording = (now, 3)  # the recorder is queueing three entries
    assert not daemon._scan_due(now)
    assert daemon._scan_due(now - SCAN_EVERY_SECONDS)
