"""The triage queue: customer messages that no rule decided, or decided with a low confidence,
wait for a person, who confirms or corrects the case's category and scope-change flag.

"other" needs positive evidence (a header verdict, auto-reply, newsletter or spam wording); a
human message that no rule decides gets its alias's queue prior (``[[aliases]] prior``) and
``needs_triage`` instead, so it is seen by someone rather than filed as noise.

:func:`classify_case` is the one place a person's classification is applied (the CLI calls it,
a web UI will too). It records one ``case_classified`` event naming who, the classification
before and after and the messages it confirms (what a rule evaluation replays as staff's
labels), clears their ``needs_triage``, and keeps the scope-change workflow in step: a flag
corrected to yes opens a scope-change review, a flag corrected to no withdraws the pending one.

The category drives the workflows as the pipeline's does (:func:`_sync_records`), through the
same functions the filing hooks call: a case classified ``property`` gets the register's
proposed item (``property_register.propose_items``) from the message it is about, a case
classified ``feedback`` its feedback record (``feedback.open_record``), each recorded with
the person as actor. Records are evidence and are never deleted: classified away from
property, the items still only proposed are dismissed (the register's status for "not
property after all") and confirmed ones are kept; classified away from feedback, the record is
kept (it has no withdrawn state) and the event says so: its type must still be set before the
case can be closed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.core.errors import WorkflowError
from gateway.core.text import iso
from gateway.db.events import case_family, record
from gateway.db.models import CATEGORY_VALUES, Case, CaseLink, Message
from gateway.db.property import PropertyItem
from gateway.db.reviews import Review
from gateway.processing.classification import CLASSIFIED_EVENT
from gateway.workflows import feedback
from gateway.workflows import property as property_register
from gateway.workflows.cases import case_summary
from gateway.workflows.reviews import open_review, pending_reviews, withdraw_review

SCOPE_REVIEW = "scope-change"


def triage_queue(session: Session) -> list[dict[str, Any]]:
    """The cases holding a customer message that waits for a person, oldest first, each with
    those messages (the flag is on the message, so it moves with it in a merge or split)."""
    waiting: dict[int, list[Message]] = {}
    for message in session.scalars(select(Message).where(Message.needs_triage.is_(True))
                                   .order_by(Message.id)):
        waiting.setdefault(message.case_id, []).append(message)
    if not waiting:
        return []
    counts = dict(session.execute(select(Message.case_id, func.count()).where(
        Message.case_id.in_(waiting)).group_by(Message.case_id)).all())
    rows = []
    for case in session.scalars(select(Case).where(Case.id.in_(waiting)).order_by(Case.id)):
        messages = waiting[case.id]
        rows.append(case_summary(case, counts.get(case.id, 0)) | {
            "lowest_confidence": min(m.confidence for m in messages),
            "waiting": [_waiting_view(m) for m in messages]})
    return rows


def classify_case(session: Session, case: Case, *, category: str,
                  scope_change: bool | None = None, actor: str, note: str = ""
                  ) -> dict[str, Any]:
    """Confirm or correct a case's category and (when given) its scope-change flag.

    Records one ``case_classified`` event (also when nothing changes: a confirmation is a
    decision too) and clears ``needs_triage`` on the case's waiting messages. A flag turned
    to yes opens a scope-change review unless one is pending; a flag given as no withdraws
    every pending scope-change review with the reason. Returns what the event records.
    """
    if category not in CATEGORY_VALUES:
        raise WorkflowError(f"not allowed because {category!r} is not a category: use one of "
                            f"{', '.join(CATEGORY_VALUES)}")
    if case.merged_into_id is not None:
        raise WorkflowError(f"not allowed because {case.ref} was merged into another case: "
                            f"classify that one")
    waiting = list(session.scalars(select(Message).where(
        Message.case_id == case.id, Message.needs_triage.is_(True)).order_by(Message.id)))
    was = case.category
    before: dict[str, Any] = {"category": case.category, "scope_change": case.scope_change}
    after: dict[str, Any] = {"category": category,
             "scope_change": case.scope_change if scope_change is None else scope_change}
    reason = note.strip() or f"classified by {actor}: no scope change"
    reviews = _sync_scope_review(session, case, before["scope_change"], scope_change,
                                 actor=actor, reason=reason, waiting=waiting)
    case.category, case.scope_change = after["category"], after["scope_change"]
    records = _sync_records(session, case, was, actor=actor, waiting=waiting)
    for message in waiting:
        message.needs_triage = False
    data = {"from": before, "to": after, "changed": before != after,
            "messages": [{"pk": m.id, "category": m.category, "scope_change": m.scope_change,
                          "confidence": m.confidence, "rules_version": m.rules_version}
                         for m in waiting],
            "reviews": reviews, "records": records, "note": note.strip()}
    record(session, case, CLASSIFIED_EVENT, data, actor=actor,
           message_pk=waiting[0].id if waiting else None)
    session.flush()
    return {"ref": case.ref, "actor": actor, **data}


def _sync_scope_review(session: Session, case: Case, was: bool, wanted: bool | None, *,
                       actor: str, reason: str, waiting: list[Message]
                       ) -> list[dict[str, Any]]:
    """Open or withdraw scope-change reviews as the corrected flag says; what was done."""
    if wanted is None:
        return []
    pending = [r for r in pending_reviews(session, case) if r.kind == SCOPE_REVIEW]
    if wanted:
        if pending:
            return [{"review_id": r.id, "action": "kept"} for r in pending]
        if was:
            return []  # confirmed: the flagged change had its review already
        review = open_review(session, case, SCOPE_REVIEW, actor=actor,
                             summary=f"scope change confirmed by {actor} ({case.subject})",
                             evidence=[], trigger_message_pk=_trigger(session, case, waiting))
        return [{"review_id": review.id, "action": "opened"}]
    for review in pending:
        withdraw_review(session, case, review, reason=reason, actor=actor)
    return [{"review_id": r.id, "action": "withdrawn"} for r in pending]


def _sync_records(session: Session, case: Case, was: str, *, actor: str,
                  waiting: list[Message]) -> dict[str, Any]:
    """Give the case the records its new category calls for, and say what happened to those
    of the category it leaves (nothing is deleted); what was done, for the event."""
    done: dict[str, Any] = {}
    if case.category == "property":
        done["property"] = _propose_property(session, case, actor, waiting)
    elif was == "property":
        done["property"] = _dismiss_proposals(session, case, actor)
    if case.category == "feedback":
        done["feedback"] = _open_feedback(session, case, actor, waiting)
    elif was == "feedback":
        kept = feedback.record_for(session, case)
        if kept is not None:
            done["feedback"] = {"kept": kept.id, "reason": "a feedback record is evidence and "
                                "is kept; its type must still be set before the case closes"}
    return done


def _about(session: Session, case: Case, waiting: list[Message]) -> Message | None:
    """The customer's message the classification is about: the latest waiting one, else
    the latest inbound one of the case."""
    if waiting:
        return waiting[-1]
    return session.scalars(select(Message).where(
        Message.case_id == case.id, Message.direction == "inbound")
        .order_by(Message.id.desc())).first()


def _propose_property(session: Session, case: Case, actor: str, waiting: list[Message]
                      ) -> dict[str, Any]:
    """The item the pipeline would have proposed, unless the case already has one."""
    family = case_family(session, case)
    held = list(session.scalars(select(PropertyItem.id).where(
        PropertyItem.case_id.in_(family), PropertyItem.status != "dismissed")))
    if held:
        return {"kept": held}
    message = _about(session, case, waiting)
    if message is None:
        return {"proposed": [], "reason": "no customer message to propose an item from"}
    notice = property_register.Notice(
        case=case, message_pk=message.id, subject=message.subject, sender=message.from_addr,
        identifiers=tuple((str(i.get("kind", "")), str(i.get("value", "")))
                          for i in message.identifiers or ()),
        rules=tuple(sorted({str(e.get("rule_id", "")) for e in message.evidence or ()})))
    items = property_register.propose_items(session, [notice], actor=actor,
                                            again_after_dismissal=True)
    return {"proposed": [item.id for item in items]}


def _dismiss_proposals(session: Session, case: Case, actor: str) -> dict[str, Any]:
    """Proposals are dismissed with a note; items staff confirmed stay in the register."""
    items = list(session.scalars(select(PropertyItem).where(
        PropertyItem.case_id.in_(case_family(session, case)),
        PropertyItem.status != "dismissed").order_by(PropertyItem.id)))
    dismissed = [item for item in items if item.proposed]
    for item in dismissed:
        property_register.set_status(
            session, item, "dismissed", actor=actor,
            note=f"{case.ref} classified as {case.category} by {actor}: not property")
    kept = [item.id for item in items if not item.proposed]
    done: dict[str, Any] = {"dismissed": [item.id for item in dismissed]}
    if kept:
        done |= {"kept": kept, "reason": "confirmed items stay in the register: change their "
                 "status with 'commgate property status' if they are not the customer's"}
    return done


def _open_feedback(session: Session, case: Case, actor: str, waiting: list[Message]
                   ) -> dict[str, Any]:
    existing = feedback.record_for(session, case)
    if existing is not None:
        return {"kept": existing.id}
    if case.status == "closed":
        return {"opened": None, "reason": f"{case.ref} is closed: reopen it to record feedback"}
    message = _about(session, case, waiting)
    suggested, rules = feedback.suggest_type_from_rules(
        str(e.get("rule_id", "")) for e in (message.evidence if message else None) or ())
    row = feedback.open_record(session, case, actor=actor, suggested_type=suggested,
                               rules=rules, message_pk=message.id if message else None)
    return {"opened": row.id, "suggested_type": suggested}


def _trigger(session: Session, case: Case, waiting: list[Message]) -> int | None:
    """The customer's message the new review is about: the latest waiting one, else the
    latest inbound one; never one that already has a review (one review per message)."""
    reviewed = set(session.scalars(select(Review.trigger_message_pk).where(
        Review.case_id.in_(case_family(session, case)),
        Review.trigger_message_pk.is_not(None))))
    inbound = list(session.scalars(select(Message.id).where(
        Message.case_id == case.id, Message.direction == "inbound").order_by(Message.id)))
    for pk in [m.id for m in reversed(waiting)] + list(reversed(inbound)):
        if pk not in reviewed:
            return pk
    return None


def _waiting_view(message: Message) -> dict[str, Any]:
    return {"pk": message.id, "from": message.from_addr, "subject": message.subject,
            "category": message.category, "scope_change": message.scope_change,
            "confidence": message.confidence, "language": message.language,
            "snippet": message.snippet[:200]}


FOLLOW_UP_LINK = "possible-follow-up"


def possible_follow_ups(session: Session) -> list[dict[str, Any]]:
    """The threader's possible-follow-up links still standing, oldest first: a stranger's new
    case and the case its mail pointed at, for a person to merge, keep apart (unlink) or
    leave. Each row names both cases' queue, so a caller can show only its reader's."""
    links = list(session.scalars(select(CaseLink).where(CaseLink.kind == FOLLOW_UP_LINK)
                                 .order_by(CaseLink.id)))
    ids = {link.case_id for link in links} | {link.other_case_id for link in links}
    cases = {case.id: case for case in session.scalars(select(Case).where(Case.id.in_(ids)))}
    rows = []
    for link in links:
        new, tagged = cases[link.case_id], cases[link.other_case_id]
        rows.append({"case": new.ref, "alias": new.alias, "customer": new.customer,
                     "subject": new.subject, "status": new.status,
                     "linked_at": iso(link.created_at), "other": tagged.ref,
                     "other_alias": tagged.alias, "other_customer": tagged.customer,
                     "other_subject": tagged.subject})
    return rows
