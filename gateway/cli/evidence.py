"""Commands for auditors: ``audit export`` / ``audit verify-package`` (evidence packages) and
``export mbox`` / ``export eml`` (standard exports). Every export is in the access log."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gateway.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    actor_of,
    add_actor_option,
    emit_json,
    opened_app,
    subcommands_of,
)


def register(sub: Any) -> None:
    audit = subcommands_of(sub, "audit")
    p = audit.add_parser("export", help="build a verifiable evidence package (zip)")
    _selection_options(p)
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FILE.zip")
    p.add_argument("--json", action="store_true")
    add_actor_option(p)
    p.set_defaults(handler=cmd_audit_export)

    p = audit.add_parser("verify-package",
                         help="re-check an evidence package offline (no archive, no database)")
    p.add_argument("package", type=Path, metavar="FILE.zip")
    p.add_argument("--public-key", type=Path, metavar="PEM",
                   help="the checkpoint public key you got out of band; the package's own key "
                        "must match it")
    p.add_argument("--allow-unsigned", action="store_true",
                   help="exit 0 for an intact but unsigned package")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_audit_verify_package)

    exports = sub.add_parser("export", help="standard exports: mbox, a folder of .eml"
                             ).add_subparsers(dest="export_command", required=True,
                                              metavar="FORMAT")
    p = exports.add_parser("mbox", help="one mboxrd file")
    _selection_options(p)
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FILE.mbox")
    p.add_argument("--json", action="store_true")
    add_actor_option(p)
    p.set_defaults(handler=cmd_export, export_format="mbox")
    p = exports.add_parser("eml", help="a new folder of .eml files with SHA256SUMS")
    _selection_options(p)
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FOLDER")
    p.add_argument("--json", action="store_true")
    add_actor_option(p)
    p.set_defaults(handler=cmd_export, export_format="eml")


def _selection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--case", action="append", default=[], metavar="REF",
                   help="a case (repeatable), with cases merged into it and linked "
                        "enquiry/order cases")
    p.add_argument("--from", dest="date_from", metavar="DATE",
                   help="received on or after (YYYY-MM-DD or ISO 8601, UTC)")
    p.add_argument("--to", dest="date_to", metavar="DATE",
                   help="received before; a bare date includes that day")
    p.add_argument("--by", choices=("received", "sent"), default="received",
                   help="which date --from/--to filter: when the archive received the message "
                        "(default) or its Date header (when the sender says it was sent)")
    p.add_argument("--alias", metavar="ADDR")
    p.add_argument("--customer", metavar="DOMAIN", help="a customer domain or address")


def _selection(args: argparse.Namespace) -> Any:
    from gateway.services.evidence import selection

    return selection(cases=tuple(args.case), date_from=args.date_from, date_to=args.date_to,
                     alias=args.alias, customer=args.customer, by=args.by)


def cmd_audit_export(args: argparse.Namespace) -> int:
    from gateway.services.evidence import export_evidence

    selected = _selection(args)
    with opened_app(args) as app:
        actor = actor_of(args)
        report = export_evidence(app, actor=actor, selected=selected, output=args.output).report
    if args.json:
        emit_json(report.to_dict())
    else:
        signed = "signed" if report.signed else "UNSIGNED (no checkpoint key configured)"
        print(f"wrote {report.path}: {len(report.cases)} case(s), {report.messages} "
              f"message(s) ({report.purged} purged), {signed}, proofs against the first "
              f"{report.tree_size} ledger entries; export logged as ledger seq "
              f"{report.export_seq}\n"
              f"sha256 {report.sha256}")
    return EXIT_OK


def cmd_audit_verify_package(args: argparse.Namespace) -> int:
    # Offline: nothing here opens a home, an archive or a database.
    from gateway.services.package_check import check_package

    result = check_package(package=args.package, public_key=args.public_key)
    ok = result.status == "verified" or (result.status == "unsigned" and args.allow_unsigned)
    if args.json:
        emit_json(result.to_json())
        return EXIT_OK if ok else EXIT_FAILED
    if result.status == "verified":
        cp = result.checkpoint or {}
        pinned = "the pinned key" if args.public_key else "the key inside the package " \
            "(pin yours with --public-key)"
        print(f"package verified: {result.messages} message(s) ({result.purged} purged), "
              f"{result.files} files; checkpoint of {cp.get('tree_size')} entries signed "
              f"{cp.get('time')} by key {str(result.key_id)[:16]}, checked with {pinned}")
    elif result.status == "unsigned":
        print(f"package UNSIGNED: its {result.files} files and {result.messages} message(s) "
              "match each other, but no signed checkpoint vouches for them (the exporting "
              "installation has no archive.checkpoint_key)")
    else:
        print(f"package FAILED verification: {len(result.problems)} problem(s)")
        for problem in result.problems:
            print(f"  {problem.file}: {problem.problem}")
    return EXIT_OK if ok else EXIT_FAILED


def cmd_export(args: argparse.Namespace) -> int:
    from gateway.services.evidence import export_messages

    selected = _selection(args)
    with opened_app(args) as app:
        actor = actor_of(args)
        report = export_messages(app, actor=actor, export_format=args.export_format,
                                 selected=selected, output=args.output)
    if args.json:
        emit_json(report.to_json())
        return EXIT_OK
    print(f"wrote {report.path}: {report.messages} message(s), {report.bytes} bytes; export "
          f"logged as ledger seq {report.export_seq}")
    for item in report.purged:
        print(f"  not exported (removed under retention): seq {item['seq']} "
              f"{item['sha256'][:16]}… tombstone seq {item['tombstone_seq']}")
    return EXIT_OK
