"""Tables of controlled reply templates and outbound mail (migration 0004).

Templates are controlled documents: a version's text is frozen once approved (database
triggers refuse to change it), and every transition is a row in the append-only
``template_events`` table, because templates belong to no case. Outbound mail is one row per
message with its delivery state; what happened to it is recorded as case events.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models import (
    Address,
    Base,
    JsonList,
    JsonValue,
    MessageIdText,
    OptionalTimestamp,
    Timestamp,
    UTCDateTime,
)

TEMPLATE_STATUSES = ("draft", "approved", "published", "retired")
TEMPLATE_ACTIONS = ("created", "approved", "published", "retired")
MAIL_KINDS = ("ack", "reply", "confirmation", "escalation")
MAIL_STATUSES = ("queued", "sent", "deferred", "failed", "suppressed")


class Template(Base):
    """One version of a reply or acknowledgement template."""

    __tablename__ = "templates"
    __table_args__ = (
        UniqueConstraint("name", "version", name="templates_name_version"),
        CheckConstraint(f"status IN {TEMPLATE_STATUSES!r}", name="templates_status_known"),
        CheckConstraint("version >= 1", name="templates_version_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[Timestamp]
    approved_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    approved_at: Mapped[OptionalTimestamp]
    published_at: Mapped[OptionalTimestamp]
    retired_at: Mapped[OptionalTimestamp]


class TemplateEvent(Base):
    """An append-only record of one template transition (database triggers refuse changes)."""

    __tablename__ = "template_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[Timestamp]
    data: Mapped[JsonValue]


class OutboundMail(Base):
    """One message commgate sends (or decided not to send: status ``suppressed``).

    Everything that goes into the bytes is fixed when the mail is queued (Message-ID, Date,
    rendered subject and body), so composing it again after a crash gives the same bytes, the
    same sha256 and no second archive entry.
    """

    __tablename__ = "outbound_mail"
    __table_args__ = (
        CheckConstraint(f"kind IN {MAIL_KINDS!r}", name="outbound_mail_kind_known"),
        CheckConstraint(f"status IN {MAIL_STATUSES!r}", name="outbound_mail_status_known"),
        Index("outbound_mail_due", "status", "next_attempt_at"),
        Index("outbound_mail_recipient_kind", "recipient", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    auto: Mapped[bool] = mapped_column(Boolean, default=False)
    # Our signed Message-ID, without angle brackets (as messages.message_id stores ids).
    message_id: Mapped[MessageIdText] = mapped_column(index=True)
    from_addr: Mapped[Address]
    # Display name on the From line ("" for the bare address), fixed when queued.
    from_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    to_addrs: Mapped[JsonList]
    # The first recipient, lower-cased: what the per-sender acknowledgement limit counts.
    recipient: Mapped[Address]
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    in_reply_to: Mapped[MessageIdText]
    reference_ids: Mapped[JsonList]
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id"), nullable=True)
    template_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    template_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    in_reply_to_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[Timestamp]
    # Set once archived: the ledger entry and the sha256 of the exact bytes relayed.
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    relay_reply: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[OptionalTimestamp]
