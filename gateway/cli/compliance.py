"""Compliance commands: legal holds, retention expiry, the access log, viewing raw messages."""

from __future__ import annotations

import argparse
import sys
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
    subcommands_of,
)


def register(sub: Any) -> None:
    holds = sub.add_parser("hold", help="legal holds: content they cover is never expired"
                           ).add_subparsers(dest="hold_command", required=True,
                                            metavar="ACTION")
    p = holds.add_parser("place", help="place a hold on a case, customer, alias or search "
                         "(refused when it covers no message yet, but for a configured alias)")
    scope = p.add_mutually_exclusive_group(required=True)
    scope.add_argument("--case", metavar="REF")
    scope.add_argument("--customer", metavar="ADDR_OR_DOMAIN")
    scope.add_argument("--alias", metavar="ADDR")
    scope.add_argument("--search", metavar="QUERY", help="everything this query matches")
    p.add_argument("--reason", required=True)
    p.add_argument("--json", action="store_true")
    add_actor_option(p)
    p.set_defaults(handler=cmd_hold_place)
    p = holds.add_parser("release", help="release a hold (it stays on record); needs --note")
    p.add_argument("id", type=int)
    p.add_argument("--note", default="", help="why it is released (required; kept in the "
                   "access log and the case history)")
    p.add_argument("--json", action="store_true")
    add_actor_option(p)
    p.set_defaults(handler=cmd_hold_release)
    p = holds.add_parser("list", help="active holds (--all: released ones too)")
    p.add_argument("--all", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_hold_list)

    retention = sub.add_parser("retention", help="retention expiry").add_subparsers(
        dest="retention_command", required=True, metavar="ACTION")
    p = retention.add_parser("expire", help="remove content past retention unless held")
    p.add_argument("--dry-run", action="store_true", help="report, remove nothing")
    p.add_argument("--now", type=_when, help=argparse.SUPPRESS)  # for rehearsals and tests
    p.add_argument("--json", action="store_true")
    add_actor_option(p)
    p.set_defaults(handler=cmd_retention_expire)

    audit = sub.add_parser("audit", help="evidence for auditors").add_subparsers(
        dest="audit_command", required=True, metavar="ACTION")
    p = audit.add_parser("log", help="who searched, viewed, exported, held or purged what")
    p.add_argument("--action", choices=["search", "view-raw", "export", "export-failed",
                                        "purge", "hold", "release", "view-document",
                                        "backup"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_audit_log)

    p = subcommands_of(sub, "archive").add_parser(
        "show", help="print a message's archived bytes (recorded in the access log)")
    p.add_argument("sha256")
    p.add_argument("--reason", default="", help="why you are looking (recorded)")
    add_actor_option(p)
    p.set_defaults(handler=cmd_archive_show)


def _when(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_hold_place(args: argparse.Namespace) -> int:
    from gateway.services.compliance import place_legal_hold

    scope, value = next((s, getattr(args, s)) for s in ("case", "customer", "alias", "search")
                        if getattr(args, s))
    with opened_app(args) as app:
        hold = place_legal_hold(app, actor=actor_of(args), scope=scope, value=value,
                                reason=args.reason)
    if args.json:
        emit_json(hold.to_json())
    else:
        print(f"legal hold {hold.id} placed on {hold.scope} {hold.value}")
    return EXIT_OK


def cmd_hold_release(args: argparse.Namespace) -> int:
    from gateway.services.compliance import release_legal_hold

    with opened_app(args) as app:
        hold = release_legal_hold(app, actor=actor_of(args), hold_id=args.id, note=args.note)
    if args.json:
        emit_json(hold.to_json())
    else:
        print(f"legal hold {hold.id} released")
    return EXIT_OK


def cmd_hold_list(args: argparse.Namespace) -> int:
    from gateway.services.compliance import legal_holds

    with opened_app(args) as app:
        holds = legal_holds(app, actor=reader_of(args), include_released=args.all).to_json()
    if args.json:
        emit_json(holds)
    else:
        print(render_table(holds, [("id", "ID", 5), ("scope", "SCOPE", 9),
                                   ("value", "COVERS", 40), ("created_by", "BY", 16),
                                   ("reason", "REASON", 40)]))
    return EXIT_OK


def cmd_retention_expire(args: argparse.Namespace) -> int:
    from gateway.services.compliance import expire_retention

    with opened_app(args) as app:
        report = expire_retention(app, actor=actor_of(args), now=args.now,
                                  dry_run=args.dry_run)
    if args.json:
        emit_json(report.to_json())
    else:
        verb = "would remove" if args.dry_run else "removed"
        print(f"{verb} {report.removed_blobs} blob(s) of {report.expired_messages} expired "
              f"message(s); {report.held_messages} held, {report.kept_shared} kept for "
              f"another filing")
    return EXIT_OK


def cmd_audit_log(args: argparse.Namespace) -> int:
    from gateway.services.compliance import audit_log

    with opened_app(args) as app:
        rows = audit_log(app, actor=reader_of(args), action=args.action).to_json()
    if args.json:
        emit_json(rows)
    else:
        for row in rows:  # an export that failed afterwards is not shown as handed out
            if row.get("failed"):
                row["action"] = f"{row['action']} FAILED"
        print(render_table(rows, [("seq", "SEQ", 8), ("at", "AT", 26), ("actor", "ACTOR", 16),
                                  ("action", "ACTION", 13), ("detail", "DETAIL", 60)]))
    return EXIT_OK


def cmd_archive_show(args: argparse.Namespace) -> int:
    from gateway.services.archive import show_raw

    with opened_app(args) as app:
        shown = show_raw(app, actor=actor_of(args), sha256=args.sha256, reason=args.reason)
    sys.stdout.flush()
    if hasattr(sys.stdout, "buffer"):
        sys.stdout.buffer.write(shown.raw)
    else:  # captured in-process (tests): text only
        sys.stdout.write(shown.raw.decode("utf-8", "replace"))
    return EXIT_OK
