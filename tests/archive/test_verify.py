"""verify_archive's fast path over a file archive (hashing envelope text as written, reading
blobs to their end) against its general path: same verdict, same first problem, and ledgers
written before envelopes were stored in key order still verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archive import Archive, Receipt
from archive.entries import compute_entry_hash
from archive.verify import SeqRanges, verify_archive

ENVELOPES = [
    {"alias": "sales@northpoint.example", "file": "x.eml"},
    {"rcpt_to": ["b@x.example", "a@x.example"], "mail_from": "a\"quoted\"@x.example",
     "helo": "m\u00fcller \\ back", "tls": False, "peer": ["127.0.0.1", 2525]},
    {"z": {"kind": "tombstone", "prev_hash": "0" * 64}, "a": [{"y": 1, "x": None}], "n": 2.5},
    {},
]


def fill(root: Path) -> Archive:
    archive = Archive.open(root)
    archive.store_many([(f"message {n}\r\n".encode() * (n + 1), Receipt("smtp", envelope))
                        for n, envelope in enumerate(ENVELOPES * 3)])
    return archive


def both_paths(archive: Archive) -> tuple[object, object]:
    """(file fast path, general path) verdicts: an extra check forces the general path."""
    fast = verify_archive(archive.ledger, archive.blobs)
    general = verify_archive(archive.ledger, archive.blobs, extra_check=lambda entry: None)
    return fast.first_problem, general.first_problem


def ledger_file(root: Path) -> Path:
    return root / "ledger" / "ledger.jsonl"


def rewrite(root: Path, change) -> None:
    lines = ledger_file(root).read_text().splitlines()
    ledger_file(root).write_text("".join(change(n + 1, line) + "\n"
                                         for n, line in enumerate(lines)))


def test_envelopes_are_written_in_key_order_and_verify_on_both_paths(tmp_path):
    archive = fill(tmp_path)
    for line in ledger_file(tmp_path).read_text().splitlines():
        envelope_text = line[line.index('"envelope":') + 11:line.rindex(',"prev_hash":')]
        assert envelope_text == json.dumps(json.loads(envelope_text), sort_keys=True,
                                           ensure_ascii=False, separators=(",", ":"))
    assert both_paths(archive) == (None, None)


def test_a_ledger_written_with_envelopes_in_another_key_order_still_verifies(tmp_path):
    archive = fill(tmp_path)

    def unsorted(_seq: int, line: str) -> str:
        data = json.loads(line)
        data["envelope"] = dict(reversed(list(data["envelope"].items())))
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    rewrite(tmp_path, unsorted)
    assert '{"file":"x.eml","alias"' in ledger_file(tmp_path).read_text()
    assert both_paths(archive) == (None, None)


@pytest.mark.parametrize("seq", [1, 2, 3, 7])
def test_an_altered_envelope_value_is_the_same_altered_entry_on_both_paths(tmp_path, seq):
    archive = fill(tmp_path)
    rewrite(tmp_path, lambda n, line: line.replace('"envelope":{', '"envelope":{"0":0,', 1)
            if n == seq else line)
    fast, general = both_paths(archive)
    assert fast == general
    assert (fast.seq, fast.problem) == (seq, "altered-entry")


def test_an_envelope_forged_with_a_rehashed_entry_breaks_the_chain_on_both_paths(tmp_path):
    archive = fill(tmp_path)

    def forged(n: int, line: str) -> str:
        if n != 3:
            return line
        data = json.loads(line)
        data["envelope"]["z"]["kind"] = "receipt"
        fields = {k: v for k, v in data.items() if k != "entry_hash"}
        data["entry_hash"] = compute_entry_hash(fields)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    rewrite(tmp_path, forged)
    fast, general = both_paths(archive)
    assert fast == general
    assert (fast.seq, fast.problem) == (4, "broken-chain")


def test_bytes_appended_to_a_blob_are_found_on_both_paths(tmp_path):
    archive = fill(tmp_path)
    entry = next(e for e in archive.entries() if e.seq == 5)
    blob = archive.blobs.path_of(entry.sha256)
    blob.chmod(0o644)
    with blob.open("ab") as handle:
        handle.write(b"X-Appended: after the fact\r\n")
    fast, general = both_paths(archive)
    assert fast == general
    assert (fast.seq, fast.problem) == (5, "altered-blob")


def test_a_blob_larger_than_one_read_is_hashed_to_its_end(tmp_path):
    archive = Archive.open(tmp_path)
    big = b"x" * (3 << 20) + b"tail"
    archive.store_many([(b"small", Receipt("smtp", {})), (big, Receipt("smtp", {}))])
    assert both_paths(archive) == (None, None)
    blob = archive.blobs.path_of(next(e for e in archive.entries() if e.seq == 2).sha256)
    blob.chmod(0o644)
    blob.write_bytes(big[:-1] + b"L")  # the last byte only
    fast, general = both_paths(archive)
    assert fast == general and (fast.seq, fast.problem) == (2, "altered-blob")


def unrecorded_on_both_paths(archive: Archive, copy: dict[int, str]) -> tuple[object, object]:
    """(fast, general) lists of the ranges of entries ``copy`` lacks."""
    def recorded(first: int, last: int) -> dict[int, str]:
        return {seq: h for seq, h in copy.items() if first <= seq <= last}

    fast = verify_archive(archive.ledger, archive.blobs, recorded=recorded)
    general = verify_archive(archive.ledger, archive.blobs, recorded=recorded,
                             extra_check=lambda entry: None)
    assert fast.ok and general.ok  # entries without a copy do not stop the walk
    assert fast.unrecorded.count == general.unrecorded.count
    return fast.unrecorded.ranges, general.unrecorded.ranges


def test_entries_the_copy_lacks_are_named_as_ranges_on_both_paths(tmp_path):
    archive = Archive.open(tmp_path)
    # More lines than the fast path cuts into chunks for its helpers.
    archive.store_many([(f"message {n}\r\n".encode(), Receipt("smtp", {"n": n}))
                        for n in range(700)])
    hashes = {e.seq: e.entry_hash for e in archive.entries()}
    assert unrecorded_on_both_paths(archive, hashes) == ([], [])
    gaps = set(range(100, 551)) | {3, 700}
    copy = {seq: h for seq, h in hashes.items() if seq not in gaps}
    assert unrecorded_on_both_paths(archive, copy) == ([[3, 3], [100, 550], [700, 700]],) * 2


def test_the_last_entry_walked_is_reported_with_its_hash(tmp_path):
    archive = fill(tmp_path)
    report = verify_archive(archive.ledger, archive.blobs)
    assert report.head_hash == archive.head().entry_hash
    assert report.unrecorded.count == 0  # no copy to compare with: nothing is "unrecorded"


def test_scattered_seqs_are_counted_beyond_the_listing_limit():
    seqs = SeqRanges(limit=2)
    for seq in (1, 2, 3, 5, 7, 8):
        seqs.add(seq)
    seqs.add_range(9, 20)
    assert (seqs.ranges, seqs.count, seqs.unlisted) == ([[1, 3], [5, 5]], 18, 14)
