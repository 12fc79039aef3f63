"""Feedback reviewed on a cadence, the review recorded (ISO 9001 9.1.2, 9.3.2 c, 10.2).

A feedback review is a meeting with attendees over a set of feedback items (feedback cases).
For each item it decides one of :data:`DECISIONS`:

- ``corrective-action``: with the corrective action's reference or description;
- ``improvement``: with what is to be improved;
- ``no-action``: only with the reason (an auditor asks why nothing was done).

Decisions:
- Every item gets exactly one decision and every decision names an item: a review that
  skips an item it lists, or decides one it does not list, is refused whole.
- The review and its items are written once (the database refuses updates and deletes); each
  item's case gets a ``feedback_reviewed`` event with the decision, the attendees and who
  recorded it, on the case where staff work now (a merged case's survivor).
- A review's date is when it was held (default: now), never in the future.
- :func:`review_cadence` reads, for a period, the reviews held, the stretches longer than
  ``[feedback] review_every_days`` without one, and the feedback items never reviewed: what
  the procedure's conformance section and a mock audit show.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gateway.core.clock import utcnow
from gateway.core.errors import WorkflowError
from gateway.core.text import iso
from gateway.db.events import case_by_ref, record, surviving_case
from gateway.db.feedback import REVIEW_DECISIONS, FeedbackRecord, FeedbackReview
from gateway.db.feedback import FeedbackReviewItem as ReviewItem
from gateway.db.models import Case
from gateway.workflows.feedback import record_for

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gateway.config import Settings

DECISIONS = REVIEW_DECISIONS
REVIEWED_EVENT = "feedback_reviewed"
MAX_TEXT = 4000
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_FUTURE_SLACK = timedelta(minutes=5)  # clocks of the recording machine and the database


@dataclass(frozen=True)
class Decision:
    """What the review decided for one item: ``REF=corrective-action:CAPA-12``."""

    ref: str
    kind: str
    text: str

    @classmethod
    def parse(cls, spec: str) -> Decision:
        """``REF=KIND:TEXT``; a kind without text is refused (no action needs its reason)."""
        ref, sep, rest = spec.partition("=")
        kind, colon, text = rest.partition(":")
        kind = kind.strip().lower()
        if not sep or not ref.strip():
            raise WorkflowError(f"decision {spec!r}: expected REF=KIND:TEXT, e.g. "
                                f"NPC-000012=corrective-action:CAPA-2026-031")
        if kind not in DECISIONS:
            raise WorkflowError(f"decision {spec!r}: {kind!r} is not one of "
                                f"{', '.join(DECISIONS)}")
        if not colon or not text.strip():
            what = "the reason" if kind == "no-action" else "what it is"
            raise WorkflowError(f"not allowed because the {kind} decision on {ref.strip()} "
                                f"does not say {what} (REF={kind}:TEXT)")
        return cls(ref.strip().upper(), kind, text.strip()[:MAX_TEXT])


def record_review(session: Session, *, attendees: Sequence[str], items: Sequence[str],
                  decisions: Sequence[Decision], actor: str, held_at: datetime | None = None,
                  note: str = "") -> FeedbackReview:
    """Record one review meeting and what it decided for each item (see the decisions)."""
    people = _attendees(attendees)
    refs = _items(items, decisions)
    when = held_at or utcnow()
    if when > utcnow() + _FUTURE_SLACK:
        raise WorkflowError(f"not allowed because the review is dated {iso(when)}, in the "
                            f"future")
    by_ref = {decision.ref: decision for decision in decisions}
    review = FeedbackReview(held_at=when, attendees=people, note=note.strip()[:MAX_TEXT],
                            recorded_by=actor, recorded_at=utcnow())
    targets = []
    for ref in refs:
        case = case_by_ref(session, ref)
        row = record_for(session, case)
        if row is None:
            raise WorkflowError(f"not allowed because {case.ref} is not a feedback case "
                                f"('commgate feedback set {case.ref} --type ...' makes it one)")
        decision = by_ref[ref]
        review.items.append(ReviewItem(feedback_id=row.id, case_id=row.case_id,
                                       decision=decision.kind, text=decision.text))
        targets.append((surviving_case(session, case), case.ref, decision))
    session.add(review)
    session.flush()
    for case, ref, decision in targets:
        record(session, case, REVIEWED_EVENT, {
            "review_id": review.id, "item": ref, "decision": decision.kind,
            "text": decision.text, "attendees": people, "held_at": iso(when)}, actor=actor)
    return review


def _attendees(names: Sequence[str]) -> list[str]:
    people = list(dict.fromkeys(" ".join(n.split()) for n in names if n.strip()))
    if not people:
        raise WorkflowError("not allowed because a review needs its attendees (--attendees)")
    if any(_UNSAFE.search(name) or len(name) > 128 for name in people):
        raise WorkflowError("not allowed because an attendee's name has control characters "
                            "or is longer than 128")
    return people


def _items(items: Sequence[str], decisions: Sequence[Decision]) -> list[str]:
    refs = list(dict.fromkeys(ref.strip().upper() for ref in items if ref.strip()))
    if not refs:
        raise WorkflowError("not allowed because a review needs the feedback items it "
                            "reviewed (--items)")
    decided = [decision.ref for decision in decisions]
    twice = sorted({ref for ref in decided if decided.count(ref) > 1})
    if twice:
        raise WorkflowError(f"not allowed because {', '.join(twice)} has more than one "
                            f"decision")
    missing = [ref for ref in refs if ref not in decided]
    extra = [ref for ref in decided if ref not in refs]
    if missing:
        raise WorkflowError(f"not allowed because the review decides nothing for "
                            f"{', '.join(missing)} (--decision REF=KIND:TEXT for each item)")
    if extra:
        raise WorkflowError(f"not allowed because {', '.join(extra)} has a decision but is "
                            f"not one of the reviewed items")
    return refs


# -- read models ------------------------------------------------------------------------------

def review_view(session: Session, review: FeedbackReview) -> dict[str, Any]:
    cases = _cases(session, {item.case_id for item in review.items})
    return {"id": review.id, "held_at": iso(review.held_at), "attendees": review.attendees,
            "note": review.note, "recorded_by": review.recorded_by,
            "recorded_at": iso(review.recorded_at),
            "items": [{"ref": cases.get(item.case_id, ("", ""))[0], "decision": item.decision,
                       "text": item.text, "alias": cases.get(item.case_id, ("", ""))[1]}
                      for item in review.items]}


def list_reviews(session: Session, since: datetime | None = None,
                 until: datetime | None = None) -> list[dict[str, Any]]:
    """The reviews held in the period (``since`` inclusive, ``until`` exclusive), oldest first."""
    return [review_view(session, review) for review in _held(session, since, until)]


def _held(session: Session, since: datetime | None,
          until: datetime | None) -> list[FeedbackReview]:
    query = select(FeedbackReview).order_by(FeedbackReview.held_at, FeedbackReview.id)
    if since is not None:
        query = query.where(FeedbackReview.held_at >= since)
    if until is not None:
        query = query.where(FeedbackReview.held_at < until)
    return list(session.scalars(query))


def review_cadence(session: Session, settings: Settings, since: datetime,
                   until: datetime) -> dict[str, Any]:
    """Whether feedback was reviewed on the configured cadence in ``[since, until)``: the
    reviews held, each stretch longer than ``review_every_days`` without one (from the period's
    start to the first review, between reviews, from the last to the period's end), and the
    feedback items recorded before ``until`` that no review ever took up."""
    every = settings.config.feedback.review_every_days
    held = _held(session, since, until)
    times = [since, *(review.held_at for review in held), until]
    gaps = [{"from": iso(start), "to": iso(end),
             "days": round((end - start).total_seconds() / 86400, 1)}
            for start, end in pairwise(times)
            if end - start > timedelta(days=every)]
    reviewed = select(ReviewItem.feedback_id)
    never = session.execute(
        select(FeedbackRecord, Case.ref, Case.status).join(Case, Case.id == FeedbackRecord.case_id)
        .where(FeedbackRecord.created_at < until, FeedbackRecord.id.not_in(reviewed))
        .order_by(FeedbackRecord.created_at, FeedbackRecord.id))
    return {"every_days": every, "since": iso(since), "until": iso(until),
            "reviews": [review_view(session, review) for review in held],
            "gaps": gaps, "kept": not gaps,
            "never_reviewed": [{"ref": ref, "type": row.type, "status": status,
                                "recorded_at": iso(row.created_at)}
                               for row, ref, status in never]}


def _cases(session: Session, case_ids: set[int]) -> dict[int, tuple[str, str]]:
    """Reference and queue (alias) of each case: the web shows a reader only their queues."""
    if not case_ids:
        return {}
    return {case_id: (ref, alias) for case_id, ref, alias in session.execute(
        select(Case.id, Case.ref, Case.alias).where(Case.id.in_(case_ids)))}
