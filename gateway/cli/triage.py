"""``commgate cases classify``: a person confirms or corrects a case's category and scope flag
(the triage queue is ``commgate cases list --triage``; the workflow is
gateway/workflows/triage.py)."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli._common import (
    CASE_CATEGORIES,
    EXIT_OK,
    add_actor_option,
    emit_json,
    opened_app,
    subcommands_of,
)


def register(sub: Any) -> None:
    cases = subcommands_of(sub, "cases")
    p = cases.add_parser("classify", help="confirm or correct a case's category and scope-change "
                         "flag (takes it out of the triage queue)")
    p.add_argument("ref")
    p.add_argument("--category", required=True, choices=CASE_CATEGORIES)
    p.add_argument("--scope-change", choices=("yes", "no"),
                   help="yes opens a scope-change review unless one is pending; no withdraws "
                        "a pending one (default: leave the flag as it is)")
    p.add_argument("--note", default="", help="why (kept in the case history; the reason a "
                   "withdrawn review gives)")
    add_actor_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_cases_classify)


def cmd_cases_classify(args: argparse.Namespace) -> int:
    from gateway.db.events import case_by_ref, current_actor
    from gateway.workflows.triage import classify_case

    actor = current_actor(args.actor)
    scope = None if args.scope_change is None else args.scope_change == "yes"
    with opened_app(args) as app, app.db.session() as session:
        case = case_by_ref(session, args.ref, for_update=True)
        result = classify_case(session, case, category=args.category, scope_change=scope,
                               actor=actor, note=args.note)
    if args.json:
        emit_json(result)
        return EXIT_OK
    before, after = result["from"], result["to"]
    change = ("confirmed" if not result["changed"] else
              f"{_label(before)} -> {_label(after)}")
    print(f"{result['ref']}: {change} (by {actor})")
    for review in result["reviews"]:
        print(f"  review {review['review_id']} {review['action']}")
    for line in _record_lines(result["records"]):
        print(f"  {line}")
    return EXIT_OK


def _record_lines(records: dict[str, Any]) -> list[str]:
    """What the new category did to the property register and the feedback record."""
    lines = []
    for name, done in records.items():
        thing = "property item" if name == "property" else "feedback record"
        for action in ("proposed", "opened", "dismissed", "kept"):
            value = done.get(action)
            ids = value if isinstance(value, list) else [value] if value is not None else []
            if ids:
                lines.append(f"{thing} {', '.join(map(str, ids))} {action}")
        if done.get("reason"):
            lines.append(f"  ({done['reason']})")
    return lines


def _label(state: dict[str, Any]) -> str:
    return state["category"] + (", scope change" if state["scope_change"] else "")
