"""``archive verify`` for an installation: the archive's own chain plus the database's copy.

The hash chain alone cannot notice entries cut from the *end* of the ledger, or a chain
rewritten wholesale from some point on. The database holds an independent copy of every entry
hash (the processing queue), so each entry is also compared with it, and the database must not
know of entries the ledger no longer has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from archive import Inconsistency, public_key_path
from archive.checkpoints import CheckpointCheck
from archive.verify import verify_archive
from gateway.app import App
from gateway.models import LedgerReceipt


def _database_copy(app: App) -> Callable[[int, int], dict[int, str]]:
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


def verify_installation(app: App, since: int = 0) -> dict[str, Any]:
    """Chain, blobs (from ``since`` on), the database's copy of every entry hash, checkpoints.

    The checkpoints' Merkle roots are built from the leaves of the chain walk itself, so the
    ledger is read once."""
    key = app.settings.config.archive.checkpoint_key
    checkpoints = (CheckpointCheck(app.archive, public_key_path(app.settings.resolve(key)))
                   if key else None)
    report = verify_archive(app.archive.ledger, app.archive.blobs, since=since,
                            recorded=_database_copy(app),
                            tree=checkpoints.tree if checkpoints else None)
    problem = report.first_problem
    if problem is None:
        with app.db.session() as session:
            known = session.scalar(select(func.max(LedgerReceipt.seq))) or 0
        if known > report.head_seq:
            problem = Inconsistency(report.head_seq + 1, "missing-entry",
                                    f"the ledger ends at seq {report.head_seq} but the database "
                                    f"recorded receipts up to seq {known}")
    if problem is None and checkpoints is not None:
        # After the chain check: checkpoints cover entry hashes, the chain ties them to content.
        problem = checkpoints.finish()
    result: dict[str, Any] = {"ok": problem is None, "entries": report.entries,
                              "blobs": report.blobs, "head_seq": report.head_seq,
                              "checkpoints": len(checkpoints.checkpoints) if checkpoints else 0,
                              "problem": None}
    if problem is not None:
        result["problem"] = {"seq": problem.seq, "kind": problem.problem,
                             "detail": problem.detail}
    return result
