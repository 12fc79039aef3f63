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
# "pending": held for a second person's approval (migration 0016), never claimed for delivery;
# "rejected": its approver refused it, it never leaves.
MAIL_STATUSES = ("queued", "sent", "deferred", "failed", "suppressed", "pending", "rejected")
APPROVAL_STATUSES = ("pending", "approved", "rejected")


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
    # What a reply from this template is (gateway.config.REPLY_KINDS: delay, defect ...; ""
    # none): the [approval] matrix may hold such replies for a second person (migration 0016).
    reply_kind: Mapped[str] = mapped_column(String(32), default="", server_default="")


class TemplateEvent(Base):
    """An append-only record of one template transition (database triggers refuse changes)."""

    __tablename__ = "template_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    # The ``--as`` claim of a command-line action, beside its OS user in ``actor`` (0020).
    claimed_as: Mapped[str | None] = mapped_column(String(128), nullable=True)
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
    # What the reply is (gateway.config.REPLY_KINDS; "" none), from ``reply --kind`` or its
    # template (migration 0016).
    reply_kind: Mapped[str] = mapped_column(String(32), default="", server_default="")
    # The Date header when it differs from created_at: a held reply is dated when approved.
    dated_at: Mapped[OptionalTimestamp]


class OutboundApproval(Base):
    """The four-eyes record of one held outbound message (issue 15): why it needed approval,
    of which role, and who approved or rejected it when. Every step is also a case event."""

    __tablename__ = "outbound_approvals"
    __table_args__ = (
        UniqueConstraint("outbound_id", name="outbound_approvals_mail_unique"),
        CheckConstraint(f"status IN {APPROVAL_STATUSES!r}", name="outbound_approvals_status"),
        Index("outbound_approvals_status_held", "status", "held_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbound_id: Mapped[int] = mapped_column(ForeignKey("outbound_mail.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # The role the approver must hold (admin may approve for any role).
    role: Mapped[str] = mapped_column(String(16))
    # Why: ["kind:delay", "state:complaint", ...], the matrix entries that matched.
    reasons: Mapped[JsonList]
    author: Mapped[str] = mapped_column(String(128))
    held_at: Mapped[Timestamp]
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[OptionalTimestamp]
    note: Mapped[str] = mapped_column(Text, default="")
    # The last escalation mail (or record, without an address) of this wait.
    escalated_at: Mapped[OptionalTimestamp]
