"""Read models: cases, messages and quarantine as plain JSON-ready dicts (CLI and web UI)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.core.errors import CaseNotFoundError
from gateway.core.text import iso
from gateway.db.models import Case, CaseEvent, LedgerReceipt, Message, QuarantineEntry
from gateway.workflows import lifecycle, merging, notes, retention, reviews
from gateway.workflows import property as property_register
from gateway.workflows.outbound import queue as outbound


def case_summary(case: Case, message_count: int) -> dict[str, Any]:
    return {
        "ref": case.ref,
        "category": case.category,
        "status": case.status,
        "scope_change": case.scope_change,
        "opened_at": iso(case.opened_at),
        "updated_at": iso(case.updated_at),
        "alias": case.alias,
        "customer": case.customer,
        "subject": case.subject,
        "message_count": message_count,
    }


def message_view(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,  # what 'order accept --message', 'cases split --message' take
        "sha256": message.sha256,
        "message_id": message.message_id,
        "from": message.from_addr,
        "from_name": message.from_name,
        "to": message.to_addrs,
        "subject": message.subject,
        "date": iso(message.date),  # the Date header: when the sender says it was sent
        "filed_at": iso(message.filed_at),  # when the archive received it
        "category": message.category,
        "scope_change": message.scope_change,
        "direction": message.direction,
        "alias": message.alias,
        "language": message.language,
        "confidence": message.confidence,
        "needs_triage": message.needs_triage,
        "identifiers": message.identifiers,
        "evidence": message.evidence,
        "rules_version": message.rules_version,
        "thread_rule": message.thread_rule,
        "attachments": message.attachments,
        "defects": message.defects,
        "snippet": message.snippet,
        "seq": message.first_seq,
    }


def event_view(event: CaseEvent) -> dict[str, Any]:
    return {"at": iso(event.at), "actor": event.actor, "claimed_as": event.claimed_as,
            "kind": event.kind, "data": event.data}


def list_cases(session: Session, status: str | None = None, category: str | None = None
               ) -> list[dict[str, Any]]:
    counts = (select(Message.case_id, func.count().label("n")).group_by(Message.case_id)
              .subquery())
    query = (select(Case, func.coalesce(counts.c.n, 0))
             .outerjoin(counts, counts.c.case_id == Case.id).order_by(Case.id))
    if status:
        query = query.where(Case.status == status)
    if category:
        query = query.where(Case.category == category)
    return [case_summary(case, count) for case, count in session.execute(query)]


def show_case(session: Session, ref: str) -> dict[str, Any]:
    # References are upper case (case_prefix and digits): compared as stored, the unique
    # index finds the case instead of a scan of upper(ref) over every case.
    case = session.scalar(select(Case).where(Case.ref == ref.strip().upper()))
    if case is None:
        raise CaseNotFoundError(f"no case {ref!r}; 'commgate cases list' shows the references")
    messages = [message_view(m) for m in case.messages]
    view = case_summary(case, len(messages))
    view["messages"] = messages
    view["events"] = [event_view(e) for e in case.events]
    for section, details in _workflow_details():
        view[section] = details(session, case)
    view["holds"] = retention.holds_covering(session, [case])[case.id]
    return view


def _workflow_details() -> list[tuple[str, Any]]:
    """Each workflow's part of a case."""
    return [("lifecycle", lifecycle.details_for_case), ("links", merging.details_for_case),
            ("order", reviews.details_for_case), ("property", property_register.details_for_case),
            ("outbound", outbound.details_for_case), ("notes", notes.details_for_case)]


def list_quarantine(session: Session, include_resolved: bool = False) -> list[dict[str, Any]]:
    query = (select(QuarantineEntry, LedgerReceipt)
             .join(LedgerReceipt, LedgerReceipt.seq == QuarantineEntry.seq)
             .order_by(QuarantineEntry.seq))
    if not include_resolved:
        query = query.where(LedgerReceipt.status == "quarantined")
    return [{
        "seq": entry.seq,
        "sha256": entry.sha256,
        "stage": entry.stage,
        "reason": entry.reason,
        "at": iso(entry.created_at),
        "attempts": entry.attempts,
        "alias": receipt.alias,
        "transport": receipt.transport,
        "envelope": receipt.envelope,
    } for entry, receipt in session.execute(query)]


@dataclass(frozen=True)
class CaseFilter:
    """What the case list of the web application is narrowed to. ``queues`` is the set of
    aliases the reader may see (None: every queue); ``refs`` the cases a full-text search
    found (None: no search); ``overdue_at`` keeps the cases overdue at that time (the
    lifecycle's definition, the one escalation uses)."""

    status: str | None = None
    category: str | None = None
    alias: str | None = None
    review_required: bool | None = None
    customer: str | None = None
    owner_role: str | None = None
    overdue_at: datetime | None = None
    queues: frozenset[str] | None = None
    refs: frozenset[str] | None = None


def page_cases(session: Session, where: CaseFilter, *, before_id: int | None = None,
               limit: int = 50) -> tuple[list[dict[str, Any]], int | None]:
    """One page of cases, newest first, and the id to pass as ``before_id`` for the next page
    (None on the last). Keyset paging on the primary key: page 2,000 costs what page 1 does."""
    query = _filtered_cases(select(Case), where).order_by(Case.id.desc()).limit(limit + 1)
    if before_id is not None:
        query = query.where(Case.id < before_id)
    cases = list(session.scalars(query))
    more = len(cases) > limit
    cases = cases[:limit]
    counts: dict[int, int] = {}
    if cases:
        counts = {case_id: count for case_id, count in session.execute(
            select(Message.case_id, func.count())
            .where(Message.case_id.in_([c.id for c in cases])).group_by(Message.case_id))}
    rows = [case_summary(case, counts.get(case.id, 0)) for case in cases]
    return rows, (cases[-1].id if more else None)


def queue_counts(session: Session, queues: frozenset[str] | None) -> dict[str, dict[str, int]]:
    """Per alias (queue): how many cases wait in each active status (new, open, waiting).
    Resolved and closed cases are left out: they grow for ever, the open work does not, so
    this reads only the active part of the (status, alias) index."""
    query = (select(Case.alias, Case.status, func.count())
             .where(Case.status.in_(lifecycle.ACTIVE)).group_by(Case.alias, Case.status))
    if queues is not None:
        query = query.where(Case.alias.in_(sorted(queues)))
    counts: dict[str, dict[str, int]] = {}
    for alias, status, count in session.execute(query):
        counts.setdefault(alias, {})[status] = count
    return counts


def _filtered_cases(query: Any, where: CaseFilter) -> Any:
    if where.status:
        query = query.where(Case.status == where.status)
    if where.category:
        query = query.where(Case.category == where.category)
    if where.alias:
        query = query.where(Case.alias == where.alias.lower())
    if where.review_required is not None:
        query = query.where(Case.review_required == where.review_required)
    if where.customer:
        wanted = where.customer.strip().lower()
        query = query.where(Case.customer == wanted if "@" in wanted
                            else Case.customer_domain == wanted)
    if where.owner_role:
        query = query.where(Case.owner_role == where.owner_role.strip())
    if where.overdue_at is not None:
        query = query.where(lifecycle.overdue_at(where.overdue_at))
    if where.queues is not None:
        query = query.where(Case.alias.in_(sorted(where.queues)))
    if where.refs is not None:
        query = query.where(Case.ref.in_(sorted(where.refs)))
    return query
