"""Which cases and messages an export covers, resolved once from the database.

Shared by the evidence package and the standard exports (mbox, folder of .eml) so that
``--case REF``, ``--from/--to``, ``--alias`` and ``--customer`` mean the same everywhere:

* ``--case`` (repeatable) takes the whole case, the cases merged into it (their history is part
  of its record) and the cases linked to it as enquiry/order (so "how did this enquiry become an
  order" is answered by one package).
* ``--alias`` takes the messages filed for that alias, ``--customer`` (an address or a domain)
  the messages of that customer's cases.
* ``--from``/``--to`` narrow the messages by the time the archive received them (the ledger time,
  not the sender's Date header, which the sender controls), or with ``--by sent`` by their
  Date header (the chronology of imported history; a message without a Date header is then
  outside any period). A bare date in ``--to`` includes that whole day (UTC).

The cases exported are the cases of the selected messages (plus, for ``--case``, the related
ones above); their events are exported in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from gateway.core.errors import SelectionError as SelectionError  # re-exported
from gateway.db.events import case_by_ref, case_family
from gateway.db.models import Case, CaseLink, LedgerReceipt, Message

DATE_BASES = ("received", "sent")  # the ledger time, or the message's Date header


@dataclass(frozen=True)
class Selection:
    """What to export, as given on the command line (see the module docstring)."""

    cases: tuple[str, ...] = ()
    date_from: datetime | None = None
    date_to: datetime | None = None
    alias: str | None = None
    customer: str | None = None
    by: str = "received"  # which date --from/--to filter: one of DATE_BASES

    def __post_init__(self) -> None:
        if self.by not in DATE_BASES:
            raise SelectionError(f"dates filter by one of {', '.join(DATE_BASES)}, not "
                                 f"{self.by!r}")
        scopes = sum(bool(s) for s in (self.cases, self.alias, self.customer))
        if scopes > 1:
            raise SelectionError("choose one of --case, --alias or --customer (dates may be "
                                 "added to any of them)")
        if not scopes and self.date_from is None and self.date_to is None:
            raise SelectionError("nothing selected: give --case REF, --from/--to DATE, "
                                 "--alias ADDR or --customer DOMAIN")
        for moment in (self.date_from, self.date_to):
            if moment is not None and moment.tzinfo is None:
                raise SelectionError("dates must carry a time zone")
        if self.date_from and self.date_to and self.date_to <= self.date_from:
            raise SelectionError("--to must be after --from")

    def to_dict(self) -> dict[str, Any]:
        return {"cases": list(self.cases),
                "from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None,
                "alias": self.alias, "customer": self.customer, "by": self.by}


def parse_date(value: str, *, end: bool = False) -> datetime:
    """``YYYY-MM-DD`` (UTC; with ``end`` the day after, so the day is included) or ISO 8601."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return day + timedelta(days=1) if end else day
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SelectionError(f"not a date: {value!r} (YYYY-MM-DD or ISO 8601)") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Selected:
    """The resolved selection: cases (with why each is included) and messages, in seq order."""

    cases: list[Case] = field(default_factory=list)
    reasons: dict[int, str] = field(default_factory=dict)  # case id -> why it is included
    messages: list[Message] = field(default_factory=list)
    received: dict[int, datetime] = field(default_factory=dict)  # message id -> ledger time
    tombstones: dict[str, int] = field(default_factory=dict)  # purged sha256 -> tombstone seq


def resolve(session: Session, selection: Selection) -> Selected:
    """Load the selected cases and messages (raises SelectionError when nothing matches)."""
    query = (select(Message, LedgerReceipt.received_at)
             .outerjoin(LedgerReceipt, LedgerReceipt.seq == Message.first_seq))
    reasons: dict[int, str] = {}
    if selection.cases:
        for ref in selection.cases:
            case = case_by_ref(session, ref)
            reasons.setdefault(case.id, "selected")
            for other, why in _related(session, case):
                reasons.setdefault(other, why)
        query = query.where(Message.case_id.in_(reasons))
    elif selection.alias:
        query = query.where(func.lower(Message.alias) == selection.alias.strip().lower())
    elif selection.customer:
        wanted = selection.customer.strip().lower()
        column = Case.customer if "@" in wanted else Case.customer_domain
        query = query.join(Case, Case.id == Message.case_id).where(
            func.lower(column) == wanted)
    when = Message.date if selection.by == "sent" else LedgerReceipt.received_at
    if selection.date_from is not None:
        query = query.where(when >= selection.date_from)
    if selection.date_to is not None:
        query = query.where(when < selection.date_to)
    selected = Selected()
    for message, received in session.execute(query.order_by(Message.first_seq, Message.id)):
        selected.messages.append(message)
        if received is not None:
            selected.received[message.id] = received
        reasons.setdefault(message.case_id, "has selected messages")
    if not reasons:
        raise SelectionError(f"nothing matches the selection {selection.to_dict()}")
    selected.reasons = reasons
    selected.cases = list(session.scalars(select(Case).where(Case.id.in_(reasons))
                                          .order_by(Case.id)))
    purged = {m.sha256 for m in selected.messages if m.purged_at is not None}
    if purged:
        selected.tombstones = dict(session.execute(
            select(LedgerReceipt.sha256, func.min(LedgerReceipt.seq))
            .where(LedgerReceipt.kind == "tombstone", LedgerReceipt.sha256.in_(purged))
            .group_by(LedgerReceipt.sha256)).all())
    return selected


def _related(session: Session, case: Case) -> list[tuple[int, str]]:
    """Cases merged into ``case`` (in a chain too) and cases linked to it as enquiry/order."""
    merged = case_family(session, case)[1:]
    linked = session.execute(select(CaseLink.case_id, CaseLink.other_case_id).where(
        CaseLink.kind == "enquiry-order",
        or_(CaseLink.case_id == case.id, CaseLink.other_case_id == case.id)))
    related = [(cid, f"merged into {case.ref}") for cid in merged]
    related += [(b if a == case.id else a, f"enquiry/order linked to {case.ref}")
                for a, b in linked]
    return [(cid, why) for cid, why in related if cid != case.id]
