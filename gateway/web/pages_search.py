"""``/search?q=``: full-text search over the archived mail, as ``commgate search``: the
service records the search (query and filters, with the signed-in person) in the access log
before it asks the database. A reader with queue rights sees only hits of their queues; one
queue may be chosen as the search's own filter (then it is in the record too). Dates narrow the
hits as ``--since/--until --by`` do: by when the archive received the mail, or by its own Date
header (sent), for imported history."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from gateway.services.cases import CATEGORIES
from gateway.services.search import DATE_BASES, SearchResult, search_archive
from gateway.web.common import BadForm, render, state_of
from gateway.web.pages import signed_in
from gateway.web.rights import READ_CASES, require_queue

router = APIRouter()
HIT_LIMIT = 100


def _day(text: str, name: str) -> datetime | None:
    """A day (YYYY-MM-DD, UTC) as ``commgate search`` reads ``--since``/``--until``."""
    if not text.strip():
        return None
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)
    except ValueError:
        raise BadForm(f"{name}: expected a date like 2026-11-30, got {text!r}") from None


@router.get("/search")
def search(request: Request, q: str = "", alias: str = "", category: str = "",
           since: str = "", until: str = "", by: str = "received") -> Response:
    user = signed_in(request, READ_CASES)
    if category not in ("", *CATEGORIES):
        raise BadForm("unknown category")
    if by not in DATE_BASES:
        raise BadForm("dates filter by received or sent")
    period = _day(since, "from"), _day(until, "before")
    if alias:
        require_queue(user, alias)
    result: SearchResult | None = None
    hits = []
    if q.strip():
        result = search_archive(state_of(request).ctx, actor=user.name, query=q.strip(),
                                alias=alias or None, category=category or None,
                                since=period[0], until=period[1], by=by, limit=HIT_LIMIT)
        hits = [hit for hit in result.hits if user.may_see(hit.alias)]
    queues = sorted(user.queues) if user.queues is not None else []
    return render(request, "search.html", {
        "q": q, "alias": alias, "category": category, "categories": CATEGORIES,
        "since": since, "until": until, "by": by, "date_bases": DATE_BASES,
        "queues": queues, "result": result, "hits": hits, "limit": HIT_LIMIT})
