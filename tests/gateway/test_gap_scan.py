"""Filing is driven by the ledger: every entry without a receipts row is found and queued.

The defect this guards against (issue 11): a database outage made the recorder drop batches,
and ``catch_up`` only looked above the highest recorded seq, so the first batch recorded after
the outage hid the gap for good.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text

from archive import LedgerEntry, Receipt
from gateway.bootstrap import App
from gateway.db.models import LedgerReceipt, Message
from gateway.intake.handoff import Delivery, accept
from gateway.processing.pipeline import missing_seqs, queue_entries
from tests.support.mail import make_message, write_messages


def deliveries(count: int, label: str) -> list[Delivery]:
    return [Delivery(make_message(subject=f"{label} {n}"),
                     Receipt("file", {"alias": "sales@northpoint.example"}))
            for n in range(count)]


def archive_only(app: App, count: int, label: str) -> list[LedgerEntry]:
    """Archived (as an intake does before it acknowledges) but never queued: the outage."""
    return app.archive.store_many([(d.raw, d.receipt) for d in deliveries(count, label)])


def receipt_seqs(app: App) -> list[int]:
    with app.db.session() as session:
        return list(session.scalars(select(LedgerReceipt.seq).order_by(LedgerReceipt.seq)))


def filed_count(app: App) -> int:
    with app.db.session() as session:
        return session.scalar(select(func.count()).select_from(Message)) or 0


def test_a_gap_below_later_records_is_queued_and_filed(app: App, caplog) -> None:
    before = accept(app, deliveries(3, "before")).entries
    outage = archive_only(app, 4, "during the outage")
    after = accept(app, deliveries(2, "after")).entries  # recorded: the old scan stopped here
    tail = archive_only(app, 2, "at the end")
    assert receipt_seqs(app) == [e.seq for e in before + after]

    with caplog.at_level(logging.DEBUG, logger="gateway.processing.pipeline"):
        assert app.processor.catch_up(logging.WARNING) == 6
    assert receipt_seqs(app) == list(range(1, 12))
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [f"queued 6 archived entries that had no database row "
                      f"(seq {outage[0].seq}-{outage[-1].seq}, {tail[0].seq}-{tail[-1].seq})"]
    assert [o.status for o in app.processor.process_pending()] == ["filed"] * 11
    assert filed_count(app) == 11
    assert app.processor.catch_up() == 0


def test_deleted_rows_in_the_middle_and_at_the_end_are_queued_exactly(home: Path) -> None:
    app = App.open(home)
    try:
        entries = archive_only(app, 40, "message")
        app.processor.record(entries)
        lost = {1, 17, 18, 19, 33, 39, 40}
        with app.db.session() as session:
            session.execute(delete(LedgerReceipt).where(LedgerReceipt.seq.in_(lost)))
    finally:
        app.close()
    restarted = App.open(home)  # a new process: nothing is known to be complete yet
    try:
        assert restarted.processor.catch_up() == len(lost)
        assert receipt_seqs(restarted) == list(range(1, 41))
        assert {o.status for o in restarted.processor.process_pending()} == {"filed"}
        assert filed_count(restarted) == 40
    finally:
        restarted.close()


def test_missing_seqs_finds_every_gap_whatever_its_place(app: App) -> None:
    """Small fan-out and leaf sizes make the scan descend several levels on 300 entries."""
    entries = archive_only(app, 300, "m")
    gaps = [(1, 1), (8, 9), (16, 16), (17, 17), (64, 130), (255, 256), (299, 300)]
    missing = {seq for low, high in gaps for seq in range(low, high + 1)}
    with app.db.session() as session:
        queue_entries(session, [e for e in entries if e.seq not in missing])
    with app.db.session() as session:
        # (16, 16) and (17, 17) touch: reported as one range.
        expected = [(1, 1), (8, 9), (16, 17), (64, 130), (255, 256), (299, 300)]
        assert missing_seqs(session, 1, 300, fanout=4, leaf=8) == expected
        assert missing_seqs(session, 1, 300) == expected
        assert missing_seqs(session, 10, 70, fanout=3, leaf=4) == [(16, 17), (64, 70)]
        assert missing_seqs(session, 131, 254, fanout=2, leaf=2) == []
        assert missing_seqs(session, 301, 300) == []


def refuse_receipts(app: App) -> None:
    """The database itself refuses new receipts rows (a real failure, not a stand-in)."""
    with app.db.session() as session:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("CREATE TRIGGER refuse_receipts BEFORE INSERT ON receipts "
                                 "BEGIN SELECT RAISE(ABORT, 'receipts refused by the test'); END"))
        else:
            session.execute(text(
                "CREATE FUNCTION refuse_receipts() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'receipts refused by the test'; END $$"))
            session.execute(text("CREATE TRIGGER refuse_receipts BEFORE INSERT ON receipts "
                                 "FOR EACH STATEMENT EXECUTE FUNCTION refuse_receipts()"))


def accept_receipts(app: App) -> None:
    with app.db.session() as session:
        session.execute(text("DROP TRIGGER refuse_receipts" if session.get_bind().dialect.name
                             == "sqlite" else "DROP TRIGGER refuse_receipts ON receipts"))


def test_an_import_whose_queueing_failed_is_filed_by_the_next_run(cli, app, tmp_path,
                                                                   caplog) -> None:
    refuse_receipts(app)
    first = write_messages(tmp_path / "first", [make_message(subject=f"first {n}")
                                                 for n in range(3)])
    failed = cli("ingest", *map(str, first), "--json")
    assert failed.code == 0, failed.err
    assert "could not queue them in the database" in caplog.text
    assert failed.json()["archived"] == 3
    assert receipt_seqs(app) == [] and filed_count(app) == 0

    accept_receipts(app)
    second = write_messages(tmp_path / "second", [make_message(subject="second")])
    again = cli("ingest", *map(str, second), "--json")
    assert again.code == 0, again.err
    assert ("WARNING", "queued 3 archived entries that had no database row (seq 1-3)") in [
        (r.levelname, r.getMessage()) for r in caplog.records]
    assert receipt_seqs(app) == [1, 2, 3, 4, 5]  # 5: the case events of the filing batch
    assert filed_count(app) == 4


@pytest.mark.parametrize("count", [0, 1])
def test_an_empty_or_complete_ledger_queues_nothing(app: App, count: int) -> None:
    accept(app, deliveries(count, "m"))
    assert app.processor.catch_up() == 0


def test_a_routine_catch_up_reports_at_debug_only(app: App, caplog) -> None:
    """In a running daemon the worker's scan may meet a batch the recorder is queueing at that
    moment: no gap, so not worth a line in the operator's log (it was INFO every round)."""
    archive_only(app, 2, "in flight")
    with caplog.at_level(logging.DEBUG, logger="gateway.processing.pipeline"):
        assert app.processor.catch_up() == 2
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.DEBUG, "queued 2 archived entries that had no database row (seq 1-2)")]
