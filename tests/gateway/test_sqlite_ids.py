"""The ORM's new rows keyed before the flush on SQLite (gateway/db/sqlite_ids.py): one INSERT
per table and flush, and the keys SQLite itself would have given, in the order added."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, insert, select

from gateway.bootstrap import App
from gateway.core.clock import utcnow
from gateway.db.models import Case, CaseEvent, CaseLink


def _event(case_id: int, n: int) -> CaseEvent:
    return CaseEvent(case_id=case_id, at=utcnow(), actor="system", kind="test", data={"n": n})


def _link(case: Case, other: Case) -> CaseLink:
    return CaseLink(case_id=case.id, other_case_id=other.id, kind="related",
                    created_at=utcnow())


def test_a_flush_inserts_new_rows_at_once_with_the_keys_the_database_gives(app: App) -> None:
    inserts: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO case_events"):
            inserts.append(statement)

    sqlite = app.db.dialect == "sqlite"
    event.listen(app.db.engine, "before_cursor_execute", count)
    try:
        with app.db.session() as session:
            now = utcnow()
            cases = [Case(ref=f"NPC-T{n}", alias="sales@example.com", category="other",
                          customer="a@customer.example", opened_at=now, updated_at=now)
                     for n in range(7)]
            session.add_all(cases)
            session.flush()
            # Keys in the order added, each the one the database gives (SQLite: one above the
            # largest, even after the largest row was deleted).
            links = [_link(cases[0], other) for other in cases[1:4]]
            session.add_all(links)
            session.flush()
            session.delete(links[-1])
            session.flush()
            with session.begin_nested() as savepoint:
                given = session.scalar(insert(CaseLink).values(
                    case_id=cases[0].id, other_case_id=cases[6].id, kind="related",
                    created_at=now, actor="system").returning(CaseLink.id))
                savepoint.rollback()
            assert given is not None
            more = [_link(cases[0], other) for other in cases[4:6]]
            session.add_all(more)
            session.flush()
            assert [link.id for link in more] == [given, given + 1] if sqlite else (
                more[1].id == more[0].id + 1 and more[0].id > given)
            if sqlite:
                assert given == links[1].id + 1
            # One statement per flush for the rows of a table.
            inserts.clear()
            later = [_event(cases[0].id, n) for n in range(5)]
            session.add_all(later)
            session.flush()
            keys = [e.id for e in later]
            assert keys == list(range(keys[0], keys[0] + 5))
            assert session.scalar(select(func.max(CaseEvent.id))) == keys[-1]
            if sqlite:
                assert len(inserts) == 1
            rows = session.execute(select(CaseEvent.data).where(
                CaseEvent.kind == "test").order_by(CaseEvent.id)).scalars().all()
            assert [data["n"] for data in rows] == [0, 1, 2, 3, 4]
    finally:
        event.remove(app.db.engine, "before_cursor_execute", count)
