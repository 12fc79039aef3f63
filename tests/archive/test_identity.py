"""The archive's identity: an id written once, and an open archive that writes to no other."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from archive import Archive, ArchiveIdentityError, ArchiveReplacedError, Receipt
from archive.identity import ID_FILE, create_archive_id, read_archive_id


def receipt() -> Receipt:
    return Receipt(transport="file", envelope={"alias": "sales@northpoint.example"})


def created(root: Path) -> Archive:
    """A new archive at ``root``, as ``commgate init`` makes one."""
    archive = Archive.open(root)
    archive.ensure()
    return archive


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.name != ID_FILE]


def test_a_new_archive_gets_an_id_once_in_a_read_only_file(tmp_path):
    root = tmp_path / "archive"
    archive = created(root)
    first = read_archive_id(root)
    assert first is not None and len(first.id) == 36 and first.created.endswith("Z")
    assert stat.S_IMODE((root / ID_FILE).stat().st_mode) == 0o444
    archive.ensure()
    Archive.open(root).ensure()
    assert create_archive_id(root) == first  # written once: a second writer gets the first id
    assert read_archive_id(root) == first
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []  # no tmp left


def test_an_archive_with_entries_is_given_an_id_only_by_adopt_id(tmp_path):
    root = tmp_path / "archive"
    archive = Archive.open(root)
    archive.store(b"one", receipt())  # written without ensure: as before ids existed
    archive.ensure()
    assert read_archive_id(root) is None
    adopted = archive.adopt_id()
    assert read_archive_id(root) == adopted
    assert archive.verify().ok  # the id is no part of the chain


def test_a_damaged_id_file_is_one_clear_error(tmp_path):
    root = tmp_path / "archive"
    created(root)
    path = root / ID_FILE
    path.chmod(0o644)
    path.write_text('{"archive_id": "not a uuid"}')
    with pytest.raises(ArchiveIdentityError, match=r"damaged.*restore it from a backup"):
        read_archive_id(root)


def test_an_archive_recreated_behind_an_open_one_is_refused_with_both_ids(tmp_path):
    root = tmp_path / "archive"
    ours = created(root)
    ours.store(b"one", receipt())
    held = read_archive_id(root)
    noticed: list[ArchiveReplacedError] = []
    ours.on_replaced = noticed.append
    root.rename(tmp_path / "moved-away")
    foreign = read_archive_id(created(root).root)  # someone's 'init' in its place
    assert held is not None and foreign is not None and foreign != held

    with pytest.raises(ArchiveReplacedError) as refused:
        ours.store(b"two", receipt())
    message = str(refused.value)
    assert message == (f"archive at {root} is not the one this process opened (id {held.id}, "
                       f"found {foreign.id}); stopping: restore the archive or restart to open "
                       f"the new one")
    assert noticed and str(noticed[0]) == message
    assert stored_files(root) == [root / "ledger" / "ledger.jsonl"]  # not even a blob
    assert (root / "ledger" / "ledger.jsonl").read_bytes() == b""
    with pytest.raises(ArchiveReplacedError):  # nor a record, a tombstone, or a read to file
        ours.store_record("access", b"{}", Receipt("cli", {}, "internal"))
    with pytest.raises(ArchiveReplacedError):
        list(ours.entries())
    with pytest.raises(ArchiveReplacedError):  # pinned once, it is never pinned to another
        ours.pin()
    assert (root / "ledger" / "ledger.jsonl").read_bytes() == b""
    assert [e.seq for e in Archive.open(tmp_path / "moved-away").entries()] == [1]


def test_an_archive_deleted_behind_an_open_one_is_refused_and_not_made_again(tmp_path):
    root = tmp_path / "archive"
    ours = created(root)
    ours.store(b"one", receipt())
    shutil.rmtree(root)
    with pytest.raises(ArchiveReplacedError, match=r"\(id [0-9a-f-]{36}, the folder is gone\)"):
        ours.store(b"two", receipt())
    assert not root.exists()


def test_the_refusal_holds_after_close_and_ends_when_the_archive_is_put_back(tmp_path):
    root, away = tmp_path / "archive", tmp_path / "away"
    ours = created(root)
    ours.store(b"one", receipt())
    ours.close()  # the ledger's files are closed; the archive it was is remembered
    root.rename(away)
    created(root)
    with pytest.raises(ArchiveReplacedError):
        ours.store(b"two", receipt())
    root.rename(tmp_path / "foreign")
    away.rename(root)  # "restore the archive"
    assert ours.store(b"two", receipt()).seq == 2
    assert Archive.open(root).verify().ok


def test_the_ledger_is_checked_again_under_its_lock(tmp_path):
    """Between the check before the blobs and the ledger write, the folder may go."""
    root = tmp_path / "archive"
    ours = created(root)
    ours.store(b"one", receipt())
    hashes, blobs = ours.write_blobs([b"two"])
    blobs.sync()
    root.rename(tmp_path / "away")
    created(root)
    with pytest.raises(ArchiveReplacedError, match="is not the one this process opened"):
        ours.write_entries(hashes, [(b"two", receipt())])
    assert (root / "ledger" / "ledger.jsonl").read_bytes() == b""


def test_a_second_open_archive_and_a_replaced_lock_file_are_no_replacement(tmp_path):
    root = tmp_path / "archive"
    first, second = created(root), Archive.open(root)
    first.store(b"one", receipt())
    second.store(b"two", receipt())
    (root / "ledger" / "ledger.lock").unlink()
    lock = os.open(root / "ledger" / "ledger.lock", os.O_RDWR | os.O_CREAT, 0o600)
    os.close(lock)
    assert first.store(b"three", receipt()).seq == 3
    assert second.store(b"four", receipt()).seq == 4
    assert json.loads((root / ID_FILE).read_text())["archive_id"] == first.pin().id
