"""The case-work services called directly, as the web application will call them, on SQLite and
PostgreSQL: each opens its own transaction, records the case event with the actor it is given,
refuses what the domain refuses (not only when the CLI asks), and returns a view whose JSON is
what the matching ``--json`` command prints."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.config import CONFIG_NAME
from gateway.core.errors import WorkflowError
from gateway.db.models import CaseEvent, Message
from gateway.db.reviews import CHECKLIST_ITEMS, OrderDecision
from gateway.services import cases, orders, outbound, property, threads
from gateway.services.cases import CaseSummary
from tests.support.mail import make_message, write_messages

ORDER = dict(subject="Purchase order 4500871234", message_id="<po@customer.example>",
             body="Hello,\nplease find attached our purchase order 4500871234 for 200 pump "
                  "housings PH-40 as quoted.\nDelivery date 15 January 2027.\n\nRegards\nAnna")
CHANGE = dict(subject="Change to PO 4500871234", message_id="<chg@customer.example>",
              in_reply_to="<po@customer.example>",
              body="Hello,\nplease increase the quantity on PO 4500871234 to 260 pieces, same "
                   "delivery date.\n\nRegards\nAnna")
UNDECIDED = dict(subject="Hello", message_id="<hello@customer.example>",
                 body="Hi Tom,\nsee you at the fair next week.\n\nBest,\nAnna")
OTHER = dict(subject="Question about part 1234", message_id="<q@other.example>",
             sender="Ben Other <ben@other.example>")


def ingest(cli, tmp_path: Path, *messages: dict, folder: str = "in") -> None:
    paths = write_messages(tmp_path / folder, [make_message(**m) for m in messages])
    result = cli("ingest", *map(str, paths))
    assert result.code == 0, result.err


def with_sales_prior(home: Path) -> None:
    """sales@ gets enquiries: a message there that no rule decides waits for triage."""
    config = home / CONFIG_NAME
    line = 'address = "sales@northpoint.example"'
    config.write_text(config.read_text().replace(line, f'{line}\nprior = "enquiry"'))


def classified_events(app) -> list[CaseEvent]:
    with app.db.session() as session:
        events = list(session.scalars(select(CaseEvent).where(
            CaseEvent.kind == "case_classified").order_by(CaseEvent.id)))
        session.expunge_all()
    return events


def test_a_triage_confirmation_and_a_correction_are_recorded_with_the_actor(home, cli, app,
                                                                           tmp_path):
    with_sales_prior(home)
    ingest(cli, tmp_path, UNDECIDED, dict(UNDECIDED, message_id="<two@customer.example>",
                                          sender="Bea <bea@another.example>"))
    queue = cases.list_cases(app, actor="alice", triage_only=True)
    assert queue.triage and len(queue) == 2
    first, second = (entry.ref for entry in queue.items)
    assert all(entry.category == "enquiry" and entry.waiting for entry in queue.items)

    confirmed = cases.classify_case(app, actor="alice", ref=first, category="enquiry")
    assert (confirmed.changed, confirmed.actor) == (False, "alice")
    corrected = cases.classify_case(app, actor="bob", ref=second.lower(), category="order",
                                    note="a purchase order in the attachment")
    assert corrected.changed and corrected.after == {"category": "order",
                                                     "scope_change": False}

    events = classified_events(app)
    assert [(e.actor, e.data["changed"]) for e in events] == [("alice", False), ("bob", True)]
    assert events[1].data["note"] == "a purchase order in the attachment"
    assert events[1].data["to"]["category"] == "order"
    assert cases.list_cases(app, actor="alice", triage_only=True).items == ()
    assert [c.category for c in cases.list_cases(app, actor="alice").items] == ["enquiry",
                                                                                 "order"]
    with app.db.session() as session:
        assert session.scalars(select(Message.needs_triage)).all() == [False, False]


def test_a_refused_classification_records_nothing(home, cli, app, tmp_path):
    ingest(cli, tmp_path, ORDER)
    with pytest.raises(WorkflowError, match="is not a category"):
        cases.classify_case(app, actor="alice", ref="NPC-000001", category="invoice")
    assert classified_events(app) == []


def test_the_service_refuses_an_order_accepted_while_a_review_is_pending(home, cli, app,
                                                                         tmp_path):
    ingest(cli, tmp_path, ORDER, CHANGE)
    checklist = orders.set_checklist(app, actor="qa", ref="NPC-000001",
                                     items=[f"{item}=ok" for item in CHECKLIST_ITEMS])
    assert checklist.gaps == ()
    with pytest.raises(WorkflowError) as refused:
        orders.decide_order(app, actor="sales", ref="NPC-000001", message="po@customer.example",
                            accept=True)
    assert "(scope-change) is pending" in str(refused.value)
    with app.db.session() as session:
        assert session.scalars(select(OrderDecision)).all() == []
        assert "order_accepted" not in session.scalars(select(CaseEvent.kind)).all()

    review = orders.decide_review(app, actor="lead", ref="NPC-000001", approve=True,
                                  note="260 pieces fit the line plan", confirm=False)
    assert (review.status, review.decided_by) == ("approved", "lead")
    accepted = orders.decide_order(app, actor="sales", ref="NPC-000001",
                                   message="po@customer.example", accept=True)
    assert (accepted.decision, accepted.actor, accepted.ref) == ("accepted", "sales",
                                                                 "NPC-000001")
    with app.db.session() as session:
        event = session.scalars(select(CaseEvent).where(
            CaseEvent.kind == "order_accepted")).one()
        assert event.actor == "sales"


def test_a_merge_through_the_service_records_the_actor_and_is_undone(home, cli, app, tmp_path):
    ingest(cli, tmp_path, ORDER, OTHER)
    moved = threads.merge(app, actor="carol", source="NPC-000002", into="NPC-000001",
                          note="same customer project")
    assert (moved.action, moved.source, moved.target) == ("merge", "NPC-000002", "NPC-000001")
    assert moved.to_json()["from"] == "NPC-000002" and len(moved.messages) == 1
    back = threads.unmerge(app, actor="dave", source="NPC-000002")
    assert back.messages == moved.messages
    with app.db.session() as session:
        actors = {e.kind: e.actor for e in session.scalars(select(CaseEvent).where(
            CaseEvent.actor.in_(("carol", "dave"))))}
    assert actors["case_merged"] == "carol" and actors["case_unmerged"] == "dave"


def test_each_view_prints_what_its_command_prints_with_json(home, cli, app, tmp_path):
    ingest(cli, tmp_path, ORDER, CHANGE, OTHER)
    body = tmp_path / "body.txt"
    body.write_text("Dear ${customer_name},\nthank you.\n")
    assert cli("templates", "create", "thanks", "--subject", "Thanks", "--body-file",
               str(body), "--as", "ann").code == 0
    assert cli("property", "add", "NPC-000001", "--kind", "tooling", "--description",
               "die set", "--identifier", "serial=D-1", "--as", "ann").code == 0
    same = {
        ("cases", "show", "NPC-000001"): lambda: cases.show_case(app, actor="x",
                                                                 ref="NPC-000001"),
        ("cases", "list"): lambda: cases.list_cases(app, actor="x"),
        ("cases", "list", "--triage"): lambda: cases.list_cases(app, actor="x",
                                                                triage_only=True),
        ("quarantine", "list"): lambda: cases.list_quarantine(app, actor="x"),
        ("order", "show", "NPC-000001"): lambda: orders.order_record(app, actor="x",
                                                                     ref="NPC-000001"),
        ("review", "list"): lambda: orders.list_reviews(app, actor="x"),
        ("property", "list"): lambda: property.list_items(app, actor="x"),
        ("property", "show", "1"): lambda: property.show_item(app, actor="x", item_id=1),
        ("templates", "list"): lambda: outbound.list_templates(app, actor="x"),
        ("templates", "show", "thanks"): lambda: outbound.show_template(app, actor="x",
                                                                        name="thanks"),
        ("outbound", "list"): lambda: outbound.list_mail(app, actor="x"),
    }
    for command, service in same.items():
        printed = cli(*command, "--json")
        assert printed.code == 0, (command, printed.err)
        assert service().to_json() == printed.json(), command
    shown = cases.show_case(app, actor="x", ref="NPC-000001")
    assert shown.order["review_required"] is True and shown.events[0].actor == "system"


def test_a_view_refuses_a_row_whose_keys_differ_and_cannot_be_changed():
    row = {"ref": "NPC-000001", "category": "order", "status": "new", "scope_change": False,
           "opened_at": None, "updated_at": None, "alias": "sales@northpoint.example",
           "customer": "anna@customer.example", "subject": "PO", "message_count": 1}
    view = CaseSummary.from_row(row)
    assert view.to_json() == row and list(view.to_json()) == list(row)
    with pytest.raises(ValueError, match="keys"):
        CaseSummary.from_row(row | {"owner": "sales"})
    with pytest.raises(ValueError, match="keys"):
        CaseSummary.from_row({k: v for k, v in row.items() if k != "subject"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.status = "closed"  # type: ignore[misc]
