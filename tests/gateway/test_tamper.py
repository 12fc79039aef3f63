"""`commgate archive verify` finds every kind of tampering and names the right sequence number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from archive import Receipt
from archive.entries import compute_entry_hash
from archive.verify import SeqRanges
from gateway.evidence.integrity import _still_unrecorded, describe_ranges
from tests.support.mail import make_message, write_messages


@pytest.fixture
def filled(cli, home, tmp_path) -> Path:
    """Five archived messages (seq 1-5) and the entry of the events their filing recorded
    (seq 6); returns the archive folder."""
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
    nothing = {"count": 0, "ranges": [], "unlisted": 0}
    events = report.pop("events")
    assert report == {"ok": True, "entries": 6, "blobs": 6, "head_seq": 6, "checkpoints": 0,
                      "problem": None, "not_in_database": nothing, "not_in_ledger": nothing}
    assert events["ok"] and events["checked"] >= 5  # at least one "filed" event per message
    assert entry(filled, 6)["kind"] == "events"


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
    assert made["tree_size"] == 6
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


# -- the database's copy: every entry has its row, every row its entry -------------------------

def sql(db_url: str, statement: str, **values: object) -> None:
    """What someone with the database's password can do, outside commgate."""
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement), values)
    finally:
        engine.dispose()


def inconsistent(cli) -> tuple[dict, str]:
    """(the JSON report, the text report) of a verify that fails."""
    report, said = cli("archive", "verify", "--json"), cli("archive", "verify")
    assert report.code == said.code == 1
    assert report.json()["ok"] is False
    return report.json(), said.out


def test_a_deleted_receipts_row_is_named(cli, filled, db_url):
    sql(db_url, "DELETE FROM receipts WHERE seq = 3")
    report, said = inconsistent(cli)
    assert report["problem"] is None  # the chain itself is intact
    assert report["not_in_database"] == {"count": 1, "ranges": [[3, 3]], "unlisted": 0}
    assert "1 entry of the ledger not in the database: seq 3 " in said


def test_rows_missing_for_a_range_of_entries_are_named_as_one_range(cli, filled, db_url):
    sql(db_url, "DELETE FROM receipts WHERE seq BETWEEN 2 AND 4")
    report, said = inconsistent(cli)
    assert report["not_in_database"] == {"count": 3, "ranges": [[2, 4]], "unlisted": 0}
    assert "seq 2-4 (3 entries)" in said and "next catch-up" in said


def test_the_last_entry_removed_together_with_its_row_is_found(cli, filled, db_url):
    """No checkpoint key: what remembers entry 6 is the database's high-water mark."""
    write_lines(filled, lines(filled)[:5])
    sql(db_url, "DELETE FROM receipts WHERE seq = 6")
    report, said = inconsistent(cli)
    assert (report["problem"]["seq"], report["problem"]["kind"]) == (6, "missing-entry")
    assert "the ledger ends at seq 5 but the database recorded entries up to seq 6" in said
    assert report["not_in_database"]["count"] == report["not_in_ledger"]["count"] == 0


def test_the_last_entry_rewritten_together_with_its_row_is_found(cli, filled, db_url):
    all_lines = lines(filled)
    data = json.loads(all_lines[5])
    data["envelope"]["alias"] = "support@northpoint.example"
    data["entry_hash"] = compute_entry_hash({k: v for k, v in data.items() if k != "entry_hash"})
    write_lines(filled, [*all_lines[:5], json.dumps(data, separators=(",", ":")) + "\n"])
    sql(db_url, "UPDATE receipts SET entry_hash = :forged WHERE seq = 6",
        forged=data["entry_hash"])
    report, _ = inconsistent(cli)
    assert (report["problem"]["seq"], report["problem"]["kind"]) == (6, "rewritten-entry")
    assert "high-water mark" in report["problem"]["detail"]


def test_an_entry_rewritten_with_its_row_below_a_new_head_is_found(cli, filled, db_url):
    """The forger also appends an entry (without a row): the mark is then below the head."""
    all_lines = lines(filled)
    forged, prev = all_lines[:5], entry(filled, 5)["entry_hash"]
    for seq in (6, 7):
        data = json.loads(all_lines[5])
        data["envelope"]["alias"] = "support@northpoint.example"
        data["seq"], data["prev_hash"] = seq, prev
        data["entry_hash"] = prev = compute_entry_hash(
            {k: v for k, v in data.items() if k != "entry_hash"})
        forged.append(json.dumps(data, separators=(",", ":")) + "\n")
    write_lines(filled, forged)
    sql(db_url, "UPDATE receipts SET entry_hash = :forged WHERE seq = 6",
        forged=json.loads(forged[5])["entry_hash"])
    report, _ = inconsistent(cli)
    assert (report["problem"]["seq"], report["problem"]["kind"]) == (6, "rewritten-entry")
    assert "high-water mark" in report["problem"]["detail"]
    assert report["not_in_database"]["ranges"] == [[7, 7]]


def test_a_database_row_without_a_ledger_entry_is_named(cli, filled, db_url):
    sql(db_url, "INSERT INTO receipts (seq, kind, sha256, entry_hash, size, alias, direction, "
                "transport, envelope, received_at, status) SELECT 9, kind, sha256, entry_hash, "
                "size, alias, direction, transport, envelope, received_at, status "
                "FROM receipts WHERE seq = 5")
    report, said = inconsistent(cli)
    assert report["not_in_ledger"] == {"count": 1, "ranges": [[9, 9]], "unlisted": 0}
    assert (report["problem"]["seq"], report["problem"]["kind"]) == (7, "missing-entry")
    assert "1 database row without a ledger entry: seq 9" in said


def test_the_high_water_mark_cannot_be_lowered_or_removed(cli, filled, db_url):
    for statement in ("UPDATE ledger_high_water SET seq = 4", "DELETE FROM ledger_high_water",
                      "UPDATE ledger_high_water SET entry_hash = ''"):
        with pytest.raises(DBAPIError, match="only rises"):
            sql(db_url, statement)
    if db_url.startswith("postgresql"):
        with pytest.raises(DBAPIError, match="only rises"):
            sql(db_url, "TRUNCATE ledger_high_water")
    assert cli("archive", "verify").code == 0


def test_rows_that_arrive_during_the_walk_are_not_reported(app, db_url):
    """A running daemon writes a row a moment after its entry: verify looks again at the end."""
    app.processor.record(app.archive.store_many(
        [(make_message(subject=f"Order {n}"), Receipt("file", {})) for n in range(5)]))
    sql(db_url, "DELETE FROM receipts WHERE seq = 3")
    seen_in_the_walk = SeqRanges()
    seen_in_the_walk.add_range(2, 4)  # rows 2 and 4 arrived after the walk looked
    still = _still_unrecorded(app, seen_in_the_walk)
    assert (still.ranges, still.count) == ([[3, 3]], 1)


def test_a_long_list_of_ranges_is_cut_short_with_a_count():
    seqs = {"count": 14, "ranges": [[1, 1], [3, 5], [7, 7], [9, 15]], "unlisted": 0}
    assert describe_ranges(seqs, shown=2) == "seq 1, seq 3-5 (3 entries), and 10 more entries"


def test_writers_never_wait_on_the_high_water_mark_while_holding_rows(home, db_url):
    """PostgreSQL: the mark is raised at COMMIT, so a writer holding rows another writer will
    insert too (catch-up and the recorder queue the same entries) never also holds the mark
    while waiting: no deadlock, and the mark ends at the greatest row either committed."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time")
    engine = create_engine(db_url)
    insert = text("INSERT INTO receipts (seq, kind, sha256, entry_hash, size, alias, direction, "
                  "transport, envelope, received_at, status) VALUES (:seq, 'receipt', :h, :h, "
                  "1, '', 'inbound', 'smtp', '{}', now(), 'pending') ON CONFLICT DO NOTHING")
    try:
        with engine.connect() as catch_up, engine.connect() as recorder:
            recorder.execute(text("SET lock_timeout = '5s'"))  # a regression fails, not hangs
            catch_up.execute(insert, [{"seq": seq, "h": f"{seq:064x}"} for seq in (1, 2, 3)])
            recorder.execute(insert, {"seq": 4, "h": f"{4:064x}"})
            recorder.commit()  # while catch_up holds rows 1-3 uncommitted
            catch_up.execute(insert, {"seq": 4, "h": f"{4:064x}"})  # there already: nothing
            catch_up.commit()
            mark = catch_up.execute(text("SELECT seq, entry_hash FROM ledger_high_water")).one()
    finally:
        engine.dispose()
    assert tuple(mark) == (4, f"{4:064x}")
