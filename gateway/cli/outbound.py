"""``commgate templates ...``, ``commgate reply ...`` and ``commgate outbound ...``."""

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
    reader_of,
    render_table,
)
from gateway.config import REPLY_KINDS
from gateway.core.errors import GatewayError

TEMPLATE_COLUMNS = [("name", "NAME", 24), ("version", "VER", 4), ("status", "STATUS", 9),
                    ("author", "AUTHOR", 16), ("approved_by", "APPROVED BY", 16),
                    ("published_at", "PUBLISHED", 20), ("subject", "SUBJECT", 40)]
MAIL_COLUMNS = [("id", "ID", 6), ("case", "CASE", 12), ("kind", "KIND", 12),
                ("status", "STATUS", 10), ("to", "TO", 30), ("attempts", "TRIES", 5),
                ("template", "TEMPLATE", 20), ("subject", "SUBJECT", 40),
                ("last_error", "LAST ERROR", 40)]
PENDING_COLUMNS = [("id", "ID", 6), ("case", "CASE", 12), ("reply_kind", "REPLY KIND", 18),
                   ("actor", "AUTHOR", 16), ("needs", "NEEDS", 12), ("held", "HELD", 20),
                   ("why", "WHY", 36), ("to", "TO", 30), ("subject", "SUBJECT", 40)]
MAIL_STATUSES = ("queued", "sent", "deferred", "failed", "suppressed", "pending", "rejected")


def register(sub: Any) -> None:
    templates = sub.add_parser("templates", help="controlled reply and acknowledgement "
                               "templates").add_subparsers(dest="templates_command",
                                                           required=True, metavar="ACTION")
    p = templates.add_parser("create", help="a new draft version of a template")
    p.add_argument("name")
    p.add_argument("--subject", required=True, help="subject; ${case_ref} ... are filled in")
    p.add_argument("--body-file", required=True, type=Path, metavar="FILE",
                   help="UTF-8 text of the body")
    p.add_argument("--kind", default="", choices=REPLY_KINDS, metavar="KIND",
                   help=f"what a reply from it is, for the [approval] matrix "
                        f"({', '.join(REPLY_KINDS)})")
    _common(p, cmd_templates_create)
    for action in ("approve", "publish"):
        p = templates.add_parser(action, help=f"{action} one version")
        p.add_argument("name")
        p.add_argument("--version", required=True, type=int)
        _common(p, cmd_templates_transition)
    p = templates.add_parser("list", help="every version of every template")
    _common(p, cmd_templates_list)
    p = templates.add_parser("show", help="one template version with the template's history")
    p.add_argument("name")
    p.add_argument("--version", type=int, help="default: the newest")
    _common(p, cmd_templates_show)

    p = sub.add_parser("reply", help="queue a staff reply on a case")
    p.add_argument("ref")
    text = p.add_mutually_exclusive_group(required=True)
    text.add_argument("--template", metavar="NAME", help="a published template")
    text.add_argument("--body-file", type=Path, metavar="FILE", help="UTF-8 text of the reply")
    p.add_argument("--to", action="append", metavar="ADDR",
                   help="recipient (repeatable; default: the case's customer)")
    p.add_argument("--subject", help="subject (default: Re: <case subject>); the case tag is "
                   "always added")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="an extra template variable")
    p.add_argument("--attach-document", action="append", default=[], metavar="NAME",
                   help="attach the published version of a controlled document (repeatable; "
                   "which version went to whom is recorded)")
    p.add_argument("--kind", default="", choices=REPLY_KINDS, metavar="KIND",
                   help=f"what the reply is ({', '.join(REPLY_KINDS)}); the [approval] matrix "
                        f"may hold it for a second person (default: the template's kind)")
    _common(p, cmd_reply)

    outbound = sub.add_parser("outbound", help="outbound mail and its delivery").add_subparsers(
        dest="outbound_command", required=True, metavar="ACTION")
    p = outbound.add_parser("list", help="outbound mail with its delivery status")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--status", choices=MAIL_STATUSES)
    which.add_argument("--pending", action="store_true",
                       help="only replies held for approval (--status pending)")
    p.add_argument("--case", metavar="REF")
    _common(p, cmd_outbound_list)
    p = outbound.add_parser("approve", help="release a reply held for approval (a second "
                            "person holding the required role)")
    p.add_argument("id", type=int)
    p.add_argument("--note", default="", help="optional remark kept with the approval")
    _common(p, cmd_outbound_decide)
    p = outbound.add_parser("reject", help="stop a reply held for approval; it is never sent")
    p.add_argument("id", type=int)
    p.add_argument("--note", required=True, help="why (what must change)")
    _common(p, cmd_outbound_decide)
    p = outbound.add_parser("deliver", help="archive and relay the mail that is due now")
    _common(p, cmd_outbound_deliver)


def _common(parser: argparse.ArgumentParser, handler: Any) -> None:
    parser.add_argument("--json", action="store_true")
    add_actor_option(parser)
    parser.set_defaults(handler=handler)


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise GatewayError(f"cannot read {path} ({exc.strerror})") from exc
    except UnicodeDecodeError:
        raise GatewayError(f"{path} is not UTF-8 text") from None


def cmd_templates_create(args: argparse.Namespace) -> int:
    from gateway.services.outbound import create_template

    body = _read_text(args.body_file)
    with opened_app(args) as app:
        template = create_template(app, actor=actor_of(args), name=args.name,
                                   subject=args.subject, body=body, reply_kind=args.kind)
    if args.json:
        emit_json(template.to_json())
    else:
        print(f"created {template.name} v{template.version} (draft): a different person "
              f"approves it with 'commgate templates approve {template.name} --version "
              f"{template.version}'")
        if template.unknown_variables:
            print(f"note: variables not filled in by default: "
                  f"{', '.join(template.unknown_variables)}")
    return EXIT_OK


def cmd_templates_transition(args: argparse.Namespace) -> int:
    from gateway.services.outbound import approve_template, publish_template

    change = approve_template if args.templates_command == "approve" else publish_template
    with opened_app(args) as app:
        actor = actor_of(args)
        template = change(app, actor=actor, name=args.name, version=args.version)
    if args.json:
        emit_json(template.to_json())
    else:
        print(f"{template.name} v{template.version} is now {template.status} ({actor})")
    return EXIT_OK


def cmd_templates_list(args: argparse.Namespace) -> int:
    from gateway.services.outbound import list_templates

    with opened_app(args) as app:
        rows = list_templates(app, actor=reader_of(args)).to_json()
    if args.json:
        emit_json(rows)
    else:
        print(render_table(rows, TEMPLATE_COLUMNS))
    return EXIT_OK


def cmd_templates_show(args: argparse.Namespace) -> int:
    from gateway.services.outbound import show_template

    with opened_app(args) as app:
        result = show_template(app, actor=reader_of(args), name=args.name,
                               version=args.version).to_json()
    if args.json:
        emit_json(result)
        return EXIT_OK
    print(f"{result['name']} v{result['version']}  {result['status']}\n"
          f"author:    {result['author']}\napproved:  {result['approved_by'] or '-'} "
          f"{result['approved_at'] or ''}\npublished: {result['published_at'] or '-'}\n"
          f"subject:   {result['subject']}\n\n{result['body']}")
    for event in result["history"]:
        print(f"{event['at']}  v{event['version']:<3} {event['action']:<10} {event['actor']}")
    return EXIT_OK


def cmd_reply(args: argparse.Namespace) -> int:
    from gateway.services.outbound import parse_variables, reply

    variables = parse_variables(args.var)
    body = _read_text(args.body_file) if args.body_file else None
    with opened_app(args) as app:
        actor = actor_of(args)
        mail = reply(app, actor=actor, ref=args.ref, template=args.template, body=body,
                     to=args.to or (), subject=args.subject, variables=variables,
                     attach_documents=args.attach_document, reply_kind=args.kind)
    if args.json:
        emit_json(mail.to_json())
    elif mail.status == "pending" and mail.approval is not None:
        print(f"held reply {mail.id} on {mail.case} for approval by the role "
              f"{mail.approval['role']} ({', '.join(mail.approval['reasons'])}): another "
              f"person approves it with 'commgate outbound approve {mail.id}'; it is not sent "
              f"before")
    else:
        print(f"queued reply {mail.id} on {mail.case} to {', '.join(mail.to)}: "
              f"{mail.subject}")
        for doc in mail.documents:
            print(f"attached {doc['name']} v{doc['version']} ({doc['filename']}, sha256 "
                  f"{doc['sha256']})")
        print("the daemon delivers it (or run 'commgate outbound deliver')")
    return EXIT_OK


def cmd_outbound_list(args: argparse.Namespace) -> int:
    from gateway.services.outbound import list_mail

    with opened_app(args) as app:
        rows = list_mail(app, actor=reader_of(args),
                         status="pending" if args.pending else args.status,
                         case=args.case).to_json()
    if args.json:
        emit_json(rows)
    elif args.pending:
        table = [{**r, "to": ", ".join(r["to"]), "needs": r["approval"]["role"],
                  "held": r["approval"]["held_at"], "why": ", ".join(r["approval"]["reasons"])}
                 for r in rows if r["approval"]]
        print(render_table(table, PENDING_COLUMNS))
        print(f"{len(table)} {'reply waits' if len(table) == 1 else 'replies wait'} for "
              f"approval")
    else:
        table = [{**r, "to": ", ".join(r["to"]),
                  "template": f"{r['template_name']} v{r['template_version']}"
                  if r["template_version"] else r["template_name"] or ""} for r in rows]
        print(render_table(table, MAIL_COLUMNS))
        print(f"{len(rows)} outbound messages")
    return EXIT_OK


def cmd_outbound_deliver(args: argparse.Namespace) -> int:
    from gateway.services.outbound import deliver

    with opened_app(args) as app:
        report = deliver(app, actor=reader_of(args))
    if args.json:
        emit_json(report.to_json())
    else:
        print(f"archived {len(report.archived)}, sent {len(report.sent)}, deferred "
              f"{len(report.deferred)}, failed {len(report.failed)}")
    return EXIT_OK


def cmd_outbound_decide(args: argparse.Namespace) -> int:
    from gateway.services.outbound import approve_mail, reject_mail

    with opened_app(args) as app:
        actor = actor_of(args)
        if args.outbound_command == "approve":
            decision = approve_mail(app, actor=actor, outbound_id=args.id, note=args.note)
        else:
            decision = reject_mail(app, actor=actor, outbound_id=args.id, note=args.note)
    if args.json:
        emit_json(decision.to_json())
    elif decision.approval.status == "approved":
        print(f"approved reply {decision.mail.id} on {decision.mail.case} ({actor}); the "
              f"daemon delivers it (or run 'commgate outbound deliver')")
    else:
        print(f"rejected reply {decision.mail.id} on {decision.mail.case} ({actor}): "
              f"{decision.approval.note}; it is never sent")
    return EXIT_OK
