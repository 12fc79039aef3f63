"""``commgate cases note``: a call, meeting, visit or portal message put on a case's record."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gateway.cli._common import (
    EXIT_OK,
    actor_of,
    add_actor_option,
    emit_json,
    opened_app,
    subcommands_of,
)
from gateway.core.errors import GatewayError

CHANNELS = ("phone", "meeting", "visit", "portal")  # gateway.workflows.notes.CHANNELS


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
    print(f"{note.case}: {note.channel} note recorded by {note.actor} (ledger entry "
          f"{note.seq}, sha256 {note.sha256[:12]}, message {note.message_pk})")
    if note.review_id is not None:
        print(f"scope change: review {note.review_id} opened; 'commgate review approve "
              f"{note.case}' decides it")
    return EXIT_OK
