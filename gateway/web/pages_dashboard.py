"""``/dashboard``: new cases per day and category over the last 30 days, SLA breaches, open
reviews, the triage backlog and the classifier's confidence, for the reader's queues. The
numbers come from :func:`gateway.services.dashboard.dashboard` (aggregated in the database);
the charts are inline SVG drawn here (:mod:`gateway.web.charts`), with the same numbers in
tables beside them."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway.services.cases import CATEGORIES
from gateway.services.dashboard import CONFIDENCE_BUCKETS, dashboard
from gateway.web import charts
from gateway.web.common import render, state_of
from gateway.web.pages import signed_in
from gateway.web.rights import READ_CASES

router = APIRouter()


@router.get("/dashboard")
def show_dashboard(request: Request) -> Response:
    user = signed_in(request, READ_CASES)
    board = dashboard(state_of(request).ctx, actor=user.name, queues=user.queues)
    days = [d.day.strftime("%m-%d") for d in board.new_cases]
    buckets = [f"{i / CONFIDENCE_BUCKETS:.1f}" for i in range(CONFIDENCE_BUCKETS)]
    return render(request, "dashboard.html", {
        "board": board, "categories": CATEGORIES, "buckets": buckets,
        "new_cases_chart": charts.stacked_bars(
            "New cases per day and category", days, CATEGORIES,
            [[d.counts[c] for c in CATEGORIES] for d in board.new_cases]),
        "confidence_chart": charts.bars(
            "Classification confidence of inbound messages", buckets, board.confidence)})
