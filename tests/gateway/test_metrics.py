"""[metrics] listen and log_format, as an operator meets them: the real daemon in a subprocess,
scraped over HTTP on loopback, its stderr parsed line by line."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import smtplib
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from gateway.core import logs
from tests.support.daemon import smtp_ready, stop_with_sigterm
from tests.support.databases import pg_admin
from tests.support.dovecot import free_port
from tests.support.mail import make_message
from tests.support.waiting import wait_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
# A deadline, not a delay: worker processes load the classifier (spaCy) before they file, which
# takes tens of seconds on a machine busy with other test processes.
DEADLINE = 180.0


def configure(home: Path, *, smtp_port: int, metrics_port: int | None = None,
              top: str = "", processes: int = 1) -> None:
    """SMTP on ``smtp_port``, one worker process (filing happens outside the daemon's
    process, which is what the database-derived figures are for), ``top``-level settings."""
    config = home / "commgate.toml"
    body = config.read_text()
    metrics = f'\n[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n' if metrics_port else ""
    config.write_text(top + "\n" + body + f"""
[smtp]
enabled = true
listen = "127.0.0.1"
port = {smtp_port}
hostname = "mx.northpoint.test"
""" + metrics + ("" if "[worker]" in body else f"\n[worker]\nprocesses = {processes}\n"))


@contextmanager
def daemon(home: Path, log_path: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``commgate run`` with its stderr (and stdout) in ``log_path``; ``env`` added. A
    ``JOURNAL_STREAM="log"`` names the log file's own device and inode, as systemd names the
    journal's stream."""
    with open(log_path, "w") as log:
        if env.get("JOURNAL_STREAM") == "log":
            st = os.fstat(log.fileno())
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        process = subprocess.Popen([sys.executable, "-m", "gateway.cli.main", "run"],
                                   env={**os.environ, "COMMGATE_HOME": str(home), **env},
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            stop_with_sigterm(process, "the daemon", log_path)


def get(port: int, path: str) -> tuple[int, str]:
    """(status, body) of GET http://127.0.0.1:PORT/PATH; (0, reason) when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def scrape(port: int) -> Samples:
    status, body = get(port, "/metrics")
    assert status == 200, body
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def send(port: int, count: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        for number in range(count):
            client.sendmail("anna@customer.example", ["sales@northpoint.example"],
                            make_message(subject=f"Quote for part {number}",
                                         message_id=f"<metrics-{number}@customer.example>"))


def lose_database(url: str) -> None:
    """The database disappears under the running daemon: SQLite's file deleted, PostgreSQL's
    database dropped (real faults; chmod would not stop a root test run)."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    admin = pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def test_metrics_move_during_an_ingest_and_readyz_follows_the_database(home, tmp_path, db_url):
    smtp_port, metrics_port = free_port(), free_port()
    configure(home, smtp_port=smtp_port, metrics_port=metrics_port)
    log_path = tmp_path / "daemon.log"
    with daemon(home, log_path):
        wait_for(lambda: get(metrics_port, "/healthz")[0] == 200, what="/healthz to answer 200",
                 timeout=DEADLINE)
        assert get(metrics_port, "/healthz") == (200, "ok\n")
        wait_for(lambda: smtp_ready(smtp_port), what="the SMTP intake", timeout=DEADLINE)
        ready = wait_for(lambda: (r := get(metrics_port, "/readyz"))[0] == 200 and r,
                         what="/readyz 200", timeout=DEADLINE)
        assert ready == (200, "ok\n")
        before = scrape(metrics_port)
        assert value(before, "commgate_database_up") == 1
        assert value(before, "commgate_messages_filed_total") == 0
        assert value(before, "commgate_last_verify_age_seconds") == float("inf")

        send(smtp_port, 5)
        # The SMTP counters moved by the time the 250s came back; filing (in the worker
        # process) shows in the database's figures once it is done: polled, never slept on.
        after = scrape(metrics_port)
        assert value(after, "commgate_messages_accepted_total", intake="smtp") == 5
        assert value(after, "commgate_messages_archived_total", intake="smtp") == 5
        assert value(after, "commgate_accept_seconds_count", intake="smtp") == 5
        assert value(after, "commgate_archive_failures_total") == 0

        def filed() -> Samples | None:
            samples = scrape(metrics_port)
            done = (value(samples, "commgate_messages_filed_total", intake="smtp") == 5
                    and value(samples, "commgate_backlog") == 0)
            return samples if done else None

        samples = wait_for(filed, what="5 messages filed and the backlog at 0", timeout=DEADLINE)
        categories = {dict(ls)["category"] for (n, ls) in samples
                      if n == "commgate_messages_filed_total"}
        assert categories and categories <= {"enquiry", "order", "feedback", "property", "other"}
        for name in ("commgate_sla_breaches", "commgate_reviews_open",
                     "commgate_outbound_queue", "commgate_quarantine_open",
                     "commgate_last_checkpoint_age_seconds", "process_resident_memory_bytes"):
            assert any(n == name for n, _ in samples), name
        assert get(metrics_port, "/nothing")[0] == 404

        lose_database(db_url)
        _, reason = wait_for(lambda: (r := get(metrics_port, "/readyz"))[0] == 503 and r,
                             what="/readyz 503 without the database", timeout=DEADLINE)
        assert reason.startswith("database "), reason
        assert "\n" not in reason.rstrip("\n")  # one line per problem, only this one
        # /metrics still answers, saying the database does not; the process is alive.
        assert value(scrape(metrics_port), "commgate_database_up") == 0
        assert get(metrics_port, "/healthz")[0] == 200
    assert "metrics on http://127.0.0.1:" in log_path.read_text()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_metrics_address_in_use_is_one_line_and_exit_2(home, cli):
    """A port already taken is the one line 'run' exits with (exit 2), before any mail."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        configure(home, smtp_port=free_port(), metrics_port=port)
        result = cli("run")
    assert result.code == 2
    assert f"metrics: cannot listen on 127.0.0.1:{port}" in result.err


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_json_log_lines_parse_and_carry_the_worker(home, tmp_path):
    smtp_port, metrics_port = free_port(), free_port()
    configure(home, smtp_port=smtp_port, metrics_port=metrics_port,
              top='log_format = "json"\nlog_level = "DEBUG"')
    log_path = tmp_path / "daemon.log"
    with daemon(home, log_path, COMMGATE_TEST_SECRET="x"):
        wait_for(lambda: smtp_ready(smtp_port), what="the SMTP intake", timeout=DEADLINE)
        send(smtp_port, 2)
        wait_for(lambda: value(scrape(metrics_port), "commgate_messages_filed_total") == 2,
                 what="2 messages filed", timeout=DEADLINE)
    lines = log_path.read_text().splitlines()
    assert lines
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for record in records:
        assert {"time", "level", "logger", "message", "pid"} <= record.keys(), record
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])
    messages = [r["message"] for r in records]
    assert any(m.startswith("commgate running") for m in messages)
    assert any(r["level"] == "DEBUG" for r in records)  # log_level = DEBUG honoured
    assert any("worker" in r for r in records)  # a worker process wrote as the daemon does
    assert {r["pid"] for r in records} > {records[0]["pid"]}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_journal_prefixes_when_stderr_is_the_journal_and_log_level_honoured(home, tmp_path):
    smtp_port = free_port()
    configure(home, smtp_port=smtp_port, top='log_format = "journal"')
    log_path = tmp_path / "daemon.log"
    with daemon(home, log_path, JOURNAL_STREAM="log"):
        wait_for(lambda: smtp_ready(smtp_port), what="the SMTP intake", timeout=DEADLINE)
        wait_for(lambda: "commgate running" in log_path.read_text(), what="the start line",
                 timeout=DEADLINE)
    lines = log_path.read_text().splitlines()
    assert all(re.match(r"<[2-7]>", line) for line in lines), lines
    assert any(line.startswith("<6>gateway.daemon.supervisor: commgate running")
               for line in lines)
    assert not any(re.match(r"<\d>\d{4}-", line) for line in lines)  # the journal stamps time

    # The same configuration run by hand (stderr not the journal) writes text; log_level
    # WARNING keeps the INFO lines out.
    config = home / "commgate.toml"
    config.write_text('log_level = "WARNING"\n' + config.read_text().replace(
        'log_level = "INFO"', ""))
    quiet = tmp_path / "quiet.log"
    with daemon(home, quiet, JOURNAL_STREAM="1:1"):
        wait_for(lambda: smtp_ready(smtp_port), what="the SMTP intake", timeout=DEADLINE)
        send(smtp_port, 1)
    text_lines = quiet.read_text().splitlines()
    assert not any(line.startswith("<") for line in text_lines), text_lines
    assert not any(" INFO " in line for line in text_lines), text_lines


# -- the formatters on their own -----------------------------------------------------------


def _record(message: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("gateway.test", level, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_passwords_in_urls_never_reach_a_log_line():
    line = "cannot use postgresql://commgate:s3cr3t@db:5432/commgate (refused)"
    for log_format in logs.FORMATS:
        out = logs.formatter(log_format, journal=True).format(_record(line))
        assert "s3cr3t" not in out and "commgate:***@db" in out, out
    assert logs.redact("smtp://user@relay:587") == "smtp://user@relay:587"
    extra = logs.JsonFormatter().format(_record("x", url="postgresql://u:s3cr3t@db/x"))
    assert json.loads(extra)["url"] == "postgresql://u:***@db/x"


def test_json_keeps_structured_extras_and_the_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("failed", logging.ERROR, case_ref="NPC-000001", seqs=[1, 2])
        record.exc_info = sys.exc_info()
    line = json.loads(logs.JsonFormatter(worker="w0.1").format(record))
    assert line["case_ref"] == "NPC-000001" and line["seqs"] == [1, 2]
    assert line["worker"] == "w0.1" and line["level"] == "ERROR"
    assert "ValueError: boom" in line["exception"]


def test_journal_prefixes_every_line_of_a_record_with_its_priority():
    out = logs.JournalFormatter().format(_record("first\nsecond", logging.WARNING))
    assert out.splitlines() == ["<4>gateway.test: first", "<4>second"]
    assert logs.JournalFormatter().format(_record("x", logging.DEBUG)).startswith("<7>")


def test_journal_is_text_unless_the_stream_is_the_journal(monkeypatch):
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    assert not logs.is_journal(io.StringIO())
    assert isinstance(logs.formatter("journal"), logs.TextFormatter)
    with open(os.devnull, "w") as devnull:
        st = os.fstat(devnull.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert logs.is_journal(devnull)


# -- the filed counts, settled and recent ----------------------------------------------------


def test_filed_counts_settle_old_rows_and_count_new_ones_by_key(cli, tmp_path, home):
    """Counted once and remembered (settled), or counted at each scrape (recent), the totals
    are the same; a database whose ids went backwards is counted afresh."""
    import mailbox
    from datetime import timedelta

    from gateway.bootstrap import App
    from gateway.core.clock import utcnow
    from gateway.daemon.metrics import FiledCounts, metrics_engine

    def ingest(name: str, count: int) -> None:
        box = mailbox.mbox(str(tmp_path / name))
        for n in range(count):
            box.add(make_message(subject=f"{name} {n}", message_id=f"<{name}-{n}@customer.x>"))
        box.close()
        assert cli("ingest", str(tmp_path / name), "--json").json()["filed"] == count

    ingest("first.mbox", 3)
    app = App.open(home)
    engine = metrics_engine(app.db.engine.url)
    try:
        settled, recent = FiledCounts(), FiledCounts()
        later = utcnow() + timedelta(days=1)
        with engine.connect() as conn:
            assert sum(n for *_, n in settled.read(conn, later)) == 3
            assert settled.settled_id > 0 and sum(settled.settled.values()) == 3
            assert sum(n for *_, n in recent.read(conn, utcnow() - timedelta(days=1))) == 3
            assert recent.settled_id == 0  # nothing old enough: all counted as recent
        ingest("second.mbox", 2)
        with engine.connect() as conn:
            totals = settled.read(conn, utcnow() - timedelta(days=1))
            assert totals == recent.read(conn, utcnow() - timedelta(days=1))
            assert {intake for intake, _, _ in totals} == {"file"}
            assert sum(n for *_, n in totals) == 5
            settled.settled_id += 1000  # as if the database were restored from an older copy
            assert sum(n for *_, n in settled.read(conn, later)) == 5
    finally:
        engine.dispose()
        app.close()
