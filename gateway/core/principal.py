"""Who stands behind the actions of a command-line process.

The operating-system user is what the kernel vouches for; ``--as NAME`` (or its environment
default) is what the person at the keyboard says about themselves. Both are recorded in the
ledger with every case event the command adds (gateway/db/event_ledger.py), the claim beside
the user and never instead of it. The web application never sets a principal: its actor is the
signed-in user, and its process's OS user is the service account.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    os_user: str
    claim: str | None = None


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
