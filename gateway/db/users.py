"""Tables of the people who use the web application: their accounts as they stand, and the
append-only history of every change to them (the database refuses UPDATE and DELETE on it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.config import USER_ROLES
from gateway.db.models import Base, Timestamp

ROLES = USER_ROLES


class User(Base):
    """One local account. ``aliases`` are the queues (alias addresses) whose cases the person
    may work; an admin may work every queue. A disabled account keeps its row (its name is in
    case events) and cannot sign in. ``os_user`` is the operating-system login linked to the
    account (at most one each way): a command run by that login acts as this account."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="users_role_known"),
                      Index("users_os_user_unique", "os_user", unique=True))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    aliases: Mapped[list[Any]] = mapped_column(JSON, default=list)
    password_hash: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[Timestamp]
    created_by: Mapped[str] = mapped_column(String(128))
    os_user: Mapped[str | None] = mapped_column(String(128), nullable=True)


class UserEvent(Base):
    """One change to an account: who, when, what (never the password or its hash)."""

    __tablename__ = "user_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    at: Mapped[Timestamp]
    actor: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    # The ``--as`` claim of a command-line action, beside its OS user in ``actor`` (0020).
    claimed_as: Mapped[str | None] = mapped_column(String(128), nullable=True)
    data: Mapped[Any] = mapped_column(JSON, default=dict)
