"""``commgate cases status|escalate`` and ``commgate feedback ...``: the lifecycle and feedback
commands. Each handler does its work in one transaction and records who acted (``--as``)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
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
from gateway.core.errors import GatewayError

FEEDBACK_COLUMNS = [("ref", "REF", 12), ("received", "RECEIVED", 20), ("sent", "SENT", 20),
                    ("type", "TYPE", 10),
                    ("severity", "SEVERITY", 8), ("status", "STATUS", 8),
                    ("customer", "CUSTOMER", 30), ("corrective_action", "CORRECTIVE ACTION", 20),
                    ("closed_at", "CLOSED", 20), ("days_to_close", "DAYS", 5),
                    ("days_from", "FROM", 8)]


def register(sub: Any) -> None:
    cases = subcommands_of(sub, "cases")
    p = cases.add_parser("status", help="move a case to another status "
                         "(new, open, waiting, resolved, closed)")
    p.add_argument("ref")
    p.add_argument("status", choices=("new", "open", "waiting", "resolved", "closed"))
    p.add_argument("--note", default="", help="why (kept in the case history)")
    _common(p, cmd_cases_status)
    p = cases.add_parser("escalate", help="escalate overdue cases now (the daemon does it "
                         "every lifecycle.escalate_every_minutes)")
    _common(p, cmd_cases_escalate)

    feedback = sub.add_parser("feedback", help="customer feedback: classify, corrective action, "
                              "log").add_subparsers(dest="feedback_command", required=True,
                                                    metavar="ACTION")
    p = feedback.add_parser("set", help="set the feedback type and/or severity of a case "
                            "(a complaint's type is changed only with --note, by a reviewer, "
                            "compliance or admin account)")
    p.add_argument("ref")
    p.add_argument("--type", dest="feedback_type",
                   choices=("complaint", "suggestion", "praise", "survey"))
    p.add_argument("--severity", choices=("low", "medium", "high", "critical"))
    p.add_argument("--note", default="", help="why (kept in the case history and the feedback "
                   "log; required to change a complaint's type)")
    _common(p, cmd_feedback_set)
    p = feedback.add_parser("action", help="record the corrective action and the resolution")
    p.add_argument("ref")
    p.add_argument("--corrective-action", required=True, metavar="REF",
                   help="the corrective action's reference in the QMS (CAPA, NCR, 8D ...)")
    p.add_argument("--resolution-note", required=True, metavar="TEXT")
    p.add_argument("--root-cause", metavar="TEXT")
    _common(p, cmd_feedback_action)
    p = feedback.add_parser("list", help="the feedback log")
    _period(p)
    _common(p, cmd_feedback_list)
    p = feedback.add_parser("export", help="write the feedback log as CSV")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FILE.csv")
    _period(p)
    _common(p, cmd_feedback_export)


def _common(parser: argparse.ArgumentParser, handler: Any) -> None:
    add_actor_option(parser)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=handler)


def _period(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=_when, metavar="DATE",
                        help="received on or after (ISO date or time, UTC unless given)")
    parser.add_argument("--until", type=_when, metavar="DATE",
                        help="received before (e.g. 2026-12-01 for all of November)")


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# -- handlers ----------------------------------------------------------------------------------

def cmd_cases_status(args: argparse.Namespace) -> int:
    from gateway.services.lifecycle import set_case_status

    with opened_app(args) as app:
        actor = actor_of(args)
        result = set_case_status(app, actor=actor, ref=args.ref, status=args.status,
                                 note=args.note).to_json()
    if args.json:
        emit_json(result)
    else:
        print(f"{result['ref']}: {result['from']} -> {result['to']} (by {actor})")
    return EXIT_OK


def cmd_cases_escalate(args: argparse.Namespace) -> int:
    from gateway.services.lifecycle import escalate

    with opened_app(args) as app:
        actor = actor_of(args)
        rows = escalate(app, actor=actor).to_json()
    if args.json:
        emit_json(rows)
        return EXIT_OK
    for row in rows:
        where = row["address"] or f"NOT MAILED: {row['reason']}"
        print(f"{row['case']}: {row['breach'].replace('_', ' ')} due {row['due']} -> "
              f"{row['role']} ({where})")
    print(f"{len(rows)} escalation(s)")
    return EXIT_OK


def cmd_feedback_set(args: argparse.Namespace) -> int:
    from gateway.services.lifecycle import set_feedback

    if args.feedback_type is None and args.severity is None:
        raise _UsageError("give --type and/or --severity")
    with opened_app(args) as app:
        actor = actor_of(args)
        result = set_feedback(app, actor=actor, ref=args.ref,
                              feedback_type=args.feedback_type, severity=args.severity,
                              note=args.note)
    return _print_feedback(args, result.to_json())


def cmd_feedback_action(args: argparse.Namespace) -> int:
    from gateway.services.lifecycle import record_action

    with opened_app(args) as app:
        actor = actor_of(args)
        result = record_action(app, actor=actor, ref=args.ref,
                               corrective_action=args.corrective_action,
                               resolution_note=args.resolution_note,
                               root_cause=args.root_cause)
    return _print_feedback(args, result.to_json())


def _print_feedback(args: argparse.Namespace, result: dict[str, Any]) -> int:
    if args.json:
        emit_json(result)
        return EXIT_OK
    filed_on = result["case"] if result["case"] != result["ref"] else None
    print(f"{result['ref']}: type {result['type'] or '(not set)'}, severity "
          f"{result['severity'] or '(not set)'}, corrective action "
          f"{result['corrective_action'] or '(none)'}"
          f"{f' (the record of {filed_on}, merged into it)' if filed_on else ''}")
    if result["close_blocker"]:
        print(f"cannot be closed yet: {result['close_blocker']}")
    return EXIT_OK


def cmd_feedback_list(args: argparse.Namespace) -> int:
    from gateway.services.lifecycle import feedback_cases, history_text

    with opened_app(args) as app:
        rows = feedback_cases(app, actor=reader_of(args), since=args.since,
                              until=args.until).to_json()
    if args.json:
        emit_json(rows)
    else:
        print(render_table(rows, FEEDBACK_COLUMNS))
        print(f"{len(rows)} feedback case(s)")
        for row in rows:
            retypes = [change for change in row["type_history"] if change["from"]]
            if retypes:
                print(f"{row['ref']} type changed: {history_text(retypes)}")
    return EXIT_OK


def cmd_feedback_export(args: argparse.Namespace) -> int:
    from gateway.services.lifecycle import export_feedback

    with opened_app(args) as app:
        exported = export_feedback(app, actor=actor_of(args), output=args.output,
                                   since=args.since, until=args.until)
    if args.json:
        emit_json(exported.to_json())
    else:
        print(f"wrote {exported.rows} feedback case(s) to {args.output}")
    return EXIT_OK


class _UsageError(GatewayError):
    """Raised when a command is given nothing to do."""
