"""The one way an intake hands messages in: archive durably, queue, and only then let go.

``accept`` returns after the archive write is durable; the caller acknowledges upstream
(removes the dropped file, answers 250, moves the IMAP message) only after it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select, tuple_

from archive import LedgerEntry, Receipt, sha256_hex
from gateway.app import App
from gateway.models import LedgerReceipt


@dataclass(frozen=True)
class Delivery:
    raw: bytes
    receipt: Receipt

    @property
    def alias(self) -> str:
        return str(self.receipt.envelope.get("alias", ""))


@dataclass
class Accepted:
    entries: list[LedgerEntry] = field(default_factory=list)
    duplicates: int = 0


def accept(app: App, deliveries: Sequence[Delivery], skip_known: bool = True) -> Accepted:
    """Archive ``deliveries`` and queue them for processing.

    With ``skip_known`` a message whose exact bytes are already archived for the same alias is
    not archived again (a re-run import, a file dropped twice): it counts as a duplicate.
    """
    result = Accepted()
    todo: list[Delivery] = []
    keys = [(sha256_hex(d.raw), d.alias) for d in deliveries]
    known: set[tuple[str, str]] = set()
    if skip_known and keys:
        with app.db.session() as session:
            known = {tuple(row) for row in session.execute(
                select(LedgerReceipt.sha256, LedgerReceipt.alias).where(
                    tuple_(LedgerReceipt.sha256, LedgerReceipt.alias).in_(set(keys))))}
    for key, delivery in zip(keys, deliveries, strict=True):
        if key in known:
            result.duplicates += 1
            continue
        known.add(key)
        todo.append(delivery)
    result.entries = app.archive.store_many([(d.raw, d.receipt) for d in todo])
    app.processor.record(result.entries)
    return result
