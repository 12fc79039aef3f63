"""``commgate db current``, ``commgate db upgrade`` (the schema, explicitly) and ``commgate db
rebuild`` (the database again from the ledger: gateway.services.rebuild).

The ``db`` group is made here; other modules add their actions to it with
``subcommands_of(sub, "db")`` (``db rebuild``)."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli._common import EXIT_FAILED, EXIT_OK, emit_json, opened_app, reader_of


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="the database: schema revision, upgrade, rebuild from the ledger"
                        ).add_subparsers(dest="db_command", required=True, metavar="ACTION")
    p = db.add_parser("current", help="print the schema revision and the newest this commgate "
                      "knows")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_db_current)
    p = db.add_parser("upgrade", help="upgrade the schema to the newest revision (back up "
                      "first: commgate backup DIR)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_db_upgrade)
    p = db.add_parser("rebuild", help="recreate the whole database from the ledger and the "
                      "blobs (into an empty or absent database), then verify")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_db_rebuild)


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


def cmd_db_rebuild(args: argparse.Namespace) -> int:
    from gateway.config import find_home
    from gateway.installation import claim_archive
    from gateway.services.archive import verify_archive
    from gateway.services.rebuild import rebuild_database
    from gateway.services.search import rebuild_index

    rebuilt = rebuild_database(find_home(args.home))
    with opened_app(args) as app:
        claim_archive(app.archive, app.db)  # the database belongs to this archive again
        rebuild_index(app, actor=reader_of(args))  # the search index is derived: re-read
        report = verify_archive(app, actor=reader_of(args))
    if args.json:
        emit_json({"rebuild": rebuilt.to_json(), "verify": report.to_json()})
    else:
        print("\n".join(rebuilt.lines()))
        print("\n".join(report.lines()))
    return EXIT_OK if report.ok else EXIT_FAILED
