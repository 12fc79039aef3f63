"""The dashboard: new cases per day and category, SLA breaches, open reviews, the triage
backlog and the confidence of the classification, for the reader's queues only, drawn as
inline SVG. Every expected number is computed here from the cases and messages the test filed
(read back through another path than the dashboard's queries)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from gateway.bootstrap import App
from gateway.db.models import Message
from gateway.services.cases import classify_case, list_cases, show_case
from gateway.services.dashboard import CONFIDENCE_BUCKETS, dashboard
from gateway.web import charts
from tests.support.mail import make_message
from tests.support.triage import UNDECIDED
from tests.support.web import file_mail, signed_in

SALES, SUPPORT = "sales@northpoint.example", "support@northpoint.example"
COMPLAINT = ("Hello,\nthis is a formal complaint: the bearings arrived damaged, unacceptable."
             "\nAnna")
# Enquiries: a first response is due at once (overdue by the time anyone looks), resolution
# in six weeks; complaints: resolution due at once. 1e-6 hours is 3.6 ms after filing.
TARGETS = """
[lifecycle]
[[lifecycle.targets]]
category = "enquiry"
first_response_hours = 0.000001
resolution_hours = 1000

[[lifecycle.targets]]
category = "feedback"
resolution_hours = 0.000001
"""


@pytest.fixture
def lc_app(home):
    config = home / "commgate.toml"
    config.write_text(config.read_text() + TARGETS)
    application = App.open(home)
    yield application
    application.close()


@pytest.fixture
def filed(lc_app, tmp_path):
    """Enquiries and a complaint to sales, an enquiry to support, a message no rule decides
    (to sales, in triage) and a scope-change review opened on one sales enquiry."""
    file_mail(lc_app, tmp_path / "a",
              make_message(subject="Quote for 20 pump housings"),
              make_message(subject="Quote for 5 valves", sender="bob@buyer.example"),
              make_message(subject="Damaged bearings", body=COMPLAINT,
                           sender="carl@other.example"),
              make_message(subject="Question about an invoice", to=SUPPORT,
                           sender="dora@fourth.example"),
              make_message(**UNDECIDED, sender="erin@fifth.example"))
    refs = [c.ref for c in list_cases(lc_app, actor="test").items]
    first_sales = next(r for r in refs if show_case(lc_app, actor="test", ref=r).alias == SALES)
    classify_case(lc_app, actor="test", ref=first_sales, category="order", scope_change=True)
    return refs


def expected(app: App, refs: list[str], queues: set[str], now: datetime) -> dict:
    """The dashboard's numbers, worked out case by case from what ``cases show`` says."""
    cases = [show_case(app, actor="test", ref=r) for r in refs]
    cases = [c for c in cases if c.alias in queues]
    per_day: dict[tuple[str, str], int] = {}
    first = resolution = 0
    for c in cases:
        key = (c.opened_at[:10], c.category)
        per_day[key] = per_day.get(key, 0) + 1
        life = c.lifecycle
        active = c.status in ("new", "open", "waiting")
        if active and life["first_response_due"] and not life["first_response_at"] and \
                datetime.fromisoformat(life["first_response_due"]) <= now:
            first += 1
        if active and life["resolution_due"] and \
                datetime.fromisoformat(life["resolution_due"]) <= now:
            resolution += 1
    triage = [e for e in list_cases(app, actor="test", triage_only=True).items
              if e.alias in queues]
    with app.db.session() as session:
        confidences = [c for c, alias in session.execute(
            select(Message.confidence, Message.alias).where(Message.direction == "inbound"))
            if alias in queues]
    buckets = [0] * CONFIDENCE_BUCKETS
    for value in confidences:
        buckets[min(int(value * CONFIDENCE_BUCKETS), CONFIDENCE_BUCKETS - 1)] += 1
    return {"per_day": per_day, "first": first, "resolution": resolution,
            "triage_messages": sum(len(e.waiting) for e in triage),
            "triage_cases": len(triage), "confidence": buckets}


def test_the_dashboard_needs_a_session(client):
    answer = client.get("/dashboard")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_the_numbers_are_those_of_the_readers_queues(lc_app, filed):
    now = datetime.now(UTC)
    for queues in ({SALES}, {SALES, SUPPORT}):
        want = expected(lc_app, filed, queues, now)
        board = dashboard(lc_app, actor="test", queues=frozenset(queues), now=now)
        got = {(d.day.isoformat(), c): n for d in board.new_cases
               for c, n in d.counts.items() if n}
        assert got == want["per_day"]
        assert sum(got.values()) == len([r for r in filed if show_case(
            lc_app, actor="test", ref=r).alias in queues])
        assert (board.first_response_breaches, board.resolution_breaches) == (
            want["first"], want["resolution"])
        assert want["first"] >= 1 and want["resolution"] == 1  # the data exercise both
        assert {o.ref for o in board.overdue} <= set(filed)
        assert (board.triage_messages, board.triage_cases) == (
            want["triage_messages"], want["triage_cases"])
        assert board.triage_cases == 1
        assert board.confidence == tuple(want["confidence"])
        assert sum(board.confidence) == len([r for r in filed if show_case(
            lc_app, actor="test", ref=r).alias in queues])
        assert board.open_reviews == {"scope-change": 1}
    # Another queue sees none of it.
    board = dashboard(lc_app, actor="test", queues=frozenset({"returns@northpoint.example"}))
    assert sum(d.total for d in board.new_cases) == 0 and board.open_reviews == {}
    assert (board.first_response_breaches, board.triage_messages) == (0, 0)


def test_the_page_shows_the_readers_numbers_and_charts(lc_app, filed):
    with signed_in(lc_app, "sam", "staff", SUPPORT) as sam:
        page = sam.get("/dashboard")
        assert page.status_code == 200
        want = expected(lc_app, filed, {SUPPORT}, datetime.now(UTC))
        assert _figure(page.text, "breach-first-response") == str(want["first"])
        assert _figure(page.text, "breach-resolution") == "0"
        assert _figure(page.text, "open-reviews") == "0"
        assert _figure(page.text, "triage-backlog").startswith("0 message(s)")
        # Two charts, inline SVG, no script and no style attribute (the CSP allows neither).
        assert page.text.count("<svg class=\"chart") == 2
        assert "<script" not in page.text and "style=" not in page.text
        sales_refs = [r for r in filed if show_case(lc_app, actor="test", ref=r).alias == SALES]
        assert not any(f">{r}<" in page.text for r in sales_refs)
    with signed_in(lc_app, "ada", "admin") as ada:
        page = ada.get("/dashboard")
        want = expected(lc_app, filed, {SALES, SUPPORT}, datetime.now(UTC))
        assert _figure(page.text, "open-reviews").startswith("1 (scope-change 1)")
        assert _figure(page.text, "breach-resolution") == str(want["resolution"])
        totals = [int(n) for n in re.findall(r"<td>(\d+)</td></tr>", _table(page.text,
                                                                             "new-cases"))]
        assert sum(totals) == len(filed)


def _figure(html: str, name: str) -> str:
    found = re.search(rf'<dd id="{name}">(.*?)</dd>', html, re.S)
    assert found, name
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def _table(html: str, name: str) -> str:
    return html.split(f'class="cases {name}"', 1)[1].split("</table>", 1)[0]


def test_chart_labels_are_escaped_and_the_svg_has_no_style_or_script():
    hostile = "<script>alert(1)</script>"
    for svg in (charts.stacked_bars(hostile, [hostile, "b"], [hostile], [[2], [1]]),
                charts.bars(hostile, [hostile], [3])):
        assert hostile not in svg and "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
        assert "<script" not in svg and "style=" not in svg
        assert svg.startswith("<svg") and svg.endswith("</svg>")
    # Bar heights follow the numbers: 2 is twice as tall as 1.
    svg = charts.bars("t", ["a", "b"], [2, 1])
    heights = [float(h) for h in re.findall(r'<rect class="bar"[^>]* height="([\d.]+)"', svg)]
    assert heights[0] == pytest.approx(2 * heights[1])
