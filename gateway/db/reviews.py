"""Tables of the enquiry → order and scope-change workflows (ISO 9001 clause 8.2.3/8.2.4).

Rows hold the current state (the checklist as it stands, a review's decision, the acceptance
decisions); every change to them is also a case event, so the events are the history.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models import Base, OptionalTimestamp, Timestamp

# The requirement review of an order (clause 8.2.3): these five items, each checked by someone.
CHECKLIST_ITEMS = ("scope", "requirements", "delivery-date", "special-handling",
                   "customer-property")
CHECK_STATES = ("ok", "not-ok", "n/a")
REVIEW_KINDS = ("scope-change", "property-incident")
# "withdrawn": staff found there was no change to review (gateway/workflows/triage.py), with a
# reason.
REVIEW_STATUSES = ("pending", "approved", "rejected", "withdrawn")
DECISIONS = ("accepted", "declined")


class RequirementCheck(Base):
    """One checklist item of a case's requirement review as it stands now."""

    __tablename__ = "requirement_checks"
    __table_args__ = (
        CheckConstraint(f"item IN {CHECKLIST_ITEMS!r}", name="requirement_checks_item_known"),
        CheckConstraint(f"state IN {CHECK_STATES!r}", name="requirement_checks_state_known"),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    item: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[Timestamp]


class Review(Base):
    """A decision someone must take before the case may go on: a requested scope change
    (change order) or a loss/damage of customer property. While one is pending the case has
    ``review_required`` set, cannot be accepted as an order and cannot be closed."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint(f"kind IN {REVIEW_KINDS!r}", name="reviews_kind_known"),
        CheckConstraint(f"status IN {REVIEW_STATUSES!r}", name="reviews_status_known"),
        Index("ix_reviews_case_status", "case_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    trigger_message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"),
                                                           nullable=True, unique=True)
    property_item_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[Any] = mapped_column(JSON, default=list)
    opened_at: Mapped[Timestamp]
    opened_by: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[OptionalTimestamp]
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    # The confirmation we sent the customer (gateway.workflows.outbound.queue OutboundMail) and our
    # Message-ID on it, without angle brackets: a reply quoting it confirms the review.
    confirmation_mail_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    confirmation_message_id: Mapped[str | None] = mapped_column(String(998), nullable=True,
                                                                index=True)
    confirmed_by_message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"),
                                                                nullable=True)
    confirmed_at: Mapped[OptionalTimestamp]


class OrderDecision(Base):
    """An acceptance or declining of an order (clause 8.2.3.1): who, when, on which message.
    Append-only in practice (a changed order gets a new decision after its change review)."""

    __tablename__ = "order_decisions"
    __table_args__ = (
        CheckConstraint(f"decision IN {DECISIONS!r}", name="order_decisions_decision_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[Timestamp]
    note: Mapped[str] = mapped_column(Text, default="")
    # The checklist as it stood when the decision was taken: evidence that it was complete.
    checklist: Mapped[Any] = mapped_column(JSON, default=dict)
