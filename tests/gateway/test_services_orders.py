"""The order services the web pages call, on SQLite and PostgreSQL: the list of order
decisions (``commgate order list``), the review and decision lists limited to the queues a
person may see, and a case of another queue refused before anything is recorded."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.core.errors import AccessDeniedError
from gateway.db.models import CaseEvent
from gateway.services import orders
from tests.support.cases import CHANGE, ORDER, file

SALES, SUPPORT = frozenset({"sales@northpoint.example"}), frozenset({"support@northpoint.example"})
ALL_OK = [f"{item}=ok" for item in orders.CHECKLIST_ITEMS]
QUESTION = dict(subject="Question about part 1234", message_id="<q@other.example>",
                sender="Ben Other <ben@other.example>", to="support@northpoint.example")


@pytest.fixture
def decided(app, tmp_path):
    """NPC-000001 (sales) accepted, NPC-000002 (support) declined."""
    file(app, tmp_path, ORDER, QUESTION)
    orders.set_checklist(app, actor="qa", ref="NPC-000001", items=ALL_OK)
    orders.decide_order(app, actor="sales", ref="NPC-000001", message="po@customer.example",
                        accept=True)
    orders.decide_order(app, actor="help", ref="NPC-000002", message="q@other.example",
                        accept=False, note="not something we make")


def test_order_decisions_are_listed_newest_first_and_by_decision(app, decided):
    every = orders.list_orders(app, actor="x")
    assert [(d.case, d.decision, d.actor) for d in every.items] == [
        ("NPC-000002", "declined", "help"), ("NPC-000001", "accepted", "sales")]
    accepted = orders.list_orders(app, actor="x", decision="accepted").items
    assert [d.case for d in accepted] == ["NPC-000001"]
    assert accepted[0].checklist["scope"]["state"] == "ok"
    assert accepted[0].message is not None
    assert accepted[0].message["message_id"] == "po@customer.example"


def test_the_order_list_is_limited_to_the_queues(app, decided):
    assert [d.case for d in orders.list_orders(app, actor="x", queues=SALES).items] == [
        "NPC-000001"]
    assert [d.case for d in orders.list_orders(app, actor="x", queues=SUPPORT).items] == [
        "NPC-000002"]
    assert orders.list_orders(app, actor="x", queues=frozenset()).items == ()


def test_the_review_list_is_limited_to_the_queues(app, tmp_path):
    file(app, tmp_path, ORDER, CHANGE)
    assert [r.case for r in orders.list_reviews(app, actor="x", queues=SALES).items] == [
        "NPC-000001"]
    assert orders.list_reviews(app, actor="x", queues=SUPPORT).items == ()
    assert len(orders.list_reviews(app, actor="x", pending_only=True, queues=None)) == 1


def test_a_case_of_another_queue_is_refused_before_anything_is_recorded(app, tmp_path):
    file(app, tmp_path, ORDER, CHANGE)
    with pytest.raises(AccessDeniedError, match=r"queue sales@northpoint\.example"):
        orders.set_checklist(app, actor="sam", ref="NPC-000001", items=ALL_OK, queues=SUPPORT)
    with pytest.raises(AccessDeniedError):
        orders.decide_review(app, actor="sam", ref="NPC-000001", approve=True, note="fine",
                             confirm=False, queues=SUPPORT)
    with pytest.raises(AccessDeniedError):
        orders.decide_order(app, actor="sam", ref="NPC-000001", message="po@customer.example",
                            accept=False, note="no", queues=SUPPORT)
    with pytest.raises(AccessDeniedError):
        orders.order_record(app, actor="sam", ref="NPC-000001", queues=SUPPORT)
    with app.db.session() as session:
        assert set(session.scalars(select(CaseEvent.actor))) == {"system"}
    review = orders.decide_review(app, actor="anna", ref="NPC-000001", approve=True,
                                  note="fine", confirm=False, queues=SALES)
    assert review.decided_by == "anna"


def test_order_list_prints_what_the_service_returns(cli, app, decided):
    for extra in ((), ("--decision", "declined")):
        printed = cli("order", "list", "--json", *extra)
        assert printed.code == 0, printed.err
        assert printed.json() == orders.list_orders(
            app, actor="x", decision=extra[1] if extra else None).to_json()
    assert [row["case"] for row in cli("order", "list", "--decision", "declined", "--json"
                                       ).json()] == ["NPC-000002"]
    table = cli("order", "list")
    assert table.code == 0 and "2 decisions" in table.out and "not something we make" in table.out
