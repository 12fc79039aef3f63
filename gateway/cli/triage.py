"""``commgate cases classify``: a person confirms or corrects a case's category and scope flag
(the triage queue is ``commgate cases list --triage``; the workflow is
gateway/workflows/triage.py)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from gateway.cli._common import (
    CASE_CATEGORIES,
    EXIT_OK,
    actor_of,
    add_actor_option,
    emit_json,
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
    from gateway.cli._common import opened_app
    from gateway.services.cases import classify_case

    scope = None if args.scope_change is None else args.scope_change == "yes"
    with opened_app(args) as app:
        actor = actor_of(args)
        result = classify_case(app, actor=actor, ref=args.ref, category=args.category,
                               scope_change=scope, note=args.note)
    if args.json:
        emit_json(result.to_json())
        return EXIT_OK
    change = ("confirmed" if not result.changed else
              f"{_label(result.before)} -> {_label(result.after)}")
    print(f"{result.ref}: {change} (by {actor})")
    for review in result.reviews:
        print(f"  review {review['review_id']} {review['action']}")
    for line in _record_lines(result.records):
        print(f"  {line}")
    return EXIT_OK


def _record_lines(records: Mapping[str, Any]) -> list[str]:
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


def _label(state: Mapping[str, Any]) -> str:
    category: str = state["category"]
    return category + (", scope change" if state["scope_change"] else "")
