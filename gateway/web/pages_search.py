"""``/search?q=``: full-text search over the archived mail, as ``commgate search``: the
service records the search (query and filters, with the signed-in person) in the access log
before it asks the database. A reader with queue rights sees only hits of their queues; one
queue may be chosen as the search's own filter (then it is in the record too)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway.services.cases import CATEGORIES
from gateway.services.search import SearchResult, search_archive
from gateway.web.common import BadForm, render, state_of
from gateway.web.pages import signed_in
from gateway.web.rights import READ_CASES, require_queue

router = APIRouter()
HIT_LIMIT = 100


@router.get("/search")
def search(request: Request, q: str = "", alias: str = "", category: str = "") -> Response:
    user = signed_in(request, READ_CASES)
    if category not in ("", *CATEGORIES):
        raise BadForm("unknown category")
    if alias:
        require_queue(user, alias)
    result: SearchResult | None = None
    hits = []
    if q.strip():
        result = search_archive(state_of(request).ctx, actor=user.name, query=q.strip(),
                                alias=alias or None, category=category or None,
                                limit=HIT_LIMIT)
        hits = [hit for hit in result.hits if user.may_see(hit.alias)]
    queues = sorted(user.queues) if user.queues is not None else []
    return render(request, "search.html", {
        "q": q, "alias": alias, "category": category, "categories": CATEGORIES,
        "queues": queues, "result": result, "hits": hits, "limit": HIT_LIMIT})
