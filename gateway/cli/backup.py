"""``commgate backup DIR`` and ``commgate restore DIR`` (gateway.services.backup says how a
backup stays consistent while the daemon runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    actor_of,
    add_actor_option,
    emit_json,
    opened_app,
    reader_of,
)


def register(sub: Any) -> None:
    p = sub.add_parser("backup", help="copy the database and the archive into DIR, "
                       "consistently, while the daemon runs")
    p.add_argument("dir", type=Path, metavar="DIR", help="a new or empty folder")
    p.add_argument("--json", action="store_true")
    add_actor_option(p)
    p.set_defaults(handler=cmd_backup)
    p = sub.add_parser("restore", help="restore a backup into a home with no database and an "
                       "empty archive folder, then verify it")
    p.add_argument("dir", type=Path, metavar="DIR", help="a folder 'commgate backup' made")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_restore)


def cmd_backup(args: argparse.Namespace) -> int:
    from gateway.services.backup import back_up

    # Unchecked: a database behind the code is backed up, as the refusal to use it asks.
    with opened_app(args, schema="unchecked") as app:
        done = back_up(app, actor=actor_of(args), target=args.dir)
    if args.json:
        emit_json(done.to_json())
    else:
        lines = done.lines()
        print(lines[0])
        for line in lines[1:]:
            print(line, file=sys.stderr)
    return EXIT_OK if done.ok else EXIT_FAILED


def cmd_restore(args: argparse.Namespace) -> int:
    from gateway.config import find_home
    from gateway.services.archive import verify_archive
    from gateway.services.backup import queue_restored, restore_backup

    restored = restore_backup(find_home(args.home), args.dir)
    with opened_app(args) as app:
        queued = queue_restored(app)
        report = verify_archive(app, actor=reader_of(args))
    if args.json:
        emit_json({"restore": restored.to_json(), "queued": queued, "verify": report.to_json()})
    else:
        print("\n".join(restored.lines()))
        if queued:
            print(f"{queued} entries archived while the database was copied are queued: the "
                  "daemon files them when it starts")
        print("\n".join(report.lines()))
    return EXIT_OK if report.ok else EXIT_FAILED
