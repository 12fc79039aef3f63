"""Enquiry → order and scope change (ISO 9001 clause 8.2.3, 8.2.4): the requirement-review
checklist of an order, reviews that must be decided before the case may go on, and the
acceptance decision.

Rules, each enforced here and recorded as a case event:

* A message flagged as a scope change (a change order on an order case) opens a scope-change
  review and puts the case into ``review_required``. A reply whose only scope evidence is its
  quoted subject ("Re: Change to PO 4500871234") does not open another one when the case already
  has a scope-change review: the event ``scope_change_not_reopened`` says so.
* A reviewer approves or rejects it with a note; the decision is confirmed to the customer from a
  published template (gateway.workflows.outbound.queue.queue_mail); the customer's reply that
  quotes that
  confirmation's Message-ID is linked to the review (``review_confirmed``).
* An order is accepted only when no review is pending and every checklist item is ok or n/a;
  the acceptance names who, when and on which message, and keeps the checklist as it stood.
  A pending scope change filed elsewhere blocks it too (:func:`pending_changes_elsewhere`): on
  a case linked to this one (any link kind) or on a case naming one of this case's order
  numbers (a change mailed without a reply header opens its own case).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from classifiers.context import EXISTING_ORDER, OPEN_ENQUIRY, normalise
from gateway.core.clock import utcnow
from gateway.core.errors import WorkflowError
from gateway.core.text import iso
from gateway.db.events import SYSTEM, case_family, cases_by_id, record, surviving_case
from gateway.db.models import Case, CaseLink, Message
from gateway.db.reviews import (
    CHECK_STATES,
    CHECKLIST_ITEMS,
    OrderDecision,
    RequirementCheck,
    Review,
)
from gateway.workflows.change_text import describe_change
from gateway.workflows.outbound.queue import queue_mail

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.processing.hooks import FiledMessage

@dataclass(frozen=True)
class Check:
    """One checklist entry as a reviewer gives it: ``scope=ok`` or ``delivery-date=n/a:note``."""

    item: str
    state: str
    note: str = ""

    @classmethod
    def parse(cls, text: str) -> Check:
        item, sep, rest = text.partition("=")
        state, _, note = rest.partition(":")
        check = cls(item.strip().lower().replace("_", "-"), state.strip().lower(), note.strip())
        if not sep or check.item not in CHECKLIST_ITEMS or check.state not in CHECK_STATES:
            raise WorkflowError(
                f"not allowed because {text!r} is not a checklist item: write ITEM=STATE[:NOTE], "
                f"ITEM one of {', '.join(CHECKLIST_ITEMS)}, STATE one of "
                f"{', '.join(CHECK_STATES)}")
        return check


# -- the requirement-review checklist ---------------------------------------------------------

def checklist(session: Session, case: Case) -> dict[str, dict[str, Any] | None]:
    """Every checklist item with its state, note, who, when and the case it was checked on
    (None: not checked yet). Over the case's family: a check made on a case merged into this
    one counts here, and the newest check of an item wins (the survivor's on a tie)."""
    family = case_family(session, case)
    rows = sorted(session.scalars(select(RequirementCheck).where(
        RequirementCheck.case_id.in_(family))), key=lambda c: (c.at, c.case_id == case.id))
    refs = _refs(session, family)
    newest = {c.item: c for c in rows}
    return {item: _check_view(newest[item], refs) if item in newest else None
            for item in CHECKLIST_ITEMS}


def set_checks(session: Session, case: Case, checks: Sequence[Check], actor: str
               ) -> dict[str, dict[str, Any] | None]:
    """Record checklist items; one ``checklist_updated`` event lists each change from → to."""
    if not checks:
        raise WorkflowError("not allowed because no checklist item was given: pass --item "
                            "ITEM=STATE[:NOTE]")
    _refuse_merged(case)
    now = utcnow()
    seen = checklist(session, case)
    changes = []
    for check in checks:
        row = session.get(RequirementCheck, (case.id, check.item))
        seen_item = seen[check.item]
        before = seen_item["state"] if seen_item else None
        if row is None:
            row = RequirementCheck(case_id=case.id, item=check.item)
            session.add(row)
        row.state, row.note, row.actor, row.at = check.state, check.note, actor, now
        changes.append({"item": check.item, "from": before, "to": check.state,
                        "note": check.note})
    session.flush()
    record(session, case, "checklist_updated", {"changes": changes}, actor=actor)
    return checklist(session, case)


def checklist_gaps(session: Session, case: Case) -> list[str]:
    """What keeps the checklist from being complete, one phrase per problem."""
    items = checklist(session, case)
    missing = [name for name, value in items.items() if value is None]
    not_ok = [name for name, value in items.items() if value and value["state"] == "not-ok"]
    gaps = []
    if missing:
        gaps.append(f"not checked: {', '.join(missing)}")
    if not_ok:
        gaps.append(f"not ok: {', '.join(not_ok)}")
    return gaps


# -- reviews ----------------------------------------------------------------------------------

def pending_reviews(session: Session, case: Case) -> list[Review]:
    return list(session.scalars(select(Review).where(
        Review.case_id.in_(case_family(session, case)), Review.status == "pending")
        .order_by(Review.id)))


def pending_review(session: Session, case: Case) -> Review | None:
    """The oldest review still waiting for a decision (closing and accepting wait for it)."""
    pending = pending_reviews(session, case)
    return pending[0] if pending else None


def open_review(session: Session, case: Case, kind: str, *, actor: str = SYSTEM,
                summary: str = "", evidence: Any = None, trigger_message_pk: int | None = None,
                property_item_id: int | None = None) -> Review:
    """Open a review and put the case into review_required."""
    review = _new_review(case, kind, actor=actor, summary=summary, evidence=evidence,
                         trigger_message_pk=trigger_message_pk,
                         property_item_id=property_item_id)
    session.add(review)
    session.flush()
    _record_opened(session, case, review)
    return review


def _new_review(case: Case, kind: str, *, actor: str, summary: str, evidence: Any,
                trigger_message_pk: int | None, property_item_id: int | None = None) -> Review:
    return Review(case_id=case.id, kind=kind, status="pending", summary=summary[:2000],
                  evidence=evidence if evidence is not None else [],
                  trigger_message_pk=trigger_message_pk, property_item_id=property_item_id,
                  opened_at=utcnow(), opened_by=actor, decision_note="")


def _record_opened(session: Session, case: Case, review: Review) -> None:
    """After the review has its id: the case waits for it, and the event says so."""
    case.review_required = True
    record(session, case, "review_opened",
           {"review_id": review.id, "kind": review.kind, "summary": review.summary,
            "evidence": review.evidence, "property_item_id": review.property_item_id},
           actor=review.opened_by, message_pk=review.trigger_message_pk)


def find_review(session: Session, case: Case, review_id: int | None) -> Review:
    """The review named by id, or the case's only pending one."""
    if review_id is not None:
        review = session.get(Review, review_id)
        if review is None or review.case_id not in case_family(session, case):
            raise WorkflowError(f"not allowed because {case.ref} has no review {review_id}: "
                                f"'commgate review list' shows them")
        return review
    pending = pending_reviews(session, case)
    if not pending:
        raise WorkflowError(f"not allowed because {case.ref} has no pending review")
    if len(pending) > 1:
        raise WorkflowError(f"not allowed because {case.ref} has {len(pending)} pending reviews "
                            f"({', '.join(str(r.id) for r in pending)}): name one with --review")
    return pending[0]


def decide_review(session: Session, settings: Settings, case: Case, review: Review, *,
                  approve: bool, note: str, actor: str, template: str | None = None,
                  confirm: bool = True) -> Review:
    """Approve or reject a pending review with a note, then confirm it to the customer from a
    published template. ``confirm=False`` (the customer was told another way) is recorded."""
    if review.status != "pending":
        raise WorkflowError(f"not allowed because review {review.id} was already "
                            f"{review.status} by {review.decided_by} on "
                            f"{iso(review.decided_at)}")
    if not note.strip():
        raise WorkflowError("not allowed because a review decision needs a note saying why "
                            "(--note)")
    status = "approved" if approve else "rejected"
    review.status, review.decided_by, review.decided_at = status, actor, utcnow()
    review.decision_note = note.strip()
    session.flush()
    for each in {case, session.get(Case, review.case_id)}:
        if each is not None:
            each.review_required = bool(pending_reviews(session, each))
    record(session, case, f"review_{status}",
           {"review_id": review.id, "kind": review.kind, "note": review.decision_note,
            "confirmation": "queued" if confirm else "not sent (told another way)"},
           actor=actor, message_pk=review.trigger_message_pk)
    if confirm:
        _queue_confirmation(session, settings, case, review, actor,
                            template or settings.config.reviews.template_for(review.kind, status))
    return review


def withdraw_review(session: Session, case: Case, review: Review, *, reason: str,
                    actor: str) -> Review:
    """Close a pending review that staff found has nothing to decide (the message was no
    scope change after all), with a reason; no confirmation goes to the customer, who asked
    for nothing. The case goes on once no other review is pending."""
    if review.status != "pending":
        raise WorkflowError(f"not allowed because review {review.id} was already "
                            f"{review.status} by {review.decided_by} on "
                            f"{iso(review.decided_at)}")
    if not reason.strip():
        raise WorkflowError("not allowed because withdrawing a review needs a reason")
    review.status, review.decided_by, review.decided_at = "withdrawn", actor, utcnow()
    review.decision_note = reason.strip()
    session.flush()
    for each in {case, session.get(Case, review.case_id)}:
        if each is not None:
            each.review_required = bool(pending_reviews(session, each))
    record(session, case, "review_withdrawn",
           {"review_id": review.id, "kind": review.kind, "reason": review.decision_note},
           actor=actor, message_pk=review.trigger_message_pk)
    return review


def _queue_confirmation(session: Session, settings: Settings, case: Case, review: Review,
                        actor: str, template: str) -> None:
    trigger = session.get(Message, review.trigger_message_pk) if review.trigger_message_pk \
        else None
    to = (trigger.from_addr if trigger and trigger.from_addr else "") or case.customer
    if not to:
        raise WorkflowError(f"not allowed because {case.ref} has no customer address to confirm "
                            f"to")
    mail = queue_mail(session, settings, case, kind="confirmation", to=[to], actor=actor,
                      template=template, in_reply_to_pk=review.trigger_message_pk,
                      reply_kind=CONFIRMATION_KINDS.get(review.kind, ""),
                      variables={"review_id": str(review.id), "decision": review.status,
                                 "note": review.decision_note, "summary": review.summary,
                                 "change": describe_change(session, review, linked_case_ids(
                                     session, case, "enquiry-order"))})
    review.confirmation_mail_id = mail.id
    review.confirmation_message_id = bare_id(mail.message_id)
    session.flush()
    record(session, case, "review_confirmation_queued",
           {"review_id": review.id, "mail_id": mail.id,
            "message_id": review.confirmation_message_id, "to": [to],
            "template": mail.template_name, "template_version": mail.template_version},
           actor=actor)


# What a review's confirmation is for the [approval] matrix (gateway.config.REPLY_KINDS).
CONFIRMATION_KINDS = {"scope-change": "scope-change-confirmation",
                      "property-incident": "incident"}


def bare_id(message_id: str | None) -> str | None:
    """A Message-ID without angle brackets and blanks, the form parsing gives references in."""
    return message_id.strip().strip("<>").strip() if message_id else None


# -- order acceptance ------------------------------------------------------------------------

def resolve_message(session: Session, case: Case, ref: str) -> Message:
    """A message of this case or of a case linked to it as enquiry/order, named by its number
    (the ``pk`` in ``commgate order show``) or by its Message-ID."""
    text = ref.strip()
    cases = {case.id, *linked_case_ids(session, case, "enquiry-order")}
    if text.isdigit():
        message = session.get(Message, int(text))
    else:
        message = session.scalars(select(Message).where(
            Message.message_id == bare_id(text), Message.case_id.in_(cases))
            .order_by(Message.id)).first()
    if message is None:
        raise WorkflowError(f"not allowed because there is no message {ref!r}: "
                            f"'commgate order show {case.ref}' lists them")
    if message.case_id not in cases:
        raise WorkflowError(f"not allowed because message {message.id} is not part of case "
                            f"{case.ref} or of an "
                            f"enquiry linked to it")
    return message


def decide_order(session: Session, case: Case, message: Message, *, accept: bool, actor: str,
                 note: str = "") -> OrderDecision:
    """Accept or decline an order on the customer's message. Accepting needs every review
    decided and the checklist complete; declining needs a note."""
    _refuse_merged(case)
    items = checklist(session, case)
    if accept:
        reasons = [f"review {r.id} ({r.kind}) is pending" for r in pending_reviews(session, case)]
        reasons += [f"review {r.id} ({r.kind}) on {ref} is pending ({why})"
                    for r, ref, why in pending_changes_elsewhere(session, case)]
        reasons += [f"the requirement review is incomplete ({gap})"
                    for gap in checklist_gaps(session, case)]
        latest = latest_decision(session, case)
        if latest and latest.decision == "accepted" and not _decided_since(session, case, latest):
            reasons.append(f"it was already accepted by {latest.actor} on {iso(latest.at)}")
        if reasons:
            raise WorkflowError(f"not allowed to accept {case.ref} because {'; '.join(reasons)}")
    elif not note.strip():
        raise WorkflowError("not allowed because declining an order needs a note saying why "
                            "(--note)")
    decision = OrderDecision(case_id=case.id, decision="accepted" if accept else "declined",
                             message_pk=message.id, actor=actor, at=utcnow(), note=note.strip(),
                             checklist=items)
    session.add(decision)
    session.flush()
    record(session, case, f"order_{decision.decision}",
           {"decision_id": decision.id, "note": decision.note,
            "message": _message_brief(message), "checklist": items},
           actor=actor, message_pk=message.id)
    return decision


def pending_changes_elsewhere(session: Session, case: Case) -> list[tuple[Review, str, str]]:
    """Pending scope-change reviews outside the case's family that concern its order: on a
    case linked to it (or merged into such a case), or on a case whose messages name one of its
    order numbers. Each with the ref of the case it is on and why it counts."""
    family = set(case_family(session, case))
    pending = list(session.scalars(select(Review).where(
        Review.status == "pending", Review.kind == "scope-change",
        Review.case_id.not_in(family)).order_by(Review.id)))
    if not pending:
        return []
    linked = set(session.scalars(select(CaseLink.other_case_id).where(
        CaseLink.case_id.in_(family)))) | set(session.scalars(select(CaseLink.case_id).where(
            CaseLink.other_case_id.in_(family))))
    ours = _order_numbers(session, family)
    found = []
    for review in pending:
        other = session.get(Case, review.case_id)
        if other is None:
            continue
        members = set(case_family(session, surviving_case(session, other)))
        if members & linked:
            found.append((review, other.ref, "a linked case"))
        elif shared := sorted(ours & _order_numbers(session, members)):
            found.append((review, other.ref, f"it names order {', '.join(shared)}"))
    return found


def _order_numbers(session: Session, case_ids: Iterable[int]) -> set[str]:
    """The purchase-order numbers the messages of these cases name (normalised)."""
    numbers = set()
    for identifiers in session.scalars(select(Message.identifiers).where(
            Message.case_id.in_(list(case_ids)))):
        for item in identifiers or ():
            if isinstance(item, dict) and item.get("kind") == "po" and item.get("value"):
                numbers.add(normalise(str(item["value"])))
    return numbers


def latest_decision(session: Session, case: Case) -> OrderDecision | None:
    """The newest decision of the case's family: an order accepted on a case that was then
    merged into this one is accepted here too."""
    return session.scalars(select(OrderDecision).where(
        OrderDecision.case_id.in_(case_family(session, case)))
        .order_by(OrderDecision.id.desc())).first()


def _decided_since(session: Session, case: Case, decision: OrderDecision) -> bool:
    """A review approved after the last acceptance: the changed order may be accepted again."""
    return session.scalars(select(Review.id).where(
        Review.case_id.in_(case_family(session, case)), Review.kind == "scope-change",
        Review.status == "approved", Review.decided_at > decision.at)).first() is not None


def linked_case_ids(session: Session, case: Case, kind: str) -> list[int]:
    """Cases linked to this one or to a case merged into it (a link is not moved by a merge)."""
    family = case_family(session, case)
    rows = session.execute(select(CaseLink.case_id, CaseLink.other_case_id).where(
        CaseLink.kind == kind,
        or_(CaseLink.case_id.in_(family), CaseLink.other_case_id.in_(family))))
    return sorted({id_ for pair in rows for id_ in pair} - set(family))


def _refuse_merged(case: Case) -> None:
    if case.merged_into_id is not None:
        raise WorkflowError(f"not allowed because {case.ref} was merged into another case: work "
                            f"on that one")


# -- after filing -----------------------------------------------------------------------------

def on_filed(session: Session, settings: Settings, filed: Sequence[FiledMessage]) -> None:
    """Link customers' confirmations to their reviews; open a review for each flagged change.

    Per batch, not per message: one query for the cases, one for the reviews already opened
    and one flush for the new ones (a query and a flush per message cost ~2 ms each)."""
    inbound = [item for item in filed if item.direction != "outbound"]
    awaited = _awaited_confirmations(session, inbound)
    todo = [(item, bool(awaited.intersection(_quoted(item)))) for item in inbound]
    todo = [(item, quotes) for item, quotes in todo
            if quotes or item.classification.scope_change]
    if not todo:
        return
    cases = cases_by_id(session, (item.case_id for item, _ in todo))
    reviewed = _reviewed_messages(session, [item.message_pk for item, _ in todo
                                            if item.classification.scope_change])
    plans: list[tuple[FiledMessage, Case, bool, Review | int | None]] = []
    for item, quotes in todo:
        case = cases.get(item.case_id)
        if case is None:
            continue
        outcome = None
        if item.classification.scope_change and item.message_pk not in reviewed:
            outcome = _plan_scope_review(session, case, item)
        plans.append((item, case, quotes, outcome))
    if any(isinstance(outcome, Review) for *_, outcome in plans):
        session.flush()  # the new reviews' ids, for their events
    for item, case, quotes, outcome in plans:
        if quotes:
            _link_confirmation(session, case, item)
        if isinstance(outcome, Review):
            _record_opened(session, case, outcome)
        elif outcome is not None:
            record(session, case, "scope_change_not_reopened",
                   {"review_id": outcome, "reason": "a reply whose only scope evidence is "
                    "its subject, in a case that already has a scope-change review"},
                   message_pk=item.message_pk)


def _quoted(item: FiledMessage) -> tuple[str, ...]:
    return (*item.parsed.in_reply_to, *item.parsed.references)


def _reviewed_messages(session: Session, message_pks: Sequence[int]) -> set[int]:
    """Which of these messages already triggered a review (filed again: reprocessing)."""
    if not message_pks:
        return set()
    return set(session.scalars(select(Review.trigger_message_pk).where(
        Review.trigger_message_pk.in_(message_pks))))


def _awaited_confirmations(session: Session, items: Sequence[FiledMessage]) -> set[str]:
    """Which of the ids these messages quote are confirmations still awaiting a reply: one
    query for the batch, so the usual message (quoting none) costs nothing more."""
    quoted = {mid for item in items for mid in _quoted(item)}
    if not quoted:
        return set()
    found: set[str] = set()
    ordered = sorted(quoted)
    for start in range(0, len(ordered), 500):
        found.update(session.scalars(select(Review.confirmation_message_id).where(
            Review.confirmation_message_id.in_(ordered[start:start + 500]),
            Review.confirmed_by_message_pk.is_(None))))
    return found


_SIGNALS = ("clf.change_order", EXISTING_ORDER, OPEN_ENQUIRY)


def scope_evidence(evidence: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The evidence of scope rules ("en.scope.quantity"), of the change-order signal and of
    the case context that made the message a change (classifiers/context.py)."""
    return [e for e in evidence if ".scope." in e.get("rule_id", "")
            or e.get("rule_id") in _SIGNALS]


def _plan_scope_review(session: Session, case: Case, item: FiledMessage) -> Review | int | None:
    """A new scope-change review for this message (added, not yet flushed), or the id of the
    earlier review that a reply quoting only its subject does not reopen."""
    evidence = scope_evidence(item.classification.to_dict()["evidence"])
    is_reply = bool(item.parsed.in_reply_to or item.parsed.references)
    if is_reply and evidence and all(e["field"] == "subject" for e in evidence):
        # Autoflush makes a review opened earlier in this batch count as well.
        earlier = session.scalars(select(Review.id).where(
            Review.case_id.in_(case_family(session, case)),
            Review.kind == "scope-change")).first()
        if earlier is not None:
            return int(earlier)
    changes = sorted({e["text"].split(":", 1)[0] for e in evidence
                      if e.get("rule_id") not in _SIGNALS})
    summary = f"{', '.join(changes) or 'scope change'} ({item.parsed.subject})"
    review = _new_review(case, "scope-change", actor=SYSTEM, summary=summary,
                         evidence=evidence, trigger_message_pk=item.message_pk)
    session.add(review)
    return review


def _link_confirmation(session: Session, case: Case, item: FiledMessage) -> None:
    ids = [*item.parsed.in_reply_to, *item.parsed.references]
    if not ids:
        return
    for review in session.scalars(select(Review).where(
            Review.confirmation_message_id.in_(ids),
            Review.case_id.in_(case_family(session, case)),
            Review.confirmed_by_message_pk.is_(None)).order_by(Review.id)):
        review.confirmed_by_message_pk = item.message_pk
        review.confirmed_at = utcnow()
        record(session, case, "review_confirmed",
               {"review_id": review.id, "from": item.parsed.from_addr,
                "subject": item.parsed.subject,
                "in_reply_to": review.confirmation_message_id},
               message_pk=item.message_pk)


# -- read models ------------------------------------------------------------------------------

def review_view(session: Session, review: Review) -> dict[str, Any]:
    case = session.get(Case, review.case_id)
    return {
        "id": review.id, "case": case.ref if case else None, "kind": review.kind,
        "status": review.status, "summary": review.summary, "evidence": review.evidence,
        "trigger_message_pk": review.trigger_message_pk,
        "property_item_id": review.property_item_id,
        "opened_at": iso(review.opened_at), "opened_by": review.opened_by,
        "decided_at": iso(review.decided_at), "decided_by": review.decided_by,
        "decision_note": review.decision_note,
        "confirmation_mail_id": review.confirmation_mail_id,
        "confirmation_message_id": review.confirmation_message_id,
        "confirmed_by_message_pk": review.confirmed_by_message_pk,
        "confirmed_at": iso(review.confirmed_at),
    }


def list_reviews(session: Session, *, pending_only: bool = False, case: Case | None = None,
                 queues: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Reviews oldest first; ``queues`` keeps those of cases in these aliases (None: all)."""
    query = select(Review).order_by(Review.id)
    if pending_only:
        query = query.where(Review.status == "pending")
    if case is not None:
        query = query.where(Review.case_id.in_(case_family(session, case)))
    if queues is not None:
        query = query.join(Case, Case.id == Review.case_id).where(Case.alias.in_(queues))
    return [review_view(session, r) for r in session.scalars(query)]


def list_decisions(session: Session, *, decision: str | None = None,
                   queues: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Order decisions of every case, newest first; ``decision`` keeps the accepted or the
    declined ones, ``queues`` those of cases in these aliases (None: all)."""
    query = select(OrderDecision).order_by(OrderDecision.id.desc())
    if decision is not None:
        query = query.where(OrderDecision.decision == decision)
    if queues is not None:
        query = query.join(Case, Case.id == OrderDecision.case_id).where(
            Case.alias.in_(queues))
    return [decision_view(session, d) for d in session.scalars(query)]


def decision_view(session: Session, decision: OrderDecision) -> dict[str, Any]:
    message = session.get(Message, decision.message_pk)
    case = session.get(Case, decision.case_id)
    return {"id": decision.id, "case": case.ref if case else None,
            "decision": decision.decision, "actor": decision.actor,
            "at": iso(decision.at), "note": decision.note, "checklist": decision.checklist,
            "message": _message_brief(message) if message else None}


def details_for_case(session: Session, case: Case) -> dict[str, Any]:
    """The order record of a case: what ``commgate order show`` prints and ``cases show`` can
    include: linked enquiries, the checklist, reviews, decisions and the case's messages, each
    over the case's family (the cases merged into it)."""
    linked = [session.get(Case, cid) for cid in linked_case_ids(session, case, "enquiry-order")]
    decisions = session.scalars(select(OrderDecision).where(
        OrderDecision.case_id.in_(case_family(session, case))).order_by(OrderDecision.id))
    return {
        "ref": case.ref, "category": case.category, "status": case.status,
        "customer": case.customer, "subject": case.subject,
        "review_required": case.review_required,
        "linked": [{"ref": c.ref, "category": c.category, "subject": c.subject,
                    "kind": "enquiry-order"} for c in linked if c is not None],
        "checklist": checklist(session, case),
        "checklist_gaps": checklist_gaps(session, case),
        "reviews": list_reviews(session, case=case),
        "decisions": [decision_view(session, d) for d in decisions],
        "messages": [_message_brief(m) for m in case.messages],
    }


def _check_view(row: RequirementCheck, refs: dict[int, str]) -> dict[str, Any]:
    return {"state": row.state, "note": row.note, "by": row.actor, "at": iso(row.at),
            "case": refs.get(row.case_id)}


def _refs(session: Session, case_ids: Sequence[int]) -> dict[int, str]:
    return dict(session.execute(select(Case.id, Case.ref).where(Case.id.in_(case_ids))).all())


def _message_brief(message: Message) -> dict[str, Any]:
    return {"pk": message.id, "message_id": message.message_id, "from": message.from_addr,
            "subject": message.subject, "date": iso(message.date),
            "direction": message.direction, "seq": message.first_seq,
            "sha256": message.sha256}
