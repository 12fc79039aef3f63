"""Recording what happens to a case: every staff or system action is one append-only
:class:`~gateway.db.models.CaseEvent` with who, when and what. Workflow modules use these helpers
so every action is recorded the same way."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session

from gateway.core.clock import utcnow
from gateway.core.errors import CaseNotFoundError
from gateway.db.models import Case, CaseEvent

SYSTEM = "system"
_IN_CHUNK = 5000
_FAMILIES = "commgate.case_families"


def case_by_ref(session: Session, ref: str, *, for_update: bool = False) -> Case:
    query = select(Case).where(Case.ref == ref.strip().upper())
    if for_update:
        query = query.with_for_update()
    case = session.scalars(query).one_or_none()
    if case is None:
        raise CaseNotFoundError(f"no case {ref!r}: check the reference with 'commgate cases list'")
    return case


def cases_by_id(session: Session, ids: Iterable[int]) -> dict[int, Case]:
    """The cases of a filed batch in one query (the filing hooks used to load them one by one).

    Refreshed from the database: the pipeline writes cases with bulk statements that bypass
    the copies the session may hold."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {case.id: case for case in session.scalars(
        select(Case).where(Case.id.in_(wanted)).execution_options(populate_existing=True))}


def case_family(session: Session, case: Case) -> list[int]:
    """The case and every case merged into it (directly or in a chain), the case first.

    Workflow records (reviews, checklists, order decisions, property, feedback) keep the case
    they were filed on, so a merge stays reversible and the audit trail true; the surviving case
    reads them through its family instead of having them re-pointed."""
    return case_families(session, [case.id])[case.id]


def case_families(session: Session, case_ids: Iterable[int]) -> dict[int, list[int]]:
    """:func:`case_family` for many cases at once, one query per level of merge chain (the
    filing hooks ask for a whole batch). Each case gets its whole family, even when another
    of the cases asked about is part of it."""
    wanted = list(dict.fromkeys(case_ids))
    known = _known_families(session)
    missing = [case_id for case_id in wanted if case_id not in known]
    if missing:
        known.update(_families(session, missing))
    return {case_id: list(known[case_id]) for case_id in wanted}


def _known_families(session: Session) -> dict[int, list[int]]:
    """The families this session has read since its last write: a case page asks for one
    case's family once per workflow part (reviews, checklist, decisions, property, feedback),
    each a query per merge level. Forgotten on every flush, write statement and transaction
    end, and not kept while the session holds unflushed changes (a merge in progress)."""
    if session.new or session.dirty or session.deleted:
        return {}
    known: dict[int, list[int]] = session.info.setdefault(_FAMILIES, {})
    return known


def _forget_families(session: Session, *_: Any) -> None:
    session.info.pop(_FAMILIES, None)


def _forget_families_on_write(state: ORMExecuteState) -> None:
    if not state.is_select:
        _forget_families(state.session)


event.listen(Session, "after_flush", _forget_families)
event.listen(Session, "after_transaction_end", _forget_families)
event.listen(Session, "do_orm_execute", _forget_families_on_write)


def _families(session: Session, wanted: list[int]) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    seen, frontier = set(wanted), wanted
    while frontier:
        found: list[Any] = []
        for start in range(0, len(frontier), _IN_CHUNK):  # bound the IN list (SQLite)
            found += session.execute(select(Case.id, Case.merged_into_id).where(
                Case.merged_into_id.in_(frontier[start:start + _IN_CHUNK])).order_by(Case.id))
        frontier = []
        for child, parent in found:
            children.setdefault(parent, []).append(child)
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    return {case_id: _descendants(case_id, children) for case_id in wanted}


def _descendants(case_id: int, children: dict[int, list[int]]) -> list[int]:
    family, todo = [case_id], [case_id]
    while todo:
        for child in children.get(todo.pop(0), []):
            if child not in family:  # a cycle would be a bug elsewhere; never loop on it
                family.append(child)
                todo.append(child)
    return family


def surviving_case(session: Session, case: Case) -> Case:
    """The case that ``case`` is (in a chain) merged into, or ``case`` itself: where staff work
    now, so where an action on one of its records is recorded."""
    seen = {case.id}
    while case.merged_into_id is not None and case.merged_into_id not in seen:
        parent = session.get(Case, case.merged_into_id)
        if parent is None:
            break
        seen.add(parent.id)
        case = parent
    return case


def record(session: Session, case: Case | int, kind: str, data: dict[str, Any] | None = None,
           *, actor: str = SYSTEM, message_pk: int | None = None) -> CaseEvent:
    """Append one event to a case and touch its ``updated_at``."""
    now = utcnow()
    case_id = case if isinstance(case, int) else case.id
    event = CaseEvent(case_id=case_id, at=now, actor=actor, kind=kind, message_pk=message_pk,
                      data=data or {})
    session.add(event)
    if isinstance(case, Case):
        case.updated_at = now
    # No flush here: the session's autoflush writes the event before any query that could see
    # it, and the filing hooks record many events per batch (one flush each cost 2 ms/message).
    return event
