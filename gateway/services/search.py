"""Searching the archive: the access record first, then the hits (``commgate search``).

A search hands out message content (subject, sender, snippet), so it is recorded in the access
log with the query and the filters before the database is asked; ``gateway.workflows.search.search``
refuses to run without that record, so this module is the way to search.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.core.errors import GatewayError
from gateway.services.base import View
from gateway.workflows.access_log import record_access
from gateway.workflows.search import DATE_BASES as DATE_BASES
from gateway.workflows.search import Filters, reindex, search

if TYPE_CHECKING:
    from gateway.core.context import Context


@dataclass(frozen=True)
class SearchHit(View):
    message: int
    case: str
    sha256: str
    alias: str
    category: str
    sender: str
    subject: str
    date: str | None
    filed_at: str | None
    snippet: str

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "case": self.case, "sha256": self.sha256,
                "alias": self.alias, "category": self.category, "from": self.sender,
                "subject": self.subject, "date": self.date, "filed_at": self.filed_at,
                "snippet": self.snippet}


@dataclass(frozen=True)
class SearchResult(View):
    """The hits, newest first, and the ledger seq of the access record of this search."""

    query: str
    hits: tuple[SearchHit, ...]
    access_seq: int

    def to_json(self) -> list[dict[str, Any]]:
        return [hit.to_json() for hit in self.hits]


@dataclass(frozen=True)
class IndexRebuilt(View):
    indexed: int


def search_archive(ctx: Context, *, actor: str, query: str, alias: str | None = None,
                   category: str | None = None, case_ref: str | None = None,
                   customer: str | None = None, since: datetime | None = None,
                   until: datetime | None = None, by: str = "received",
                   limit: int = 50) -> SearchResult:
    """Record the search in the access log, then run it. ``by`` says which date ``since`` and
    ``until`` filter: ``received`` (filed in the archive) or ``sent`` (the Date header)."""
    if not query:
        raise GatewayError("give a search query (or --rebuild-index)")
    if by not in DATE_BASES:
        raise GatewayError(f"dates filter by one of {', '.join(DATE_BASES)}, not {by!r}")
    filters = Filters(alias=alias, category=category, case_ref=case_ref, customer=customer,
                      since=since, until=until, by=by)
    access = record_access(ctx, actor, "search", {"query": query, "filters": asdict(filters)})
    with ctx.db.session() as session:
        rows = search(session, query, filters, limit=limit, access=access)
    return SearchResult(query, tuple(_hit(row) for row in rows), access.seq)


def rebuild_index(ctx: Context, *, actor: str) -> IndexRebuilt:
    """Re-read every archived message into the index; it hands nothing out, so no record
    (``actor`` is taken for the common shape of the services)."""
    del actor
    return IndexRebuilt(reindex(ctx))


def _hit(row: dict[str, Any]) -> SearchHit:
    return SearchHit(message=row["message"], case=row["case"], sha256=row["sha256"],
                     alias=row["alias"], category=row["category"], sender=row["from"],
                     subject=row["subject"], date=row["date"], filed_at=row["filed_at"],
                     snippet=row["snippet"])
