"""Recording what happens to a case: every staff or system action is one append-only
:class:`~gateway.models.CaseEvent` with who, when and what. Workflow modules use these helpers
so every action is recorded the same way."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.errors import CaseNotFoundError, GatewayError
from gateway.models import Case, CaseEvent, utcnow

SYSTEM = "system"
ACTOR_ENV = "COMMGATE_USER"


class WorkflowError(GatewayError):
    """Raised when an action is not allowed in the case's current state; says why in one line."""


def current_actor(explicit: str | None = None) -> str:
    """Who is acting: ``--as NAME`` on the command line, else $COMMGATE_USER, else the login."""
    actor = (explicit or os.environ.get(ACTOR_ENV) or getpass.getuser() or "").strip()
    if not actor or any(ch in actor for ch in "\r\n\x00"):
        raise WorkflowError("cannot tell who is acting: pass --as NAME or set $COMMGATE_USER")
    return actor[:128]


def case_by_ref(session: Session, ref: str, *, for_update: bool = False) -> Case:
    query = select(Case).where(Case.ref == ref.strip().upper())
    if for_update:
        query = query.with_for_update()
    case = session.scalars(query).one_or_none()
    if case is None:
        raise CaseNotFoundError(f"no case {ref!r}: check the reference with 'commgate cases list'")
    return case


def cases_by_id(session: Session, ids: Iterable[int]) -> dict[int, Case]:
    """The cases of a filed batch in one query (the filing hooks used to load them one by one).

    Refreshed from the database: the pipeline writes cases with bulk statements that bypass
    the copies the session may hold."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {case.id: case for case in session.scalars(
        select(Case).where(Case.id.in_(wanted)).execution_options(populate_existing=True))}


def record(session: Session, case: Case | int, kind: str, data: dict[str, Any] | None = None,
           *, actor: str = SYSTEM, message_pk: int | None = None) -> CaseEvent:
    """Append one event to a case and touch its ``updated_at``."""
    now = utcnow()
    case_id = case if isinstance(case, int) else case.id
    event = CaseEvent(case_id=case_id, at=now, actor=actor, kind=kind, message_pk=message_pk,
                      data=data or {})
    session.add(event)
    if isinstance(case, Case):
        case.updated_at = now
    # No flush here: the session's autoflush writes the event before any query that could see
    # it, and the filing hooks record many events per batch (one flush each cost 2 ms/message).
    return event
