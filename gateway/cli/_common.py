"""What every command module shares: exit codes, ``--json`` output, tables, the ``--as``
option and the installation opened for one command. Kept apart from :mod:`gateway.cli.main`
(which builds the parser from every command module) so the command modules do not import it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from gateway.core import principal
from gateway.core.errors import ActorUnknownError
from gateway.core.principal import os_user

if TYPE_CHECKING:
    from gateway.bootstrap import App, SchemaUse

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# What a shell reports for cat or grep ended by SIGPIPE (128 + 13): the reader went away.
EXIT_BROKEN_PIPE = 141
# The values the list filters accept (gateway.workflows.lifecycle.STATUSES, classifiers.CATEGORIES);
# spelled out here so that 'commgate --help' need not import them.
CASE_STATUSES = ("new", "open", "waiting", "resolved", "closed")
CASE_CATEGORIES = ("property", "order", "feedback", "enquiry", "other")
# Who acts when --as is not given. Read here and nowhere else: the services take the actor as
# an argument, so a web request names its signed-in user and never inherits a shell variable.
ACTOR_ENV = "COMMGATE_USER"


def subcommands_of(sub: Any, name: str) -> Any:
    """The sub-command group of an existing command (``cases``, ``archive``, ``audit`` ...), so
    a workflow module can add actions to it."""
    parser = sub.choices[name]
    return next(action for action in parser._actions
                if isinstance(action, argparse._SubParsersAction))


def add_actor_option(parser: argparse.ArgumentParser) -> None:
    """``--as NAME``: the staff user the person at the keyboard says they are (default
    $COMMGATE_USER). A claim: the actor recorded is the OS user, the claim beside it."""
    parser.add_argument("--as", dest="actor", metavar="NAME",
                        help="the staff user you act as (default: $COMMGATE_USER; an OS user "
                             "linked to a staff user acts as that user)")


def current_actor(explicit: str | None = None) -> str:
    """Who is acting as far as the command line alone can tell: ``--as NAME``, else
    $COMMGATE_USER, else the login name of the process's user (from the password database).
    The first two are claims (gateway/core/principal.py)."""
    actor = (explicit or os.environ.get(ACTOR_ENV) or os_user() or "").strip()
    if not actor or any(ch in actor for ch in "\r\n\x00"):
        raise ActorUnknownError("cannot tell who is acting: pass --as NAME or set "
                                "$COMMGATE_USER")
    return actor[:128]


def actor_of(args: argparse.Namespace) -> str:
    """The staff identity of a command that has :func:`add_actor_option`, as settled when it
    opened its installation (:func:`opened_app`): the staff user linked to the OS user, else
    the ``--as`` claim, else the OS user. Asked before that, it is a bug: the answer could be
    a claim the users table refuses."""
    staff = getattr(args, _STAFF, None)
    if staff is None:
        raise RuntimeError("actor_of() before opened_app(): the staff identity is not settled")
    return str(staff)


_STAFF = "settled_staff"


def settle_actor(args: argparse.Namespace, app: App, *, schema_checked: bool = True) -> None:
    """Settle who a command with ``--as`` acts as, against the installation's users table
    (gateway/services/users.py ``settle_identity``), and tell the principal, whose OS user
    and claim the event rows record (gateway/db/acted.py)."""
    if not hasattr(args, "actor"):
        return
    from gateway.services.users import settle_identity

    who = principal.current.get()
    claim = (who.claim if who is not None else args.actor or os.environ.get(ACTOR_ENV)) or None
    if claim is not None:
        claim = current_actor(claim)  # the same checks as any actor name
    identity = settle_identity(app, os_user=who.os_user if who else os_user(), claim=claim,
                               schema_checked=schema_checked)
    principal.settle(identity.staff, linked=identity.linked, claim=claim)
    setattr(args, _STAFF, identity.staff)


def reader_of(args: argparse.Namespace) -> str:
    """The actor for a command that records nothing (a listing, a verification): as
    :func:`actor_of` where it can tell, else "unknown", so that a timer job without a login
    name can still verify the archive."""
    if getattr(args, _STAFF, None) is not None:
        return actor_of(args)
    try:
        return current_actor(getattr(args, "actor", None))
    except (ActorUnknownError, OSError, KeyError):
        return "unknown"


@contextmanager
def opened_app(args: argparse.Namespace, schema: SchemaUse = "existing") -> Iterator[App]:
    """The installation for one command, closed however the command ends. Only the commands
    that file mail (``run``, ``ingest``) pass ``schema="create"``: on an empty database they
    create the schema, as ``init`` does; every other command refuses an empty database, and
    all refuse one behind the code (gateway.db.session.SchemaUse)."""
    app = open_app(args, schema)
    try:
        settle_actor(args, app, schema_checked=schema != "unchecked")
        yield app
    finally:
        app.close()


def open_app(args: argparse.Namespace, schema: SchemaUse = "existing") -> App:
    # Imported here: 'commgate --help' should not pay for loading the whole gateway.
    from gateway.bootstrap import App
    from gateway.config import find_home

    return App.open(find_home(args.home), schema=schema)


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def render_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, int]]) -> str:
    """A plain text table; ``columns`` = (key, heading, max width)."""
    def cell(value: Any, width: int) -> str:
        text = "yes" if value is True else "" if value in (False, None) else str(value)
        return text if len(text) <= width else text[: width - 1] + "…"

    widths = [max([len(h)] + [len(cell(r.get(k), w)) for r in rows]) for k, h, w in columns]
    lines = ["  ".join(h.ljust(wd) for (_, h, _), wd in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * wd for wd in widths))
    for row in rows:
        lines.append("  ".join(cell(row.get(k), w).ljust(wd)
                               for (k, _, w), wd in zip(columns, widths, strict=True)))
    return "\n".join(line.rstrip() for line in lines)


CASE_COLUMNS = [("ref", "REF", 12), ("category", "CATEGORY", 9), ("status", "STATUS", 8),
                ("scope_change", "SCOPE", 5), ("message_count", "MSGS", 4),
                ("customer", "CUSTOMER", 30), ("subject", "SUBJECT", 50)]
TRIAGE_COLUMNS = [("ref", "REF", 12), ("category", "CATEGORY", 9), ("scope_change", "SCOPE", 5),
                  ("lowest_confidence", "CONF", 5), ("alias", "ALIAS", 24),
                  ("customer", "CUSTOMER", 30), ("subject", "SUBJECT", 50)]
