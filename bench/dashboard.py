"""Dashboard benchmark: ``/dashboard`` over 100,000 cases and their messages.

Builds the installation of bench/web.py (100,000 synthetic cases opened over the last ~70
days), gives each case an inbound message (confidence spread over 0-1, one in 40 waiting for
triage), due times that a third (first response) and a seventh (resolution) of them are past,
and 1,000 pending reviews. Then times, in interleaved rounds, the page through the application
in-process (routing, session, the service, the SVG, rendering) against the service called
directly, and the first page of ``/cases`` (the page the issue's budget names) as the baseline
of the same run; prints p50/p95 and the median and range of the ratio per round.

Run: ``python bench/dashboard.py [--cases 100000] [--rounds 30] [--backend sqlite|postgresql|both]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)
from sqlalchemy import insert, select, text
from starlette.testclient import TestClient

from bench.web import PASSWORD, database, p95, timed
from bench.web import build as build_cases
from gateway.bootstrap import App
from gateway.db.models import Case, Message
from gateway.db.reviews import Review
from gateway.services.dashboard import dashboard
from gateway.web.app import create_app


def build(folder: Path, url: str, cases: int) -> App:
    app = build_cases(folder, url, cases)
    with app.db.session() as session:
        rows = session.execute(select(Case.id, Case.alias, Case.opened_at)
                               .where(Case.ref.like("BEN-9%"))).all()
        messages = [{"sha256": f"{case_id:064x}", "alias": alias, "case_id": case_id,
                     "first_seq": 0, "direction": "inbound", "size": 300,
                     "from_addr": f"buyer{case_id % 5000}@firm.example", "subject": "Enquiry",
                     "category": "enquiry", "confidence": (case_id % 100) / 100,
                     "needs_triage": case_id % 40 == 0, "filed_at": opened,
                     "retain_until": opened} for case_id, alias, opened in rows]
        for chunk in range(0, len(messages), 10_000):
            session.execute(insert(Message), messages[chunk:chunk + 10_000])
        session.execute(text("UPDATE cases SET first_response_due = opened_at "
                             "WHERE id % 3 = 0"))
        session.execute(text("UPDATE cases SET resolution_due = opened_at WHERE id % 7 = 0"))
        session.execute(insert(Review), [
            {"case_id": case_id, "kind": "scope-change", "status": "pending",
             "opened_at": opened, "opened_by": "bench"} for case_id, _, opened in rows[::100]])
    if app.db.dialect == "postgresql":
        with app.db.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    return app


def run(backend: str, cases: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        print(f"{backend}: building")
        app = build(Path(tmp), url, cases)
        client = TestClient(create_app(app), base_url="http://bench.test")
        form = client.get("/login").text
        csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf": csrf})
        board = dashboard(app, actor="bench", queues=None)
        print(f"  {sum(d.total for d in board.new_cases):,} new cases in 30 days, "
              f"{board.first_response_breaches:,}/{board.resolution_breaches:,} breaches, "
              f"{board.triage_messages:,} waiting, {sum(board.open_reviews.values()):,} reviews")
        steps = {"dashboard page": lambda: client.get("/dashboard"),
                 "dashboard service": lambda: dashboard(app, actor="bench", queues=None),
                 "one queue, service": lambda: dashboard(
                     app, actor="bench", queues=frozenset({"support@bench.example"})),
                 "baseline /cases": lambda: client.get("/cases")}
        assert client.get("/dashboard").status_code == 200
        times: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(rounds):
            for name, step in steps.items():
                times[name].append(timed(step))
        base = times["baseline /cases"]
        for name, values in times.items():
            ratios = [a / b for a, b in zip(values, base, strict=True)]
            print(f"  {name:<20} p50 {statistics.median(values) * 1000:7.1f} ms "
                  f"p95 {p95(values) * 1000:7.1f} ms | vs /cases: median "
                  f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    for backend in (("sqlite", "postgresql") if args.backend == "both" else (args.backend,)):
        run(backend, args.cases, args.rounds)


if __name__ == "__main__":
    main()
