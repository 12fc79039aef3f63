"""Who stands behind the actions of a command-line process.

The operating-system user is what the kernel vouches for; ``--as NAME`` (or its environment
default) is what the person at the keyboard says about themselves. The OS user is the actor of
every event a command records; the claim is kept beside it (``claimed_as``) and never instead
of it (gateway/db/acted.py stamps the rows, gateway/db/event_ledger.py the ledger entry).

The staff identity that permission checks use (roles, four eyes) is settled when the command
opens its installation (gateway/services/users.py ``settle_identity``): the staff user linked
to the OS user when there is one (a different claim is refused), else the claim, else the OS
user's own name. The web application never sets a principal: its actor is the signed-in user,
and its process's OS user is the service account.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Principal:
    """``os_user``: the login of the effective uid; ``claim``: ``--as`` (or its environment
    default), if given; ``staff``: the staff identity the services act as, once settled (None
    before); ``linked``: whether ``staff`` comes from the users table's link of ``os_user``."""

    os_user: str
    claim: str | None = None
    staff: str | None = None
    linked: bool = False


current: ContextVar[Principal | None] = ContextVar("commgate_principal", default=None)


def os_user() -> str:
    """The login name of the effective uid, from the password database (not $USER or
    $LOGNAME, which the caller can set to anything)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid with no passwd entry (a container): the number is still true
        return f"uid:{os.geteuid()}"


@contextmanager
def acting(claim: str | None) -> Iterator[Principal]:
    """This process's OS user, with ``claim``, behind what runs inside."""
    principal = Principal(os_user(), claim or None)
    token = current.set(principal)
    try:
        yield principal
    finally:
        current.reset(token)


@contextmanager
def behind(who: Principal) -> Iterator[Principal]:
    """``who`` behind what runs inside: the principal a command recorded with work that
    another process finishes (a note it archived, filed by the daemon's worker)."""
    token = current.set(who)
    try:
        yield who
    finally:
        current.reset(token)


def settle(staff: str, *, linked: bool, claim: str | None) -> Principal | None:
    """Record the staff identity the current principal acts as, and its claim as checked
    (None: no principal, as in the web application). Undone with the :func:`acting` block
    that set the principal."""
    who = current.get()
    if who is None:
        return None
    settled = replace(who, staff=staff, linked=linked, claim=claim)
    current.set(settled)
    return settled
