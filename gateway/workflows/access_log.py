"""The access log: every search, view of a raw message or a controlled document, export, hold,
purge and backup is recorded.

Each record is a small JSON document stored like a message (content-addressed blob) with a
ledger entry of kind ``access``, so it sits in the same hash chain as the mail it concerns and
is covered by the signed Merkle checkpoints: an operator cannot quietly drop the record of
having read or exported something. The record is written *before* the data is handed out, so a
crash can lose a view but never leave one unrecorded.

:func:`record_access` returns a :class:`RecordedAccess`, and it is the only way to get one. The
domain functions that hand out message content or an export without recording it themselves
(``search.search``, ``feedback.export_csv``) demand one for exactly the query or file they serve:
a caller that skipped the record has nothing to pass and fails at once, not in an audit. The
services (``gateway.services``) are where callers get both in one step.

An export is recorded before its first byte is read, so an export that then fails (a full disk,
a damaged blob) cannot take its record back: :func:`export_failure_recorded` adds an
``export-failed`` record naming it and the error, and :func:`access_log` marks that export
``failed``, so the log does not show a failed export as one that was handed out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import LedgerEntry, Receipt
from gateway.core import principal
from gateway.core.clock import utcnow
from gateway.db.models import LedgerReceipt

if TYPE_CHECKING:
    from gateway.core.context import Context

ACTIONS = ("search", "view-raw", "export", "export-failed", "purge", "hold", "release",
           "view-document", "backup")
_SEAL = object()  # only record_access holds it: a RecordedAccess cannot be made by hand


class AccessNotRecordedError(RuntimeError):
    """Raised when content is asked for with a record of some other access: a programming
    error (the caller skipped the access log), never an operator's."""


@dataclass(frozen=True, eq=False)
class RecordedAccess:
    """Proof that an access was recorded in the archive: what, by whom, about what."""

    entry: LedgerEntry
    actor: str
    action: str
    detail: dict[str, Any]
    _seal: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self._seal is not _SEAL:
            raise AccessNotRecordedError("a RecordedAccess comes from record_access only")

    @property
    def seq(self) -> int:
        return self.entry.seq

    @property
    def sha256(self) -> str:
        return self.entry.sha256

    def require(self, action: str, **detail: Any) -> None:
        """Refuse unless this is the record of ``action`` on exactly ``detail``."""
        if self.action != action or any(self.detail.get(k) != v for k, v in detail.items()):
            raise AccessNotRecordedError(
                f"no access record for this {action}: record it first (gateway.services)")


def record_access(app: Context, actor: str, action: str, detail: dict[str, Any],
                  queue: bool = True) -> RecordedAccess:
    """Append one access record to the archive (durable on return) and its database copy.
    ``queue=False``: the ledger entry only, its row left to the next catch-up (a backup of a
    database behind the code, whose tables the current models may not fit)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown access action {action!r}")
    record = {"action": action, "actor": actor, "at": utcnow().isoformat(), "detail": detail}
    who = principal.current.get()
    if who is not None:  # a command: the OS user behind the staff identity, and its claim
        record["principal"] = {"os_user": who.os_user, "claim": who.claim}
    raw = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str).encode()
    receipt = Receipt(transport="access-log", direction="internal",
                      envelope={"action": action, "actor": actor})
    entry = app.archive.store_record("access", raw, receipt)
    if queue:
        app.queue([entry])
    return RecordedAccess(entry, actor, action, detail, _SEAL)


@contextmanager
def export_failure_recorded(app: Context, actor: str, export_seq: int, output: str
                            ) -> Iterator[None]:
    """Around the work of an export already recorded as ``export_seq``: when it fails, record
    ``export-failed`` (which export, the error), then let the error go on."""
    try:
        yield
    except BaseException as exc:
        with suppress(Exception):  # the export's own error is the one to report
            record_access(app, actor, "export-failed", {
                "export_seq": export_seq, "output": output,
                "error": f"{type(exc).__name__}: {exc}"})
        raise


def access_log(app: Context, session: Session, action: str | None = None,
               since: datetime | None = None) -> list[dict[str, Any]]:
    """The recorded accesses, oldest first, each with its ledger seq and full record; an
    export that failed afterwards carries ``failed`` (the failure's seq and error)."""
    query = select(LedgerReceipt).where(LedgerReceipt.kind == "access")
    if since is not None:
        query = query.where(LedgerReceipt.received_at >= since)
    receipts = list(session.scalars(query.order_by(LedgerReceipt.seq)))
    failures = {}
    for receipt in receipts:
        if receipt.envelope.get("action") == "export-failed":
            detail = json.loads(app.archive.read(receipt.sha256)).get("detail", {})
            failures[detail.get("export_seq")] = {"seq": receipt.seq,
                                                  "error": detail.get("error", "")}
    rows = []
    for receipt in receipts:
        if action and receipt.envelope.get("action") != action:
            continue
        record = json.loads(app.archive.read(receipt.sha256))
        row = {"seq": receipt.seq, "entry_hash": receipt.entry_hash, **record}
        if receipt.seq in failures:
            row["failed"] = failures[receipt.seq]
        rows.append(row)
    return rows
