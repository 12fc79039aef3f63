"""Database models (SQLAlchemy 2.0, typed). Everything here is derived from the archive except
human decisions, which are append-only case events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from gateway.core.clock import utcnow


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite keeps no zone, so store naive UTC there)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Sha256 = Annotated[str, mapped_column(String(64))]
Address = Annotated[str, mapped_column(String(320), default="")]
MessageIdText = Annotated[str | None, mapped_column(String(998), nullable=True)]
Timestamp = Annotated[datetime, mapped_column(UTCDateTime(), default=utcnow)]
OptionalTimestamp = Annotated[datetime | None, mapped_column(UTCDateTime(), nullable=True)]
JsonValue = Annotated[Any, mapped_column(JSON, default=dict)]
JsonList = Annotated[list[Any], mapped_column(JSON, default=list)]

# "recorded": a ledger entry that is not mail (access record, tombstone); never processed.
RECEIPT_STATUSES = ("pending", "filed", "duplicate", "quarantined", "recorded")
CATEGORY_VALUES = ("enquiry", "order", "feedback", "property", "other")


class Base(DeclarativeBase):
    pass


class LedgerReceipt(Base):
    """A ledger entry mirrored into the database: the processing queue (status ``pending``)."""

    __tablename__ = "receipts"
    __table_args__ = (
        CheckConstraint("length(sha256) = 64", name="receipts_sha256_length"),
        CheckConstraint(f"status IN {RECEIPT_STATUSES!r}", name="receipts_status_known"),
        Index("receipts_sha256_alias", "sha256", "alias"),
        Index("receipts_status_seq", "status", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16), default="receipt")
    sha256: Mapped[Sha256]
    entry_hash: Mapped[Sha256]
    size: Mapped[int] = mapped_column(BigInteger)
    alias: Mapped[Address]
    direction: Mapped[str] = mapped_column(String(16))
    transport: Mapped[str] = mapped_column(String(32))
    envelope: Mapped[JsonValue]
    received_at: Mapped[Timestamp]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    processed_at: Mapped[OptionalTimestamp]
    # The worker that holds a pending row and until when (SQLite only; PostgreSQL locks the
    # row instead): gateway/processing/claims.py.
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_until: Mapped[OptionalTimestamp]


class LedgerHighWater(Base):
    """The greatest ledger seq the database was ever given, and that entry's hash: one row.

    A trigger on ``receipts`` raises it with every insert and triggers on this table refuse
    to lower or delete it (migration 0009), so entries cut from the ledger's end together
    with their ``receipts`` rows are still noticed by ``archive verify``."""

    __tablename__ = "ledger_high_water"
    __table_args__ = (CheckConstraint("id = 1", name="ledger_high_water_one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[Sha256]


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(f"category IN {CATEGORY_VALUES!r}", name="cases_category_known"),
        # The web application's case list pages newest first within a queue or a status.
        Index("cases_alias_id", "alias", "id"),
        Index("cases_status_id", "status", "id"),
        Index("cases_status_alias", "status", "alias"),  # open work per queue, from the index
        Index("cases_owner_role_id", "owner_role", "id"),  # the owner filter, newest first
        # A case's family (the cases merged into it), read by every case page and hook.
        Index("cases_merged_into_id", "merged_into_id"),
        # The dashboard (gateway/services/dashboard.py): new cases per day, SLA breaches.
        Index("cases_opened_at", "opened_at", "category", "alias"),
        Index("cases_status_first_response_due", "status", "first_response_due",
              "first_response_at", "alias"),
        Index("cases_status_resolution_due", "status", "resolution_due", "alias"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    alias: Mapped[Address]
    category: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24), default="new")
    scope_change: Mapped[bool] = mapped_column(Boolean, default=False)
    subject: Mapped[str] = mapped_column(Text, default="")
    customer: Mapped[Address] = mapped_column(index=True)
    customer_domain: Mapped[str] = mapped_column(String(255), default="", index=True)
    opened_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
    # Lifecycle (see gateway/workflows/lifecycle.py): owner role and response targets from config.
    owner_role: Mapped[str] = mapped_column(String(64), default="")
    first_response_due: Mapped[OptionalTimestamp]
    resolution_due: Mapped[OptionalTimestamp]
    first_response_at: Mapped[OptionalTimestamp]
    resolved_at: Mapped[OptionalTimestamp]
    closed_at: Mapped[OptionalTimestamp]
    escalated_at: Mapped[OptionalTimestamp]
    # Set while a scope-change or requirement review is pending (see gateway/workflows/reviews.py).
    review_required: Mapped[bool] = mapped_column(Boolean, default=False)
    # A case merged into another keeps its row (and reference) and points at the survivor.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)

    messages: Mapped[list[Message]] = relationship(back_populates="case",
                                                   order_by="Message.id")
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case",
                                                   order_by="CaseEvent.id")


class Message(Base):
    """One archived message as filed for one alias (the same bytes for two aliases: two rows)."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("sha256", "alias", name="messages_sha256_alias"),
        CheckConstraint("length(sha256) = 64", name="messages_sha256_length"),
        CheckConstraint(f"category IN {CATEGORY_VALUES!r}", name="messages_category_known"),
        # The triage backlog (the few waiting messages) and a month's confidence (dashboard).
        Index("messages_needs_triage", "needs_triage", "case_id"),
        Index("messages_filed_at", "filed_at", "direction", "alias", "confidence"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[Sha256]
    alias: Mapped[Address]
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    size: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[MessageIdText] = mapped_column(index=True)
    from_addr: Mapped[Address] = mapped_column(index=True)
    from_name: Mapped[str] = mapped_column(Text, default="")
    to_addrs: Mapped[JsonList]
    cc_addrs: Mapped[JsonList]
    subject: Mapped[str] = mapped_column(Text, default="")
    date: Mapped[OptionalTimestamp]
    snippet: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[JsonList]
    defects: Mapped[JsonList]
    category: Mapped[str] = mapped_column(String(16))
    scope_change: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(8), default="")
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    identifiers: Mapped[JsonList]
    evidence: Mapped[JsonList]
    rules_version: Mapped[str] = mapped_column(String(64), default="")
    # No rule decided this customer's message, or with a low confidence: it waits for a
    # person, who confirms or corrects the case's classification (gateway/workflows/triage.py).
    needs_triage: Mapped[bool] = mapped_column(Boolean, default=False)
    thread_rule: Mapped[str] = mapped_column(String(32), default="")
    filed_at: Mapped[Timestamp]
    # Outlook's Thread-Index conversation id (its first 22 bytes, hex) and the subject with
    # Re:/Fwd:/AW:/... and case tags stripped, lower-cased: the last two threading fallbacks.
    thread_index: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    norm_subject: Mapped[str] = mapped_column(String(255), default="", index=True)
    # Retention (gateway/workflows/retention.py): fixed at filing, only ever extended; purged_at is
    # set
    # when the content was removed and a tombstone written.
    retain_until: Mapped[OptionalTimestamp] = mapped_column(index=True)
    purged_at: Mapped[OptionalTimestamp]

    case: Mapped[Case] = relationship(back_populates="messages")


class MessageReference(Base):
    """The In-Reply-To/References chain of a message, one row per id, for threading look-ups."""

    __tablename__ = "message_references"

    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(998), index=True)


class CaseEvent(Base):
    """An immutable record of one decision (the system's or a person's) on a case.

    The table is append-only: database triggers refuse UPDATE and DELETE (see the migration).
    """

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[Timestamp]
    actor: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(48))
    # The ``--as`` claim of a command-line action, beside its OS user in ``actor`` (0020).
    claimed_as: Mapped[str | None] = mapped_column(String(128), nullable=True)
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    data: Mapped[JsonValue]

    case: Mapped[Case] = relationship(back_populates="events")


LINK_KINDS = ("possible-follow-up", "enquiry-order", "related", "merged-into", "split-from")


class CaseLink(Base):
    """A relation between two cases. Links are added and removed by case events; the row is the
    current state, the events are the history."""

    __tablename__ = "case_links"
    __table_args__ = (
        UniqueConstraint("case_id", "other_case_id", "kind", name="case_links_unique"),
        CheckConstraint(f"kind IN {LINK_KINDS!r}", name="case_links_kind_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    other_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[Timestamp]
    actor: Mapped[str] = mapped_column(String(128), default="system")


class CaseAlias(Base):
    """A case tag of another system (an earlier helpdesk's ``[KPS-31207]``, ``[Ticket#4471]``)
    that names this case: seen in the subject of a message threaded into it by its headers or
    that opened it. Written once by the threader, never updated; a tag that names two cases
    names neither."""

    __tablename__ = "case_aliases"
    __table_args__ = (UniqueConstraint("tag", "case_id", name="case_aliases_unique"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tag: Mapped[str] = mapped_column(String(128), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    rule: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[Timestamp]


HOLD_SCOPES = ("case", "customer", "alias", "search")


class LegalHold(Base):
    """Content covered by an active hold is never expired. A hold is released, never deleted."""

    __tablename__ = "legal_holds"
    __table_args__ = (CheckConstraint(f"scope IN {HOLD_SCOPES!r}", name="legal_holds_scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[Timestamp]
    released_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    released_at: Mapped[OptionalTimestamp]


class IntakeCheckpoint(Base):
    """Where an intake stands (e.g. an IMAP folder's UIDVALIDITY and highest archived UID)."""

    __tablename__ = "intake_checkpoints"

    intake: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[JsonValue]
    updated_at: Mapped[Timestamp]


class QuarantineEntry(Base):
    """A receipt that could not be fully processed, with the stage and the reason."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(ForeignKey("receipts.seq"), unique=True)
    sha256: Mapped[Sha256]
    stage: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[Timestamp]
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    resolved_at: Mapped[OptionalTimestamp]


class Counter(Base):
    """Gapless per-name counters (case references), incremented inside the filing transaction."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
