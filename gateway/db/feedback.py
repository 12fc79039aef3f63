"""The feedback record of a feedback case (ISO 9001 8.2.1 c, 9.1.2, 10.2): how the customer's
feedback was classified and, for complaints, which corrective action answered it.

The row is the current state; every change to it is also a case event (who, when, what), so the
history an auditor reads is in ``case_events`` and this table is what the log export reads.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gateway.db.models import Base, JsonList, Timestamp, UTCDateTime

FEEDBACK_TYPES = ("complaint", "suggestion", "praise", "survey")
SEVERITIES = ("low", "medium", "high", "critical")


class FeedbackRecord(Base):
    """One per feedback case. ``type`` and ``severity`` are "" until staff classify them;
    ``suggested_type`` is what the classifier's rules pointed at (never trusted on its own)."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("case_id", name="feedback_case_unique"),
        CheckConstraint(f"type IN {('', *FEEDBACK_TYPES)!r}", name="feedback_type_known"),
        CheckConstraint(f"suggested_type IN {('', *FEEDBACK_TYPES)!r}",
                        name="feedback_suggested_type_known"),
        CheckConstraint(f"severity IN {('', *SEVERITIES)!r}", name="feedback_severity_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    type: Mapped[str] = mapped_column(String(16), default="")
    suggested_type: Mapped[str] = mapped_column(String(16), default="")
    severity: Mapped[str] = mapped_column(String(16), default="")
    corrective_action_ref: Mapped[str] = mapped_column(String(128), default="")
    resolution_note: Mapped[str] = mapped_column(Text, default="")
    root_cause: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[Timestamp]
    created_by: Mapped[str] = mapped_column(String(128), default="system")
    updated_at: Mapped[Timestamp]


# What a feedback review decided for one item (ISO 9001 9.1.2, 10.2, 10.3).
REVIEW_DECISIONS = ("corrective-action", "improvement", "no-action")


class FeedbackReview(Base):
    """A review meeting over a set of feedback items: when it was held, who attended, who
    recorded it. Written once with its items; the database refuses updates and deletes
    (migration 0017), and each item's case has a ``feedback_reviewed`` event."""

    __tablename__ = "feedback_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    held_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    attendees: Mapped[JsonList]
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[Timestamp]

    items: Mapped[list[FeedbackReviewItem]] = relationship(order_by="FeedbackReviewItem.id")


class FeedbackReviewItem(Base):
    """What one review decided for one feedback record: a corrective action (its QMS
    reference), an improvement, or no action with the reason."""

    __tablename__ = "feedback_review_items"
    __table_args__ = (
        UniqueConstraint("review_id", "feedback_id", name="feedback_review_items_unique"),
        CheckConstraint(f"decision IN {REVIEW_DECISIONS!r}",
                        name="feedback_review_items_decision_known"),
        CheckConstraint("length(text) > 0", name="feedback_review_items_text_given"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("feedback_reviews.id"), index=True)
    feedback_id: Mapped[int] = mapped_column(ForeignKey("feedback.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    decision: Mapped[str] = mapped_column(String(24))
    text: Mapped[str] = mapped_column(Text)
