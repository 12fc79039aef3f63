"""Accounts of the web application: add, set a password, disable, list, and check a password.

Passwords are hashed with argon2id with the parameters of the installation's
``[web] password_hashing`` profile (gateway/core/passwords.py); a hash made with other
parameters is replaced at the next successful sign-in, so raising the cost needs no reset.
Every change is a ``user_events`` row with its actor (never the password or hash). An unknown
name costs one hash like a known one, so the time of an answer does not tell which names exist.
"""

from __future__ import annotations

import re
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from gateway.core import passwords
from gateway.core.clock import utcnow
from gateway.core.errors import UserError
from gateway.core.text import iso
from gateway.db.users import ROLES, User, UserEvent

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
# An operating-system login as the password database has it (useradd's rule, upper case and a
# trailing $ allowed), or the "uid:N" gateway/core/principal.py names a uid without an entry.
OS_LOGIN = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,63}\$?|uid:[0-9]{1,10})$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 takes any length; this bounds the work one request can ask for


def add_user(session: Session, *, name: str, role: str, aliases: list[str], password: str,
             actor: str, hashing: str = passwords.DEFAULT, os_user: str | None = None) -> User:
    """A new account; refused when the name is taken or malformed, or the role is unknown.
    ``os_user``: the OS login linked to it (refused when linked to another account)."""
    if not NAME.fullmatch(name):
        raise UserError(f"{name!r} is not a user name (letters, digits, '.', '_', '@', '+', "
                        "'-'; at most 128, starting with a letter or digit)")
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise UserError(f"user {name!r} exists already ('commgate users passwd' changes the "
                        "password)")
    user = User(name=name, role=role, aliases=sorted(set(aliases)),
                password_hash=passwords.hasher(hashing).hash(_checked(password)), disabled=False,
                created_at=utcnow(), created_by=actor,
                os_user=_free_login(session, os_user) if os_user else None)
    session.add(user)
    session.flush()
    _record(session, user, "user_added", actor, {"role": role, "aliases": user.aliases,
                                                  **({"os_user": os_user} if os_user else {})})
    return user


def link_os_user(session: Session, *, name: str, os_user: str | None, actor: str) -> User:
    """Link the account to an OS login (None: unlink it), recorded as a user event with the
    link it replaced. A login links to one account at most: moving it needs an unlink first,
    so a link is never taken from an account silently."""
    user = user_by_name(session, name, for_update=True)
    if os_user == user.os_user:
        return user
    previous = user.os_user
    user.os_user = _free_login(session, os_user) if os_user else None
    session.flush()  # the unique index has its say before the event is written
    _record(session, user, "os_user_linked" if os_user else "os_user_unlinked", actor,
            {"os_user": os_user, "previous": previous})
    return user


def links_recorded(session: Session) -> bool:
    """Whether the database's schema has the links of OS logins (a database behind the code,
    opened to be backed up, may not)."""
    columns = inspect(session.connection()).get_columns("users")
    return any(column["name"] == "os_user" for column in columns)


def linked_user(session: Session, os_user: str) -> User | None:
    """The account the OS login ``os_user`` is linked to, if any."""
    return session.scalars(select(User).where(User.os_user == os_user)).one_or_none()


def os_users_of(session: Session, names: list[str]) -> dict[str, str]:
    """The linked OS login of each named account that has one (keys: the names as given)."""
    folded = {name.casefold(): name for name in names}
    return {folded[user.name.casefold()]: user.os_user
            for user in session.scalars(select(User).where(User.os_user.is_not(None)))
            if user.name.casefold() in folded and user.os_user}


def _free_login(session: Session, os_user: str) -> str:
    if not OS_LOGIN.fullmatch(os_user):
        raise UserError(f"{os_user!r} is not an OS login name (letters, digits, '.', '_', '-', "
                        "at most 64)")
    holder = linked_user(session, os_user)
    if holder is not None:
        raise UserError(f"OS user {os_user} is linked to {holder.name} already: 'commgate "
                        f"users link {holder.name} --unlink' first")
    return os_user


def set_password(session: Session, *, name: str, password: str, actor: str,
                 hashing: str = passwords.DEFAULT) -> User:
    user = user_by_name(session, name, for_update=True)
    user.password_hash = passwords.hasher(hashing).hash(_checked(password))
    _record(session, user, "password_set", actor, {})
    return user


def disable_user(session: Session, *, name: str, actor: str) -> User:
    """Disable an account: it can no longer sign in, and its open sessions end at their next
    request. Its row stays: its name is the actor of case events."""
    user = user_by_name(session, name, for_update=True)
    if not user.disabled:
        user.disabled = True
        _record(session, user, "user_disabled", actor, {})
    return user


def user_by_name(session: Session, name: str, *, for_update: bool = False) -> User:
    query = select(User).where(User.name == name)
    if for_update:
        query = query.with_for_update()
    user = session.scalars(query).one_or_none()
    if user is None:
        raise UserError(f"no user {name!r}: 'commgate users list' shows them")
    return user


def check_password(session: Session, *, name: str, password: str,
                   hashing: str = passwords.DEFAULT) -> User | None:
    """The account when ``password`` is its password and it is not disabled, else None.
    A hash made with other argon2 parameters than ``hashing``'s is replaced by one with them."""
    hasher = passwords.hasher(hashing)
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None or len(password) > MAX_PASSWORD:
        _verify(hasher, passwords.dummy_hash(hashing), password[:MAX_PASSWORD])
        return None
    if not _verify(hasher, user.password_hash, password) or user.disabled:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
        _record(session, user, "password_rehashed", user.name, {})
    return user


def list_users(session: Session) -> list[dict[str, Any]]:
    return [user_row(user) for user in session.scalars(select(User).order_by(User.name))]


def user_row(user: User) -> dict[str, Any]:
    return {"name": user.name, "role": user.role, "aliases": list(user.aliases),
            "disabled": user.disabled, "created_at": iso(user.created_at),
            "created_by": user.created_by, "os_user": user.os_user}


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    """Whether ``password`` matches; the parameters are read from the hash, not the hasher."""
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _checked(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password is too short: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"the password is too long: at most {MAX_PASSWORD} characters")
    return password


def _record(session: Session, user: User, kind: str, actor: str, data: dict[str, Any]) -> None:
    session.add(UserEvent(user_id=user.id, at=utcnow(), actor=actor, kind=kind, data=data))
