"""``commgate cases merge|unmerge|split|unsplit|link|unlink``: staff corrections of threading.
Each runs in one transaction and is recorded as case events with who did it (``--as``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.cli._common import (
    EXIT_OK,
    actor_of,
    add_actor_option,
    emit_json,
    opened_app,
    subcommands_of,
)

if TYPE_CHECKING:
    from gateway.services.base import View


def register(sub: Any) -> None:
    """Add the actions to the existing ``cases`` command (built by gateway.cli.main)."""
    actions = subcommands_of(sub, "cases")

    p = actions.add_parser("merge", help="move every message of SRC into DST (reversible)")
    p.add_argument("source", metavar="SRC")
    p.add_argument("--into", required=True, metavar="DST", help="the case that survives")
    _common(p)
    p.set_defaults(handler=cmd_merge)

    p = actions.add_parser("unmerge", help="undo the merge of SRC: its messages move back")
    p.add_argument("source", metavar="SRC")
    _common(p)
    p.set_defaults(handler=cmd_unmerge)

    p = actions.add_parser("split", help="move chosen messages of REF into a new case")
    p.add_argument("ref", metavar="REF")
    p.add_argument("--message", dest="messages", type=int, action="append", required=True,
                   metavar="ID", help="message id (from 'cases show --json'); repeat")
    _common(p)
    p.set_defaults(handler=cmd_split)

    p = actions.add_parser("unsplit", help="merge a split-off case back into its origin")
    p.add_argument("ref", metavar="REF")
    _common(p)
    p.set_defaults(handler=cmd_unsplit)

    p = actions.add_parser("link", help="link two cases (related, enquiry-order)")
    p.add_argument("ref", metavar="REF")
    p.add_argument("other", metavar="OTHER")
    p.add_argument("--kind", required=True, choices=["related", "enquiry-order"])
    _common(p)
    p.set_defaults(handler=cmd_link)

    p = actions.add_parser("unlink", help="remove a link between two cases")
    p.add_argument("ref", metavar="REF")
    p.add_argument("other", metavar="OTHER")
    p.add_argument("--kind", choices=["related", "enquiry-order", "possible-follow-up"])
    _common(p)
    p.set_defaults(handler=cmd_unlink)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--note", default="", help="why (kept in the case events)")
    add_actor_option(parser)
    parser.add_argument("--json", action="store_true")


def _run(args: argparse.Namespace, service: Callable[..., View], **options: Any) -> int:
    """Call the service with the app, the actor and the note; print what it did."""
    with opened_app(args) as app:
        result = service(app, actor=actor_of(args), note=args.note, **options).to_json()
    if args.json:
        emit_json(result)
    else:
        print(_describe(result))
    return EXIT_OK


def _describe(result: dict[str, Any]) -> str:
    action = result["action"]
    if action in ("link", "unlink"):
        verb = "linked" if action == "link" else "unlinked"
        return f"{verb} {result['case']} and {result['other']} ({result['kind']})"
    ids = ", ".join(str(pk) for pk in result["messages"]) or "none"
    verb = {"merge": "merged", "unmerge": "unmerged", "split": "split",
            "unsplit": "unsplit"}[action]
    return f"{verb}: {len(result['messages'])} message(s) moved {result['from']} -> " \
           f"{result['to']} (ids {ids})"


def cmd_merge(args: argparse.Namespace) -> int:
    from gateway.services.threads import merge

    return _run(args, merge, source=args.source, into=args.into)


def cmd_unmerge(args: argparse.Namespace) -> int:
    from gateway.services.threads import unmerge

    return _run(args, unmerge, source=args.source)


def cmd_split(args: argparse.Namespace) -> int:
    from gateway.services.threads import split

    return _run(args, split, ref=args.ref, messages=args.messages)


def cmd_unsplit(args: argparse.Namespace) -> int:
    from gateway.services.threads import unsplit

    return _run(args, unsplit, ref=args.ref)


def cmd_link(args: argparse.Namespace) -> int:
    from gateway.services.threads import link

    return _run(args, link, ref=args.ref, other=args.other, kind=args.kind)


def cmd_unlink(args: argparse.Namespace) -> int:
    from gateway.services.threads import unlink

    return _run(args, unlink, ref=args.ref, other=args.other, kind=args.kind)
