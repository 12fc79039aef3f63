"""What the benchmarks that compare commgate with a baseline in the same run share (issue 17).

A shared 2-core machine is too noisy for absolute figures of separate runs: each of these
benchmarks runs commgate and its baseline in interleaved rounds (the order alternates), each
side in a fresh process, on distinct generated messages (``bench/speed_corpus.py``, a new seed
per round), and reports the ratio per round as its median and range. This module holds the
parts they share: the command-line options, the rounds' order, the summary lines, fresh
commgate homes (SQLite or a new PostgreSQL database) and the process-tree readings (CPU, RSS)
taken from ``/proc``. A script imports ``_project_path`` before it.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CASE_PREFIX = "BEN"
# The aliases the generator addresses (bench/speed_corpus.py: Generator.message).
ALIASES = ("sales@maker.example", "support@maker.example", "returns@maker.example",
           "info@maker.example")
PG_ADMIN_ENV = "COMMGATE_BENCH_PG"
PG_ADMIN_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BACKENDS = ("sqlite", "postgresql")
T = TypeVar("T")


# -- options -----------------------------------------------------------------------------------


def add_common_arguments(parser: argparse.ArgumentParser, *, messages: int = 2000,
                         rounds: int = 5) -> None:
    """The options every paired benchmark takes, with the same names and meanings."""
    parser.add_argument("--messages", type=int, default=messages,
                        help=f"distinct generated messages per round and side ({messages})")
    parser.add_argument("--rounds", type=int, default=rounds,
                        help=f"interleaved rounds, the order alternating ({rounds})")
    parser.add_argument("--seed", type=int, default=17_000,
                        help="seed of round 1's messages; round n uses seed + n - 1")
    parser.add_argument("--corpora", type=Path, default=None,
                        help="the shared corpora folder (default: $COMMGATE_CORPORA)")
    parser.add_argument("--db", default="sqlite",
                        help="comma-separated backends, each a side: sqlite, postgresql")
    parser.add_argument("--postgres", action="store_true",
                        help="also run commgate on a new PostgreSQL database "
                             f"(${PG_ADMIN_ENV}, default {PG_ADMIN_DEFAULT})")
    parser.add_argument("--worker-processes", type=int, default=None, metavar="N",
                        help="write [worker] processes = N into the home's configuration "
                             "(only when given: a version without the option refuses it)")
    parser.add_argument("--tmp", type=Path, default=None,
                        help="parent of the temp folders (default: the system's, if it is on "
                             "the project's filesystem)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folders")


def backends(args: argparse.Namespace) -> list[str]:
    """The backends asked for by ``--db`` and ``--postgres``, in order, each once."""
    chosen = [b.strip() for b in str(args.db).split(",") if b.strip()]
    if args.postgres:
        chosen.append("postgresql")
    unknown = [b for b in chosen if b not in BACKENDS]
    if unknown:
        raise SystemExit(f"--db: unknown backend {unknown[0]!r}; choose from {BACKENDS}")
    return list(dict.fromkeys(chosen))


def check_counts(args: argparse.Namespace) -> None:
    if args.messages < 1 or args.rounds < 1:
        raise SystemExit("--messages and --rounds must be at least 1")


# -- rounds and summaries ----------------------------------------------------------------------


def round_order(round_no: int, sides: Sequence[T]) -> list[T]:
    """The sides of round ``round_no`` (from 0), in a Williams design: over ``len(sides)``
    rounds (twice as many for an odd number of sides) each side goes first as often as the
    others and follows each other side equally often (with two: alternating).

    A side pays for what the side before it left behind (the sink's unlinked files, a
    daemon's writeback); plain rotation keeps the cyclic order, so with three sides the
    second side always followed the first: the baseline run against itself gave the side
    after the sink 0.88 of the other's SMTP rate."""
    n = len(sides)
    # 0, 1, n-1, 2, n-2, ...: every difference between neighbours occurs once mod n.
    row = [0]
    low, high = 1, n - 1
    while len(row) < n:
        row.append(low)
        low += 1
        if len(row) < n:
            row.append(high)
            high -= 1
    period = n if n % 2 == 0 else 2 * n
    step = round_no % period
    shift = step // 2 if n % 2 else step
    order = [sides[(i + shift) % n] for i in row]
    return order[::-1] if n % 2 and step % 2 else order


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` 0.99 = p99) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def spread(values: Sequence[float], fmt: str = "{:.0f}") -> str:
    """``median (min-max)`` of per-round figures; a single figure alone."""
    if len(values) == 1:
        return fmt.format(values[0])
    return (f"{fmt.format(statistics.median(values))} "
            f"({fmt.format(min(values))}-{fmt.format(max(values))})")


def ratios(top: Sequence[float], bottom: Sequence[float]) -> list[float]:
    """Per-round ratios top / bottom: both sides of a round ran back to back."""
    return [t / b for t, b in zip(top, bottom, strict=True)]


def verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    met = value >= target if higher_is_better else value <= target
    sign = ">=" if higher_is_better else "<="
    return f"target {sign} {target:g}: {'met' if met else 'NOT met'}"


def machine_note() -> str:
    """The machine's load as the figures were taken: other processes distort them."""
    one, five, _fifteen = os.getloadavg()
    return (f"{os.cpu_count()} CPUs, load average {one:.1f} (5 min {five:.1f}), "
            f"Python {sys.version.split()[0]}")


# -- messages ----------------------------------------------------------------------------------


class Corpus:
    """Distinct generated messages: the same seed gives the same messages in every run."""

    def __init__(self, corpora: Path | None) -> None:
        from bench.corpora import corpora_root, require_corpus
        from bench.speed_corpus import load_sources

        self.sources = load_sources(require_corpus(corpora or corpora_root()))

    def messages(self, count: int, seed: int) -> list[bytes]:
        from bench.speed_corpus import Generator

        return [raw for _lang, raw in Generator(self.sources, seed).messages(count)]

    def warmup(self, per_language: int, seed: int) -> list[bytes]:
        """``per_language`` messages in each language, to bring a fresh server to a running
        server's state (every language's pipeline built) before the clock starts."""
        from bench.speed_corpus import LANGUAGES, Generator

        gen = Generator(self.sources, seed)
        return [gen.message(lang)[0] for _ in range(per_language) for lang in LANGUAGES]


_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)


def envelope(raw: bytes) -> tuple[str, str, str]:
    """(MAIL FROM, RCPT TO, Message-ID without brackets) of a generated message."""
    head = _HEADERS.parsebytes(raw)
    return (str(head["From"]), str(head["To"]), message_id_key(str(head["Message-ID"])))


def message_id_key(value: str | None) -> str:
    """A Message-ID as compared here: no brackets, no blanks."""
    return (value or "").strip().strip("<>").strip()


def write_fsynced(path: Path, raw: bytes) -> None:
    """Create ``path`` (never an existing file) holding ``raw``, fsynced: the durable write
    both baselines (the SMTP sink, the archive-style copy) pay per message."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: Path) -> None:
    """fsync a folder: a new file's name is durable only once its folder is (POSIX), so every
    baseline that creates a file pays this as the archive does for each new blob."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_eml_folder(folder: Path, raws: Sequence[bytes]) -> None:
    """One ``.eml`` file per message, as a user's export would have them."""
    folder.mkdir(parents=True)
    for n, raw in enumerate(raws):
        (folder / f"{n:06d}.eml").write_bytes(raw)


# -- temp folders, homes, processes ------------------------------------------------------------


def reap_orphans() -> None:
    """Wait for every descendant this process adopted, so that ``RUSAGE_CHILDREN`` counts the
    CPU of a command's whole process tree. The worker pool's fork server (and the workers it
    forked) is a child of the command, not of this process; when the command exits it is
    orphaned, and on Linux it is handed to this process (a child subreaper from the first
    call on) instead of init, whose ``wait`` would take its CPU away from the figures. Call
    when no child of this process's own is running."""
    import ctypes

    global _SUBREAPER
    if not _SUBREAPER:
        _SUBREAPER = True
        with suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(36, 1, 0, 0, 0)  # SET_CHILD_SUBREAPER
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


_SUBREAPER = False


@contextmanager
def workspace(args: argparse.Namespace, prefix: str) -> Iterator[Path]:
    """A temp folder on the project's filesystem (fsync costs alike), removed at the end."""
    parent = args.tmp
    if parent is None:
        system_tmp = Path(tempfile.gettempdir())
        same = os.stat(system_tmp).st_dev == os.stat(PROJECT_ROOT).st_dev
        parent = system_tmp if same else PROJECT_ROOT
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield root
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def child_env(root: Path = PROJECT_ROOT, **extra: str) -> dict[str, str]:
    """The environment of a measured process: the code of checkout ``root`` (this one unless
    a baseline's), no database override (the home's configuration names the database),
    numeric libraries on one thread."""
    env = {k: v for k, v in os.environ.items() if k not in ("COMMGATE_DATABASE_URL",
                                                            "COMMGATE_HOME")}
    # bench/_profile_site profiles the measured process too when COMMGATE_PROFILE_DIR is set.
    profile = "COMMGATE_PROFILE_DIR" in env
    site = str(Path(__file__).resolve().parent / "_profile_site") + os.pathsep if profile else ""
    env.update(PYTHONPATH=site + str(root), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", **extra)
    return env


def commgate(home: Path, *args: str) -> list[str]:
    """The command line of ``commgate --home HOME ARGS`` with this checkout's code."""
    return [sys.executable, "-m", "gateway.cli.main", "--home", str(home), *args]


@dataclass
class Home:
    """A fresh commgate home made by ``commgate init`` in its own process; on PostgreSQL with
    a database of its own, dropped by :meth:`close`."""

    path: Path
    backend: str
    url: str  # SQLAlchemy URL of its database

    @classmethod
    def create(cls, path: Path, backend: str, extra_config: str = "",
               worker_processes: int | None = None, root: Path = PROJECT_ROOT) -> Home:
        url = f"sqlite+pysqlite:///{path / 'commgate.db'}"
        env = child_env(root)
        if backend == "postgresql":
            url = _create_pg_database()
            env["COMMGATE_DATABASE_URL"] = url  # init migrates it; the config names it after
        aliases = [a for alias in ALIASES for a in ("--alias", alias)]
        done = subprocess.run(commgate(path, "init", "--case-prefix", CASE_PREFIX, *aliases),
                              env=env, cwd=root, capture_output=True, text=True,
                              check=False)
        home = cls(path, backend, url)
        if done.returncode != 0:
            home.close()
            raise SystemExit(f"commgate init failed:\n{done.stdout}{done.stderr}")
        config = path / "commgate.toml"
        text = config.read_text()
        if backend == "postgresql":
            text = text.replace("[database]\n", f'[database]\nurl = "{url}"\n', 1)
        if worker_processes is not None:
            extra_config += f"\n[worker]\nprocesses = {worker_processes}\n"
        config.write_text(text + extra_config)
        return home

    def close(self) -> None:
        if self.backend == "postgresql":
            _drop_pg_database(self.url)


def _pg_admin_url() -> str:
    return os.environ.get(PG_ADMIN_ENV, PG_ADMIN_DEFAULT)


def _create_pg_database() -> str:
    from sqlalchemy import create_engine, text

    name = f"commgate_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return _pg_admin_url().rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    name = url.rsplit("/", 1)[1]
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (worker processes of a daemon), from ``/proc``."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended meanwhile
            parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, ppid in parent.items() if ppid in frontier]
        tree += frontier
    return tree


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants so far (Linux)."""
    return sum(process_cpu_seconds(member, children=True) for member in descendants(pid))


def process_cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (all its threads) so far, with ``children`` also
    those of its children it has reaped (Linux); 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(f) for f in fields[11:15 if children else 13])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of ``pid`` and its descendants, summed, in MB."""
    total = 0
    for member in descendants(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


def tree_pss_mb(pid: int) -> list[float]:
    """Current proportional set size (Pss of ``/proc/PID/smaps_rollup``: each shared page
    divided among the processes that map it) of ``pid`` and each of its descendants, in MB,
    parents before children (a daemon: the supervisor, then the fork server and the resource
    tracker, then the workers). Unlike RSS, summed they count the pages a fork server shares
    with its workers once."""
    sizes = []
    for member in descendants(pid):
        try:
            rollup = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:
            continue
        sizes += [int(line.split()[1]) / 1024 for line in rollup.splitlines()
                  if line.startswith("Pss:")]
    return sizes


def wait_for(check: Callable[[], bool], timeout: float, what: str,
             poll: float = 0.05) -> None:
    """Call ``check()`` until it is true; SystemExit naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


# -- reading what commgate filed ---------------------------------------------------------------


class Filed:
    """Read-only queries on a home's database: what is filed, and when (the harness's own
    connection; a few cheap indexed queries while the daemon runs)."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(url)

    def processed(self) -> int:
        """Receipts the worker has finished with (filed, duplicate or quarantined; named, so
        that a status a later version adds, such as a worker's claim, does not count)."""
        from sqlalchemy import func, select

        from gateway.db.models import LedgerReceipt

        done = ("filed", "duplicate", "quarantined")
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(LedgerReceipt)
                                   .where(LedgerReceipt.status.in_(done))) or 0)

    def new_since(self, last_id: int) -> list[tuple[int, str]]:
        """(message id, Message-ID key) of messages filed after id ``last_id``."""
        from sqlalchemy import select

        from gateway.db.models import Message

        with self.engine.connect() as conn:
            rows = conn.execute(select(Message.id, Message.message_id)
                                .where(Message.id > last_id).order_by(Message.id))
            return [(int(r[0]), message_id_key(r[1])) for r in rows]

    def receipt_to_filed(self, after_seq: int = 0) -> list[float]:
        """Seconds from each receipt's ledger time (just before the 250) to its message's
        ``filed_at`` (set as the worker writes it, just before its batch commits), for the
        receipts after ledger entry ``after_seq``."""
        from sqlalchemy import select

        from gateway.db.models import LedgerReceipt, Message

        with self.engine.connect() as conn:
            rows = conn.execute(select(LedgerReceipt.received_at, Message.filed_at)
                                .join(Message, Message.id == LedgerReceipt.message_pk)
                                .where(LedgerReceipt.seq > after_seq))
            return [(filed - received).total_seconds() for received, filed in rows]

    def first_received(self) -> datetime | None:
        from sqlalchemy import func, select

        from gateway.db.models import LedgerReceipt

        with self.engine.connect() as conn:
            return conn.scalar(select(func.min(LedgerReceipt.received_at)))

    def close(self) -> None:
        self.engine.dispose()
