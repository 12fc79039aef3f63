"""Accounts of the web application (``commgate users add|passwd|disable|list``) and signing in.

Each change is one transaction with a ``user_events`` row naming who made it. The web
application asks here for the account on every request (:func:`signed_in_user`), so disabling
an account ends its sessions at once; :func:`sign_in` checks a password (and upgrades an old
hash). A queue right names a configured alias: a typo would otherwise grant nothing silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.core.errors import ClaimRefusedError, UserError
from gateway.services.rows import Listing, RowView
from gateway.workflows import users

if TYPE_CHECKING:
    from gateway.core.context import Context
    from gateway.db.users import User

# Roles that see every queue; the others see the aliases they were given.
ALL_QUEUES_ROLES = ("compliance", "admin")


@dataclass(frozen=True)
class UserView(RowView):
    name: str
    role: str
    aliases: tuple[str, ...]
    disabled: bool
    created_at: str | None
    created_by: str
    os_user: str | None = None  # the OS login linked to the account ('commgate users link')

    @property
    def queues(self) -> frozenset[str] | None:
        """The aliases whose cases this person may see (None: every one)."""
        return None if self.role in ALL_QUEUES_ROLES else frozenset(self.aliases)

    def may_see(self, alias: str) -> bool:
        return self.queues is None or alias.lower() in self.queues


def add_user(ctx: Context, *, actor: str, name: str, role: str, aliases: list[str],
             password: str, os_user: str | None = None) -> UserView:
    """A new account with its role and queue rights (aliases of this installation)."""
    wanted = [alias.strip().lower() for alias in aliases]
    unknown = sorted(set(wanted) - set(ctx.settings.alias_addresses))
    if unknown:
        raise UserError(f"not an alias of this installation: {', '.join(unknown)} (configured: "
                        f"{', '.join(ctx.settings.alias_addresses) or 'none'})")
    with ctx.db.session() as session:
        return _view(users.add_user(session, name=name, role=role, aliases=wanted,
                                    password=password, actor=actor,
                                    hashing=_hashing(ctx), os_user=os_user or None))


def link_user(ctx: Context, *, actor: str, name: str, os_user: str | None) -> UserView:
    """Link the account to an OS login (None: unlink): commands that login runs act as it."""
    with ctx.db.session() as session:
        return _view(users.link_os_user(session, name=name, os_user=os_user or None,
                                        actor=actor))


@dataclass(frozen=True)
class Identity:
    """Who a command-line process acts as: ``staff`` for roles and four eyes; ``linked`` when
    the users table links the OS user to that account."""

    staff: str
    linked: bool


def settle_identity(ctx: Context, *, os_user: str, claim: str | None,
                    schema_checked: bool = True) -> Identity:
    """The staff identity of a command run by ``os_user`` claiming ``claim`` (``--as``): the
    account linked to the OS user, whose claim must be that account; else (an OS user linked
    to nobody) the claim, or the OS user's own name, unless ``[cli] require_linked_os_user``
    refuses it. Every refusal is one line saying what to do.

    ``schema_checked=False`` (``commgate backup`` of a database behind the code): a schema from
    before the links (migration 0020) links nobody, and the claim is taken without the
    requirement, so that the backup the upgrade asks for can be made."""
    with ctx.db.session() as session:
        if not schema_checked and not users.links_recorded(session):
            return Identity(claim or os_user, linked=False)
        account = users.linked_user(session, os_user)
        if account is not None:
            if claim and claim.casefold() != account.name.casefold():
                raise ClaimRefusedError(f"you are OS user {os_user}, linked to staff "
                                        f"{account.name}; --as {claim} refused")
            return Identity(account.name, linked=True)
    if ctx.settings.config.cli.require_linked_os_user:
        raise ClaimRefusedError(
            f"OS user {os_user} is linked to no staff user and [cli] require_linked_os_user "
            f"is set: an admin links it with 'commgate users link NAME --os-user {os_user}'")
    return Identity(claim or os_user, linked=False)


def set_password(ctx: Context, *, actor: str, name: str, password: str) -> UserView:
    with ctx.db.session() as session:
        return _view(users.set_password(session, name=name, password=password, actor=actor,
                                       hashing=_hashing(ctx)))


def disable_user(ctx: Context, *, actor: str, name: str) -> UserView:
    with ctx.db.session() as session:
        return _view(users.disable_user(session, name=name, actor=actor))


def list_users(ctx: Context, *, actor: str) -> Listing[UserView]:
    del actor  # names and roles only: not recorded
    with ctx.db.session() as session:
        return Listing(tuple(_from_row(row) for row in users.list_users(session)))


def sign_in(ctx: Context, *, name: str, password: str) -> UserView | None:
    """The account when the password is right and the account enabled, else None."""
    with ctx.db.session() as session:
        user = users.check_password(session, name=name, password=password,
                                    hashing=_hashing(ctx))
        return None if user is None else _view(user)


def signed_in_user(ctx: Context, *, name: str) -> UserView | None:
    """The enabled account of this name (a session's, a trusted proxy's), else None."""
    with ctx.db.session() as session:
        try:
            user = users.user_by_name(session, name)
        except UserError:
            return None
        return None if user.disabled else _view(user)


def _hashing(ctx: Context) -> str:
    return ctx.settings.config.web.password_hashing


def _view(user: User) -> UserView:
    return _from_row(users.user_row(user))


def _from_row(row: Mapping[str, Any]) -> UserView:
    return UserView.from_row(row, aliases=tuple(row["aliases"]))
