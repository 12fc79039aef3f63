"""Full-text search over archived mail: subject, participants and body text.

SQLite uses an FTS5 table (rowid = message id); PostgreSQL a ``tsvector`` column with a GIN
index and the language-neutral ``simple`` configuration (customer mail arrives in many
languages, and stemming in the wrong one loses more than it finds). Both index the same text,
taken from the parsed message at filing time, and both match every word of the query (a
``"quoted phrase"`` as a phrase, ``word*`` as a prefix). Results are newest first; the filters
(alias, category, case, customer domain or address, date range) are ordinary indexed columns.

Search hits carry message content (subject, sender, snippet), so :func:`search` hands them out
only against the access record of that very query (``gateway.services.search`` records and
searches in one step); :func:`matching_messages` gives the legal hold check message ids only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, literal_column, select, text
from sqlalchemy.orm import Session

from gateway.core.errors import SearchQueryError as SearchQueryError  # re-exported
from gateway.core.text import iso, without_nul
from gateway.db.models import Case, Message
from gateway.processing.parsing import ParsedMessage, parse_message

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.core.context import Context
    from gateway.processing.hooks import FiledMessage
    from gateway.workflows.access_log import RecordedAccess

MAX_BODY_CHARS = 200_000
_FIRST_PAGE, _MAX_PAGE = 200, 20_000
MIN_PREFIX = 3
_NARROW = 5_000  # at most this many candidates: filter first, then match
_TERM = re.compile(r'"([^"]*)"|(\S+)')
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # more than one: a phrase
    prefix: bool = False


DATE_BASES = ("received", "sent")  # the archive's filing time, or the message's Date header


@dataclass(frozen=True)
class Filters:
    alias: str | None = None
    category: str | None = None
    case_ref: str | None = None
    customer: str | None = None  # an address, or a domain
    since: datetime | None = None
    until: datetime | None = None
    by: str = "received"  # which date since/until filter: one of DATE_BASES


def parse_query(query: str) -> list[Term]:
    """Words, ``"phrases"`` and ``prefix*`` terms; everything else is treated as plain text,
    so no input can produce a syntax error in either database's query language."""
    terms = []
    for phrase, word in _TERM.findall(query):
        words = tuple(words_of(phrase or word))
        if words:
            # A prefix needs MIN_PREFIX characters: "a*" would match half the archive.
            prefix = (bool(word) and word.endswith("*") and len(words) == 1
                      and len(words[0]) >= MIN_PREFIX)
            terms.append(Term(words, prefix=prefix))
    if not terms:
        raise SearchQueryError(f"nothing to search for in {query!r}: give at least one word")
    return terms


def _fts5_query(terms: Sequence[Term]) -> str:
    parts = []
    for term in terms:
        quoted = '"' + " ".join(term.words) + '"'
        parts.append(quoted + ("*" if term.prefix else ""))
    return " AND ".join(parts)


def _tsquery(terms: Sequence[Term]) -> str:
    parts = []
    for term in terms:
        words = [w.replace("'", "''") for w in term.words]
        if term.prefix:
            parts.append(f"'{words[0]}':*")
        else:
            parts.append("(" + " <-> ".join(f"'{w}'" for w in words) + ")")
    return " & ".join(parts)


def words_of(value: str) -> list[str]:
    """Lower-case words with accents folded: the same tokens on both backends, whatever their
    own parsers would make of addresses, hyphens or URLs."""
    if not value.isascii():
        value = _NON_ASCII.sub(_fold_run, unicodedata.normalize("NFKD", value))
    return _WORD.findall(value.lower())


# Runs of characters beyond ASCII: only they can be combining marks, so only they go through
# the table, whose per-character lookup costs several times the run search (most mail is
# ASCII but for a few quotes, dashes or accented letters; 0.04 ms less per filed message).
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _fold_run(run: re.Match[str]) -> str:
    return run.group().translate(_FOLD)


class _AccentFold(dict[int, int | None]):
    """``str.translate`` table that drops combining marks (what NFKD splits off an accented
    letter) and keeps every other character: each code point is looked up with
    ``unicodedata.combining`` once, then answered from the table. The same text as testing
    each character in Python, for a fifth of its cost (it ran over every filed body)."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


_FOLD = _AccentFold()


def document_of(subject: str, participants: Iterable[str], body: str) -> dict[str, str]:
    return {"subject": " ".join(words_of(subject)),
            "participants": " ".join(w for p in participants for w in words_of(p)),
            "body": " ".join(words_of(body[:MAX_BODY_CHARS]))}


def index_messages(session: Session, rows: Sequence[tuple[int, dict[str, str]]]) -> None:
    """Add (message id, document) pairs to the index."""
    if not rows:
        return
    params = [{"id": pk, **doc} for pk, doc in rows]
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("INSERT INTO message_search(rowid, subject, participants, body) "
                             "VALUES (:id, :subject, :participants, :body)"), params)
        return
    session.execute(text(
        "INSERT INTO message_search(message_pk, document) VALUES (:id, "
        "setweight(to_tsvector('simple', :subject), 'A') || "
        "setweight(to_tsvector('simple', :participants), 'B') || "
        "setweight(to_tsvector('simple', :body), 'C')) "
        "ON CONFLICT (message_pk) DO NOTHING"), params)


def unindex_messages(session: Session, message_pks: Sequence[int]) -> None:
    """Remove messages from the index (retention expiry)."""
    if not message_pks:
        return
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("DELETE FROM message_search WHERE rowid IN :ids")
                        .bindparams(bindparam("ids", expanding=True)), {"ids": list(message_pks)})
        return
    session.execute(text("DELETE FROM message_search WHERE message_pk IN :ids")
                    .bindparams(bindparam("ids", expanding=True)), {"ids": list(message_pks)})


def on_filed(session: Session, settings: Settings, filed: Sequence[FiledMessage]) -> None:
    """Index every message as it is filed, in the filing transaction."""
    index_messages(session, [(item.message_pk, without_nul(_document(item.parsed)))
                             for item in filed])


def _document(parsed: ParsedMessage) -> dict[str, str]:
    participants = [parsed.from_addr, parsed.from_name,
                    *(a.addr for a in parsed.to), *(a.addr for a in parsed.cc)]
    body = parsed.text + "\n" + " ".join(a.filename for a in parsed.attachments)
    return document_of(parsed.subject, participants, body)


def search(session: Session, query: str, filters: Filters | None = None,
           limit: int = 50, *, access: RecordedAccess) -> list[dict[str, Any]]:
    """Messages matching every term of ``query`` and the filters, newest first; ``access`` is
    the access-log record of this query."""
    access.require("search", query=query)
    return _hits(session, query, filters, limit)


def matching_messages(session: Session, query: str, limit: int,
                      filters: Filters | None = None) -> set[int]:
    """The ids of the messages ``query`` matches (no content: for the legal hold check)."""
    return {hit["message"] for hit in _hits(session, query, filters, limit)}


def _hits(session: Session, query: str, filters: Filters | None,
          limit: int) -> list[dict[str, Any]]:
    terms = parse_query(query)
    filters = filters or Filters()
    if session.get_bind().dialect.name == "sqlite":
        return _search_sqlite(session, _fts5_query(terms), filters, limit)
    hits = (select(literal_column("message_pk").label("pk"))
            .select_from(text("message_search"))
            .where(text("document @@ to_tsquery('simple', :q)"))).subquery("hits")
    statement = (select(*_HIT_COLUMNS).join(hits, hits.c.pk == Message.id)
                 .join(Case, Case.id == Message.case_id))
    statement = _filtered(statement, filters).order_by(Message.id.desc()).limit(limit)
    return [_hit(row) for row in session.execute(statement, {"q": _tsquery(terms)})]


def _search_sqlite(session: Session, fts_query: str, filters: Filters,
                   limit: int) -> list[dict[str, Any]]:
    """FTS5 yields matches newest first (descending rowid) cheaply; the filters are checked a
    page of matches at a time, so a common word costs one small page instead of sorting every
    match, and the page grows when the filters reject most of it."""
    if filters.case_ref or filters.customer:
        narrowed = _search_within_filter(session, fts_query, filters, limit)
        if narrowed is not None:
            return narrowed
    hits: list[dict[str, Any]] = []
    before, page = None, _FIRST_PAGE
    while len(hits) < limit:
        bound = "" if before is None else " AND rowid < :before"
        ids = list(session.scalars(text(
            f"SELECT rowid FROM message_search WHERE message_search MATCH :q{bound} "
            "ORDER BY rowid DESC LIMIT :page"), {"q": fts_query, "before": before,
                                                 "page": page}))
        if not ids:
            break
        statement = (select(*_HIT_COLUMNS).join(Case, Case.id == Message.case_id)
                     .where(Message.id.in_(ids)))
        statement = (_filtered(statement, filters).order_by(Message.id.desc())
                     .limit(limit - len(hits)))
        hits += [_hit(row) for row in session.execute(statement)]
        if len(ids) < page:
            break
        before, page = ids[-1], min(page * 4, _MAX_PAGE)
    return hits[:limit]


def _filtered(statement: Any, filters: Filters) -> Any:
    if filters.alias:
        statement = statement.where(Message.alias == filters.alias.lower())
    if filters.category:
        statement = statement.where(Message.category == filters.category)
    if filters.case_ref:
        statement = statement.where(Case.ref == filters.case_ref.upper())
    if filters.customer:
        customer = filters.customer.lower()
        statement = statement.where(
            Case.customer == customer if "@" in customer else Case.customer_domain == customer)
    # Imported history is filed at import time: its chronology is in the Date header.
    when = Message.date if filters.by == "sent" else Message.filed_at
    if filters.since:
        statement = statement.where(when >= filters.since)
    if filters.until:
        statement = statement.where(when < filters.until)
    return statement


def _search_within_filter(session: Session, fts_query: str, filters: Filters,
                          limit: int) -> list[dict[str, Any]] | None:
    """A case or a customer narrows the mail to a few messages: take them from the indexes and
    ask FTS5 about those rowids only (one doclist seek each). None when the filter is broad."""
    statement = select(Message.id).join(Case, Case.id == Message.case_id)
    candidates = list(session.scalars(_filtered(statement, filters)
                                      .order_by(Message.id.desc()).limit(_NARROW + 1)))
    if len(candidates) > _NARROW:
        return None
    matched: list[int] = []
    for start in range(0, len(candidates), 500):
        chunk = candidates[start:start + 500]
        matched += session.scalars(
            text("SELECT rowid FROM message_search WHERE message_search MATCH :q "
                 "AND rowid IN :ids").bindparams(bindparam("ids", expanding=True)),
            {"q": fts_query, "ids": chunk})
    chosen = sorted(matched, reverse=True)[:limit]
    if not chosen:
        return []
    rows = session.execute(select(*_HIT_COLUMNS).join(Case, Case.id == Message.case_id)
                           .where(Message.id.in_(chosen)).order_by(Message.id.desc()))
    return [_hit(row) for row in rows]


_HIT_COLUMNS = (Message.id, Case.ref, Message.sha256, Message.alias, Message.category,
                Message.from_addr, Message.subject, Message.date, Message.filed_at,
                Message.snippet)


def _hit(row: Any) -> dict[str, Any]:
    return {"message": row.id, "case": row.ref, "sha256": row.sha256, "alias": row.alias,
            "category": row.category, "from": row.from_addr, "subject": row.subject,
            "date": iso(row.date), "filed_at": iso(row.filed_at), "snippet": row.snippet[:200]}


def reindex(app: Context, chunk: int = 500) -> int:
    """Rebuild the whole index from the archived bytes (after an upgrade or a restore)."""
    count, last = 0, 0
    with app.db.session() as session:
        session.execute(text("DELETE FROM message_search"))
    while True:
        with app.db.session() as session:
            batch = session.execute(select(Message.id, Message.sha256).where(Message.id > last)
                                    .order_by(Message.id).limit(chunk)).all()
            if not batch:
                return count
            rows = []
            for pk, sha256 in batch:
                if not app.archive.blobs.exists(sha256):
                    continue  # expired under retention: only its tombstone remains
                parsed = parse_message(app.archive.read(sha256))
                rows.append((pk, without_nul(_document(parsed))))
            index_messages(session, rows)
            count += len(rows)
            last = batch[-1][0]
