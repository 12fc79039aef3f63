"""``commgate db current`` and ``commgate db upgrade``: the schema, explicitly.

The ``db`` group is made here; other modules add their actions to it with
``subcommands_of(sub, "db")`` (``db rebuild``)."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli._common import EXIT_OK, emit_json


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="the database schema: current revision, upgrade"
                        ).add_subparsers(dest="db_command", required=True, metavar="ACTION")
    p = db.add_parser("current", help="print the schema revision and the newest this commgate "
                      "knows")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_db_current)
    p = db.add_parser("upgrade", help="upgrade the schema to the newest revision (back up "
                      "first: commgate backup DIR)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_db_upgrade)


def cmd_db_current(args: argparse.Namespace) -> int:
    from gateway.config import find_home
    from gateway.services.schema import current_schema

    view = current_schema(find_home(args.home))
    if args.json:
        emit_json(view.to_json())
    else:
        print("\n".join(view.lines()))
    return EXIT_OK


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from gateway.config import find_home
    from gateway.services.schema import upgrade_schema

    view = upgrade_schema(find_home(args.home))
    if args.json:
        emit_json(view.to_json())
    else:
        print("\n".join(view.lines()))
    return EXIT_OK
