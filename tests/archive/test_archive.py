"""The archive on its own: content addressing, durability shape, ledger chain, concurrency."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from archive import GENESIS_HASH, Archive, ArchiveReplacedError, ArchiveWriteError, Receipt
from archive.blobstore import PendingSync
from tests.support.filesystems import remount_read_only


def receipt(alias: str = "sales@northpoint.example") -> Receipt:
    return Receipt(transport="file", envelope={"alias": alias, "file": "x.eml"})


def ledger_lines(root: Path) -> list[dict]:
    text = (root / "ledger" / "ledger.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_blob_is_named_by_sha256_of_the_exact_bytes_and_read_only(tmp_path):
    archive = Archive.open(tmp_path)
    raw = b"Subject: x\r\n\r\nbody with CRLF\r\n\xff\xfe binary"
    entry = archive.store(raw, receipt())
    assert entry.sha256 == hashlib.sha256(raw).hexdigest()
    blob = tmp_path / "blobs" / entry.sha256[:2] / entry.sha256
    assert blob.read_bytes() == raw
    assert stat.S_IMODE(blob.stat().st_mode) == 0o444
    assert archive.read(entry.sha256) == raw
    assert list((tmp_path / "tmp").iterdir()) == []


def test_identical_bytes_share_one_blob_but_get_two_ledger_entries(tmp_path):
    archive = Archive.open(tmp_path)
    first = archive.store(b"same bytes", receipt("sales@northpoint.example"))
    second = archive.store(b"same bytes", receipt("support@northpoint.example"))
    assert first.sha256 == second.sha256
    assert (first.seq, second.seq) == (1, 2)
    assert len([p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]) == 1
    assert [line["envelope"]["alias"] for line in ledger_lines(tmp_path)] == [
        "sales@northpoint.example", "support@northpoint.example"]


def test_ledger_entries_chain_from_genesis_and_record_the_envelope(tmp_path):
    archive = Archive.open(tmp_path)
    entries = archive.store_many([(b"one", receipt()), (b"two", receipt())])
    assert entries[0].prev_hash == GENESIS_HASH
    assert entries[1].prev_hash == entries[0].entry_hash
    assert all(e.computed_hash() == e.entry_hash for e in entries)
    line = ledger_lines(tmp_path)[1]
    assert line["seq"] == 2 and line["size"] == 3 and line["transport"] == "file"
    assert line["time"].endswith("Z")
    assert archive.head().seq == 2


def test_a_second_archive_object_continues_the_chain(tmp_path):
    Archive.open(tmp_path).store(b"one", receipt())
    entry = Archive.open(tmp_path).store(b"two", receipt())
    assert entry.seq == 2
    assert Archive.open(tmp_path).verify().ok


def test_concurrent_processes_append_without_gaps(tmp_path):
    script = (
        "import sys; from archive import Archive, Receipt\n"
        "a = Archive.open(sys.argv[1])\n"
        "for i in range(100):\n"
        "    a.store(f'{sys.argv[2]} {i}'.encode(), Receipt('file', {'alias': 'x'}))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), name])
             for name in ("a", "b", "c")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    seqs = [line["seq"] for line in ledger_lines(tmp_path)]
    assert seqs == list(range(1, 301))
    assert Archive.open(tmp_path).verify().ok


def test_a_torn_final_line_is_dropped_before_the_next_append(tmp_path):
    archive = Archive.open(tmp_path)
    archive.store(b"one", receipt())
    ledger = tmp_path / "ledger" / "ledger.jsonl"
    with open(ledger, "ab") as fh:
        fh.write(b'{"seq":2,"time":"2026-')  # a crash in the middle of a write
    assert archive.head().seq == 1
    assert archive.verify().ok  # the torn line was never acknowledged
    entry = Archive.open(tmp_path).store(b"two", receipt())
    assert entry.seq == 2
    assert Archive.open(tmp_path).verify().ok


def test_read_only_archive_raises_write_error(small_fs):
    root = small_fs(1024)
    Archive.open(root).ensure()
    remount_read_only(root)
    with pytest.raises(ArchiveWriteError, match="not writable"):
        Archive.open(root).store(b"new", receipt())


def test_full_disk_raises_write_error_and_leaves_no_entry(small_fs):
    root = small_fs(256)
    archive = Archive.open(root)
    archive.store(b"fits", receipt())
    with pytest.raises(ArchiveWriteError, match="disk full"):
        archive.store(os.urandom(400 * 1024), receipt())
    assert list((root / "tmp").iterdir()) == []  # the partial blob was removed
    assert Archive.open(root).head().seq == 1
    assert Archive.open(root).verify().ok


def test_receipt_rejects_unknown_direction():
    with pytest.raises(ValueError, match="direction"):
        Receipt(transport="smtp", direction="sideways")


def test_only_old_temporary_leftovers_are_cleaned(tmp_path):
    archive = Archive.open(tmp_path)
    archive.ensure()
    old, young = tmp_path / "tmp" / "old.tmp", tmp_path / "tmp" / "young.tmp"
    old.write_bytes(b"x")
    young.write_bytes(b"y")
    os.utime(old, (1, 1))
    assert archive.clean_tmp() == 1
    assert not old.exists() and young.exists()


def test_a_batch_with_repeated_bytes_writes_one_blob(tmp_path):
    archive = Archive.open(tmp_path)
    entries = archive.store_many([(b"same", receipt()), (b"same", receipt()),
                                  (b"other", receipt())])
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].sha256 == entries[1].sha256
    assert len([p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]) == 2
    assert archive.verify().ok


def test_ledger_lines_are_exactly_the_entries_lines(tmp_path):
    archive = Archive.open(tmp_path)
    entries = archive.store_many([(b"one", receipt()), (b"two", Receipt(
        transport="smtp", envelope={"alias": "sales@northpoint.example", "helo": "m\u00fcller",
                                    "rcpt_to": ["a@b.example"], "tls": False}))])
    text = (tmp_path / "ledger" / "ledger.jsonl").read_bytes()
    assert text == b"".join(entry.to_line() for entry in entries)
    assert list(Archive.open(tmp_path).entries()) == entries


def test_a_ledger_replaced_behind_an_open_archive_is_not_written_to(tmp_path):
    archive = Archive.open(tmp_path)
    archive.store(b"one", receipt())
    ledger = tmp_path / "ledger" / "ledger.jsonl"
    copy = ledger.with_name("copy.jsonl")
    copy.write_bytes(ledger.read_bytes())
    os.replace(copy, ledger)  # e.g. restored from a backup while the archive was open
    with pytest.raises(ArchiveReplacedError, match=r"ledger\.jsonl was replaced"):
        archive.store(b"two", receipt())
    assert [line["seq"] for line in ledger_lines(tmp_path)] == [1]
    # Opened afresh (a restart), the restored ledger is the archive's.
    assert Archive.open(tmp_path).store(b"two", receipt()).seq == 2
    assert Archive.open(tmp_path).verify().ok


def test_an_append_elsewhere_is_seen_by_an_open_archive(tmp_path):
    first, second = Archive.open(tmp_path), Archive.open(tmp_path)
    first.store(b"one", receipt())
    second.store(b"two", receipt())
    assert first.store(b"three", receipt()).seq == 3
    assert Archive.open(tmp_path).verify().ok


def test_writing_entries_without_waiting_refuses_a_held_lock(tmp_path):
    archive = Archive.open(tmp_path)
    hashes, blobs = archive.write_blobs([b"one"])
    blobs.sync()
    archive.ensure()
    holder = os.open(tmp_path / "ledger" / "ledger.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # another process appending, as far as flock knows
        with pytest.raises(BlockingIOError):
            archive.write_entries(hashes, [(b"one", receipt())], wait=False)
    finally:
        os.close(holder)
    entries, written = archive.write_entries(hashes, [(b"one", receipt())], wait=False)
    written.sync()
    assert [entry.seq for entry in entries] == [1]
    assert archive.verify().ok


def test_a_deleted_lock_file_is_noticed_and_the_current_one_is_taken(tmp_path):
    first = Archive.open(tmp_path)
    first.store(b"one", receipt())  # its lock file stays open
    lock_path = tmp_path / "ledger" / "ledger.lock"
    lock_path.unlink()  # e.g. a clean-up script; the next writer makes a new one
    Archive.open(tmp_path).store(b"two", receipt())
    holder = os.open(lock_path, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # the other writer, holding the current lock
        hashes, blobs = first.write_blobs([b"three"])
        blobs.sync()
        with pytest.raises(BlockingIOError):  # not the deleted file's lock, which is free
            first.write_entries(hashes, [(b"three", receipt())], wait=False)
    finally:
        os.close(holder)
    assert first.store(b"three", receipt()).seq == 3
    assert Archive.open(tmp_path).verify().ok


def test_a_failed_fsync_is_an_archive_write_error(tmp_path):
    forgotten = []
    fd = os.open(tmp_path / "x", os.O_WRONLY | os.O_CREAT)
    pending = PendingSync([fd], [], tmp_path, on_error=lambda: forgotten.append(True))
    with pytest.raises(ArchiveWriteError, match="disk full"):
        pending.finish([None, OSError(28, "No space left on device")])
    assert forgotten == [True]
    with pytest.raises(OSError):
        os.fstat(fd)  # closed all the same


def test_concurrent_fsync_jobs_cover_every_file_and_folder(tmp_path, monkeypatch):
    archive = Archive.open(tmp_path)
    raws = [f"message {n}".encode() for n in range(40)]
    hashes, blobs = archive.write_blobs(raws)
    shards = {sha[:2] for sha in hashes}
    fsynced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        fsynced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    jobs = blobs.jobs(parallel=8)
    assert len(jobs) == 8
    for job in jobs:
        job()
    blobs.finish()
    blob_dir = tmp_path / "blobs"
    assert sorted(fsynced) == sorted([str(blob_dir / sha[:2] / sha) for sha in hashes]
                                     + [str(blob_dir / shard) for shard in shards])
