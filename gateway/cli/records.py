"""Records that are not mail: ``commgate cases note`` (a call, meeting, visit or portal
message put on a case's record) and ``commgate feedback review|reviews`` (feedback reviewed
in a recorded meeting)."""

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
from gateway.core.text import acted_by

CHANNELS = ("phone", "meeting", "visit", "portal")  # gateway.workflows.notes.CHANNELS
DECISION_KINDS = ("corrective-action", "improvement", "no-action")  # ...feedback_reviews


def register(sub: Any) -> None:
    cases = subcommands_of(sub, "cases")
    p = cases.add_parser("note", help="record a call, meeting, visit or portal message on a "
                         "case (archived and filed like mail; may open a scope-change review)")
    p.add_argument("ref")
    p.add_argument("--channel", required=True, choices=CHANNELS)
    p.add_argument("--summary", required=True, metavar="TEXT", help="what was said")
    p.add_argument("--outcome", default="", metavar="TEXT", help="what was agreed or decided")
    p.add_argument("--attach", type=Path, metavar="FILE",
                   help="a file kept with the note (minutes, a photo); archived with it")
    p.add_argument("--scope-change", choices=("yes", "no"),
                   help="the note carries a change of the customer's requirements (opens a "
                        "scope-change review); not given: the classifier decides from the text")
    add_actor_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_cases_note)

    feedback = subcommands_of(sub, "feedback")
    p = feedback.add_parser(
        "review", help="record a feedback review meeting and what it decided for each item",
        description="Record a review meeting over feedback items. Each item gets exactly one "
                    "--decision REF=KIND:TEXT, KIND one of corrective-action (TEXT: the "
                    "action's reference or description), improvement (TEXT: what is to be "
                    "improved) or no-action (TEXT: the reason, required).")
    p.add_argument("--attendees", required=True, metavar="A,B",
                   help="who attended, comma-separated")
    p.add_argument("--items", required=True, metavar="REF1,REF2",
                   help="the feedback cases reviewed, comma-separated")
    p.add_argument("--decision", action="append", default=[], required=True,
                   metavar="REF=KIND:TEXT", help=f"one per item; KIND: {', '.join(DECISION_KINDS)}")
    p.add_argument("--held", type=_when, metavar="DATE",
                   help="when the meeting was held (ISO date or time, UTC unless given; "
                        "default now)")
    p.add_argument("--note", default="", metavar="TEXT", help="minutes or remarks")
    add_actor_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_feedback_review)
    p = feedback.add_parser("reviews", help="the feedback reviews held, oldest first")
    add_actor_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_feedback_reviews)


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _listed(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def cmd_cases_note(args: argparse.Namespace) -> int:
    from gateway.services.cases import record_note

    attachment = None
    if args.attach is not None:
        try:
            attachment = (args.attach.name, args.attach.read_bytes())
        except OSError as exc:
            raise GatewayError(f"cannot read {args.attach}: {exc.strerror or exc}") from None
    scope = None if args.scope_change is None else args.scope_change == "yes"
    with opened_app(args) as app:
        note = record_note(app, actor=actor_of(args), ref=args.ref, channel=args.channel,
                           summary=args.summary, outcome=args.outcome, attachment=attachment,
                           scope_change=scope)
    if args.json:
        emit_json(note.to_json())
        return EXIT_OK
    who = acted_by(note.actor, note.claimed_as)
    print(f"{note.case}: {note.channel} note recorded by {who} (ledger entry "
          f"{note.seq}, sha256 {note.sha256[:12]}, message {note.message_pk})")
    if note.review_id is not None:
        print(f"scope change: review {note.review_id} opened; 'commgate review approve "
              f"{note.case}' decides it")
    return EXIT_OK


def cmd_feedback_review(args: argparse.Namespace) -> int:
    from gateway.services.feedback_reviews import record_feedback_review

    with opened_app(args) as app:
        review = record_feedback_review(app, actor=actor_of(args),
                                        attendees=_listed(args.attendees),
                                        items=_listed(args.items), decisions=args.decision,
                                        held_at=args.held, note=args.note)
    if args.json:
        emit_json(review.to_json())
        return EXIT_OK
    print(f"feedback review {review.id} held {review.held_at} with "
          f"{', '.join(review.attendees)}, recorded by {review.recorded_by}:")
    for item in review.items:
        print(f"  {item['ref']}: {item['decision']}: {item['text']}")
    return EXIT_OK


def cmd_feedback_reviews(args: argparse.Namespace) -> int:
    from gateway.services.feedback_reviews import list_feedback_reviews

    with opened_app(args) as app:
        found = list_feedback_reviews(app, actor=reader_of(args))
    if args.json:
        emit_json(found.to_json())
        return EXIT_OK
    rows = [{"id": r.id, "held_at": r.held_at, "attendees": ", ".join(r.attendees),
             "items": "; ".join(f"{i['ref']} {i['decision']}" for i in r.items),
             "recorded_by": r.recorded_by} for r in found.items]
    print(render_table(rows, [("id", "ID", 4), ("held_at", "HELD", 20),
                              ("attendees", "ATTENDEES", 30), ("items", "DECISIONS", 50),
                              ("recorded_by", "RECORDED BY", 16)]))
    print(f"{len(rows)} feedback review(s)")
    return EXIT_OK
