"""``/feedback``: the feedback log of ``commgate feedback list`` (period filters, the reader's
queues only), the feedback reviews held (``commgate feedback reviews``) with the form that
records one (``commgate feedback review``: a quality role, the queues of every item), with its
CSV download (``commgate feedback export``: recorded in the access log
before the file is written), and the case page's feedback actions: type and severity
(``feedback set``), the corrective action and resolution (``feedback action``), each a case
event with the signed-in person as actor."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from starlette.background import BackgroundTask

from gateway.services.cases import show_case
from gateway.services.feedback_reviews import (
    FeedbackReview,
    list_feedback_reviews,
    record_feedback_review,
)
from gateway.services.lifecycle import (
    FEEDBACK_TYPES,
    SEVERITIES,
    export_feedback,
    feedback_cases,
    record_action,
    set_feedback,
)
from gateway.services.users import UserView
from gateway.web.common import BadForm, render, state_of
from gateway.web.pages import check_csrf, signed_in
from gateway.web.rights import READ_CASES, RECORD_REVIEWS, WORK_CASES, require_queue

router = APIRouter()
FormText = Annotated[str, Form()]


def when(text: str, name: str) -> datetime | None:
    """A period bound as the command line reads it: an ISO date or time, UTC unless given."""
    if not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadForm(f"{name}: not an ISO date or time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@router.get("/feedback")
def feedback_log(request: Request, since: str = "", until: str = "") -> Response:
    user = signed_in(request, READ_CASES)
    ctx = state_of(request).ctx
    rows = feedback_cases(ctx, actor=user.name, since=when(since, "since"),
                          until=when(until, "until"), queues=user.queues).rows
    return render(request, "feedback.html", {
        "rows": rows, "since": since, "until": until,
        "reviews": _visible(user, list_feedback_reviews(ctx, actor=user.name).items),
        "may_review": user.role in RECORD_REVIEWS})


@router.post("/feedback/reviews")
def record_review(request: Request, attendees: FormText = "", items: FormText = "",
                  decisions: FormText = "", held: FormText = "", note: FormText = "",
                  csrf: FormText = "") -> Response:
    """Record a review meeting as ``commgate feedback review`` does: one decision line
    (REF=KIND:TEXT) per item, refused whole when one is missing or has no text."""
    user = signed_in(request, RECORD_REVIEWS)
    check_csrf(request, csrf)
    ctx = state_of(request).ctx
    refs = [ref.strip() for ref in items.split(",") if ref.strip()]
    for ref in refs:
        require_queue(user, show_case(ctx, actor=user.name, ref=ref).alias)
    done = record_feedback_review(
        ctx, actor=user.name, attendees=attendees.split(","), items=refs,
        decisions=[line.strip() for line in decisions.splitlines() if line.strip()],
        held_at=when(held, "held"), note=note)
    return RedirectResponse(f"/feedback#review-{done.id}", status_code=303)


@router.post("/feedback/export")
def export(request: Request, since: FormText = "", until: FormText = "",
           csrf: FormText = "") -> Response:
    """The log as CSV, as ``commgate feedback export`` writes it (of the reader's queues)."""
    user = signed_in(request, READ_CASES)
    check_csrf(request, csrf)
    period = when(since, "since"), when(until, "until")
    folder = Path(tempfile.mkdtemp(prefix="commgate-feedback-"))
    try:
        exported = export_feedback(state_of(request).ctx, actor=user.name,
                                   output=folder / "feedback-log.csv", since=period[0],
                                   until=period[1], queues=user.queues)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(exported.file, media_type="text/csv; charset=utf-8",
                        filename=f"feedback-log-{exported.access_seq}.csv",
                        background=BackgroundTask(shutil.rmtree, folder, True))


@router.post("/cases/{ref}/feedback")
def classify(request: Request, ref: str, feedback_type: FormText = "", severity: FormText = "",
             note: FormText = "", csrf: FormText = "") -> Response:
    """Set the feedback type and/or severity (an empty choice leaves it as it is). Taking a
    complaint to another type needs the note and a quality role: the workflow's rule."""
    user = _worker(request, ref, csrf)
    if feedback_type not in ("", *FEEDBACK_TYPES) or severity not in ("", *SEVERITIES):
        raise BadForm("unknown feedback type or severity")
    if not feedback_type and not severity:
        raise BadForm("choose a feedback type and/or a severity")
    done = set_feedback(state_of(request).ctx, actor=user.name, ref=ref,
                        feedback_type=feedback_type or None, severity=severity or None,
                        note=note.strip())
    return _back(done.ref)


@router.post("/cases/{ref}/feedback/action")
def corrective_action(request: Request, ref: str, corrective_action: FormText = "",
                      resolution_note: FormText = "", root_cause: FormText = "",
                      csrf: FormText = "") -> Response:
    """Record the corrective action's QMS reference and the resolution (the workflow refuses
    either one empty); an empty root cause leaves the recorded one as it is."""
    user = _worker(request, ref, csrf)
    done = record_action(state_of(request).ctx, actor=user.name, ref=ref,
                         corrective_action=corrective_action,
                         resolution_note=resolution_note,
                         root_cause=root_cause.strip() or None)
    return _back(done.ref)


def _visible(user: UserView, reviews: Sequence[FeedbackReview]) -> list[FeedbackReview]:
    """The reviews as the reader may see them: only the items of their queues, and only the
    reviews with one of those."""
    shown = [dataclasses.replace(review, items=tuple(
        item for item in review.items if user.may_see(item["alias"]))) for review in reviews]
    return [review for review in shown if review.items]


def _worker(request: Request, ref: str, csrf: str) -> UserView:
    """The signed-in person, who may work cases and the queue of ``ref``."""
    user = signed_in(request, WORK_CASES)
    check_csrf(request, csrf)
    require_queue(user, show_case(state_of(request).ctx, actor=user.name, ref=ref).alias)
    return user


def _back(ref: str) -> Response:
    return RedirectResponse(f"/cases/{quote(ref, safe='')}#feedback", status_code=303)
