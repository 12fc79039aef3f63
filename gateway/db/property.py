"""Tables of the customer property register (ISO 9001 clause 8.5.3): the items as they stand and
their chain of custody, which the database keeps append-only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models import Base, OptionalTimestamp, Timestamp

PROPERTY_KINDS = ("physical-item", "tooling", "sample", "drawing", "data", "credentials")
# "dismissed" is only for a proposal from a mail that turned out not to be property.
PROPERTY_STATUSES = ("announced", "received", "in-use", "returned", "destroyed", "lost-damaged",
                     "dismissed")


class PropertyItem(Base):
    """One item of a customer's in our care, as it stands now."""

    __tablename__ = "property_items"
    __table_args__ = (
        CheckConstraint(f"kind IN {PROPERTY_KINDS!r}", name="property_items_kind_known"),
        CheckConstraint(f"status IN {PROPERTY_STATUSES!r}", name="property_items_status_known"),
        CheckConstraint("sha256 IS NULL OR length(sha256) = 64", name="property_items_sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(320), default="", index=True)
    identifiers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="announced")
    proposed: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[OptionalTimestamp]
    condition: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(Text, default="")
    handling: Mapped[str] = mapped_column(Text, default="")
    # Drawings and data that came as a mail attachment: the attachment's sha256 (the archive
    # keeps the message bytes it was cut from) and the message it came in.
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    filename: Mapped[str] = mapped_column(Text, default="")
    source_message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"),
                                                          nullable=True)
    created_at: Mapped[Timestamp]
    created_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[Timestamp]


class PropertyHistory(Base):
    """One step in an item's chain of custody: who, when, from which status to which, why.
    The database refuses UPDATE and DELETE on this table (see migration 0005)."""

    __tablename__ = "property_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("property_items.id"), index=True)
    at: Mapped[Timestamp]
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(24))
    # The ``--as`` claim of a command-line action, beside its OS user in ``actor`` (0020).
    claimed_as: Mapped[str | None] = mapped_column(String(128), nullable=True)
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[Any] = mapped_column(JSON, default=dict)
