"""``archive verify`` for an installation: the archive's own chain plus the database's copy.

The hash chain alone cannot notice entries cut from the *end* of the ledger, or a chain
rewritten wholesale from some point on. The database holds an independent copy of every entry
hash (the processing queue), so each entry is also compared with it, and the database must not
know of entries the ledger no longer has.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from archive import (
    Inconsistency,
    LedgerEntry,
    load_checkpoints,
    public_key_path,
    verify_checkpoints,
)
from gateway.app import App
from gateway.models import LedgerReceipt

_CHUNK = 10_000


class _DatabaseCopy:
    """Streams (seq, entry_hash) from the database in chunks as the ledger is walked."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.chunk: dict[int, str] = {}
        self.chunk_end = 0

    def __call__(self, entry: LedgerEntry) -> Inconsistency | None:
        if entry.seq > self.chunk_end:
            self._load(entry.seq)
        recorded = self.chunk.get(entry.seq)
        if recorded is not None and recorded != entry.entry_hash:
            return Inconsistency(entry.seq, "rewritten-entry",
                                 "the ledger entry differs from the copy the database recorded")
        return None

    def _load(self, start: int) -> None:
        self.chunk_end = start + _CHUNK - 1
        with self.app.db.session() as session:
            self.chunk = dict(session.execute(
                select(LedgerReceipt.seq, LedgerReceipt.entry_hash)
                .where(LedgerReceipt.seq.between(start, self.chunk_end))).all())


def verify_installation(app: App, since: int = 0) -> dict[str, Any]:
    """Chain, blobs (from ``since`` on), the database's copy of every entry hash, checkpoints."""
    report = app.archive.verify(extra_check=_DatabaseCopy(app), since=since)
    problem = report.first_problem
    if problem is None:
        with app.db.session() as session:
            known = session.scalar(select(func.max(LedgerReceipt.seq))) or 0
        if known > report.head_seq:
            problem = Inconsistency(report.head_seq + 1, "missing-entry",
                                    f"the ledger ends at seq {report.head_seq} but the database "
                                    f"recorded receipts up to seq {known}")
    checkpoints = len(load_checkpoints(app.archive))
    key = app.settings.config.archive.checkpoint_key
    if problem is None and checkpoints and key:
        # After the chain check: checkpoints cover entry hashes, the chain ties them to content.
        problem = verify_checkpoints(app.archive,
                                     public_key_path(app.settings.resolve(key)))
    result: dict[str, Any] = {"ok": problem is None, "entries": report.entries,
                              "blobs": report.blobs, "head_seq": report.head_seq,
                              "checkpoints": checkpoints if key else 0, "problem": None}
    if problem is not None:
        result["problem"] = {"seq": problem.seq, "kind": problem.problem,
                             "detail": problem.detail}
    return result
