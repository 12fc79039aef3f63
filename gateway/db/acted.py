"""Who acted, as the event tables record it: the operating-system user of a command-line action,
with its ``--as`` claim beside it.

The services take the staff identity as ``actor`` (it decides roles and four eyes) and the
workflows write it into their event rows. Inside a command-line process with a principal
(gateway/core/principal.py), this hook rewrites every new event row whose actor is that staff
identity before it is flushed: ``actor`` becomes the OS user and ``claimed_as`` the claim (None
when no ``--as`` was given). Rows of other actors (``system`` consequences of the action) and
every row written without a principal (the web application, the daemon's filing) keep their
actor. One place, so no workflow can record the claim instead of the OS user.

An event table is any mapped class with a ``claimed_as`` column (migration 0020).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from gateway.core import principal


def stamp(row: Any, who: principal.Principal) -> None:
    """Make ``row`` (an event row written as ``who.staff``) name the OS user and the claim."""
    row.actor = who.os_user[:128]
    row.claimed_as = who.claim[:128] if who.claim else None


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    who = principal.current.get()
    if who is None or who.staff is None:
        return
    for row in session.new:
        if hasattr(type(row), "claimed_as") and getattr(row, "actor", None) == who.staff:
            stamp(row, who)


event.listen(Session, "before_flush", _before_flush)
