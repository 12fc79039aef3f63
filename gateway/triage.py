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
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.classification import CLASSIFIED_EVENT
from gateway.events import WorkflowError, case_family, record
from gateway.models import CATEGORY_VALUES, Case, Message
from gateway.review_models import Review
from gateway.reviews import open_review, pending_reviews, withdraw_review
from gateway.views import case_summary

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
    before = {"category": case.category, "scope_change": case.scope_change}
    after = {"category": category,
             "scope_change": case.scope_change if scope_change is None else scope_change}
    reason = note.strip() or f"classified by {actor}: no scope change"
    reviews = _sync_scope_review(session, case, before["scope_change"], scope_change,
                                 actor=actor, reason=reason, waiting=waiting)
    case.category, case.scope_change = after["category"], after["scope_change"]
    for message in waiting:
        message.needs_triage = False
    data = {"from": before, "to": after, "changed": before != after,
            "messages": [{"pk": m.id, "category": m.category, "scope_change": m.scope_change,
                          "confidence": m.confidence, "rules_version": m.rules_version}
                         for m in waiting],
            "reviews": reviews, "note": note.strip()}
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
