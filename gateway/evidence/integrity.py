"""``archive verify`` for an installation: the archive's own chain plus the database's copy.

The hash chain alone cannot notice entries cut from the *end* of the ledger, or a chain
rewritten wholesale from some point on. The database holds an independent copy of every entry
hash (the processing queue), so each entry is also compared with it: every ledger entry must
have its row and every row its entry. Entries cut from the end *together with* their rows
leave the rows agreeing with the shorter ledger; the database's high-water mark (the greatest
seq it was ever given, which its triggers only let rise: migration 0009) still remembers them.
What no database can prove, because whoever rewrites both can rewrite it too, a signed
checkpoint held elsewhere does (``checkpoint_key``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, or_, select

from archive import Inconsistency, public_key_path
from archive.checkpoints import CheckpointCheck
from archive.verify import SeqRanges, verify_archive
from gateway.core.context import Context
from gateway.db.models import LedgerHighWater, LedgerReceipt
from gateway.evidence.event_check import check_events, describe_events
from gateway.evidence.verify_record import remember_verify
from gateway.processing.pipeline import missing_seqs

# Ranges a text report names before it says "and N more".
SHOWN_RANGES = 10


def _database_copy(app: Context) -> Callable[[int, int], dict[int, str]]:
    """The entry hashes the database recorded for a range of seqs (one query per range)."""
    table = LedgerReceipt.__table__

    def recorded(first: int, last: int) -> dict[int, str]:
        # Core, and the driver's own tuples: a verify compares every entry, and building a
        # Row per entry would cost a third of this query.
        with app.db.engine.connect() as connection:
            result = connection.execute(select(table.c.seq, table.c.entry_hash)
                                        .where(table.c.seq.between(first, last)))
            with result:
                rows = result.cursor.fetchall() if result.cursor is not None else result.all()
            return dict(rows)

    return recorded


def verify_installation(app: Context, since: int = 0) -> dict[str, Any]:
    """Chain, blobs (from ``since`` on), the database's copy of every entry hash, checkpoints.

    The checkpoints' Merkle roots are built from the leaves of the chain walk itself, and the
    entries without a database row are noted by the same walk, so the ledger is read once."""
    key = app.settings.config.archive.checkpoint_key
    checkpoints = (CheckpointCheck(app.archive, public_key_path(app.settings.resolve(key)))
                   if key else None)
    # Read before the walk: the daemon writes an entry to the ledger before its row, so all
    # the database knows now is in the ledger by the time the walk reaches its end.
    high_water, last_row = _database_marks(app)
    report = verify_archive(app.archive.ledger, app.archive.blobs, since=since,
                            recorded=_database_copy(app),
                            tree=checkpoints.tree if checkpoints else None)
    head = report.head_seq
    not_in_database = _still_unrecorded(app, report.unrecorded)
    not_in_ledger = _rows_without_entries(app, head, last_row)
    problem = report.first_problem
    if problem is None:
        problem = _beyond_the_ledger(app, head, report.head_hash, high_water, last_row)
    if problem is None and checkpoints is not None:
        # After the chain check: checkpoints cover entry hashes, the chain ties them to content.
        problem = checkpoints.finish()
    events = check_events(app)
    result: dict[str, Any] = {
        "ok": (problem is None and not not_in_database.count and not not_in_ledger.count
               and events["ok"]),
        "entries": report.entries, "blobs": report.blobs, "head_seq": head,
        "checkpoints": len(checkpoints.checkpoints) if checkpoints else 0, "problem": None,
        "not_in_database": _as_json(not_in_database), "not_in_ledger": _as_json(not_in_ledger),
        "events": events}
    if problem is not None:
        result["problem"] = {"seq": problem.seq, "kind": problem.problem,
                             "detail": problem.detail}
    remember_verify(app.settings.home, result, since=since)
    return result


def _database_marks(app: Context) -> tuple[tuple[int, str], int]:
    """The high-water mark (seq, entry hash) and the greatest seq in ``receipts``."""
    with app.db.session() as session:
        mark = session.execute(select(LedgerHighWater.seq, LedgerHighWater.entry_hash)
                               .where(LedgerHighWater.id == 1)).first()
        last_row = session.scalar(select(func.max(LedgerReceipt.seq))) or 0
    return (mark[0], mark[1]) if mark else (0, ""), last_row


def _beyond_the_ledger(app: Context, head: int, head_hash: str, high_water: tuple[int, str],
                       last_row: int) -> Inconsistency | None:
    """What the database remembers of entries the ledger no longer has: rows past its end, or
    a high-water mark past it (the rows were removed too), or a mark at the ledger's last seq
    but for another entry (the end was cut and rewritten)."""
    mark, mark_hash = high_water
    known = max(mark, last_row)
    if known > head:
        return Inconsistency(head + 1, "missing-entry",
                             f"the ledger ends at seq {head} but the database recorded entries "
                             f"up to seq {known}: entries were cut from the ledger's end")
    if mark and mark == head and mark_hash != head_hash:
        return Inconsistency(mark, "rewritten-entry", "the ledger's last entry differs from the "
                             "one the database recorded as its high-water mark")
    if 0 < mark < head:
        # Below the head the walk compared the entry with its row; the row must be the mark's.
        with app.db.session() as session:
            row_hash = session.scalar(select(LedgerReceipt.entry_hash)
                                      .where(LedgerReceipt.seq == mark))
        if row_hash is not None and row_hash != mark_hash:
            return Inconsistency(mark, "rewritten-entry", "the database's row for this entry "
                                 "differs from its high-water mark")
    return None


def _still_unrecorded(app: Context, seen: SeqRanges) -> SeqRanges:
    """The walk's entries without a row, less those whose row has arrived since: a running
    daemon writes an entry to the ledger a moment before its row (and files entries a
    database outage left without one at its next catch-up)."""
    if not seen.count:
        return seen
    still = SeqRanges(limit=seen.limit)
    with app.db.session() as session:
        for first, last in seen.ranges:
            for low, high in missing_seqs(session, first, last):
                still.add_range(low, high)
    # Past the listing limit: counted, not looked at again.
    still.count += seen.unlisted
    still.unlisted += seen.unlisted
    return still


def _rows_without_entries(app: Context, head: int, last_row: int) -> SeqRanges:
    """Rows whose seq the ledger does not have: past its end (up to the greatest seq there was
    before the walk; later rows are the daemon's new entries), or no seq at all (below 1)."""
    rows = SeqRanges()
    table = LedgerReceipt.__table__
    with app.db.engine.connect() as connection:
        foreign = connection.execution_options(stream_results=True).execute(
            select(table.c.seq).where(or_(table.c.seq < 1,
                                          table.c.seq.between(head + 1, last_row)))
            .order_by(table.c.seq)).scalars()
        for seq in foreign:
            rows.add(seq)
    return rows


def _as_json(seqs: SeqRanges) -> dict[str, Any]:
    return {"count": seqs.count, "ranges": [list(r) for r in seqs.ranges],
            "unlisted": seqs.unlisted}


def describe_ranges(seqs: dict[str, Any], shown: int = SHOWN_RANGES) -> str:
    """``seq 1705-6983 (5279 entries), seq 7001``, the first ``shown`` ranges, and how many
    more there are."""
    parts = [f"seq {first}" if first == last else f"seq {first}-{last} ({last - first + 1} "
             f"entries)" for first, last in seqs["ranges"][:shown]]
    rest = seqs["count"] - sum(last - first + 1 for first, last in seqs["ranges"][:shown])
    if rest:
        parts.append(f"and {rest} more entr{'y' if rest == 1 else 'ies'}")
    return ", ".join(parts)


def describe(report: dict[str, Any]) -> list[str]:
    """The report as lines for a person: one when intact, one per finding otherwise."""
    if report["ok"]:
        return [f"archive intact: {report['entries']} ledger entries, {report['blobs']} blobs "
                f"verified, head seq {report['head_seq']}, "
                f"{report.get('events', {}).get('checked', 0)} case events match the ledger"]
    lines = []
    problem = report["problem"]
    if problem is not None:
        lines.append(f"archive INCONSISTENT at seq {problem['seq']}: {problem['kind']}: "
                     f"{problem['detail']}")
    missing = report["not_in_database"]
    if missing["count"]:
        lines.append(f"archive INCONSISTENT: {_entries(missing['count'])} of the ledger not in "
                     f"the database: {describe_ranges(missing)} (the daemon files them at its "
                     f"next catch-up; if they stay, their rows were deleted)")
    foreign = report["not_in_ledger"]
    if foreign["count"]:
        lines.append(f"archive INCONSISTENT: {foreign['count']} database "
                     f"row{'s' if foreign['count'] != 1 else ''} without a ledger entry: "
                     f"{describe_ranges(foreign)}")
    lines += describe_events(report.get("events", {}))
    return lines


def _entries(count: int) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"
