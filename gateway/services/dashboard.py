"""The numbers of the web application's dashboard: new cases per day and category, SLA
breaches, open reviews, the triage backlog and the classifier's confidence, each limited to
the reader's queues.

Every figure is one aggregate query (GROUP BY / COUNT in the database, never rows counted in
Python), so the page costs the same with 100 or 100,000 cases. A breach is what the
escalation counts (:func:`~gateway.workflows.lifecycle.first_response_overdue`,
:func:`~gateway.workflows.lifecycle.resolution_overdue` on an active case), so the dashboard
and the escalation mail never disagree. Nothing here is recorded: the dashboard shows counts,
no customer content.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, case, distinct, func, select, true
from sqlalchemy.orm import Session

from gateway.core.clock import utcnow
from gateway.db.models import CATEGORY_VALUES, Case, Message
from gateway.db.reviews import Review
from gateway.services.base import View
from gateway.workflows.lifecycle import ACTIVE, first_response_overdue, resolution_overdue

if TYPE_CHECKING:
    from gateway.core.context import Context

DAYS = 30
CONFIDENCE_BUCKETS = 10  # [0, 0.1), [0.1, 0.2) ... [0.9, 1.0]
OVERDUE_SHOWN = 20  # the most overdue cases listed by name; the counts cover all


@dataclasses.dataclass(frozen=True)
class DayCounts(View):
    """The cases opened on one day (UTC), per category."""

    day: date
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> Any:
        return {"day": self.day.isoformat(), **self.counts}


@dataclasses.dataclass(frozen=True)
class Overdue(View):
    """An active case past one of its due times."""

    ref: str
    alias: str
    breach: str  # first_response | resolution
    due: datetime


@dataclasses.dataclass(frozen=True)
class Dashboard(View):
    """What the dashboard shows. ``confidence[i]``: inbound messages filed in the period whose
    classification confidence lies in [i/10, (i+1)/10) (the last bucket includes 1.0)."""

    since: date
    until: date
    new_cases: tuple[DayCounts, ...]
    first_response_breaches: int
    resolution_breaches: int
    overdue: tuple[Overdue, ...]
    open_reviews: dict[str, int]
    triage_messages: int
    triage_cases: int
    confidence: tuple[int, ...]


def dashboard(ctx: Context, *, actor: str, queues: frozenset[str] | None,
              now: datetime | None = None, days: int = DAYS) -> Dashboard:
    """The dashboard of the cases in ``queues`` (None: every queue) over the last ``days``
    days up to ``now`` (today included)."""
    del actor  # counts only: nothing to record
    now = now or utcnow()
    until = now.date()
    since = until - timedelta(days=days - 1)
    with ctx.db.session() as session:
        dialect = session.get_bind().dialect.name
        start = datetime.combine(since, datetime.min.time(), tzinfo=now.tzinfo)
        first, resolution = _breach_counts(session, queues, now)
        return Dashboard(
            since=since, until=until,
            new_cases=_new_cases(session, queues, start, since, days, dialect),
            first_response_breaches=first, resolution_breaches=resolution,
            overdue=_overdue(session, queues, now),
            open_reviews=_open_reviews(session, queues),
            triage_messages=_count(session, queues, func.count(Message.id)),
            triage_cases=_count(session, queues, func.count(distinct(Message.case_id))),
            confidence=_confidence(session, queues, start))


def _in_queues(queues: frozenset[str] | None) -> ColumnElement[bool]:
    """SQL: the case is in one of ``queues`` (None: every queue)."""
    return true() if queues is None else Case.alias.in_(sorted(queues))


def _new_cases(session: Session, queues: frozenset[str] | None, start: datetime, since: date,
               days: int, dialect: str) -> tuple[DayCounts, ...]:
    # Cases merged into another stay counted: each was a new case when it was opened.
    day = (func.date(func.timezone("UTC", Case.opened_at)) if dialect == "postgresql"
           else func.date(Case.opened_at))
    rows = session.execute(
        select(day, Case.category, func.count())
        .where(Case.opened_at >= start, _in_queues(queues))
        .group_by(day, Case.category)).all()
    counts: dict[str, dict[str, int]] = {}
    for opened, category, count in rows:
        key = opened.isoformat() if isinstance(opened, date) else str(opened)[:10]
        counts.setdefault(key, {})[category] = int(count)
    result = []
    for offset in range(days):
        each = since + timedelta(days=offset)
        found = counts.get(each.isoformat(), {})
        result.append(DayCounts(each, {c: found.get(c, 0) for c in CATEGORY_VALUES}))
    return tuple(result)


def _breach_counts(session: Session, queues: frozenset[str] | None,
                   now: datetime) -> tuple[int, int]:
    row = session.execute(
        select(func.count(case((first_response_overdue(now), 1))),
               func.count(case((resolution_overdue(now), 1))))
        .where(Case.status.in_(ACTIVE), _in_queues(queues))).one()
    return int(row[0]), int(row[1])


def _overdue(session: Session, queues: frozenset[str] | None,
             now: datetime) -> tuple[Overdue, ...]:
    found: list[Overdue] = []
    for breach, condition, due in (
            ("first_response", first_response_overdue(now), Case.first_response_due),
            ("resolution", resolution_overdue(now), Case.resolution_due)):
        rows = session.execute(
            select(Case.ref, Case.alias, due)
            .where(Case.status.in_(ACTIVE), condition, _in_queues(queues))
            .order_by(due, Case.id).limit(OVERDUE_SHOWN)).all()
        found += [Overdue(ref, alias, breach, when) for ref, alias, when in rows
                  if when is not None]
    found.sort(key=lambda item: item.due)
    return tuple(found[:OVERDUE_SHOWN])


def _open_reviews(session: Session, queues: frozenset[str] | None) -> dict[str, int]:
    rows = session.execute(
        select(Review.kind, func.count()).join(Case, Case.id == Review.case_id)
        .where(Review.status == "pending", _in_queues(queues)).group_by(Review.kind)).all()
    return {kind: int(count) for kind, count in sorted(rows)}


def _count(session: Session, queues: frozenset[str] | None,
           what: ColumnElement[int]) -> int:
    """Triage backlog: customer messages waiting for a person (the triage page's queue)."""
    return int(session.scalar(
        select(what).join(Case, Case.id == Message.case_id)
        .where(Message.needs_triage.is_(True), _in_queues(queues))) or 0)


def _confidence(session: Session, queues: frozenset[str] | None,
                start: datetime) -> tuple[int, ...]:
    bucket = case(*((Message.confidence < (i + 1) / CONFIDENCE_BUCKETS, i)
                    for i in range(CONFIDENCE_BUCKETS - 1)), else_=CONFIDENCE_BUCKETS - 1)
    query = (select(bucket, func.count()).where(Message.direction == "inbound",
                                                Message.filed_at >= start)
             .group_by(bucket))
    if queues is not None:
        query = query.where(Message.alias.in_(sorted(queues)))
    counts: dict[int, int] = {int(b): int(n) for b, n in session.execute(query).all()}
    return tuple(int(counts.get(i, 0)) for i in range(CONFIDENCE_BUCKETS))
