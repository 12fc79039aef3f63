"""``commgate users add|passwd|disable|link|list``: the accounts of the web application and
the OS logins linked to them.

A password is read from standard input, one line (never from the command line, where other
users of the machine could see it in the process list); on a terminal it is asked for twice
without echo. Each change is recorded with who made it (the OS user, ``--as`` beside it)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from gateway.cli._common import (
    EXIT_OK,
    actor_of,
    add_actor_option,
    emit_json,
    opened_app,
    reader_of,
    render_table,
)
from gateway.core.errors import UserError

ROLES = ("staff", "reviewer", "compliance", "admin")  # as gateway.db.users.ROLES
USER_COLUMNS = [("name", "NAME", 32), ("role", "ROLE", 10), ("aliases", "QUEUES", 60),
                ("disabled", "DISABLED", 8), ("os_user", "OS USER", 16),
                ("created_at", "CREATED", 20)]


def register(sub: Any) -> None:
    users = sub.add_parser("users", help="accounts of the web application").add_subparsers(
        dest="users_command", required=True, metavar="ACTION")
    p = users.add_parser("add", help="add an account; the password is read from stdin")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--alias", action="append", default=[], metavar="ADDR",
                   help="a queue (alias) this person may work; repeat for several "
                        "(compliance and admin see every queue)")
    p.add_argument("--os-user", metavar="LOGIN",
                   help="the OS login linked to the account: commands it runs act as it")
    _common(p, cmd_users_add)
    p = users.add_parser("passwd", help="set an account's password (read from stdin)")
    p.add_argument("name")
    _common(p, cmd_users_passwd)
    p = users.add_parser("disable", help="disable an account (it stays on record)")
    p.add_argument("name")
    _common(p, cmd_users_disable)
    p = users.add_parser("link", help="link an account to an OS login (commands that login "
                         "runs act as the account and cannot claim another with --as)")
    p.add_argument("name")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--os-user", metavar="LOGIN", help="the OS login (one account each)")
    how.add_argument("--unlink", action="store_true", help="remove the account's link")
    _common(p, cmd_users_link)
    p = users.add_parser("list", help="every account")
    _common(p, cmd_users_list)


def _common(parser: argparse.ArgumentParser, handler: Any) -> None:
    add_actor_option(parser)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=handler)


def read_password() -> str:
    """One line of standard input without its line end; asked twice on a terminal."""
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise UserError("the two passwords differ")
        return first
    line = sys.stdin.readline()
    if not line:
        raise UserError("no password on standard input (one line expected)")
    return line.rstrip("\r\n")


def cmd_users_add(args: argparse.Namespace) -> int:
    from gateway.services.users import add_user

    with opened_app(args) as app:
        actor, password = actor_of(args), read_password()
        user = add_user(app, actor=actor, name=args.name, role=args.role, aliases=args.alias,
                        password=password, os_user=args.os_user)
    return _print(args, user.to_json(), "added")


def cmd_users_passwd(args: argparse.Namespace) -> int:
    from gateway.services.users import set_password

    with opened_app(args) as app:
        actor, password = actor_of(args), read_password()
        user = set_password(app, actor=actor, name=args.name, password=password)
    return _print(args, user.to_json(), "password set")


def cmd_users_disable(args: argparse.Namespace) -> int:
    from gateway.services.users import disable_user

    with opened_app(args) as app:
        actor = actor_of(args)
        user = disable_user(app, actor=actor, name=args.name)
    return _print(args, user.to_json(), "disabled")


def cmd_users_link(args: argparse.Namespace) -> int:
    from gateway.services.users import link_user

    with opened_app(args) as app:
        user = link_user(app, actor=actor_of(args), name=args.name,
                         os_user=None if args.unlink else args.os_user)
    done = f"linked to OS user {user.os_user}" if user.os_user else "linked to no OS user"
    return _print(args, user.to_json(), done)


def cmd_users_list(args: argparse.Namespace) -> int:
    from gateway.services.users import list_users

    with opened_app(args) as app:
        rows = list_users(app, actor=reader_of(args)).to_json()
    if args.json:
        emit_json(rows)
    else:
        print(render_table([{**row, "aliases": ", ".join(row["aliases"])} for row in rows],
                           USER_COLUMNS))
        print(f"{len(rows)} user(s)")
    return EXIT_OK


def _print(args: argparse.Namespace, user: dict[str, Any], what: str) -> int:
    if args.json:
        emit_json(user)
    else:
        queues = ", ".join(user["aliases"]) or ("every queue" if user["role"] in
                                                ("compliance", "admin") else "no queue")
        print(f"{user['name']} ({user['role']}; {queues}): {what}")
    return EXIT_OK
