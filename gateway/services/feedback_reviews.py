"""Feedback reviews (``commgate feedback review|reviews``, the feedback log page): a review
meeting over feedback items recorded in one transaction with who recorded it, the list of
reviews, and the review cadence over a period (read by the procedure and the mock audit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.services.base import View
from gateway.services.rows import Listing, RowView
from gateway.workflows import feedback_reviews as reviews
from gateway.workflows.feedback_reviews import DECISIONS as DECISIONS

if TYPE_CHECKING:
    from gateway.core.context import Context

Row = Mapping[str, Any]


@dataclass(frozen=True)
class FeedbackReview(RowView):
    """One review meeting: when, who attended, who recorded it, and each item's decision."""

    id: int
    held_at: str | None
    attendees: tuple[str, ...]
    note: str
    recorded_by: str
    recorded_at: str | None
    items: tuple[Row, ...]


@dataclass(frozen=True)
class ReviewCadence(View):
    """Whether feedback was reviewed every ``every_days`` over a period: the reviews, the
    gaps longer than that, and the feedback items no review took up."""

    every_days: int
    since: str | None
    until: str | None
    reviews: tuple[FeedbackReview, ...]
    gaps: tuple[Row, ...]
    kept: bool
    never_reviewed: tuple[Row, ...]


def _review(row: Row) -> FeedbackReview:
    return FeedbackReview.from_row(row, attendees=tuple(row["attendees"]),
                                   items=tuple(row["items"]))


def record_feedback_review(ctx: Context, *, actor: str, attendees: Sequence[str],
                           items: Sequence[str], decisions: Sequence[str],
                           held_at: datetime | None = None, note: str = "") -> FeedbackReview:
    """Record a review meeting; ``decisions`` are ``REF=KIND:TEXT`` (KIND one of
    :data:`DECISIONS`), one for each item. Refused whole when one is missing or wrong."""
    parsed = [reviews.Decision.parse(spec) for spec in decisions]
    with ctx.db.session() as session:
        review = reviews.record_review(session, attendees=attendees, items=items,
                                       decisions=parsed, actor=actor, held_at=held_at,
                                       note=note)
        return _review(reviews.review_view(session, review))


def list_feedback_reviews(ctx: Context, *, actor: str, since: datetime | None = None,
                          until: datetime | None = None) -> Listing[FeedbackReview]:
    del actor  # reading the list of reviews is not recorded
    with ctx.db.session() as session:
        return Listing(tuple(_review(row) for row in reviews.list_reviews(session, since,
                                                                          until)))


def review_cadence(ctx: Context, *, actor: str, since: datetime,
                   until: datetime) -> ReviewCadence:
    """:func:`gateway.workflows.feedback_reviews.review_cadence` as a view."""
    del actor
    with ctx.db.session() as session:
        found = reviews.review_cadence(session, ctx.settings, since, until)
    return ReviewCadence(found["every_days"], found["since"], found["until"],
                         tuple(_review(row) for row in found["reviews"]), tuple(found["gaps"]),
                         found["kept"], tuple(found["never_reviewed"]))
