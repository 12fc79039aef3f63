"""Tables of controlled documents (migration 0015): spec sheets, service descriptions, terms.

``document_blobs`` holds each distinct content once, keyed by its sha256; ``document_versions``
is one row per version of a named document with its state and who moved it; the append-only
``document_events`` is the history of every step; ``document_sends`` records which version
went to which recipient in which outbound mail. Database triggers refuse to change a blob, an
event or a send, and refuse to change a version's content columns at all (a version is born
with its content; a change is a new version).
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models import (
    Address,
    Base,
    JsonValue,
    OptionalTimestamp,
    Sha256,
    Timestamp,
)

DOCUMENT_STATUSES = ("draft", "approved", "published", "superseded", "retired")
DOCUMENT_ACTIONS = ("drafted", "approved", "published", "superseded", "retired")


class DocumentBlob(Base):
    """The bytes of one document content, addressed by their sha256 (checked on every read)."""

    __tablename__ = "document_blobs"
    __table_args__ = (CheckConstraint("length(sha256) = 64", name="document_blobs_sha256"),
                      CheckConstraint("size >= 0", name="document_blobs_size"))

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[Timestamp]


class DocumentVersion(Base):
    """One version of a controlled document. ``filename`` is a display name only (sanitised
    when uploaded), never a path; ``owner_role`` is the role whose holder approves it."""

    __tablename__ = "document_versions"
    __table_args__ = (
        UniqueConstraint("name", "version", name="document_versions_name_version"),
        CheckConstraint(f"status IN {DOCUMENT_STATUSES!r}", name="document_versions_status"),
        CheckConstraint("version >= 1", name="document_versions_version_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    title: Mapped[str] = mapped_column(String(200))
    owner_role: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(128))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(ForeignKey("document_blobs.sha256"))
    author: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[Timestamp]
    approved_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    approved_at: Mapped[OptionalTimestamp]
    published_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    published_at: Mapped[OptionalTimestamp]
    ended_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    ended_at: Mapped[OptionalTimestamp]


class DocumentEvent(Base):
    """One step of a document's life: who, when, which version (append-only)."""

    __tablename__ = "document_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"), index=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    # The ``--as`` claim of a command-line action, beside its OS user in ``actor`` (0020).
    claimed_as: Mapped[str | None] = mapped_column(String(128), nullable=True)
    at: Mapped[Timestamp]
    data: Mapped[JsonValue]


class DocumentSend(Base):
    """One version of a document attached to one outbound mail, for one recipient: the proof
    of which version a customer was sent (append-only)."""

    __tablename__ = "document_sends"
    __table_args__ = (Index("document_sends_name_version", "name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"))
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[Sha256]
    outbound_id: Mapped[int] = mapped_column(ForeignKey("outbound_mail.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    recipient: Mapped[Address]
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[Timestamp]
