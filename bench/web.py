"""Web application benchmark: the case list and the case page over 100,000 cases.

Builds a real installation (``init``), files a few messages through the real pipeline (the
case page reads them from the archive), then inserts ``--cases`` synthetic cases in bulk. It
then times, in interleaved rounds, each page through the application in-process (Starlette's
TestClient: routing, session, rendering, the service) against the service function it calls
run directly (the same query and transaction, no HTTP), and prints p50/p95 of each and the
median and range of the ratio per round.

Pages: the first page of ``/cases``; filtered pages (status and queue; overdue; owner role); a
deep page (the keyset cursor half-way down); ``/cases/REF`` (one access-log record and the
archive read).

Run: ``python bench/web.py [--cases 100000] [--rounds 40] [--backend sqlite|postgresql|both]``
(PostgreSQL: COMMGATE_TEST_PG, by default the test server on 127.0.0.1:5432, in a database of
its own, dropped afterwards).
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)
from sqlalchemy import create_engine, insert, text
from starlette.testclient import TestClient

from gateway.bootstrap import App
from gateway.config import DATABASE_URL_ENV
from gateway.db.models import Case
from gateway.installation import init_home
from gateway.processing.ingest import ingest
from gateway.services.cases import CaseFilter, case_page, show_case
from gateway.services.messages import case_content
from gateway.services.users import add_user
from gateway.web.app import create_app

PG_ADMIN_URL = os.environ.get(
    "COMMGATE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ALIASES = ["sales@bench.example", "support@bench.example", "returns@bench.example"]
STATUSES = ("new", "open", "waiting", "resolved", "closed")
PASSWORD = "benchmark password"
MAIL = ("From: Anna <anna@customer.example>\r\nTo: sales@bench.example\r\nSubject: Quote "
        "{n}\r\nDate: Mon, 23 Nov 2026 09:15:00 +0100\r\nMessage-ID: <{n}@customer.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nPlease quote 20 pump housings.\r\n")


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+pysqlite:///{folder / 'commgate.db'}"
        return
    name = f"commgate_webbench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def build(folder: Path, url: str, cases: int) -> App:
    os.environ[DATABASE_URL_ENV] = url
    home = folder / "home"
    init_home(str(home), "BEN", ALIASES)
    app = App.open(home)
    mail = folder / "mail"
    mail.mkdir()
    for n in range(3):
        (mail / f"{n}.eml").write_text(MAIL.format(n=n))
    ingest(app, sorted(mail.iterdir()))
    start, now = time.perf_counter(), datetime.now(UTC)
    rows = [{"ref": f"BEN-9{n:06d}", "alias": ALIASES[n % 3], "category": "enquiry",
             "status": STATUSES[n % 5], "scope_change": False, "subject": f"Enquiry {n}",
             "customer": f"buyer{n % 5000}@firm{n % 700}.example",
             "customer_domain": f"firm{n % 700}.example", "opened_at": now - timedelta(
                 minutes=cases - n), "updated_at": now, "review_required": n % 50 == 0,
             **lifecycle_fields(n, now - timedelta(minutes=cases - n))} for n in range(cases)]
    with app.db.session() as session:
        for chunk in range(0, cases, 10_000):
            session.execute(insert(Case), rows[chunk:chunk + 10_000])
    if app.db.dialect == "postgresql":
        # What autovacuum does to a table soon after a bulk insert: statistics for the planner
        # and the visibility map, without which no index-only scan is possible (the counts per
        # queue read only the (status, alias) index).
        with app.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    print(f"  {cases:,} cases inserted in {time.perf_counter() - start:.1f} s")
    add_user(app, actor="bench", name="bench", role="admin", aliases=[], password=PASSWORD)
    return app


def lifecycle_fields(n: int, opened: datetime) -> dict[str, object]:
    """Owner role and targets: one case in ten owned by quality; due in 4 h (first response,
    answered for two cases in three) and 7 days (resolution), so the newest week is on time
    and the overdue filter must skip it."""
    return {"owner_role": "quality" if n % 10 == 0 else "staff",
            "first_response_due": opened + timedelta(hours=4),
            "first_response_at": opened + timedelta(hours=1) if n % 3 else None,
            "resolution_due": opened + timedelta(days=7)}


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def run(backend: str, cases: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        print(f"{backend}: building")
        app = build(Path(tmp), url, cases)
        client = TestClient(create_app(app), base_url="http://bench.test")
        form = client.get("/login").text
        csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf": csrf})
        ref = show_case(app, actor="bench", ref="BEN-000001").ref
        with app.db.session() as session:
            middle = session.scalar(text("SELECT max(id) / 2 FROM cases"))
        pairs: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
            "case list, first page": (
                lambda: client.get("/cases"),
                lambda: case_page(app, actor="bench", where=CaseFilter(), limit=50)),
            "case list, status+queue": (
                lambda: client.get(f"/cases?status=open&alias={ALIASES[1]}"),
                lambda: case_page(app, actor="bench", where=CaseFilter(
                    status="open", alias=ALIASES[1]), limit=50)),
            "case list, overdue": (
                lambda: client.get("/cases?overdue=yes"),
                lambda: case_page(app, actor="bench", where=CaseFilter(
                    overdue_at=datetime.now(UTC)), limit=50)),
            "case list, owner role": (
                lambda: client.get("/cases?owner=quality"),
                lambda: case_page(app, actor="bench", where=CaseFilter(
                    owner_role="quality"), limit=50)),
            "case list, deep page": (
                lambda: client.get(f"/cases?before={middle}"),
                lambda: case_page(app, actor="bench", where=CaseFilter(), before=middle,
                                  limit=50)),
            "case page": (
                lambda: client.get(f"/cases/{ref}"),
                lambda: (show_case(app, actor="bench", ref=ref),
                         case_content(app, actor="bench", ref=ref))),
        }
        for name, (page, direct) in pairs.items():
            assert client.get("/cases").status_code == 200
            page_times, direct_times, ratios = [], [], []
            for _ in range(rounds):
                a, b = timed(page), timed(direct)
                page_times.append(a)
                direct_times.append(b)
                ratios.append(a / b)
            print(f"  {name:<24} page p50 {statistics.median(page_times) * 1000:6.1f} ms "
                  f"p95 {p95(page_times) * 1000:6.1f} ms | direct p50 "
                  f"{statistics.median(direct_times) * 1000:6.1f} ms p95 "
                  f"{p95(direct_times) * 1000:6.1f} ms | ratio median "
                  f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    for backend in (("sqlite", "postgresql") if args.backend == "both" else (args.backend,)):
        run(backend, args.cases, args.rounds)


if __name__ == "__main__":
    main()
