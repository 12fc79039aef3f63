"""Gap scan benchmark: how long does finding receipts rows missing from the ledger's range take?

``Processor.catch_up`` files every ledger entry without a receipts row. At start (and in a new
CLI process) it scans the whole range once with ``gateway.processing.pipeline.missing_seqs``; after
that
only the entries added since. This builds a real ``receipts`` table (the project's schema) of
``--rows`` seqs with a few gaps (an outage-sized run in the middle, a few single rows, the
tail) and times:

1. ``missing_seqs`` over the whole range (what a start costs), with the gaps;
2. the same over a table without gaps (the common start);
3. ``missing_seqs`` over the last 500 seqs (what a running daemon's routine scan costs);
4. for comparison, one ``LEAD()`` window query that lists every gap in a single pass, and one
   count per range of 65,536 seqs in a single grouped query (the first design).

Run: ``python bench/gap_scan.py [--rows 1000000] [--backend sqlite|postgresql|both]``
(``--rows 10000000`` for the 10-million case; PostgreSQL uses COMMGATE_TEST_PG, by default
the test server on 127.0.0.1:5432, in a database of its own that is dropped afterwards).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import _project_path  # noqa: F401  (must come before gateway)
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from gateway.db.models import Base
from gateway.processing.pipeline import missing_seqs

PG_ADMIN_URL = os.environ.get(
    "COMMGATE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GROUPED_QUERY = text("SELECT (seq - 1) / 65536, count(*) FROM receipts GROUP BY 1")
LEAD_QUERY = text("SELECT seq + 1, next_seq - 1 FROM (SELECT seq, LEAD(seq) OVER (ORDER BY seq) "
                  "AS next_seq FROM receipts) AS pairs WHERE next_seq > seq + 1")


def gaps_for(rows: int) -> list[tuple[int, int]]:
    """An outage of 5,000 entries in the middle, three lone rows, and the last 100."""
    middle = rows // 2
    return [(rows // 10, rows // 10), (middle, middle + 4_999), (middle + 70_001, middle + 70_001),
            (rows - 1_000, rows - 1_000), (rows - 99, rows)]


@contextmanager
def sqlite_engine(folder: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite+pysqlite:///{folder / 'gap.db'}")
    yield engine
    engine.dispose()


@contextmanager
def pg_engine() -> Iterator[Engine]:
    name = f"commgate_gapbench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fill(engine: Engine, rows: int) -> None:
    """``rows`` receipts rows made by the database itself (a Python insert would dominate)."""
    Base.metadata.create_all(engine)
    sha = "'" + "ab" * 32 + "'"
    values = (f"'receipt', {sha}, {sha}, 100, 'sales@example.test', 'inbound', 'smtp', '{{}}', "
              "CURRENT_TIMESTAMP, 'filed'")
    columns = ("seq, kind, sha256, entry_hash, size, alias, direction, transport, envelope, "
               "received_at, status")
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text(
                f"WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {rows}) "
                f"INSERT INTO receipts ({columns}) SELECT x, {values} FROM n"))
        else:
            conn.execute(text(f"INSERT INTO receipts ({columns}) SELECT x, {values} "
                              f"FROM generate_series(1, {rows}) AS x"))
    # As autovacuum leaves a table in service: statistics, and PostgreSQL's visibility map
    # (without it a count cannot be answered from the index alone).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))


def punch(engine: Engine, gaps: list[tuple[int, int]]) -> None:
    with engine.begin() as conn:
        for low, high in gaps:
            conn.execute(text("DELETE FROM receipts WHERE seq BETWEEN :low AND :high"),
                         {"low": low, "high": high})


def timed(run: Callable[[], object], rounds: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def bench(engine: Engine, rows: int, rounds: int) -> None:
    start = time.perf_counter()
    fill(engine, rows)
    print(f"  built {rows:,} rows in {time.perf_counter() - start:.1f} s")
    with Session(engine) as session:
        seconds, found = timed(lambda: missing_seqs(session, 1, rows), rounds)
        assert found == [], found
        print(f"  whole range, no gap:        {seconds * 1000:9.1f} ms")
    gaps = gaps_for(rows)
    punch(engine, gaps)
    with Session(engine) as session:
        seconds, found = timed(lambda: missing_seqs(session, 1, rows), rounds)
        assert found == gaps, (found, gaps)
        print(f"  whole range, {len(gaps)} gaps:        {seconds * 1000:9.1f} ms")
        seconds, found = timed(lambda: missing_seqs(session, rows - 499, rows), rounds)
        print(f"  last 500 seqs (routine):    {seconds * 1000:9.1f} ms")
        seconds, found = timed(lambda: session.execute(LEAD_QUERY).all(), rounds)
        print(f"  LEAD() window, for compare: {seconds * 1000:9.1f} ms "
              f"({len(found)} gaps inside; the tail needs a max() besides)")
        seconds, found = timed(lambda: session.execute(GROUPED_QUERY).all(), rounds)
        print(f"  grouped count, for compare: {seconds * 1000:9.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    if args.backend in ("sqlite", "both"):
        print(f"SQLite, {args.rows:,} seqs (median of {args.rounds}):")
        with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as folder, \
                sqlite_engine(Path(folder)) as engine:
            bench(engine, args.rows, args.rounds)
    if args.backend in ("postgresql", "both"):
        print(f"PostgreSQL, {args.rows:,} seqs (median of {args.rounds}):")
        with pg_engine() as engine:
            bench(engine, args.rows, args.rounds)


if __name__ == "__main__":
    main()
