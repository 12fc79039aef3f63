"""``commgate search``: full text over the archive's headers and bodies, with filters."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
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


def register(sub: Any) -> None:
    p = sub.add_parser("search", help="full-text search over headers and bodies")
    p.add_argument("query", nargs="?", default="",
                   help='words (all must match), "a phrase", or prefix*')
    p.add_argument("--alias", help="only mail filed for this alias")
    p.add_argument("--category", choices=["enquiry", "order", "feedback", "property", "other"])
    p.add_argument("--case", dest="case_ref", metavar="REF", help="only this case")
    p.add_argument("--customer", help="an address, or a whole domain")
    p.add_argument("--since", type=_date, metavar="YYYY-MM-DD",
                   help="received (or, with --by sent, sent) on or after")
    p.add_argument("--until", type=_date, metavar="YYYY-MM-DD",
                   help="received (or, with --by sent, sent) before")
    p.add_argument("--by", choices=["received", "sent"], default="received",
                   help="which date --since/--until filter: when the archive received the "
                   "mail (default) or its own Date header (imported history)")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--rebuild-index", action="store_true",
                   help="re-read every archived message and rebuild the index")
    p.add_argument("--json", action="store_true")
    add_actor_option(p)
    p.set_defaults(handler=cmd_search)


def _date(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-11-30, got {value!r}"
                                         ) from exc


def cmd_search(args: argparse.Namespace) -> int:
    from gateway.services.search import rebuild_index, search_archive

    with opened_app(args) as app:
        if args.rebuild_index:
            rebuilt = rebuild_index(app, actor=reader_of(args))
            if args.json:
                emit_json(rebuilt.to_json())
            else:
                print(f"indexed {rebuilt.indexed} messages")
            return EXIT_OK
        found = search_archive(app, actor=actor_of(args), query=args.query, alias=args.alias,
                               category=args.category, case_ref=args.case_ref,
                               customer=args.customer, since=args.since, until=args.until,
                               by=args.by, limit=args.limit)
    hits = found.to_json()
    if args.json:
        emit_json(hits)
    else:
        print(render_table(hits, [("case", "CASE", 10), ("filed_at", "RECEIVED", 20),
                                  ("date", "SENT (DATE:)", 20), ("from", "FROM", 28),
                                  ("subject", "SUBJECT", 50)]))
        print(f"{len(hits)} message(s)")
    return EXIT_OK
