"""Drop-folder intake and the daemon: files leave the folder only once they are durable."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest

from archive import ArchiveWriteError
from gateway.bootstrap import App
from gateway.config import DropFolderConfig
from gateway.intake.dropfolder import DropFolder
from gateway.workflows.cases import list_cases
from tests.support.daemon import daemon_process
from tests.support.filesystems import remount_read_only
from tests.support.mail import make_message
from tests.support.waiting import wait_for


def add_dropfolder(home: Path, folder: Path, settle: float = 0.2) -> None:
    with open(home / "commgate.toml", "a") as fh:
        fh.write(f'\n[[dropfolders]]\npath = "{folder}"\nsettle_seconds = {settle}\n'
                 f"rescan_seconds = 5.0\n")



def test_maildir_new_files_are_archived_then_removed(app, tmp_path):
    box = mailbox.Maildir(str(tmp_path / "Maildir"))
    for n in range(3):
        box.add(make_message(subject=f"Drop {n}"))
    folder = DropFolder(DropFolderConfig(path=str(tmp_path / "Maildir")), tmp_path / "Maildir")
    assert folder.take(app) == 3
    assert list((tmp_path / "Maildir" / "new").iterdir()) == []
    assert app.archive.head().seq == 3
    app.processor.process_pending()
    with app.db.session() as session:
        assert len(list_cases(session)) == 3


def test_a_plain_folder_file_is_taken_only_after_it_settled(app, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    folder = DropFolder(DropFolderConfig(path=str(drop), settle_seconds=10), drop)
    growing = drop / "incoming.eml"
    growing.write_bytes(make_message()[:40])  # a copy still in progress
    (drop / ".hidden.eml").write_bytes(make_message())
    (drop / "upload.eml.part").write_bytes(make_message())
    assert folder.ready_files(now=0.0) == []  # first sighting
    with open(growing, "ab") as fh:
        fh.write(make_message()[40:])  # it grew: the clock starts again
    assert folder.ready_files(now=9.0) == []
    assert folder.ready_files(now=15.0) == []
    assert folder.ready_files(now=19.5) == [growing]  # unchanged for 10 s


def test_files_stay_when_the_archive_cannot_be_written(home, tmp_path, small_fs):
    fs = small_fs(1024)
    with open(home / "commgate.toml", "r+") as fh:
        text = fh.read().replace('path = "archive"', f'path = "{fs}"')
        fh.seek(0)
        fh.truncate()
        fh.write(text)
    app = App.open(home)
    try:
        app.archive.ensure()
        remount_read_only(fs)
        box = mailbox.Maildir(str(tmp_path / "Maildir"))
        box.add(make_message())
        folder = DropFolder(DropFolderConfig(path=str(tmp_path / "Maildir")),
                            tmp_path / "Maildir")
        with pytest.raises(ArchiveWriteError, match="not writable"):
            folder.take(app)
        assert len(list((tmp_path / "Maildir" / "new").iterdir())) == 1
    finally:
        app.close()


def test_daemon_takes_dropped_files_and_stops_cleanly_on_sigterm(home, tmp_path):
    drop = tmp_path / "Maildir"
    mailbox.Maildir(str(drop))  # creates cur/ new/ tmp/
    add_dropfolder(home, drop)
    # The log goes to a file, not to a pipe nobody reads while the test waits (a daemon whose
    # pipe filled would block on its next line); a daemon that does not stop is killed.
    log_path = tmp_path / "daemon.log"
    with daemon_process(home, log_path) as daemon:
        box = mailbox.Maildir(str(drop))
        first = box.add(make_message(subject="first", message_id="<d1@customer.example>"))
        box.add(make_message(subject="Re: first", in_reply_to="<d1@customer.example>"))
        wait_for(lambda: not (drop / "new" / first).exists(), what="the daemon to take files")
        app = App.open(home)
        try:
            def filed():
                with app.db.session() as session:
                    found = list_cases(session)
                return found if found and found[0]["message_count"] == 2 else None

            (case,) = wait_for(filed, what="both messages filed in one case")
        finally:
            app.close()
        assert case["ref"] == "NPC-000001"
    err = log_path.read_text()
    assert daemon.returncode == 0, err[-3000:]
    assert "commgate running: 1 drop folder(s)" in err
    assert "stopped" in err
