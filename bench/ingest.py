"""Ingest throughput benchmark: how close does commgate come to the disk's fsync limit?

What is measured, in ONE run on the SAME message bytes (N copies of the corpus ``*.eml`` files,
each made unique by an ``X-Bench-Copy: n`` header line at the top so that its sha256 differs):

1. raw write+fsync (files/s): every message written to its own new file and fsynced. This is
   the disk's limit for "one durable file per message" and the baseline for the rest.
2. archive only (messages/s): ``Archive.store_many`` in the batches ``commgate ingest`` uses
   (``gateway.processing.ingest.BATCH_MESSAGES`` / ``BATCH_BYTES``), and one-by-one
   ``Archive.store`` (what
   an SMTP delivery of a single message costs) for comparison. Each stores blobs durably
   (tmp file, fsync, rename, shard-folder fsync) and appends fsynced ledger entries.
3. full pipeline on SQLite (messages/s): a fresh home (``init_home``, not timed), ``App.open``
   and the classifier rules (not timed: spaCy), then ``gateway.processing.ingest.ingest(app,
   [folder])``
   is timed: read files, archive, queue, parse, classify, thread, write cases and events.
4. ratios of the medians: archive / raw (target >= 0.8), full pipeline absolute (target >= 300
   messages/s on SQLite) and full / raw.

Why: contract 1 (durability before acknowledgement) makes fsync the floor of every intake; the
ratios show how much the archive and the processing add on top of that floor.

Each measurement runs ``--rounds`` times (default 3), interleaved (the order rotates per round)
so that noise on the small 2-core machine hits all of them alike; the table shows the median,
min, max and the spread ((max - min) / median). All work happens in fresh temp folders on the
same filesystem as the project (checked by device number), removed at the end; ``os.sync()`` runs
before every timed step so one measurement's dirty pages do not slow down the next.

Afterwards one extra full-pipeline ingest of ``--profile-messages`` messages runs under cProfile
(not part of the timings; cProfile inflates pure-Python code more than I/O) and prints where the
time goes: inclusive time per pipeline stage and exclusive time per package.

Run: ``/tmp/probe/bin/python bench/ingest.py [--messages N] [--corpus DIR] [--top 15]``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib
import logging
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# A spawned worker process (--processes) has the parent's fixed sys.path, without bench/.
with contextlib.suppress(ModuleNotFoundError):
    import _project_path  # noqa: F401  (must come before archive/gateway)

import archive
from archive import Archive, Receipt
from bench.corpora import corpora_root, require_corpus
from gateway.bootstrap import App
from gateway.installation import init_home
from gateway.intake.aliases import alias_from_headers
from gateway.processing.ingest import BATCH_BYTES, BATCH_MESSAGES, IngestSummary, ingest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = corpora_root() / "labelled-dev" / "mail"
CASE_PREFIX = "NPC"
ALIASES = [
    "sales@acme-fluidics.example",
    "support@acme-fluidics.example",
    "returns@acme-fluidics.example",
]
TARGET_ARCHIVE_RATIO = 0.8
TARGET_FULL_RATE = 300.0
# spaCy and the libraries it brings along (configuration registry, Cython helpers).
SPACY_FAMILY = {"spacy", "thinc", "confection", "catalogue", "srsly", "preshed", "cymem",
                "murmurhash", "blis", "wasabi", "spacy_lookups_data", "spacy_legacy"}


@dataclass(frozen=True)
class BenchMessage:
    name: str
    raw: bytes
    alias: str


@dataclass
class Series:
    """Timings of one measurement across rounds, as messages (or files) per second."""

    label: str
    count: int
    seconds: list[float] = field(default_factory=list)

    @property
    def rates(self) -> list[float]:
        return [self.count / s for s in self.seconds]

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


# -- inputs -------------------------------------------------------------------------------------


def load_messages(corpus: Path, count: int) -> list[BenchMessage]:
    """``count`` unique messages: corpus files in turn, each with ``X-Bench-Copy: n`` on top."""
    sources = sorted(p for p in corpus.glob("*.eml") if p.is_file())
    if not sources:
        raise SystemExit(f"no *.eml files in {corpus}")
    originals = [p.read_bytes() for p in sources]
    messages: list[BenchMessage] = []
    for n in range(count):
        raw = originals[n % len(originals)]
        first_line = raw.split(b"\n", 1)[0]
        eol = b"\r\n" if first_line.endswith(b"\r") else b"\n"
        unique = b"X-Bench-Copy: %d" % n + eol + raw
        alias = alias_from_headers(unique, ALIASES, ALIASES[0])
        messages.append(BenchMessage(f"{n:06d}-{sources[n % len(sources)].name}", unique, alias))
    return messages


def write_inbox(messages: Sequence[BenchMessage], folder: Path) -> None:
    folder.mkdir(parents=True)
    for message in messages:
        (folder / message.name).write_bytes(message.raw)


def choose_temp_parent(explicit: Path | None) -> Path:
    """The system temp folder if it is on the project's filesystem, else the project folder."""
    if explicit is not None:
        return explicit
    project_dev = os.stat(PROJECT_ROOT).st_dev
    system_tmp = Path(tempfile.gettempdir())
    if os.stat(system_tmp).st_dev == project_dev:
        return system_tmp
    return PROJECT_ROOT


class Workspace:
    """Fresh, numbered folders below one temp root that is removed at the end."""

    def __init__(self, parent: Path) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="commgate-bench-", dir=parent))
        self._counter = 0

    def fresh(self, name: str) -> Path:
        self._counter += 1
        return self.root / f"{self._counter:03d}-{name}"

    def discard(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# -- the measurements ---------------------------------------------------------------------------


def timed(work: Callable[[], None]) -> float:
    os.sync()  # start every measurement with no dirty pages left over from the one before
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def measure_raw(messages: Sequence[BenchMessage], ws: Workspace) -> float:
    folder = ws.fresh("raw")
    folder.mkdir()

    def work() -> None:
        for message in messages:
            fd = os.open(folder / message.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(message.raw)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)

    seconds = timed(work)
    ws.discard(folder)
    return seconds


def _receipt(message: BenchMessage, inbox: Path) -> Receipt:
    # The envelope ``commgate ingest`` records for a file: its path and the alias.
    return Receipt(transport="file",
                   envelope={"file": str(inbox / message.name), "alias": message.alias})


def ingest_batches(
    messages: Sequence[BenchMessage], inbox: Path
) -> list[list[tuple[bytes, Receipt]]]:
    """The batches ``gateway.processing.ingest.ingest`` hands to the archive (by count or by
    bytes)."""
    batches: list[list[tuple[bytes, Receipt]]] = []
    batch: list[tuple[bytes, Receipt]] = []
    size = 0
    for message in messages:
        batch.append((message.raw, _receipt(message, inbox)))
        size += len(message.raw)
        if len(batch) >= BATCH_MESSAGES or size >= BATCH_BYTES:
            batches.append(batch)
            batch, size = [], 0
    if batch:
        batches.append(batch)
    return batches


def measure_archive_batched(messages: Sequence[BenchMessage], inbox: Path,
                            ws: Workspace) -> float:
    folder = ws.fresh("archive-batched")
    store = Archive.open(folder)
    store.ensure()
    batches = ingest_batches(messages, inbox)

    def work() -> None:
        for batch in batches:
            store.store_many(batch)

    seconds = timed(work)
    ws.discard(folder)
    return seconds


def measure_archive_single(messages: Sequence[BenchMessage], inbox: Path,
                           ws: Workspace) -> float:
    folder = ws.fresh("archive-single")
    store = Archive.open(folder)
    store.ensure()
    items = [(m.raw, _receipt(m, inbox)) for m in messages]

    def work() -> None:
        for raw, receipt in items:
            store.store(raw, receipt)

    seconds = timed(work)
    ws.discard(folder)
    return seconds


@contextmanager
def fresh_app(ws: Workspace) -> Iterator[tuple[App, Path]]:
    home = ws.fresh("home")
    init_home(str(home), CASE_PREFIX, ALIASES)
    app = App.open(home)
    # The classifier rules (spaCy) load on first use; load them here so that, as documented,
    # their half second is not timed (otherwise only the first full run in a process pays it).
    app.processor.rules  # noqa: B018
    try:
        yield app, home
    finally:
        app.close()
        ws.discard(home)


def measure_full(inbox: Path, ws: Workspace, summaries: list[IngestSummary],
                 processes: int = 0) -> float:
    """``processes``: worker processes file, as ``commgate ingest`` does with ``[worker]
    processes`` (their start, a few seconds each loading the rules, is timed: it is part of an
    import from start to all filed); 0: everything in this process."""
    with fresh_app(ws) as (app, home):
        result: list[IngestSummary] = []
        workers = None
        if processes:
            from gateway.daemon.workers import WorkerPool

            def workers(on_outcomes: Callable[..., object],
                        on_error: Callable[..., object]) -> WorkerPool:
                return WorkerPool(home, processes, app.db, log_level="ERROR",
                                  on_outcomes=on_outcomes, on_error=on_error)
        seconds = timed(lambda: result.append(ingest(app, [inbox], workers=workers)))
    summaries.append(result[0])
    return seconds


# -- the profile --------------------------------------------------------------------------------


def _package_dir(module: str) -> str | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    path = getattr(mod, "__file__", None)
    return str(Path(path).parent) + os.sep if path else None


def package_buckets() -> list[tuple[str, str]]:
    """(folder prefix, bucket) pairs; the first match wins, so specific files come first."""
    gateway_dir = _package_dir("gateway") or ""
    pairs = [
        (str(Path(archive.__file__).parent) + os.sep, "archive (blobs, ledger)"),
        (gateway_dir + os.path.join("processing", "parsing.py"),
         "parsing (gateway.processing.parsing)"),
        (_package_dir("mailparser"), "parsing (mail-parser)"),
        (_package_dir("email"), "parsing (stdlib email)"),
        (_package_dir("classifiers"), "classifiers (own code)"),
        (_package_dir("sqlalchemy"), "database (SQLAlchemy)"),
        (_package_dir("sqlite3"), "database (SQLAlchemy)"),
        (gateway_dir, "gateway (other own code)"),
        (_package_dir("json"), "json (stdlib)"),
        (_package_dir("re"), "regex (stdlib re, Python part)"),
    ]
    return [(prefix, name) for prefix, name in pairs if prefix]


def bucket_of(filename: str, func: str, buckets: Sequence[tuple[str, str]]) -> str:
    if filename == "~":  # a C function: classify by its name
        if "sqlite3" in func:
            return "database (sqlite3 C calls)"
        if "posix." in func:
            return "OS calls (open/write/fsync/rename/stat)"
        if "re.Pattern" in func or "_sre" in func:
            return "regex (C engine)"
        if "_hashlib" in func:
            return "hashing (sha256)"
        return "other built-ins"
    for prefix, name in buckets:
        if filename.startswith(prefix):
            return name
    if filename.split("/", 1)[0] in SPACY_FAMILY:  # Cython files are named relative, "spacy/.."
        return "classifiers (spaCy)"
    if "site-packages" in filename:
        top = filename.split("site-packages" + os.sep, 1)[1].split(os.sep, 1)[0]
        if top in SPACY_FAMILY:
            return "classifiers (spaCy)"
        return f"other third-party ({top})"
    return "other Python (stdlib)"


# (path suffix, function name, label): inclusive time of the pipeline stages, nested by indent.
STAGES = [
    ("gateway/processing/ingest.py", "ingest", "ingest() total"),
    ("gateway/intake/sources.py", "_messages_in", "  read input files (iter_messages)"),
    ("gateway/intake/aliases.py", "alias_from_headers", "  alias_from_headers"),
    ("gateway/intake/handoff.py", "accept", "  accept: dedup query + archive + queue"),
    ("archive/store.py", "store_many", "    Archive.store_many"),
    ("gateway/processing/pipeline.py", "record", "    Processor.record (queue rows)"),
    ("gateway/processing/pipeline.py", "process_pending", "  process_pending"),
    ("gateway/processing/pipeline.py", "_process_one", "    _process_one (SAVEPOINT + _file)"),
    ("gateway/processing/pipeline.py", "_file", "      _file (one message)"),
    ("gateway/processing/parsing.py", "parse_message", "        parse_message"),
    ("gateway/processing/classification.py", "classify_parsed", "        classify_parsed"),
    ("gateway/processing/threader.py", "decide_thread", "        decide_thread"),
    ("gateway/processing/pipeline.py", "_case_for", "        _case_for"),
    ("gateway/processing/pipeline.py", "_record_decisions", "        _record_decisions"),
    ("sqlalchemy/orm/session.py", "flush", "  Session.flush (all callers)"),
    ("sqlalchemy/orm/session.py", "commit", "  SessionTransaction.commit (COMMIT, RELEASE)"),
]


def profile_full(messages: Sequence[BenchMessage], ws: Workspace) -> tuple[pstats.Stats, float]:
    inbox = ws.fresh("profile-inbox")
    write_inbox(messages, inbox)
    with fresh_app(ws) as (app, _home):
        profiler = cProfile.Profile()
        os.sync()
        start = time.perf_counter()
        profiler.runcall(ingest, app, [inbox])
        seconds = time.perf_counter() - start
    ws.discard(inbox)
    return pstats.Stats(profiler), seconds


def report_profile(stats: pstats.Stats, count: int, seconds: float, top: int) -> None:
    raw_stats: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    raw_stats = stats.stats  # type: ignore[attr-defined]  # not in typeshed's pstats
    total = sum(tt for _cc, _nc, tt, _ct, _callers in raw_stats.values())
    print(f"\nProfile: one extra ingest of {count} messages under cProfile, {seconds:.2f} s wall "
          f"({count / seconds:.0f} msg/s profiled; {total:.2f} s of profiled function time)")

    print("\nInclusive time per stage (cumulative time; nested lines are part of the line above,"
          " the last two overlap the others):")
    print(f"  {'stage':<46} {'calls':>7} {'seconds':>8} {'share':>7} {'ms/msg':>7}")
    for suffix, func, label in STAGES:
        calls, cum = 0, 0.0
        for (filename, _line, name), (_cc, nc, _tt, ct, _callers) in raw_stats.items():
            if name == func and filename.replace(os.sep, "/").endswith(suffix):
                calls += nc
                cum += ct
        if calls:
            print(f"  {label:<46} {calls:>7} {cum:>8.2f} {cum / total:>7.1%} "
                  f"{cum / count * 1000:>7.2f}")

    buckets = package_buckets()
    per_bucket: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, tt, _ct, _callers) in raw_stats.items():
        key = bucket_of(filename, name, buckets)
        per_bucket[key] = per_bucket.get(key, 0.0) + tt
    print("\nExclusive time per package (tottime summed by the file the code lives in; "
          "adds up to 100%):")
    print(f"  {'package':<46} {'seconds':>8} {'share':>7} {'ms/msg':>7}")
    for key, tt in sorted(per_bucket.items(), key=lambda kv: -kv[1]):
        print(f"  {key:<46} {tt:>8.2f} {tt / total:>7.1%} {tt / count * 1000:>7.2f}")

    if top:
        for order in ("cumulative", "tottime"):
            print(f"\nTop {top} functions by {order}:")
            stats.stream = sys.stdout  # type: ignore[attr-defined]  # not in typeshed's pstats
            stats.sort_stats(order).print_stats(top)


# -- the report ---------------------------------------------------------------------------------


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def print_table(series: Sequence[Series]) -> None:
    header = (f"{'measurement':<44} {'median/s':>9} {'min/s':>9} {'max/s':>9} {'spread':>7} "
              f"{'ms/msg':>7}  runs (per s, in round order)")
    print(header)
    print("-" * len(header))
    for s in series:
        rates = s.rates
        spread = (max(rates) - min(rates)) / s.median
        runs = ", ".join(fmt_rate(r) for r in rates)
        print(f"{s.label:<44} {fmt_rate(s.median):>9} {fmt_rate(min(rates)):>9} "
              f"{fmt_rate(max(rates)):>9} {spread:>7.1%} {1000 / s.median:>7.3f}  {runs}")


def print_ratios(raw: Series, batched: Series, single: Series, full: Series) -> None:
    def ratio_line(label: str, top: Series, bottom: Series, target: float | None) -> None:
        per_round = [t / b for t, b in zip(top.rates, bottom.rates, strict=True)]
        value = top.median / bottom.median
        verdict = ""
        if target is not None:
            verdict = f"target >= {target:.2f}  {'MET' if value >= target else 'MISSED'}"
        print(f"{label:<44} {value:>9.3f}   per round {min(per_round):.3f}..{max(per_round):.3f}"
              f"  {verdict}")

    print("\nRatios (of the medians; 'per round' = the ratio within each interleaved round):")
    ratio_line("archive batched / raw", batched, raw, TARGET_ARCHIVE_RATIO)
    ratio_line("archive one-by-one / raw", single, raw, None)
    ratio_line("full pipeline / raw", full, raw, None)
    ratio_line("full pipeline / archive batched", full, batched, None)
    verdict = "MET" if full.median >= TARGET_FULL_RATE else "MISSED"
    print(f"{'full pipeline absolute (msg/s, SQLite)':<44} {full.median:>9.1f}   "
          f"target >= {TARGET_FULL_RATE:.0f}  {verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=2000, help="messages per run (2000)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                        help=f"folder of *.eml files to copy ({DEFAULT_CORPUS})")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--profile-messages", type=int, default=300,
                        help="messages for the extra cProfile run, 0 = no profile (300)")
    parser.add_argument("--top", type=int, default=0,
                        help="also print the top N profiled functions by cumulative and tottime")
    parser.add_argument("--profile-out", type=Path, help="save the profile (pstats file)")
    parser.add_argument("--tmp", type=Path, help="parent folder for the temp folders")
    parser.add_argument("--processes", type=int, default=0,
                        help="worker processes filing the full-pipeline ingest, as "
                             "'commgate ingest' with [worker] processes = N (0: in-process)")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.rounds < 1:
        parser.error("--messages and --rounds must be at least 1")
    logging.basicConfig(level=logging.ERROR)  # quarantines are counted below, not logged

    started = time.perf_counter()
    messages = load_messages(require_corpus(args.corpus), args.messages)
    sizes = sorted(len(m.raw) for m in messages)
    parent = choose_temp_parent(args.tmp)
    ws = Workspace(parent)
    same_fs = os.stat(ws.root).st_dev == os.stat(PROJECT_ROOT).st_dev
    print(f"commgate ingest benchmark: {args.messages} messages from {args.corpus} "
          f"({len(set(m.name.split('-', 1)[1] for m in messages))} distinct files), "
          f"{sum(sizes) / 1024:,.0f} KiB, sizes {sizes[0]}..{sizes[-1]} B "
          f"(median {statistics.median(sizes):,.0f} B)")
    print(f"temp folder {ws.root} (same filesystem as {PROJECT_ROOT}: "
          f"{'yes' if same_fs else 'NO'}); archive batch = {BATCH_MESSAGES} messages or "
          f"{BATCH_BYTES // (1024 * 1024)} MiB; {args.rounds} interleaved rounds; "
          f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}\n")

    try:
        inbox = ws.fresh("inbox")
        write_inbox(messages, inbox)
        count = len(messages)
        raw = Series("1. raw write+fsync (files/s)", count)
        batched = Series(f"2a. archive store_many, batches of {BATCH_MESSAGES}", count)
        single = Series("2b. archive store one-by-one", count)
        full = Series(f"3. full pipeline ingest() on SQLite, {args.processes} worker "
                      "process(es)", count)
        summaries: list[IngestSummary] = []
        steps: list[tuple[Series, Callable[[], float]]] = [
            (raw, lambda: measure_raw(messages, ws)),
            (batched, lambda: measure_archive_batched(messages, inbox, ws)),
            (single, lambda: measure_archive_single(messages, inbox, ws)),
            (full, lambda: measure_full(inbox, ws, summaries, args.processes)),
        ]
        for round_no in range(args.rounds):
            shift = round_no % len(steps)
            for series, step in steps[shift:] + steps[:shift]:
                series.seconds.append(step())
            print(f"round {round_no + 1}/{args.rounds} done "
                  f"({time.perf_counter() - started:.0f} s elapsed)", flush=True)

        print()
        print_table([raw, batched, single, full])
        print_ratios(raw, batched, single, full)
        first = summaries[0]
        print(f"\nfull pipeline result per run: {first.archived} archived, {first.filed} filed "
              f"in {first.new_cases} new cases, {first.duplicates} duplicates, "
              f"{len(first.quarantined)} quarantined, {len(first.unreadable)} unreadable")
        if any(s.to_dict() != first.to_dict() for s in summaries[1:]):
            print("WARNING: the full-pipeline runs did not produce the same result")
        if first.archived != count:
            print(f"WARNING: only {first.archived} of {count} messages were archived")

        if args.profile_messages > 0:
            subset = messages[: args.profile_messages]
            stats, seconds = profile_full(subset, ws)
            report_profile(stats, len(subset), seconds, args.top)
            if args.profile_out:
                stats.dump_stats(str(args.profile_out))
                print(f"\nprofile saved to {args.profile_out}")
    finally:
        ws.close()
    print(f"\ntotal benchmark time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
