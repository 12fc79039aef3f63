"""A database and its archive belong together, and a running daemon writes to no other archive."""

from __future__ import annotations

import contextlib
import smtplib
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from archive import Archive, ArchiveIdentityError, Receipt
from archive.identity import ID_FILE, read_archive_id
from gateway.bootstrap import App
from gateway.daemon.workers import HOLD_ENV
from gateway.db.models import IntakeCheckpoint, LedgerReceipt
from gateway.installation import ARCHIVE_ROW, claim_archive, recorded_archive_id
from gateway.intake.handoff import Delivery, accept
from tests.support.daemon import daemon_process, smtp_ready
from tests.support.dovecot import free_port
from tests.support.mail import make_message
from tests.support.waiting import DEADLINE_SECONDS, wait_for


def replace_archive(home: Path, away: Path) -> str:
    """Move the home's archive away and put a new one in its place; the new one's id.

    The new one is made beside it first: a daemon looking in between sees one or the other,
    not a folder half made."""
    fresh = Archive.open(home / "archive.new")
    fresh.ensure()
    found = fresh.read_id()
    assert found is not None
    (home / "archive").rename(away)
    (home / "archive.new").rename(home / "archive")
    return found.id


def forget_ids(app) -> None:  # type: ignore[no-untyped-def]
    """Make the installation look as it did before archives had ids."""
    (app.settings.archive_path / ID_FILE).unlink()
    with app.db.session() as session:
        session.execute(delete(IntakeCheckpoint).where(
            IntakeCheckpoint.intake == ARCHIVE_ROW[0], IntakeCheckpoint.key == ARCHIVE_ROW[1]))


def test_init_records_the_new_archive_id_in_the_database(app):
    archive_id = read_archive_id(app.settings.archive_path)
    assert archive_id is not None
    assert recorded_archive_id(app.db) == archive_id.id
    assert claim_archive(app.archive, app.db) == archive_id


@pytest.mark.parametrize("command", ["run", "ingest"])
def test_run_and_ingest_refuse_a_database_filed_from_another_archive(app, home, tmp_path, cli,
                                                                     command):
    ours = recorded_archive_id(app.db)
    theirs = replace_archive(home, tmp_path / "away")
    mail = tmp_path / "new.eml"
    mail.write_bytes(make_message(subject="Order 7"))
    result = cli(*(["run"] if command == "run" else ["ingest", str(mail)]))
    assert result.code == 1
    assert result.err.strip().splitlines()[-1].startswith(
        f"commgate: error: database {app.db.engine.url.render_as_string(hide_password=True)} "
        f"belongs to archive {ours}, the archive at {home / 'archive'} is {theirs}: set "
        f"archive.path to the archive it was filed from")
    assert "Traceback" not in result.err
    assert (home / "archive" / "ledger" / "ledger.jsonl").read_bytes() == b""


def test_an_installation_from_before_ids_adopts_its_archive_once(app):
    accept(app, [Delivery(make_message(), Receipt("file", {"alias": "sales@northpoint.example"}))])
    forget_ids(app)
    adopted = claim_archive(Archive.open(app.settings.archive_path), app.db)
    assert read_archive_id(app.settings.archive_path) == adopted
    assert recorded_archive_id(app.db) == adopted.id
    assert claim_archive(Archive.open(app.settings.archive_path), app.db) == adopted


def test_a_database_from_before_ids_is_not_adopted_by_another_archive(app, home, tmp_path):
    accept(app, [Delivery(make_message(), Receipt("file", {"alias": "sales@northpoint.example"}))])
    forget_ids(app)
    replace_archive(home, tmp_path / "away")
    with pytest.raises(ArchiveIdentityError, match="was filed from another archive: its "
                       "receipt seq 1 is not in the ledger"):
        claim_archive(Archive.open(home / "archive"), app.db)
    assert recorded_archive_id(app.db) is None


def test_a_daemon_whose_archive_is_replaced_answers_4xx_and_stops(home, tmp_path):
    port = free_port()
    with open(home / "commgate.toml", "a") as fh:
        fh.write(f'\n[smtp]\nenabled = true\nlisten = "127.0.0.1"\nport = {port}\n'
                 # The worker's next look at the ledger would notice the new archive too and
                 # stop the daemon: here the delivery is to meet it first.
                 '\n[worker]\npoll_seconds = 3600\nprocesses = 1\n')
    # The worker files the first message only once the archive was replaced (it holds the
    # batch it claimed until ``hold`` exists): whether it filed before, during or after the
    # replacement was a race with its start, tens of seconds on a loaded machine. Late, it
    # read the mail from the new archive, quarantined it as missing and wrote its events entry
    # there; now its writes go to the archive it started with, and are refused.
    hold = tmp_path / "release-the-held-worker"
    log_path = tmp_path / "daemon.log"
    with daemon_process(home, log_path, {HOLD_ENV: str(hold)}) as daemon:
        wait_for(lambda: smtp_ready(port), what="the SMTP intake to listen")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail("anna@customer.example", ["sales@northpoint.example"],
                            make_message(subject="before"))
        wait_for(lambda: hold.with_name(hold.name + ".claimed").exists(),
                 what="the worker holding the first message")
        ours = read_archive_id(home / "archive")
        assert ours is not None
        client = smtplib.SMTP("127.0.0.1", port, timeout=30)
        client.ehlo()
        assert client.mail("anna@customer.example")[0] == 250
        assert client.rcpt("sales@northpoint.example")[0] == 250
        theirs = replace_archive(home, tmp_path / "away")
        try:
            code = client.data(make_message(subject="after"))[0]
        except smtplib.SMTPDataError as exc:  # 421: the daemon was stopping already
            code = exc.smtp_code
        client.close()
        assert code in (421, 451)  # the sender keeps the message and retries; never 250
        hold.touch()  # the worker files now, into the replaced archive if anywhere
        daemon.wait(timeout=DEADLINE_SECONDS)
    output = log_path.read_text()
    assert daemon.returncode == 1, output[-3000:]
    assert output.strip().splitlines()[-1] == (
        f"commgate: error: archive at {home / 'archive'} is not the one this process opened "
        f"(id {ours.id}, found {theirs}); stopping: restore the archive or restart to open the "
        f"new one")
    assert "Traceback" not in output
    foreign = home / "archive"
    assert (foreign / "ledger" / "ledger.jsonl").read_bytes() == b""
    assert not [p for p in (foreign / "blobs").rglob("*") if p.is_file()]
    assert [e.seq for e in Archive.open(tmp_path / "away").entries()] == [1]
    with contextlib.closing(App.open(home)) as app, app.db.session() as session:
        # Neither filed nor quarantined: it waits for the archive it is in.
        assert session.scalars(select(LedgerReceipt.status)).all() == ["pending"]
