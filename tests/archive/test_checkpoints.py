"""Signed checkpoints over a real ledger: keys, proofs, rewritten history, bad signatures."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest

from archive import Archive, Receipt, merkle
from archive import checkpoints as cps
from archive.errors import LedgerFormatError
from archive.verify import verify_archive
from tests.support.checkpoints import add_entries, pub, rewrite_entry


def store_messages(archive: Archive, count: int, start: int = 0) -> None:
    """Real messages, blobs and all, for tests that also run the chain verify."""
    archive.store_many([(f"Subject: {start + i}\r\n\r\nbody\r\n".encode(),
                         Receipt("file", {"alias": "sales@example.com"})) for i in range(count)])


def checked(archive: Archive, public_key: Path) -> object:
    """verify_checkpoints, after checking that the same check fed by archive verify's own walk
    (its fast file path and its general path) comes to the same verdict."""
    alone = cps.verify_checkpoints(archive, public_key)
    for extra_check in (None, lambda entry: None):
        check = cps.CheckpointCheck(archive, public_key)
        walk = verify_archive(archive.ledger, archive.blobs, since=1 << 62, tree=check.tree,
                              extra_check=extra_check)
        assert walk.ok  # these tests alter checkpoints or re-chain the ledger consistently
        assert check.finish() == alone
    return alone


def entry_hashes(archive: Archive) -> list[bytes]:
    return [bytes.fromhex(e.entry_hash) for e in archive.entries()]


# --- keys -------------------------------------------------------------------------------------

def test_generated_key_is_0600_with_its_public_key_next_to_it(tmp_path, key):
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key.read_bytes()
    assert pub(key) == tmp_path / "keys" / "checkpoint.key.pub"
    assert b"PUBLIC KEY" in pub(key).read_bytes()
    with pytest.raises(cps.CheckpointError, match="refusing to overwrite"):
        cps.generate_key(key)


def test_a_key_inside_the_archive_is_refused_with_a_clear_error(tmp_path, archive, key):
    root = tmp_path / "archive"
    inside = root / "keys" / "checkpoint.key"
    inside.parent.mkdir()
    with pytest.raises(cps.KeyLocationError, match="inside the archive"):
        cps.generate_key(inside, root)
    assert not inside.exists()
    os.link(key, inside)  # the same key, reached through the archive folder
    with pytest.raises(cps.KeyLocationError, match="keep it outside the archive"):
        cps.write_checkpoint(archive, inside)
    (tmp_path / "link").symlink_to(root)  # and through a symlink to it
    with pytest.raises(cps.KeyLocationError):
        cps.write_checkpoint(archive, tmp_path / "link" / "keys" / "checkpoint.key")
    assert cps.load_checkpoints(archive) == []


def test_a_key_readable_by_others_is_refused(archive, key):
    key.chmod(0o640)
    with pytest.raises(cps.CheckpointError, match="chmod 600"):
        cps.write_checkpoint(archive, key)


# --- writing and verifying --------------------------------------------------------------------

def test_checkpoint_signs_the_rfc9162_root_of_all_entry_hashes(tmp_path, archive, key):
    add_entries(archive, 37)
    cp = cps.write_checkpoint(archive, key)
    assert cp.tree_size == 37
    assert cp.root_hash == merkle.root_hash(entry_hashes(archive)).hex()
    assert cp.time.endswith("Z")
    assert cp.signature_valid(cps.load_public_key(pub(key)))
    log = tmp_path / "archive" / "checkpoints" / "checkpoints.jsonl"
    assert [json.loads(line)["root_hash"] for line in log.read_text().splitlines()] == [
        cp.root_hash]
    assert cps.load_checkpoints(archive) == [cp]
    assert checked(archive, pub(key)) is None


def test_empty_ledger_and_only_if_grown(archive, key):
    first = cps.write_checkpoint(archive, key)
    assert (first.tree_size, first.root_hash) == (0, merkle.EMPTY_ROOT.hex())
    assert cps.write_checkpoint(archive, key, only_if_grown=True) == first
    add_entries(archive, 3)
    second = cps.write_checkpoint(archive, key, only_if_grown=True)
    assert second.tree_size == 3
    assert cps.load_checkpoints(archive) == [first, second]
    assert checked(archive, pub(key)) is None


def test_inclusion_proof_for_one_of_100000_entries_is_small_and_verifies(archive, key):
    add_entries(archive, 100_000)
    cp = cps.write_checkpoint(archive, key)
    proof = cps.inclusion_proof(archive, 61_803, cp)
    encoded = json.dumps(proof)
    assert len(encoded) < 2048, len(encoded)
    entry = next(archive.entries(after_seq=61_802))
    assert (entry.seq, proof["entry_hash"]) == (61_803, entry.entry_hash)
    public = cps.load_public_key(pub(key))
    assert cps.verify_inclusion(entry.entry_hash, json.loads(encoded), cp, public)

    other = next(archive.entries(after_seq=61_803)).entry_hash
    assert not cps.verify_inclusion(other, proof, cp, public)  # altered leaf
    bad_path = [*proof["path"]]
    bad_path[5] = bad_path[5][:-1] + ("0" if bad_path[5][-1] != "0" else "1")
    assert not cps.verify_inclusion(entry.entry_hash, {**proof, "path": bad_path}, cp, public)
    forged_root = "00" * 32
    assert not cps.verify_inclusion(entry.entry_hash, {**proof, "root_hash": forged_root},
                                    dataclasses.replace(cp, root_hash=forged_root), public)
    assert "signature" in cps.inclusion_problem(
        entry.entry_hash, proof, dataclasses.replace(cp, root_hash=forged_root), public)


def test_consistency_between_checkpoints_and_a_rewritten_history(archive, key):
    store_messages(archive, 10)
    first = cps.write_checkpoint(archive, key)
    store_messages(archive, 15, start=10)
    second = cps.write_checkpoint(archive, key)
    proof = cps.consistency_proof(archive, first, second)
    assert cps.verify_consistency(proof, first, second, pub(key))
    assert checked(archive, pub(key)) is None

    rewrite_entry(archive, seq=4)  # before the first checkpoint's size
    assert archive.verify().ok  # the chain alone cannot tell
    with pytest.raises(cps.CheckpointError, match="history was rewritten"):
        cps.write_checkpoint(archive, key)  # our key refuses to vouch for it

    # The forger holds the key and re-signs the second checkpoint over the new history.
    private = cps.load_private_key(key, archive.ledger.root.parent)
    resigned = cps.sign_checkpoint(private, 25, merkle.root_hash(entry_hashes(archive)))
    cps.append_checkpoint(archive, resigned)
    forged = cps.consistency_proof(archive, first, resigned)
    assert not cps.verify_consistency(forged, first, resigned, pub(key))
    assert not cps.verify_consistency(proof, first, resigned, pub(key))
    problem = checked(archive, pub(key))
    assert problem is not None
    assert (problem.problem, problem.seq) == ("checkpoint-root-mismatch", 10)


def test_verify_reports_a_checkpoint_that_does_not_extend_the_one_before(archive, key):
    add_entries(archive, 8)
    cps.write_checkpoint(archive, key)
    private = cps.load_private_key(key, archive.ledger.root.parent)
    other = [bytes([i]) * 32 for i in range(8)]
    cps.append_checkpoint(archive, cps.sign_checkpoint(private, 8, merkle.root_hash(other)))
    problem = checked(archive, pub(key))
    assert problem is not None and problem.problem == "inconsistent-checkpoints"


def test_bad_signatures_are_detected(tmp_path, archive, key):
    add_entries(archive, 5)
    cps.write_checkpoint(archive, key)
    log = cps.checkpoints_path(archive)
    good = log.read_bytes()

    data = json.loads(good)
    data["root_hash"] = merkle.root_hash(entry_hashes(archive)[:4]).hex()
    data["tree_size"] = 4  # a true statement, but not one the key signed
    log.write_text(json.dumps(data) + "\n")
    problem = checked(archive, pub(key))
    assert problem is not None and problem.problem == "bad-signature"

    data = json.loads(good)
    data["signature"] = data["signature"][:10] + ("A" if data["signature"][10] != "A" else "B") \
        + data["signature"][11:]
    log.write_text(json.dumps(data) + "\n")
    problem = checked(archive, pub(key))
    assert problem is not None and problem.problem == "bad-signature"

    log.write_bytes(good)
    other = tmp_path / "keys" / "other.key"
    cps.generate_key(other)
    problem = checked(archive, pub(other))
    assert problem is not None and problem.problem == "bad-signature"
    assert checked(archive, pub(key)) is None


def test_removed_entries_and_unreadable_lines_are_reported(archive, key):
    add_entries(archive, 6)
    cps.write_checkpoint(archive, key)
    lines = archive.ledger.path.read_bytes().splitlines(True)
    archive.ledger.path.write_bytes(b"".join(lines[:5]))
    problem = checked(archive, pub(key))
    assert problem is not None and problem.problem == "checkpoint-beyond-ledger"

    archive.ledger.path.write_bytes(b"".join(lines))
    with open(cps.checkpoints_path(archive), "ab") as fh:
        fh.write(b"not json\n")
    problem = checked(archive, pub(key))
    assert problem is not None and problem.problem == "unreadable-checkpoint"


def test_a_torn_checkpoint_line_is_ignored_and_cut_before_the_next_append(archive, key):
    add_entries(archive, 3)
    first = cps.write_checkpoint(archive, key)
    with open(cps.checkpoints_path(archive), "ab") as fh:
        fh.write(b'{"format":"commgate-checkpoint/v1","tree_')
    assert cps.load_checkpoints(archive) == [first]
    add_entries(archive, 2, start=3)
    second = cps.write_checkpoint(archive, key)
    assert cps.load_checkpoints(archive) == [first, second]
    assert checked(archive, pub(key)) is None


def test_leaves_are_the_entry_hashes_and_a_gap_is_refused(archive, key):
    add_entries(archive, 9)
    assert list(cps.ledger_leaves(archive)) == entry_hashes(archive)
    lines = archive.ledger.path.read_bytes().splitlines(True)
    # Another key order (no fast path) reads the same; a missing line stops a checkpoint.
    first = json.loads(lines[0])
    lines[0] = (json.dumps(dict(reversed(first.items()))) + "\n").encode()
    archive.ledger.path.write_bytes(b"".join(lines))
    assert list(cps.ledger_leaves(archive)) == entry_hashes(archive)
    archive.ledger.path.write_bytes(b"".join(lines[:4] + lines[5:]))
    with pytest.raises(LedgerFormatError, match="expected seq 5, found 6"):
        cps.write_checkpoint(archive, key)
