"""gateway.db.bulk: a batch's rows go in with few statements and each row gets its own id back,
on SQLite (where the ids are sorted, not ordered by SQLAlchemy) and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from gateway.bootstrap import App
from gateway.db.bulk import insert_ids
from gateway.db.models import Case, CaseEvent

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def case_row(n: int) -> dict[str, Any]:
    return {"ref": f"BULK-{n:04d}", "alias": "sales@northpoint.example", "category": "other",
            "customer": f"c{n}@example.org", "opened_at": NOW, "updated_at": NOW}


def test_each_row_gets_its_own_id_in_order(app: App) -> None:
    inserts: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement)

    event.listen(app.db.engine, "before_cursor_execute", count)
    try:
        with Session(app.db.engine) as session, session.begin():
            case_ids = insert_ids(session, Case.id, [case_row(n) for n in range(300)])
            refs = {i: ref for i, ref in session.execute(
                select(Case.id, Case.ref).where(Case.id.in_(case_ids)))}
            assert [refs[i] for i in case_ids] == [f"BULK-{n:04d}" for n in range(300)]
            # Rows whose None columns differ from row to row (no claim, then a claim) still go
            # in together: a statement per row would be one per event of a filing batch.
            events = [{"case_id": case_id, "at": NOW, "actor": "system", "kind": f"k{n}",
                       "message_pk": None, "data": {"n": n},
                       "claimed_as": None if n % 2 else "alice"}
                      for n, case_id in enumerate(case_ids)]
            inserts.clear()
            event_ids = insert_ids(session, CaseEvent.id, events)
            assert len(inserts) < 30
            got = {i: (kind, claim) for i, kind, claim in session.execute(
                select(CaseEvent.id, CaseEvent.kind, CaseEvent.claimed_as)
                .where(CaseEvent.id.in_(event_ids)))}
            assert [got[i] for i in event_ids] == [(e["kind"], e["claimed_as"]) for e in events]
            assert insert_ids(session, Case.id, []) == []
            session.rollback()
    finally:
        event.remove(app.db.engine, "before_cursor_execute", count)
