"""The ``commgate`` command line. Its forms are a stable interface that operators script against;
every listing has ``--json``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive import ArchiveError
from gateway.cli._common import (
    ACTOR_ENV,
    CASE_CATEGORIES,
    CASE_COLUMNS,
    CASE_STATUSES,
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    TRIAGE_COLUMNS,
    emit_json,
    opened_app,
    reader_of,
    render_table,
)
from gateway.cli.progress import EVERY_MESSAGES, EVERY_SECONDS, MODES, ingest_progress
from gateway.core import logs
from gateway.core.errors import ConfigError, GatewayError
from gateway.core.principal import acting
from gateway.core.text import acted_by

if TYPE_CHECKING:
    from gateway.bootstrap import App
    from gateway.services.intake import WorkersFactory

log = logging.getLogger("commgate")
# The exit code of each error raised on purpose, by class; a subclass takes its nearest
# ancestor's. 2: the operator's configuration, rules or command line (fix it and run again);
# 1: the command ran and failed (a check, a runtime fault).
EXIT_CODES: dict[type[BaseException], int] = {
    ConfigError: EXIT_USAGE,
    GatewayError: EXIT_FAILED,
    ArchiveError: EXIT_FAILED,
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")  # as gateway.config.Config.log_level


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="commgate",
        description="Archive customer mail immutably and file it into auditable cases.")
    parser.add_argument("--home", help="installation folder (default: $COMMGATE_HOME)")
    parser.add_argument("--version", action="version", version=f"commgate {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log debug details (--log-level DEBUG)")
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, metavar="LEVEL",
                        help="DEBUG, INFO, WARNING or ERROR (default: WARNING; for 'run' the "
                             "configuration's log_level)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="create a ready home folder")
    p.add_argument("--case-prefix", default="CASE", help="case reference prefix, e.g. NPC")
    p.add_argument("--alias", action="append", default=[], metavar="ADDR",
                   help="a controlled alias (repeat for several)")
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("ingest", help="archive and file .eml files, folders, Maildirs, mbox files")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--alias", help="file everything for this alias instead of reading headers")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--progress", choices=MODES, default="auto",
                   help="on stderr: 'bar' (total, rate, time left), 'lines' (a log line every "
                        "--progress-every messages or --progress-seconds), 'none'; default "
                        "'auto': the bar on a terminal, else lines")
    p.add_argument("--progress-every", type=_positive_int, default=EVERY_MESSAGES, metavar="N",
                   help=f"with lines: one every N messages (default {EVERY_MESSAGES})")
    p.add_argument("--progress-seconds", type=float, default=EVERY_SECONDS, metavar="T",
                   help=f"with lines: one at least every T seconds (default {EVERY_SECONDS:g}; "
                        "0: by count only)")
    p.set_defaults(handler=cmd_ingest)

    p = sub.add_parser("run", help="run the daemon (intakes + processing worker)")
    p.set_defaults(handler=cmd_run)

    cases = sub.add_parser("cases", help="list and show cases").add_subparsers(
        dest="cases_command", required=True, metavar="ACTION")
    p = cases.add_parser("list", help="all cases")
    p.add_argument("--status", choices=CASE_STATUSES)
    p.add_argument("--category", choices=CASE_CATEGORIES)
    p.add_argument("--triage", action="store_true",
                   help="only cases with a customer message waiting for a person to confirm "
                        "its classification ('commgate cases classify')")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_cases_list)
    p = cases.add_parser("show", help="one case with its messages and events")
    p.add_argument("ref")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_cases_show)

    p = sub.add_parser("classify", help="classify message files without storing anything")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(handler=cmd_classify)

    archive = sub.add_parser("archive", help="archive integrity").add_subparsers(
        dest="archive_command", required=True, metavar="ACTION")
    p = archive.add_parser("verify", help="recompute every hash, compare the ledger with the "
                           "database; exit 1 on any difference")
    p.add_argument("--since", type=int, default=0, metavar="SEQ",
                   help="re-hash blobs only from this ledger seq on (the chain is always checked)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_archive_verify)
    p = archive.add_parser("keygen", help="create the Ed25519 key that signs checkpoints")
    p.add_argument("path", type=Path, help="private key file, outside the archive folder")
    p.set_defaults(handler=cmd_archive_keygen)
    p = archive.add_parser("checkpoint", help="sign a Merkle tree head over the whole ledger")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_archive_checkpoint)

    quarantine = sub.add_parser("quarantine", help="messages that could not be fully processed"
                                ).add_subparsers(dest="quarantine_command", required=True,
                                                 metavar="ACTION")
    p = quarantine.add_parser("list")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_quarantine_list)
    p = quarantine.add_parser("retry", help="run quarantined messages through processing again")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_quarantine_retry)

    p = sub.add_parser("reclassify",
                       help="classify every archived message again with the current rules")
    p.add_argument("--dry-run", action="store_true", help="report changes, record nothing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_reclassify)

    p = sub.add_parser("demo", help="ingest the bundled sample mail into a throw-away home")
    p.set_defaults(handler=cmd_demo)
    for register in _workflow_commands():
        register(sub)
    return parser


def _workflow_commands() -> list[Callable[[Any], None]]:
    """Each workflow module adds its own sub-commands (cases, replies, reviews, property ...)."""
    import gateway.cli.backup as cli_backup
    import gateway.cli.compliance as cli_compliance
    import gateway.cli.config as cli_config
    import gateway.cli.database as cli_database
    import gateway.cli.documents as cli_documents
    import gateway.cli.evidence as cli_evidence
    import gateway.cli.lifecycle as cli_lifecycle
    import gateway.cli.orders as cli_orders
    import gateway.cli.outbound as cli_outbound
    import gateway.cli.readiness as cli_readiness
    import gateway.cli.records as cli_records
    import gateway.cli.rules as cli_rules
    import gateway.cli.search as cli_search
    import gateway.cli.threads as cli_threads
    import gateway.cli.triage as cli_triage
    import gateway.cli.users as cli_users
    import gateway.cli.web as cli_web

    return [cli_threads.register, cli_lifecycle.register, cli_outbound.register,
            cli_orders.register, cli_search.register, cli_compliance.register,
            cli_evidence.register, cli_readiness.register, cli_triage.register, cli_rules.register,
            cli_users.register, cli_web.register, cli_documents.register, cli_records.register,
            cli_database.register, cli_backup.register, cli_config.register]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its errors become one line on stderr and an exit code chosen by the
    error's type: 2 for the operator's configuration or usage, 1 for everything else."""
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # inside the try: a reader gone (| head) shows here at the latest
    except BrokenPipeError:
        if not _stdout_is_a_pipe():
            raise  # a socket of ours broke, not the reader of our output: not to be hidden
        # The Python docs' "Note on SIGPIPE": point stdout at devnull so the interpreter's own
        # flush at exit cannot fail again, and end as a tool ended by SIGPIPE does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(cli_log_level(args) or logging.WARNING)
    try:
        if not hasattr(args, "actor"):  # records nothing as anyone (run, web: not a principal)
            return int(args.handler(args) or EXIT_OK)
        with acting(args.actor or os.environ.get(ACTOR_ENV)):
            return int(args.handler(args) or EXIT_OK)
    except Exception as exc:
        code = exit_code_for(exc)
        if code is None:  # not raised on purpose: a bug, shown with its traceback
            raise
        print(f"commgate: error: {exc}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        return 130


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code of an error raised on purpose: the entry of the nearest class along its
    MRO in :data:`EXIT_CODES` (by class, never by name). None for anything else: a bug, which
    keeps its traceback."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return None


def _stdout_is_a_pipe() -> bool:
    """Whether stdout is a pipe (``| head``), whose reader can go away. Not a socket: under
    systemd stdout is the journal's, and a daemon's own broken connection must not hide."""
    try:
        mode = os.fstat(sys.stdout.fileno()).st_mode
    except (OSError, ValueError):  # no file descriptor (captured output)
        return False
    return stat.S_ISFIFO(mode)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("commgate")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def cli_log_level(args: argparse.Namespace) -> str | None:
    """The level the command line asks for (--log-level, else -v for DEBUG), or None."""
    return args.log_level or ("DEBUG" if args.verbose else None)


# -- helpers -----------------------------------------------------------------------------------

# -- commands ----------------------------------------------------------------------------------

def cmd_init(args: argparse.Namespace) -> int:
    from gateway.installation import init_home

    home = init_home(args.home, args.case_prefix, args.alias)
    print(f"created {home}: edit {home / 'commgate.toml'}, then 'commgate --home {home} run'")
    return EXIT_OK


def cmd_ingest(args: argparse.Namespace) -> int:
    from gateway.services.intake import check_filing, ingest_paths

    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        print(f"commgate: error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    from gateway.installation import claim_archive

    sample = _start_ingest_fork_server(args)
    try:
        with opened_app(args, schema="create") as app:
            # Before any mail is read: a configuration fault is one line and exit 2, and the
            # mail stays where it is, not archived to wait nor quarantined as if it were bad.
            check_filing(app)
            # As the daemon: never file into a database that belongs to another archive.
            claim_archive(app.archive, app.db)
            progress = ingest_progress(args.progress, args.progress_every,
                                       args.progress_seconds)
            try:
                summary = ingest_paths(app, actor=reader_of(args), paths=args.paths,
                                       alias=args.alias, progress=progress,
                                       workers=_ingest_workers(app))
            finally:
                progress.close()  # the bar stays, the last line says how many in how long
    except BaseException:
        if sample is not None:  # not left preloading for nobody, holding stdout and stderr
            from gateway.daemon.workers import stop_fork_server

            stop_fork_server()
        raise
    finally:
        if sample is not None:
            shutil.rmtree(sample, ignore_errors=True)
    if args.json:
        emit_json(summary.to_dict())
    else:
        print(summary.render())
    if summary.not_filed:  # found only while filing (a key file changed meanwhile, say)
        print(f"commgate: error: {summary.not_filed}; filing stopped: what was archived and "
              "not filed waits in the queue and is filed once this is fixed (by the daemon or "
              "the next ingest)", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _start_ingest_fork_server(args: argparse.Namespace) -> Path | None:
    """Start the fork server of the import's workers before anything else, when the
    configuration has worker processes and the paths hold enough messages for them
    (``WORKERS_AFTER``): its preload (2-4 s of CPU, which every worker waits for) then overlaps
    the command's own start (opening the database and the archive, the filing check: 0.5-1.5
    s) instead of following it. Its sample is the one the pool would take
    (``sample_ahead``). Returns the sample's folder (removed once the import is done), or None
    when nothing was started; a fault is left for the command's own start to report."""
    from gateway.config import find_home, load_settings
    from gateway.daemon.workers import start_fork_server_early
    from gateway.services.intake import sample_ahead

    try:
        if not load_settings(find_home(args.home)).config.worker.process_count:
            return None
    except Exception:  # the command's start reads the settings again and reports it
        return None
    sample = sample_ahead(args.paths)
    return start_fork_server_early(sample) if sample else None


def _ingest_workers(app: App) -> WorkersFactory | None:
    """The worker processes a large import files with: ``[worker] processes`` of them, as
    the daemon runs (0: the import files in this process)."""
    count = app.settings.config.worker.process_count
    if not count:
        return None
    from gateway.daemon.workers import WorkerPool
    from gateway.services.intake import WORKER_BATCH

    level = logging.getLevelName(logging.getLogger().level)
    batch = max(WORKER_BATCH, app.settings.config.worker.batch_size)
    return lambda on_outcomes, on_error: WorkerPool(
        app.settings.home, count, app.db, log_level=level, on_outcomes=on_outcomes,
        on_error=on_error, log_format=app.settings.config.log_format, batch_size=batch)


def cmd_run(args: argparse.Namespace) -> int:
    import signal

    from gateway.config import find_home, load_settings
    from gateway.daemon.supervisor import check_daemon_config, run_daemon
    from gateway.daemon.workers import fork_server_from_here, stop_fork_server

    # Until the daemon's own handler is in place a SIGHUP would end the process (its default):
    # a reload must never stop the daemon, so one this early is ignored.
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        settings = load_settings(find_home(args.home))
        # Checked before the log level is raised and the database opened (its migration logs
        # at INFO): a configuration fault is the one line on stderr, before any mail is read.
        rules = check_daemon_config(settings)
        # Forked now, single-threaded, before the database is opened: the workers share the
        # pages of the modules imported so far with this process (branch mem4).
        forked = bool(settings.config.worker.process_count) and fork_server_from_here()
        # The command line's level wins over the configuration's, also across SIGHUP reloads.
        fixed = cli_log_level(args)
        logs.configure(fixed or settings.config.log_level, settings.config.log_format)
        try:
            with opened_app(args, schema="create") as app:
                run_daemon(app, fixed_log_level=fixed, rules=rules)
        except BaseException:
            if forked:  # not left preloading for nobody, holding stdout and stderr open
                stop_fork_server()
            raise
    finally:
        signal.signal(signal.SIGHUP, previous)
    return EXIT_OK


def cmd_cases_list(args: argparse.Namespace) -> int:
    from gateway.services.cases import list_cases

    with opened_app(args) as app:
        cases = list_cases(app, actor=reader_of(args), status=args.status,
                           category=args.category, triage_only=args.triage)
    rows = cases.to_json()
    if args.json:
        emit_json(rows)
    else:
        print(render_table(rows, TRIAGE_COLUMNS if args.triage else CASE_COLUMNS))
        print(f"{len(rows)} cases{' waiting for triage' if args.triage else ''}")
    return EXIT_OK


def cmd_cases_show(args: argparse.Namespace) -> int:
    from gateway.services.cases import show_case

    with opened_app(args) as app:
        view = show_case(app, actor=reader_of(args), ref=args.ref)
    case = view.to_json()
    if args.json:
        emit_json(case)
        return EXIT_OK
    print(f"{case['ref']}  {case['category']}  {case['status']}"
          f"{'  SCOPE CHANGE' if case['scope_change'] else ''}")
    print(f"subject:  {case['subject']}\ncustomer: {case['customer']}\nalias:    {case['alias']}"
          f"\nopened:   {case['opened_at']}")
    life = case["lifecycle"]
    print(f"owner:    {life['owner_role'] or '-'}   first response due "
          f"{life['first_response_due'] or '-'}   resolution due {life['resolution_due'] or '-'}")
    if case["links"]["merged_into"]:
        print(f"merged into {case['links']['merged_into']}")
    for link in case["links"]["links"]:
        print(f"link:     {link['kind']} {link['direction']} {link['case']}")
    if life["close_blocker"]:
        print(f"cannot close: {life['close_blocker']}")
    for note in case["notes"]:
        review = f" (scope change, review {note['review_id']})" if note["review_id"] else ""
        print(f"note:     {note['at']} {note['channel']} by "
              f"{acted_by(note['actor'], note['claimed_as'])}{review}: "
              f"{note['text'][:200]}")
    for hold in case["holds"]:
        print(f"hold:     {hold['id']} {hold['scope']} {hold['value']!r} placed by "
              f"{hold['created_by']} {hold['created_at']}: {hold['reason']}")
    print()
    print(render_table(case["messages"], [
        ("filed_at", "RECEIVED", 20), ("date", "SENT (DATE:)", 20), ("from", "FROM", 30),
        ("category", "CATEGORY", 9), ("scope_change", "SCOPE", 5), ("subject", "SUBJECT", 40),
        ("sha256", "SHA256", 12)]))
    print()
    for event in case["events"]:
        who = acted_by(event["actor"], event["claimed_as"])
        print(f"{event['at']}  {who:<8} {event['kind']:<20} "
              f"{json.dumps(event['data'], ensure_ascii=False)[:120]}")
    return EXIT_OK


def cmd_classify(args: argparse.Namespace) -> int:
    from gateway.config import HOME_ENV, find_home, load_settings
    from gateway.services.intake import classifier_rules, classify_raw

    # The installation's rules when one is named (--home or $COMMGATE_HOME, as for every
    # command), else the shipped ones. Read before any file: broken rules are one line.
    named = args.home or os.environ.get(HOME_ENV)
    rules = classifier_rules(load_settings(find_home(args.home)) if named else None)
    status = EXIT_OK
    for path in args.files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            print(f"commgate: error: cannot read {path}: {exc.strerror}", file=sys.stderr)
            status = EXIT_FAILED
            continue
        result = {"file": str(path), **classify_raw(raw, rules)}
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        else:
            idents = ", ".join(f"{i['kind']}:{i['value']}" for i in result["identifiers"])
            print(f"{path}: {result['category']}"
                  f"{' (scope change)' if result['scope_change'] else ''} "
                  f"[{result['language']}, {result['confidence']:.2f}] {idents}")
    return status


def cmd_archive_verify(args: argparse.Namespace) -> int:
    from gateway.services.archive import verify_archive

    with opened_app(args) as app:
        report = verify_archive(app, actor=reader_of(args), since=args.since)
    if args.json:
        emit_json(report.to_json())
    else:
        print("\n".join(report.lines()))
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_archive_keygen(args: argparse.Namespace) -> int:
    from archive import generate_key
    from gateway.config import find_home, load_settings

    settings = load_settings(find_home(args.home))
    folder = args.path.resolve().parent
    if not folder.is_dir():
        print(f"commgate: error: folder {folder} does not exist; create it or choose another "
              "path", file=sys.stderr)
        return EXIT_USAGE
    try:
        public = generate_key(args.path.resolve(), settings.archive_path)
    except OSError as exc:
        print(f"commgate: error: cannot write {exc.filename or args.path}: {exc.strerror}",
              file=sys.stderr)
        return EXIT_FAILED
    print(f"created {args.path} (keep it secret) and {public} (give it to auditors); set "
          f"[archive] checkpoint_key = \"{args.path.resolve()}\" in commgate.toml")
    return EXIT_OK


def cmd_archive_checkpoint(args: argparse.Namespace) -> int:
    from gateway.services.archive import sign_checkpoint

    with opened_app(args) as app:
        checkpoint = sign_checkpoint(app, actor=reader_of(args)).checkpoint
    if args.json:
        emit_json(checkpoint.to_json())
    else:
        print(f"checkpoint: {checkpoint.tree_size} entries, root {checkpoint.root_hash}, "
              f"signed {checkpoint.time}")
    return EXIT_OK


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    from gateway.services.cases import list_quarantine

    with opened_app(args) as app:
        rows = list_quarantine(app, actor=reader_of(args)).to_json()
    if args.json:
        emit_json(rows)
    else:
        print(render_table(rows, [("seq", "SEQ", 8), ("at", "AT", 20), ("stage", "STAGE", 10),
                                  ("sha256", "SHA256", 16), ("reason", "REASON", 80)]))
        print(f"{len(rows)} quarantined")
    return EXIT_OK


def cmd_quarantine_retry(args: argparse.Namespace) -> int:
    from gateway.services.cases import retry_quarantine

    with opened_app(args) as app:
        outcomes = retry_quarantine(app, actor=reader_of(args))
    if args.json:
        emit_json(outcomes.to_json())
    else:
        filed = sum(1 for o in outcomes.items if o.status != "quarantined")
        print(f"retried {len(outcomes)}: {filed} filed, {len(outcomes) - filed} still quarantined")
    return EXIT_OK


def cmd_reclassify(args: argparse.Namespace) -> int:
    from gateway.services.cases import reclassify

    with opened_app(args) as app:
        summary = reclassify(app, actor=reader_of(args), dry_run=args.dry_run)
    if args.json:
        emit_json(summary.to_json())
        return EXIT_OK
    verb = "would change" if args.dry_run else "changed"
    print(f"examined {summary.examined}: {len(summary.changed)} {verb}, "
          f"{summary.unchanged} unchanged, {len(summary.unreadable)} unreadable")
    for change in summary.changed[:50]:
        before, after = change["from"], change["to"]
        print(f"  {change['sha256'][:12]}  {before['category']}"
              f"{'+scope' if before['scope_change'] else ''} -> {after['category']}"
              f"{'+scope' if after['scope_change'] else ''}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from gateway.cli.demo import run_demo

    return run_demo(Path(args.home) if args.home else None, print)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
