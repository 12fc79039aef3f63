"""``commgate backup`` / ``restore`` and the explicit schema upgrade, on SQLite and PostgreSQL.

Real databases, a real archive and the real ``pg_dump``/``pg_restore``; the "busy" backup archives
mail at the backup's own steps (its ``on_step`` hook), so what is and is not in the copy is
decided, not raced."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from archive import Archive, Receipt
from gateway.bootstrap import App
from gateway.config import CONFIG_NAME, DATABASE_URL_ENV, render_config
from gateway.db.models import LedgerReceipt
from gateway.db.session import downgrade
from gateway.intake.handoff import Delivery, accept
from gateway.services.archive import sign_checkpoint
from gateway.services.backup import back_up
from tests.support.checkpoints import configure_checkpoint_key
from tests.support.cli import CliResult, run_cli
from tests.support.databases import empty_database_like
from tests.support.mail import make_message, write_messages

SALES = "sales@northpoint.example"
HEAD = "0020"  # the newest revision (gateway/db/migrations/versions)
PREVIOUS = "0018"  # the revision before it


def run(home: Path, *args: str) -> CliResult:
    return run_cli("--home", str(home), *args)


@pytest.fixture
def empty_db_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of the same backend with nothing in it (not the migrated template)."""
    restored = tmp_path / "restored" / "commgate.db"
    with empty_database_like(db_url, restored, "commgate_restore") as url:
        yield url


def all_cases(home: Path) -> dict[str, object]:
    listed = run(home, "cases", "list", "--json")
    assert listed.code == 0, listed.err
    return {row["ref"]: run(home, "cases", "show", row["ref"], "--json").json()
            for row in listed.json()}


def deliver(app: App, subject: str) -> int:
    """Archive one message as an intake does (ledger entry, then its queue row); its seq."""
    accepted = accept(app, [Delivery(make_message(subject=subject),
                                     Receipt("file", {"alias": SALES}))])
    return accepted.entries[0].seq


def test_backup_then_restore_on_a_fresh_home_verifies_intact_with_identical_cases(
        home, tmp_path, empty_db_url, monkeypatch):
    key = configure_checkpoint_key(home, tmp_path / "keys")
    mail = write_messages(tmp_path / "mail", [make_message(subject=f"Order {n} for pumps")
                                              for n in range(6)])
    assert run(home, "ingest", *map(str, mail)).code == 0
    refs = sorted(all_cases(home))
    assert run(home, "cases", "status", refs[0], "open", "--as", "lead").code == 0
    assert run(home, "archive", "checkpoint").code == 0
    before = all_cases(home)

    done = run(home, "backup", str(tmp_path / "backup"), "--as", "lead", "--json")
    assert done.code == 0, done.err
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["ledger"] == done.json()["manifest"]["ledger"]
    assert manifest["database"]["revision"] == HEAD
    assert manifest["checkpoint_public_key"] == "checkpoint.pub"
    assert key.exists() and not any(Path(f["path"]).name == "checkpoint.key"
                                    for f in manifest["files"])  # the secret stays home
    assert done.json()["linked"] > 0 and done.json()["copied"] == 0  # same file system
    assert (tmp_path / "backup").stat().st_mode & 0o777 == 0o700  # it holds every message

    monkeypatch.setenv(DATABASE_URL_ENV, empty_db_url)
    fresh = tmp_path / "restored"
    restored = run(fresh, "restore", str(tmp_path / "backup"))
    assert restored.code == 0, restored.err
    assert restored.out.splitlines()[-1].startswith(
        f"archive intact: {manifest['ledger']['seq']} ledger entries")
    assert (fresh / CONFIG_NAME).read_text() == (home / CONFIG_NAME).read_text()
    assert all_cases(fresh) == before
    verified = run(fresh, "archive", "verify", "--json").json()
    assert verified["ok"] and verified["checkpoints"] == 1
    logged = run(fresh, "audit", "log", "--action", "backup", "--json").json()
    assert [(row["actor"], row["detail"]["target"]) for row in logged] == [
        ("lead", str(tmp_path / "backup"))]


def test_a_backup_of_a_busy_installation_is_consistent(app, home, tmp_path, empty_db_url,
                                                       monkeypatch):
    first = deliver(app, "Order 1 for pumps")
    app.processor.process_pending()
    during: dict[str, int] = {}

    def busy(step: str) -> None:
        if step == "database-copied":  # in the ledger copy, not in the database copy
            during["after-database"] = deliver(app, "Order 2, archived during the backup")
            app.processor.process_pending()  # its filing's case events: a ledger entry too
        elif step == "head-read":  # after the copy's end: not in the backup at all
            head = app.archive.head()
            assert head is not None
            during["head"] = head.seq
            during["after-head"] = deliver(app, "Order 3, archived after the head was read")
            app.processor.process_pending()

    done = back_up(app, actor="lead", target=tmp_path / "backup", on_step=busy)
    assert done.manifest["ledger"]["seq"] == during["head"] > during["after-database"]
    assert during["after-head"] == during["head"] + 1
    in_copy_only = list(app.archive.entries(after_seq=during["after-database"] - 1,
                                            until_seq=during["head"]))
    events = [e.seq for e in in_copy_only if e.kind == "events"]

    monkeypatch.setenv(DATABASE_URL_ENV, empty_db_url)
    fresh = tmp_path / "restored"
    restored = run(fresh, "restore", str(tmp_path / "backup"), "--json")
    assert restored.code == 0, restored.err
    report = restored.json()
    # The restore voids the events entries whose transactions the database copy does not hold.
    assert report["verify"]["ok"]
    assert report["verify"]["head_seq"] == during["head"] + len(events)
    # Archived while the database was copied: queued, not lost.
    assert report["queued"] == len(in_copy_only)
    again = App.open(fresh)
    try:
        with again.db.session() as session:
            rows = {seq: status for seq, status in session.execute(
                select(LedgerReceipt.seq, LedgerReceipt.status)
                .where(LedgerReceipt.kind == "receipt"))}
        # Order 3 (archived after the head was read) is not in the restored installation.
        assert rows == {first: "filed", during["after-database"]: "pending"}
        again.processor.process_pending()  # what the daemon does at its start
        subjects = {case["subject"] for case in all_cases(fresh).values()}
        assert subjects == {"Order 1 for pumps", "Order 2, archived during the backup"}
    finally:
        again.close()


def test_a_checkpoint_signed_during_the_backup_is_left_out_of_it(home, tmp_path, empty_db_url,
                                                                 monkeypatch):
    configure_checkpoint_key(home, tmp_path / "keys")
    app = App.open(home)
    try:
        deliver(app, "Order 1 for pumps")
        sign_checkpoint(app, actor="test")

        def sign_later(step: str) -> None:
            if step == "head-read":
                deliver(app, "Order 2 for pumps")
                sign_checkpoint(app, actor="test")  # over an entry the copy does not hold

        done = back_up(app, actor="lead", target=tmp_path / "backup", on_step=sign_later)
    finally:
        app.close()
    monkeypatch.setenv(DATABASE_URL_ENV, empty_db_url)
    restored = run(tmp_path / "restored", "restore", str(tmp_path / "backup"), "--json")
    assert restored.code == 0, restored.err
    verified = restored.json()["verify"]
    assert verified["ok"] and verified["checkpoints"] == 1
    assert verified["head_seq"] == done.manifest["ledger"]["seq"]


def test_entries_archived_after_the_backup_are_refiled_from_the_surviving_archive(
        app, home, tmp_path, empty_db_url, monkeypatch):
    """docs/backup.md: restore, point archive.path at the old archive, start the daemon."""
    deliver(app, "Order 1 for pumps")
    app.processor.process_pending()
    assert run(home, "backup", str(tmp_path / "backup")).code == 0
    later = deliver(app, "Order 2, after the backup")
    app.processor.process_pending()
    app.close()

    monkeypatch.setenv(DATABASE_URL_ENV, empty_db_url)
    fresh = tmp_path / "restored"
    assert run(fresh, "restore", str(tmp_path / "backup")).code == 0
    config = fresh / CONFIG_NAME
    config.write_text(config.read_text().replace(
        'path = "archive"', f'path = "{home / "archive"}"', 1))
    again = App.open(fresh)
    try:
        # What the daemon's start does: queue the mail archived after the backup, and void the
        # case events of its filing, which the restored database does not hold.
        manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
        backup_seq = manifest["ledger"]["seq"]
        after = list(again.archive.entries(after_seq=backup_seq))
        assert [e.seq for e in after if e.kind == "receipt"] == [later]
        assert again.processor.catch_up() == len(after)
        again.processor.process_pending()
        with again.db.session() as session:
            assert session.scalar(select(LedgerReceipt.status)
                                  .where(LedgerReceipt.seq == later)) == "filed"
    finally:
        again.close()
    assert {c["subject"] for c in all_cases(fresh).values()} == {
        "Order 1 for pumps", "Order 2, after the backup"}
    assert run(fresh, "archive", "verify").code == 0


def test_restore_refuses_a_home_with_a_database_or_an_archive(home, tmp_path):
    assert run(home, "backup", str(tmp_path / "backup")).code == 0
    refused = run(home, "restore", str(tmp_path / "backup"))
    assert refused.code == 1
    assert refused.err.count("\n") == 1 and "restore needs an empty or absent one" in refused.err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / CONFIG_NAME).write_text((home / CONFIG_NAME).read_text().replace(
        'path = "archive"', 'path = "archive2"', 1))
    refused = run(tmp_path / "other", "restore", str(tmp_path / "backup"))
    assert refused.code == 1 and refused.err.count("\n") == 1
    assert "is not empty: restore needs an empty one" in refused.err
    assert not (tmp_path / "other" / "archive2").exists()


def test_restore_refuses_a_damaged_or_unfinished_backup(home, tmp_path, empty_db_url,
                                                        monkeypatch):
    assert run(home, "backup", str(tmp_path / "backup")).code == 0
    monkeypatch.setenv(DATABASE_URL_ENV, empty_db_url)
    ledger = tmp_path / "backup" / "archive" / "ledger" / "ledger.jsonl"  # a copy, not a link
    kept = ledger.read_bytes()
    ledger.write_bytes(kept.replace(b'"seq":1,', b'"seq":7,', 1))
    refused = run(tmp_path / "restored", "restore", str(tmp_path / "backup"))
    assert refused.code == 1 and refused.err == (
        f"commgate: error: the backup {tmp_path / 'backup'} is damaged: "
        "archive/ledger/ledger.jsonl does not match the sha256 in its manifest\n")
    ledger.write_bytes(kept)
    (tmp_path / "backup" / "manifest.json").unlink()
    refused = run(tmp_path / "restored", "restore", str(tmp_path / "backup"))
    assert refused.code == 1 and "is not a finished commgate backup" in refused.err
    assert not (tmp_path / "restored" / "archive").exists()


def test_a_schema_behind_the_code_is_refused_until_db_upgrade(app, home, tmp_path):
    deliver(app, "Order 1 for pumps")
    app.processor.process_pending()
    downgrade(app.db.engine, PREVIOUS)
    app.close()
    name = app.db.engine.url.render_as_string(hide_password=True)
    for command in (["cases", "list"], ["archive", "verify"], ["run"]):
        refused = run(home, *command)
        assert refused.code == 2, command
        assert refused.err == (
            f"commgate: error: the database {name} is at schema revision {PREVIOUS} and this "
            f"commgate needs {HEAD}: back up and upgrade: commgate backup DIR && commgate db "
            "upgrade\n")
    current = run(home, "db", "current")
    assert current.code == 0
    assert current.out == (f"revision {PREVIOUS} (head {HEAD}): behind: commgate backup DIR && "
                           "commgate db upgrade\n")
    # The backup the message asks for works on the old schema.
    assert run(home, "backup", str(tmp_path / "backup")).code == 0
    upgraded = run(home, "db", "upgrade")
    assert upgraded.code == 0 and upgraded.out == (
        f"upgraded {name} from revision {PREVIOUS} to {HEAD}\n")
    assert run(home, "db", "current", "--json").json() == {
        "database": name, "revision": HEAD, "head": HEAD, "state": "current",
        "upgraded_from": None}
    assert run(home, "db", "upgrade").out == f"revision {HEAD} (head {HEAD}): up to date\n"
    assert run(home, "cases", "list").code == 0
    # The backup's own record waited in the ledger for the upgrade; the daemon's catch-up at
    # its start gives it its row.
    assert "1 entry of the ledger not in the database" in run(home, "archive", "verify").out
    again = App.open(home)
    try:
        assert again.processor.catch_up() == 1
    finally:
        again.close()
    assert run(home, "archive", "verify").code == 0


def test_a_backup_of_an_older_schema_is_upgraded_by_restore(app, home, tmp_path, empty_db_url,
                                                            monkeypatch):
    deliver(app, "Order 1 for pumps")
    app.processor.process_pending()
    before = all_cases(home)
    downgrade(app.db.engine, PREVIOUS)
    app.close()
    assert run(home, "backup", str(tmp_path / "backup")).code == 0
    monkeypatch.setenv(DATABASE_URL_ENV, empty_db_url)
    restored = run(tmp_path / "restored", "restore", str(tmp_path / "backup"))
    assert restored.code == 0, restored.err
    assert f"upgraded from schema revision {PREVIOUS} to {HEAD}" in restored.out
    assert all_cases(tmp_path / "restored") == before


def test_an_empty_database_is_refused_except_by_the_commands_that_make_one(tmp_path,
                                                                           empty_db_url,
                                                                           monkeypatch):
    """A home whose database is empty (a new PostgreSQL database named in the config)."""
    monkeypatch.setenv(DATABASE_URL_ENV, empty_db_url)
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "restored").mkdir()  # the SQLite file's folder
    (home / CONFIG_NAME).write_text(render_config("NPC", [SALES]))
    Archive.open(home / "archive").ensure()
    refused = run(home, "cases", "list")
    assert refused.code == 2 and refused.err.count("\n") == 1
    assert "has no commgate schema: 'commgate init' creates one" in refused.err
    assert run(home, "db", "current").out.startswith(f"revision - (head {HEAD}): no schema")
    assert run(home, "db", "upgrade").code == 2
    mail = write_messages(tmp_path / "mail", [make_message(subject="Order 9")])
    assert run(home, "ingest", str(mail[0])).code == 0  # a command that files mail creates it
    assert run(home, "cases", "list").code == 0
