"""`commgate archive verify` finds every kind of tampering and names the right sequence number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archive.entries import compute_entry_hash
from tests.conftest import make_message, write_messages


@pytest.fixture
def filled(cli, home, tmp_path) -> Path:
    """Five archived messages; returns the archive folder."""
    write_messages(tmp_path / "in", [make_message(subject=f"Quote request {n}") for n in range(5)])
    assert cli("ingest", str(tmp_path / "in")).code == 0
    assert cli("archive", "verify").code == 0
    return home / "archive"


def ledger(archive: Path) -> Path:
    return archive / "ledger" / "ledger.jsonl"


def lines(archive: Path) -> list[str]:
    return ledger(archive).read_text().splitlines(keepends=True)


def write_lines(archive: Path, new: list[str]) -> None:
    ledger(archive).write_text("".join(new))


def entry(archive: Path, seq: int) -> dict:
    return json.loads(lines(archive)[seq - 1])


def problem(cli) -> dict:
    result = cli("archive", "verify", "--json")
    assert result.code == 1
    report = result.json()
    assert report["ok"] is False
    return report["problem"]


def blob_path(archive: Path, seq: int) -> Path:
    sha = entry(archive, seq)["sha256"]
    return archive / "blobs" / sha[:2] / sha


def test_intact_archive_verifies(cli, filled):
    report = cli("archive", "verify", "--json").json()
    assert report == {"ok": True, "entries": 5, "blobs": 5, "head_seq": 5, "checkpoints": 0,
                      "problem": None}


def test_one_altered_byte_in_a_blob_is_found(cli, filled):
    path = blob_path(filled, 3)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01
    path.write_bytes(bytes(data))
    assert problem(cli)["seq"] == 3
    assert problem(cli)["kind"] == "altered-blob"


def test_a_deleted_blob_is_found(cli, filled):
    blob_path(filled, 4).unlink()
    assert (problem(cli)["seq"], problem(cli)["kind"]) == (4, "missing-blob")


def test_an_edited_ledger_entry_is_found(cli, filled):
    all_lines = lines(filled)
    all_lines[1] = all_lines[1].replace('"transport":"file"', '"transport":"smtp"')
    write_lines(filled, all_lines)
    assert (problem(cli)["seq"], problem(cli)["kind"]) == (2, "altered-entry")


def test_a_removed_ledger_entry_is_found(cli, filled):
    all_lines = lines(filled)
    del all_lines[2]
    write_lines(filled, all_lines)
    assert (problem(cli)["seq"], problem(cli)["kind"]) == (3, "missing-entry")


def test_reordered_ledger_entries_are_found(cli, filled):
    all_lines = lines(filled)
    all_lines[1], all_lines[2] = all_lines[2], all_lines[1]
    write_lines(filled, all_lines)
    assert (problem(cli)["seq"], problem(cli)["kind"]) == (2, "missing-entry")


def test_entries_cut_from_the_end_are_found_through_the_database_copy(cli, filled):
    write_lines(filled, lines(filled)[:3])
    assert (problem(cli)["seq"], problem(cli)["kind"]) == (4, "missing-entry")


def test_a_consistently_rewritten_chain_is_found_through_the_database_copy(cli, filled):
    """Recomputing every hash after an edit fools the chain, not the independent copy."""
    rewritten, prev = [], None
    for number, line in enumerate(lines(filled), start=1):
        data = json.loads(line)
        if number == 2:
            data["envelope"]["alias"] = "support@northpoint.example"
        if prev is not None:
            data["prev_hash"] = prev
        fields = {k: v for k, v in data.items() if k != "entry_hash"}
        data["entry_hash"] = prev = compute_entry_hash(fields)
        rewritten.append(json.dumps(data, separators=(",", ":")) + "\n")
    write_lines(filled, rewritten)
    assert (problem(cli)["seq"], problem(cli)["kind"]) == (2, "rewritten-entry")


def test_verify_prints_one_line_naming_the_sequence(cli, filled):
    blob_path(filled, 5).unlink()
    result = cli("archive", "verify")
    assert result.code == 1
    assert result.out.strip() == result.out.strip().splitlines()[0]
    assert "seq 5" in result.out and "missing-blob" in result.out


def test_signed_checkpoints_are_written_and_checked_by_verify(cli, home, filled, tmp_path):
    key = tmp_path / "keys" / "checkpoint.key"
    key.parent.mkdir()
    inside = cli("archive", "keygen", str(filled / "inside.key"))
    assert inside.code != 0 and "inside" in inside.err  # a key never lives in the archive
    assert cli("archive", "keygen", str(key)).code == 0
    config = home / "commgate.toml"
    config.write_text(config.read_text().replace(
        'path = "archive"', f'path = "archive"\ncheckpoint_key = "{key}"'))
    made = cli("archive", "checkpoint", "--json").json()
    assert made["tree_size"] == 5
    report = cli("archive", "verify", "--json").json()
    assert report["ok"] and report["checkpoints"] == 1
    signed = filled / "checkpoints" / "checkpoints.jsonl"
    line = json.loads(signed.read_text())
    line["root_hash"] = "0" * 64  # an altered tree head no longer matches its signature
    signed.write_text(json.dumps(line) + "\n")
    assert problem(cli)["kind"] in ("bad-signature", "checkpoint-root-mismatch")


def test_checkpoint_without_a_configured_key_says_how_to_make_one(cli, filled):
    result = cli("archive", "checkpoint")
    assert result.code == 2 and "commgate archive keygen PATH" in result.err


def test_verify_since_skips_older_blobs_but_never_the_chain(cli, filled):
    blob_path(filled, 2).unlink()  # an old blob gone: only a full run re-reads it
    assert cli("archive", "verify", "--since", "3", "--json").json()["ok"]
    assert problem(cli)["seq"] == 2
    all_lines = lines(filled)
    all_lines[0] = all_lines[0].replace('"transport":"file"', '"transport":"smtp"')
    write_lines(filled, all_lines)  # the chain is checked from genesis even with --since
    result = cli("archive", "verify", "--since", "5", "--json")
    assert result.code == 1 and result.json()["problem"]["seq"] == 1
