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
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Select,
    case,
    distinct,
    func,
    literal_column,
    select,
    true,
    union_all,
)
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
    until = now.astimezone(UTC).date()
    since = until - timedelta(days=days - 1)
    with ctx.db.session() as session:
        start = datetime.combine(since, time.min, tzinfo=UTC)
        first, resolution = _breach_counts(session, queues, now)
        triage_messages, triage_cases = _triage(session, queues)
        return Dashboard(
            since=since, until=until,
            new_cases=_new_cases(session, queues, since, days),
            first_response_breaches=first, resolution_breaches=resolution,
            overdue=_overdue(session, queues, now),
            open_reviews=_open_reviews(session, queues),
            triage_messages=triage_messages, triage_cases=triage_cases,
            confidence=_confidence(session, queues, start))


def _in_queues(session: Session, queues: frozenset[str] | None) -> ColumnElement[bool]:
    """SQL: the case is in one of ``queues`` (None: every queue).

    On SQLite tested on ``alias || ''``, which no index serves: every count here is driven by
    its own range index (opened_at, a due time, the waiting messages) that also holds the
    alias. Offered the plain column, SQLite (without ANALYZE statistics) prefers the alias
    index and reads all of a queue's cases once per day of the chart: 40 times slower with
    100,000 cases. PostgreSQL plans from its statistics and gets the column itself."""
    if queues is None:
        return true()
    sqlite = session.get_bind().dialect.name == "sqlite"
    return (Case.alias + "" if sqlite else Case.alias).in_(sorted(queues))


def _new_cases(session: Session, queues: frozenset[str] | None, since: date,
               days: int) -> tuple[DayCounts, ...]:
    # One range per day (UTC) over the index on opened_at, in one statement: no day function
    # on every row and no sort of a month of cases (a third of the time on SQLite), and the
    # day boundaries are the same on every backend. Cases merged into another stay counted:
    # each was a new case when it was opened.
    parts: list[Select[Any, str, int]] = []
    for offset in range(days):
        start = datetime.combine(since + timedelta(days=offset), time.min, tzinfo=UTC)
        parts.append(select(literal_column(str(offset)), Case.category, func.count())
                     .where(Case.opened_at >= start, Case.opened_at < start + timedelta(days=1),
                            _in_queues(session, queues))
                     .group_by(Case.category))
    counts: dict[int, dict[str, int]] = {}
    for offset, category, count in session.execute(union_all(*parts)).all():
        counts.setdefault(int(offset), {})[category] = int(count)
    return tuple(DayCounts(since + timedelta(days=offset),
                           {c: counts.get(offset, {}).get(c, 0) for c in CATEGORY_VALUES})
                 for offset in range(days))


def _breach_counts(session: Session, queues: frozenset[str] | None,
                   now: datetime) -> tuple[int, int]:
    # Two counts, not one with OR: each is a range over its own index (status, due time).
    first, resolution = (int(session.scalar(
        select(func.count()).select_from(Case)
        .where(Case.status.in_(ACTIVE), condition, _in_queues(session, queues))) or 0)
        for condition in (first_response_overdue(now), resolution_overdue(now)))
    return first, resolution


def _overdue(session: Session, queues: frozenset[str] | None,
             now: datetime) -> tuple[Overdue, ...]:
    found: list[Overdue] = []
    for breach, condition, due in (
            ("first_response", first_response_overdue(now), Case.first_response_due),
            ("resolution", resolution_overdue(now), Case.resolution_due)):
        rows = session.execute(
            select(Case.ref, Case.alias, due)
            .where(Case.status.in_(ACTIVE), condition, _in_queues(session, queues))
            .order_by(due, Case.id).limit(OVERDUE_SHOWN)).all()
        found += [Overdue(ref, alias, breach, when) for ref, alias, when in rows
                  if when is not None]
    found.sort(key=lambda item: item.due)
    return tuple(found[:OVERDUE_SHOWN])


def _open_reviews(session: Session, queues: frozenset[str] | None) -> dict[str, int]:
    query = select(Review.kind, func.count()).where(Review.status == "pending")
    if queues is not None:
        query = query.join(Case, Case.id == Review.case_id).where(_in_queues(session, queues))
    rows = session.execute(query.group_by(Review.kind)).all()
    return {kind: int(count) for kind, count in sorted(rows)}


def _triage(session: Session, queues: frozenset[str] | None) -> tuple[int, int]:
    """Triage backlog: customer messages waiting for a person (the triage page's queue), and
    the cases they are in."""
    query = (select(func.count(Message.id), func.count(distinct(Message.case_id)))
             .where(Message.needs_triage.is_(True)))
    if queues is not None:
        query = query.join(Case, Case.id == Message.case_id).where(
            _in_queues(session, queues))
    messages, cases = session.execute(query).one()
    return int(messages), int(cases)


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
