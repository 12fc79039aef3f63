"""``[metrics] listen``: /metrics (Prometheus), /healthz and /readyz while ``commgate run`` runs.

Two kinds of figures, because filing happens in worker processes (spawned, each with its own
interpreter) whose counters would never reach the daemon's registry:

- counted where they happen, in the daemon's process (gateway/core/metrics.py): messages
  accepted and archived by intake, archive failures, the SMTP acknowledgement's latency;
- read from the database when scraped (:class:`DatabaseCollector`): messages filed by intake
  and category, quarantined, the backlog, the outbound queue and its failures, open reviews,
  SLA breaches. prometheus-client's multiprocess mode was the alternative; it needs a shared
  folder set before any import in every process, cleaned at each start and on each worker's
  death, and its counters still restart from zero with the daemon. The database already holds
  these figures, for the whole installation (two nodes report the same totals), across
  restarts, and as ``commgate cases list`` shows them. Each query is one grouped count, on an
  index where one exists (queries and their indexes are listed in docs/operations.md).

The figures of the database are read over an engine of their own: on SQLite a fresh, read-only
connection per scrape (a deferred read, never the write lock the filing transactions take, and
a database file deleted under the daemon is seen as gone), on PostgreSQL a one-connection pool
with short connect and statement timeouts, so a scrape never waits on the daemon's pool.

The HTTP server is prometheus-client's WSGI exposition (thread per request) on a thread of
its own: a slow scrape never holds the event loop, and /healthz asks the loop to answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    make_wsgi_app,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, create_engine, event, func, select, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from archive import Archive
from archive.checkpoints import checkpoints_path
from gateway.config import parse_listen
from gateway.core import metrics
from gateway.core.clock import utcnow
from gateway.core.errors import ConfigError
from gateway.db.models import Case, LedgerReceipt, Message, QuarantineEntry
from gateway.db.outbound import MAIL_STATUSES, OutboundMail
from gateway.db.reviews import REVIEW_KINDS, Review
from gateway.db.session import code_revisions
from gateway.evidence.verify_record import last_verify
from gateway.intake.handoff import first_line
from gateway.workflows.lifecycle import ACTIVE, first_response_overdue, resolution_overdue

log = logging.getLogger(__name__)
LOOP_ANSWER_SECONDS = 5.0  # /healthz: how long the event loop may take to run a no-op
DB_TIMEOUT_SECONDS = 5  # connect and statement timeout of a scrape's database queries
CHECKPOINT_TAIL_BYTES = 4096  # enough for the last line of checkpoints.jsonl
# Filed messages older than this are counted once and remembered (FiledCounts): longer than
# any filing transaction, so no id below them can still commit.
SETTLE = timedelta(minutes=10)
INF = float("inf")  # the age of something that never happened: any "older than" alert fires


# -- the database's figures --------------------------------------------------------------------


def metrics_engine(url: URL) -> Engine:
    """An engine for scrapes and readiness only (see the module doc)."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, poolclass=NullPool)
        event.listen(engine, "connect", _sqlite_read_only)
        return engine
    return create_engine(url, pool_size=1, max_overflow=1, pool_pre_ping=True,
                         connect_args={"connect_timeout": DB_TIMEOUT_SECONDS,
                                       "options": f"-c statement_timeout={DB_TIMEOUT_SECONDS}s"})


def _sqlite_read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={DB_TIMEOUT_SECONDS * 1000}")
    cursor.execute("PRAGMA query_only=1")
    cursor.close()


def sqlite_file_missing(url: URL) -> str:
    """A reason when the SQLite database file is gone (connecting would create an empty one)."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return ""
    return "" if Path(url.database).exists() else f"database file {url.database} is missing"


@dataclass(frozen=True)
class Snapshot:
    """What one scrape read from the database."""

    filed: list[tuple[str, str, int]]  # intake, category, messages
    quarantined: list[tuple[str, int]]  # intake, messages ever quarantined
    quarantine_open: int
    backlog: int
    outbound: list[tuple[str, int]]  # status, messages
    reviews_open: list[tuple[str, int]]  # kind, reviews pending
    breaches: dict[str, int]  # first_response / resolution: active cases overdue


class FiledCounts:
    """Inbound messages filed, by intake and category, without counting the whole table at
    every scrape.

    Messages are never deleted and their category is fixed when they are filed, so counts up
    to a message id stay true: the rows older than :data:`SETTLE` are counted once
    (the first scrape counts the history) and added to ``settled``; each scrape counts only
    the rows after the settled id, by primary key. The settling delay is what makes this safe
    on PostgreSQL, where two workers' transactions may commit ids out of order: a filing
    transaction lasts seconds, so no row older than that can still appear below the settled
    id. A database whose ids went backwards (restored, rebuilt) is counted afresh."""

    def __init__(self) -> None:
        self.settled_id = 0
        self.settled: dict[tuple[str, str], int] = {}

    def read(self, conn: Connection, now: datetime) -> list[tuple[str, str, int]]:
        newest = conn.execute(select(func.max(Message.id))).scalar_one() or 0
        if newest < self.settled_id:
            self.settled_id, self.settled = 0, {}
        settled_id, settled = self.settled_id, dict(self.settled)
        cut = conn.execute(select(func.max(Message.id)).where(
            Message.id > settled_id, Message.filed_at <= now - SETTLE)).scalar_one()
        if cut is not None:
            for key, count in self._count(conn, settled_id, cut).items():
                settled[key] = settled.get(key, 0) + count
            settled_id = cut
        totals = dict(settled)
        for key, count in self._count(conn, settled_id, None).items():
            totals[key] = totals.get(key, 0) + count
        self.settled_id, self.settled = settled_id, settled  # only once every query answered
        return [(intake, category, n) for (intake, category), n in sorted(totals.items())]

    @staticmethod
    def _count(conn: Connection, after: int, upto: int | None) -> dict[tuple[str, str], int]:
        query = (select(LedgerReceipt.transport, Message.category, func.count())
                 .join(LedgerReceipt, LedgerReceipt.seq == Message.first_seq)
                 .where(Message.id > after, Message.direction == "inbound")
                 .group_by(LedgerReceipt.transport, Message.category))
        if upto is not None:
            query = query.where(Message.id <= upto)
        return {(t, c): n for t, c, n in conn.execute(query)}


def read_snapshot(engine: Engine, filed: FiledCounts) -> Snapshot:
    """The database's figures: a grouped count each, by an index or the primary key (filed:
    only the recent rows, see :class:`FiledCounts`; quarantine and reviews are small)."""
    now = utcnow()
    missing = sqlite_file_missing(engine.url)
    if missing:
        raise ConnectionError(missing)
    with engine.connect() as conn:
        filed_counts = filed.read(conn, now)
        # IN, not a join: SQLite would scan receipts to join the few quarantine rows.
        quarantined = [(t, n) for t, n in conn.execute(
            select(LedgerReceipt.transport, func.count())
            .where(LedgerReceipt.seq.in_(select(QuarantineEntry.seq)))
            .group_by(LedgerReceipt.transport))]
        quarantine_open = conn.execute(select(func.count()).select_from(QuarantineEntry).where(
            QuarantineEntry.resolved_at.is_(None))).scalar_one()
        backlog = conn.execute(select(func.count()).select_from(LedgerReceipt).where(
            LedgerReceipt.status == "pending")).scalar_one()
        outbound = [(s, n) for s, n in conn.execute(
            select(OutboundMail.status, func.count()).group_by(OutboundMail.status))]
        reviews = [(k, n) for k, n in conn.execute(
            select(Review.kind, func.count()).where(Review.status == "pending")
            .group_by(Review.kind))]
        breaches = {
            name: conn.execute(select(func.count()).select_from(Case).where(
                Case.status.in_(ACTIVE), overdue)).scalar_one()
            for name, overdue in (("first_response", first_response_overdue(now)),
                                  ("resolution", resolution_overdue(now)))}
    return Snapshot(filed_counts, quarantined, quarantine_open, backlog, outbound, reviews,
                    breaches)


class DatabaseCollector(Collector):
    """The figures of the database and of the archive's records, read at each scrape.

    A database that does not answer makes ``commgate_database_up`` 0 and leaves the
    database's figures out of that scrape (Prometheus marks them stale); the scrape itself
    succeeds, with the intake counters and the ages of the last verify and checkpoint."""

    def __init__(self, engine: Engine, home: Path, archive: Archive) -> None:
        self.engine = engine
        self.home = home
        self.archive = archive
        self._failing = False
        self._filed = FiledCounts()
        self._lock = threading.Lock()  # scrapes may come at once; FiledCounts has state

    def describe(self) -> Iterable[Metric]:
        return []  # collected only when scraped, never at registration

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("commgate_database_up",
                               "1 when the last scrape could read the database, else 0.")
        try:
            with self._lock:
                snapshot = read_snapshot(self.engine, self._filed)
        except Exception as exc:
            if not self._failing:
                log.warning("metrics: the database's figures are left out while it does not "
                            "answer: %s", first_line(exc))
            self._failing = True
            up.add_metric([], 0)
            yield up
        else:
            self._failing = False
            up.add_metric([], 1)
            yield up
            yield from _families(snapshot)
        yield from self._ages()

    def _ages(self) -> Iterator[Metric]:
        now = utcnow()
        record = last_verify(self.home)
        verified = _parse_time(record.get("at")) if record else None
        age = GaugeMetricFamily(
            "commgate_last_verify_age_seconds", "Seconds since the last archive verify "
            "(scheduled or 'commgate archive verify'); +Inf: never.")
        age.add_metric([], (now - verified).total_seconds() if verified else INF)
        yield age
        ok = GaugeMetricFamily("commgate_last_verify_ok",
                               "1 when the last verify found the archive intact, else 0.")
        ok.add_metric([], 1 if record and record.get("ok") else 0)
        yield ok
        signed = _parse_time(_last_checkpoint_time(self.archive))
        checkpoint = GaugeMetricFamily(
            "commgate_last_checkpoint_age_seconds", "Seconds since the last signed Merkle "
            "checkpoint; +Inf: never.")
        checkpoint.add_metric([], (now - signed).total_seconds() if signed else INF)
        yield checkpoint


def _families(s: Snapshot) -> Iterator[Metric]:
    filed = CounterMetricFamily("commgate_messages_filed", "Inbound messages filed into cases, "
                                "by intake and category (from the database).",
                                labels=["intake", "category"])
    for intake, category, count in s.filed:
        filed.add_metric([intake, category], count)
    yield filed
    quarantined = CounterMetricFamily("commgate_messages_quarantined", "Messages ever "
                                      "quarantined, by intake (from the database).",
                                      labels=["intake"])
    for intake, count in s.quarantined:
        quarantined.add_metric([intake], count)
    yield quarantined
    yield GaugeMetricFamily("commgate_quarantine_open", "Quarantined messages not yet "
                            "resolved ('commgate quarantine list').", value=s.quarantine_open)
    yield GaugeMetricFamily("commgate_backlog", "Archived ledger entries not yet processed "
                            "(receipts pending).", value=s.backlog)
    outbound = GaugeMetricFamily("commgate_outbound_mail", "Outbound mail by status: queued "
                                 "and deferred wait for the relay, pending for approval, "
                                 "failed gave up.", labels=["status"])
    by_status = dict.fromkeys(MAIL_STATUSES, 0) | dict(s.outbound)  # 0 samples to alert on
    for status, count in by_status.items():
        outbound.add_metric([status], count)
    yield outbound
    yield GaugeMetricFamily("commgate_outbound_queue", "Outbound mail waiting for the relay "
                            "(queued or deferred).", value=sum(
                                n for status, n in s.outbound if status in ("queued", "deferred")))
    yield GaugeMetricFamily("commgate_outbound_failed", "Outbound mail the relay refused for "
                            "good or that ran out of attempts.", value=sum(
                                n for status, n in s.outbound if status == "failed"))
    reviews = GaugeMetricFamily("commgate_reviews_open", "Reviews waiting for a decision, by "
                                "kind.", labels=["kind"])
    for kind, count in (dict.fromkeys(REVIEW_KINDS, 0) | dict(s.reviews_open)).items():
        reviews.add_metric([kind], count)
    yield reviews
    breaches = GaugeMetricFamily("commgate_sla_breaches", "Active cases whose first response "
                                 "or resolution is overdue.", labels=["target"])
    for target, count in s.breaches.items():
        breaches.add_metric([target], count)
    yield breaches


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _last_checkpoint_time(archive: Archive) -> str | None:
    """The time of the last complete line of checkpoints.jsonl (its tail only is read)."""
    try:
        path = checkpoints_path(archive)
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - CHECKPOINT_TAIL_BYTES))
            lines = fh.read().split(b"\n")
    except (OSError, ValueError):
        return None
    for line in reversed(lines[:-1]):  # the part after the last newline is torn or empty
        try:
            value = json.loads(line).get("time")
        except (ValueError, AttributeError):
            continue
        return value if isinstance(value, str) else None
    return None


class _Forward(Collector):
    """Serves another registry's metrics (the process-wide counters) from this one."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


# -- readiness ---------------------------------------------------------------------------------


class Readiness:
    """What /readyz checks: the database answers with the schema of this code, the archive's
    folder takes a file, and the intakes listen (``intake_problems``, asked on the loop)."""

    def __init__(self, engine: Engine, archive: Archive,
                 intake_problems: Callable[[], list[str]]) -> None:
        self.engine = engine
        self.archive = archive
        self.intake_problems = intake_problems
        self.head = code_revisions()[0]

    def problems(self) -> list[str]:
        """One line per unmet condition; empty when ready."""
        found = []
        database = self._database()
        if database:
            found.append(database)
        archive = self._archive()
        if archive:
            found.append(archive)
        try:
            found.extend(self.intake_problems())
        except Exception as exc:
            found.append(f"intakes: {first_line(exc) or 'no answer from the event loop'}")
        return found

    def _database(self) -> str:
        missing = sqlite_file_missing(self.engine.url)
        if missing:
            return missing
        try:
            with self.engine.connect() as conn:
                current = conn.execute(text("SELECT version_num FROM alembic_version")
                                       ).scalar_one_or_none()
        except Exception as exc:
            return f"database unreachable: {first_line(exc)}"
        if current != self.head:
            return (f"database schema is {current or 'empty'}, this commgate needs {self.head}: "
                    "back up the database, then upgrade it")
        return ""

    def _archive(self) -> str:
        root = getattr(self.archive, "root", None)
        if root is None:
            return ""  # the database-backed archive: the database check covers it
        folder = Path(root) / "tmp"
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".readyz-"):
                pass
        except OSError as exc:
            return f"archive not writable: {folder}: {exc.strerror or exc}"
        return ""


# -- the HTTP endpoint -------------------------------------------------------------------------


class _Quiet(WSGIRequestHandler):
    """No access line per scrape on stderr (a scrape every 15 s would flood the log)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server4(ThreadingWSGIServer):
    address_family = socket.AF_INET


class _Server6(ThreadingWSGIServer):
    address_family = socket.AF_INET6


class MetricsServer:
    """/metrics, /healthz and /readyz on ``listen``, served from a thread of its own."""

    def __init__(self, listen: str, registry: CollectorRegistry, readiness: Readiness,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.listen = listen
        self.readiness = readiness
        self.loop = loop
        self.stopping = False  # set at shutdown: /readyz says so before the intakes close
        self._metrics = make_wsgi_app(registry)
        host, port = parse_listen(listen)
        server_class = _Server6 if ":" in host else _Server4
        try:
            self.httpd = make_server(host, port, self._app, server_class, handler_class=_Quiet)
        except OSError as exc:
            raise ConfigError(f"metrics: cannot listen on {listen} ({exc.strerror or exc})"
                              ) from exc
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket (blocks until the serving thread returns)."""
        self.stopping = True
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
        self.httpd.server_close()
        self.readiness.engine.dispose()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self._metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            problem = self._loop_problem()
            return _plain(start_response, [problem] if problem else [])
        if path == "/readyz":
            problems = ["stopping"] if self.stopping else self.readiness.problems()
            return _plain(start_response, problems)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: /metrics, /healthz and /readyz are served here\n"]

    def _loop_problem(self) -> str:
        """Empty when the event loop runs a no-op within :data:`LOOP_ANSWER_SECONDS`."""
        try:
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0), self.loop).result(
                LOOP_ANSWER_SECONDS)
        except Exception as exc:
            return f"event loop not answering: {first_line(exc) or 'timed out'}"
        return ""


def _plain(start_response: Any, problems: list[str]) -> list[bytes]:
    """200 ``ok``, or 503 with one problem per line."""
    if problems:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8")])
        return [("\n".join(problems) + "\n").encode()]
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"ok\n"]


def scrape_registry(collector: DatabaseCollector) -> CollectorRegistry:
    """The registry /metrics serves: the daemon's counters, the database's figures, and
    prometheus-client's process, platform and garbage-collector metrics."""
    registry = CollectorRegistry(auto_describe=False)
    for part in (_Forward(metrics.REGISTRY), collector, PROCESS_COLLECTOR, PLATFORM_COLLECTOR,
                 GC_COLLECTOR):
        registry.register(part)
    return registry
