"""What a case already holds, read from the records the workflows keep, for
:func:`classifiers.context.in_context` (the case a message is threaded into is evidence).

No column of its own: an order is a customer's order message filed with a confident
classification, a person's ``case_classified`` saying the case is an order, or an accepted
order decision; an open enquiry likewise (and the case not resolved or closed); a quote is a
quote or RFQ number on any message of the case; property is a register item that was not
dismissed. Read over the case's merge family, as the workflows read it. A person's
classification of the case outranks the categories the rules gave its messages.

Per batch, as the filing hooks work: six queries for all the cases of a batch, whatever their
number (:func:`load_contexts`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from classifiers import Classification, Identifier
from classifiers.context import EMPTY, CaseContext
from gateway.db.events import case_families
from gateway.db.models import Case, CaseEvent, Message
from gateway.db.property import PropertyItem
from gateway.db.reviews import OrderDecision
from gateway.processing.classification import CLASSIFIED_EVENT, needs_person

FINISHED = ("resolved", "closed")


def load_contexts(session: Session, case_ids: Iterable[int], triage_below: float, *,
                  before_message: int | None = None) -> dict[int, CaseContext]:
    """The context of each case (over its family); ``before_message``: only what was filed
    before that message (``commgate reclassify`` reads a message as it was filed)."""
    families = case_families(session, case_ids)
    members = sorted({m for family in families.values() for m in family})
    if not members:
        return {}
    cases = {cid: (category, status) for cid, category, status in session.execute(
        select(Case.id, Case.category, Case.status).where(Case.id.in_(members)))}
    staff = set(session.scalars(select(CaseEvent.case_id).where(
        CaseEvent.case_id.in_(members), CaseEvent.kind == CLASSIFIED_EVENT)))
    accepted = set(session.scalars(select(OrderDecision.case_id).where(
        OrderDecision.case_id.in_(members), OrderDecision.decision == "accepted")))
    held = set(session.scalars(select(PropertyItem.case_id).where(
        PropertyItem.case_id.in_(members), PropertyItem.status != "dismissed")))
    query = select(Message.case_id, Message.category, Message.direction,
                   Message.needs_triage, Message.confidence, Message.identifiers).where(
        Message.case_id.in_(members)).order_by(Message.id)
    if before_message is not None:
        query = query.where(Message.id < before_message)
    messages: dict[int, list[Any]] = {}
    for row in session.execute(query):
        messages.setdefault(row.case_id, []).append(row)
    return {case_id: _context(family, cases, staff, accepted, held, messages, triage_below)
            for case_id, family in families.items()}


def _context(family: list[int], cases: dict[int, tuple[str, str]], staff: set[int],
             accepted: set[int], held: set[int], messages: dict[int, list[Any]],
             triage_below: float) -> CaseContext:
    category, status = cases[family[0]]
    confirmed = any(m in staff for m in family)
    context = EMPTY
    for member in family:
        for row in messages.get(member, []):
            # A customer's message a rule decided with confidence (staff clearing the triage
            # flag of a guess does not make it one); once a person classified the case, a
            # message the rules put in another category no longer says what the case holds.
            counts = (row.direction == "inbound" and not row.needs_triage
                      and row.confidence >= triage_below
                      and not (confirmed and row.category != category))
            context = context.with_message(row.category, _identifiers(row.identifiers),
                                           counts=counts)
    order = context.order or any(m in accepted for m in family) or (
        confirmed and category == "order")
    enquiry = (context.enquiry or (confirmed and category == "enquiry")) and (
        status not in FINISHED)
    return replace(context, order=order, enquiry=enquiry,
                   property=context.property or any(m in held for m in family))


def after_filing(context: CaseContext, classification: Classification, *, inbound: bool,
                 triage_below: float) -> CaseContext:
    """The context once this message is filed too (the next message of a batch reads it)."""
    counts = inbound and not needs_person(classification, triage_below)
    return context.with_message(classification.category, classification.identifiers,
                                counts=counts)


def _identifiers(stored: Any) -> tuple[Identifier, ...]:
    return tuple(Identifier(str(i.get("kind", "")), str(i.get("value", "")))
                 for i in stored or () if isinstance(i, dict))
