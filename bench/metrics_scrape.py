"""Metrics scrape benchmark: what the database part of a /metrics scrape costs as mail grows.

Builds a real SQLite database (the project's schema, migrated) with ``--rows`` filed inbound
messages and their receipts (synthetic rows, old enough to be settled), then times, in the
same run:

1. the baseline: the whole-table grouped count of filed messages by intake and category that
   a scrape would run without :class:`gateway.daemon.metrics.FiledCounts`;
2. the daemon's first scrape (``read_snapshot``: it counts the history once);
3. later scrapes (median of 5): only the rows after the settled id, plus the indexed counts.

Run: ``python bench/metrics_scrape.py [--rows 100000]``.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)
from sqlalchemy import text

from gateway.daemon.metrics import FiledCounts, metrics_engine, read_snapshot
from gateway.db.session import Database

CATEGORIES = ("enquiry", "order", "feedback", "other")
BASELINE = text(
    "SELECT r.transport, m.category, count(*) FROM receipts r JOIN messages m "
    "ON m.id = r.message_pk WHERE r.status = 'filed' AND r.direction = 'inbound' "
    "GROUP BY r.transport, m.category")


def fill(path: Path, rows: int) -> None:
    """``rows`` messages and their filed receipts; NOT NULL columns get neutral values."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA foreign_keys=OFF")  # one synthetic case id for every message

    def columns(table: str, given: dict[str, object]) -> tuple[list[str], list[object]]:
        names, values = [], []
        for _, name, kind, notnull, _, pk in con.execute(f"PRAGMA table_info({table})"):
            if name in given:
                names.append(name)
                values.append(given[name])
            elif notnull and not pk:
                kind = kind.upper()
                names.append(name)
                values.append("2026-01-01 00:00:00.000000" if "DATETIME" in kind
                              else 0 if any(k in kind for k in ("INT", "FLOAT", "BOOL"))
                              else "[]" if "JSON" in kind else "x")
        return names, values

    for i in range(1, rows + 1):
        for table, given in (
                ("messages", {"id": i, "sha256": f"{i:064x}", "alias": "a@x", "case_id": 1,
                              "first_seq": i, "direction": "inbound",
                              "category": CATEGORIES[i % 4], "message_id": f"<{i}@x>"}),
                ("receipts", {"seq": i, "sha256": f"{i:064x}", "entry_hash": f"{i:064x}",
                              "alias": "a@x", "direction": "inbound", "envelope": "{}",
                              "transport": ("smtp", "imap")[i % 2], "status": "filed",
                              "message_pk": i, "kind": "receipt"})):
            names, values = columns(table, given)
            con.execute(f"INSERT INTO {table} ({','.join(names)}) "
                        f"VALUES ({','.join('?' * len(values))})", values)
    con.commit()
    con.close()


def timed(run: object) -> float:
    start = time.perf_counter()
    run()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "metrics.db"
        Database.open(f"sqlite+pysqlite:///{path}").close()
        fill(path, args.rows)
        engine = metrics_engine(Database.open(f"sqlite+pysqlite:///{path}").engine.url)
        with engine.connect() as conn:
            baseline = statistics.median(
                timed(lambda: conn.execute(BASELINE).all()) for _ in range(5))
        filed = FiledCounts()
        first = timed(lambda: read_snapshot(engine, filed))
        later = statistics.median(timed(lambda: read_snapshot(engine, filed)) for _ in range(5))
        total = sum(n for _, _, n in read_snapshot(engine, filed).filed)
        engine.dispose()
    assert total == args.rows, total
    print(f"{args.rows} filed messages (SQLite)")
    print(f"  baseline, whole-table filed count alone: {baseline * 1000:8.1f} ms (median of 5)")
    print(f"  first scrape, all database figures:      {first * 1000:8.1f} ms")
    print(f"  later scrapes, all database figures:     {later * 1000:8.1f} ms (median of 5)")


if __name__ == "__main__":
    main()
