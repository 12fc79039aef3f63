"""The enquiry → order and scope-change workflows: the requirement checklist, review decisions,
order acceptance. The rules (an order is accepted only with every review decided and the
checklist complete, a decision needs a note ...) are gateway/workflows/reviews.py's; each
function here runs them in one transaction and records the case event with the actor.

``queues`` (the aliases the actor may work; None: every one) refuses a case of another queue
before anything is recorded, and limits a listing to those queues' cases."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gateway.core.errors import AccessDeniedError
from gateway.db import reviews as tables
from gateway.db.events import case_by_ref
from gateway.services.rows import Listing, RowView
from gateway.workflows import reviews

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gateway.core.context import Context
    from gateway.db.models import Case

# What the forms and filters of the pages offer.
CHECKLIST_ITEMS, CHECK_STATES, DECISIONS = (tables.CHECKLIST_ITEMS, tables.CHECK_STATES,
                                            tables.DECISIONS)
Row = Mapping[str, Any]
Queues = frozenset[str] | None


@dataclasses.dataclass(frozen=True)
class Checklist(RowView):
    """A case's requirement-review checklist (over its family) and what is still missing."""

    ref: str
    checklist: Row
    gaps: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Review(RowView):
    id: int
    case: str | None
    kind: str
    status: str
    summary: str
    evidence: Any
    trigger_message_pk: int | None
    property_item_id: int | None
    opened_at: str | None
    opened_by: str
    decided_at: str | None
    decided_by: str | None
    decision_note: str | None
    confirmation_mail_id: int | None
    confirmation_message_id: str | None
    confirmed_by_message_pk: int | None
    confirmed_at: str | None


@dataclasses.dataclass(frozen=True)
class Decision(RowView):
    """An order accepted or declined, with the checklist as it stood."""

    id: int
    case: str | None
    decision: str
    actor: str
    at: str | None
    note: str
    checklist: Row
    message: Row | None


@dataclasses.dataclass(frozen=True)
class OrderDecided(RowView):
    """What ``order accept|decline`` did: the decision, named by the case it was asked on."""

    ref: str
    id: int
    case: str | None
    decision: str
    actor: str
    at: str | None
    note: str
    checklist: Row
    message: Row | None


@dataclasses.dataclass(frozen=True)
class OrderRecord(RowView):
    """The order record of a case: linked enquiries, checklist, reviews, decisions, messages."""

    ref: str
    category: str
    status: str
    customer: str
    subject: str
    review_required: bool
    linked: tuple[Row, ...]
    checklist: Row
    checklist_gaps: tuple[str, ...]
    reviews: tuple[Review, ...]
    decisions: tuple[Decision, ...]
    messages: tuple[Row, ...]


def _case(session: Session, ref: str, queues: Queues, *, for_update: bool = False) -> Case:
    case = case_by_ref(session, ref, for_update=for_update)
    if queues is not None and case.alias not in queues:
        raise AccessDeniedError(f"{case.ref} is in the queue {case.alias}, which you may not "
                                "work")
    return case


def set_checklist(ctx: Context, *, actor: str, ref: str, items: Sequence[str],
                  queues: Queues = None) -> Checklist:
    """Record checklist items given as ``ITEM=STATE[:NOTE]`` (one ``checklist_updated``
    event); a malformed item refuses them all."""
    checks = [reviews.Check.parse(text) for text in items]
    with ctx.db.session() as session:
        case = _case(session, ref, queues, for_update=True)
        state = reviews.set_checks(session, case, checks, actor)
        return Checklist(case.ref, state, tuple(reviews.checklist_gaps(session, case)))


def decide_review(ctx: Context, *, actor: str, ref: str, approve: bool, note: str,
                  review_id: int | None = None, template: str | None = None,
                  confirm: bool = True, queues: Queues = None) -> Review:
    """Approve or reject a pending review (the case's only one unless ``review_id``) and queue
    its confirmation to the customer unless ``confirm`` is False (recorded as such)."""
    with ctx.db.session() as session:
        case = _case(session, ref, queues, for_update=True)
        review = reviews.find_review(session, case, review_id)
        reviews.decide_review(session, ctx.settings, case, review, approve=approve, note=note,
                              actor=actor, template=template, confirm=confirm)
        return Review.from_row(reviews.review_view(session, review))


def list_reviews(ctx: Context, *, actor: str, pending_only: bool = False,
                 case: str | None = None, queues: Queues = None) -> Listing[Review]:
    """Reviews of every case, or of one case's family; optionally only the pending ones."""
    del actor  # reading is not recorded
    with ctx.db.session() as session:
        of = case_by_ref(session, case) if case else None
        return Listing(tuple(Review.from_row(row) for row in reviews.list_reviews(
            session, pending_only=pending_only, case=of, queues=queues)))


def list_orders(ctx: Context, *, actor: str, decision: str | None = None,
                queues: Queues = None) -> Listing[Decision]:
    """Every order decision, newest first; only the accepted or the declined ones with
    ``decision``."""
    del actor  # reading is not recorded
    with ctx.db.session() as session:
        return Listing(tuple(Decision.from_row(row) for row in reviews.list_decisions(
            session, decision=decision, queues=queues)))


def decide_order(ctx: Context, *, actor: str, ref: str, message: str, accept: bool,
                 note: str = "", queues: Queues = None) -> OrderDecided:
    """Accept or decline the order of a case on one customer message (its pk or Message-ID).
    Refused while a review is pending or the checklist is incomplete, and a decline without
    a note (gateway/workflows/reviews.py)."""
    with ctx.db.session() as session:
        case = _case(session, ref, queues, for_update=True)
        decision = reviews.decide_order(session, case,
                                        reviews.resolve_message(session, case, message),
                                        accept=accept, actor=actor, note=note)
        return OrderDecided.from_row({"ref": case.ref,
                                      **reviews.decision_view(session, decision)})


def order_record(ctx: Context, *, actor: str, ref: str, queues: Queues = None) -> OrderRecord:
    del actor
    with ctx.db.session() as session:
        row = reviews.details_for_case(session, _case(session, ref, queues))
    return OrderRecord.from_row(
        row, linked=tuple(row["linked"]), checklist_gaps=tuple(row["checklist_gaps"]),
        reviews=tuple(Review.from_row(r) for r in row["reviews"]),
        decisions=tuple(Decision.from_row(d) for d in row["decisions"]),
        messages=tuple(row["messages"]))
