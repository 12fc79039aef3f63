"""``commgate documents ...``: controlled documents (spec sheets, service descriptions, terms).

``add`` makes a draft version from a file, ``approve`` (someone else, holding the document's
owner role, or an admin), ``publish`` and ``retire`` move it, ``list`` and ``show`` read the
register, ``get`` writes any version's bytes to a file (recorded in the access log).
"""

from __future__ import annotations

import argparse
import os
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
from gateway.core.errors import GatewayError

OWNER_ROLES = ("staff", "reviewer", "compliance", "admin")  # gateway.db.users.ROLES
COLUMNS = [("name", "NAME", 24), ("version", "VER", 4), ("status", "STATUS", 10),
           ("owner_role", "OWNER", 10), ("author", "DRAFTED BY", 14),
           ("approved_by", "APPROVED BY", 14), ("published_at", "PUBLISHED", 20),
           ("sha256", "SHA256", 12), ("title", "TITLE", 40)]


def register(sub: Any) -> None:
    documents = sub.add_parser("documents", help="controlled documents: spec sheets, service "
                               "descriptions, terms").add_subparsers(
        dest="documents_command", required=True, metavar="ACTION")
    p = documents.add_parser("add", help="a new draft version of a document from a file")
    p.add_argument("name")
    p.add_argument("file", type=Path)
    p.add_argument("--title", required=True)
    p.add_argument("--owner-role", choices=OWNER_ROLES,
                   help="the role that approves it (required for a new document)")
    _common(p, cmd_add)
    for action, default in (("approve", "the newest draft"), ("publish", "the newest approved"),
                            ("retire", "the published one")):
        p = documents.add_parser(action, help=f"{action} one version (default: {default})")
        p.add_argument("name")
        p.add_argument("--version", type=int)
        if action == "retire":
            p.add_argument("--note", default="", help="why it is withdrawn")
        _common(p, cmd_transition)
    p = documents.add_parser("list", help="every version of every document")
    _common(p, cmd_list)
    p = documents.add_parser("show", help="a document's versions, history and recipients")
    p.add_argument("name")
    _common(p, cmd_show)
    p = documents.add_parser("get", help="write one version's bytes to a file (recorded)")
    p.add_argument("name")
    p.add_argument("--version", type=int, help="default: the newest")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FILE")
    _common(p, cmd_get)


def _common(parser: argparse.ArgumentParser, handler: Any) -> None:
    parser.add_argument("--json", action="store_true")
    add_actor_option(parser)
    parser.set_defaults(handler=handler)


def cmd_add(args: argparse.Namespace) -> int:
    from gateway.services.documents import add_document

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise GatewayError(f"cannot read {args.file} ({exc.strerror})") from exc
    with opened_app(args) as app:
        doc = add_document(app, actor=actor_of(args), name=args.name, data=data,
                           filename=args.file.name, title=args.title,
                           owner_role=args.owner_role)
    if args.json:
        emit_json(doc.to_json())
    else:
        print(f"added {doc.name} v{doc.version} (draft, sha256 {doc.sha256}): a different "
              f"person with the role {doc.owner_role} (or an admin) approves it with "
              f"'commgate documents approve {doc.name} --version {doc.version}'")
    return EXIT_OK


def cmd_transition(args: argparse.Namespace) -> int:
    from gateway.services.documents import approve_document, publish_document, retire_document

    with opened_app(args) as app:
        actor = actor_of(args)
        if args.documents_command == "retire":
            doc = retire_document(app, actor=actor, name=args.name, version=args.version,
                                  note=args.note)
        else:
            change = (approve_document if args.documents_command == "approve"
                      else publish_document)
            doc = change(app, actor=actor, name=args.name, version=args.version)
    if args.json:
        emit_json(doc.to_json())
    else:
        print(f"{doc.name} v{doc.version} is now {doc.status} ({actor})")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from gateway.services.documents import list_documents

    with opened_app(args) as app:
        rows = list_documents(app, actor=reader_of(args)).to_json()
    if args.json:
        emit_json(rows)
    else:
        print(render_table(rows, COLUMNS))
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from gateway.services.documents import show_document

    with opened_app(args) as app:
        detail = show_document(app, actor=reader_of(args), name=args.name).to_json()
    if args.json:
        emit_json(detail)
        return EXIT_OK
    print(f"{detail['name']}")
    for v in detail["versions"]:
        print(f"  v{v['version']:<3} {v['status']:<10} {v['title']}\n"
              f"       file {v['filename']} ({v['content_type']}, {v['size']} bytes)\n"
              f"       sha256 {v['sha256']}  owner {v['owner_role']}\n"
              f"       drafted {v['author']} {v['created_at']}; approved "
              f"{v['approved_by'] or '-'} {v['approved_at'] or ''}; published "
              f"{v['published_by'] or '-'} {v['published_at'] or ''}")
    print("history:")
    for event in detail["history"]:
        print(f"  {event['at']}  v{event['version']:<3} {event['action']:<10} {event['actor']}")
    print("sent:")
    if not detail["sends"]:
        print("  (never)")
    for send in detail["sends"]:
        print(f"  {send['at']}  v{send['version']:<3} to {send['recipient']} on "
              f"{send['case']} (outbound {send['outbound_id']}, {send['actor']})")
    return EXIT_OK


def cmd_get(args: argparse.Namespace) -> int:
    from gateway.services.documents import get_document

    with opened_app(args) as app:
        got = get_document(app, actor=actor_of(args), name=args.name, version=args.version,
                           purpose=f"commgate documents get -o {args.output}")
    _write(args.output, got.data)
    if args.json:
        emit_json(got.to_json())
    else:
        print(f"wrote {got.version.name} v{got.version.version} ({got.version.status}, "
              f"{len(got.data)} bytes, sha256 {got.version.sha256}) to {args.output}; "
              f"access recorded as ledger entry {got.access_seq}")
    return EXIT_OK


def _write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename: no half-written copy."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise GatewayError(f"cannot write {path} ({exc.strerror})") from exc
