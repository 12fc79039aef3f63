"""The case a message is threaded into is evidence (classifiers/context.py applied by the
pipeline): mail fed through the real gateway on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.db.events import case_by_ref
from gateway.db.models import Case, CaseEvent, Message
from gateway.db.reviews import Review
from gateway.processing.case_context import load_contexts
from tests.support.cases import ORDER, file

MOVE = dict(subject="Re: Purchase order 4500871234", message_id="<move@customer.example>",
            in_reply_to="<po@customer.example>",
            # A hint of a change only ("ourselves"): the message alone is not flagged; in the
            # order's case it is a change of that order.
            body="Hi,\nwe'll do the painting ourselves, so the parts can come unpainted."
                 "\n\nThanks\nAnna")
MOVE_AS_ISSUED = dict(MOVE, message_id="<move48@customer.example>",
                      body="Hi,\ncould we move delivery to week 48?\n\nThanks\nAnna")
SECOND_PO = dict(subject="Re: Purchase order 4500871234", message_id="<po2@customer.example>",
                 in_reply_to="<po@customer.example>",
                 body="Hello,\nplease find attached our purchase order 4500871299 for 50 "
                      "flanges FL-20.\n\nRegards\nAnna")


def stored(session, message_id):
    return session.scalars(select(Message).where(Message.message_id == message_id)).one()


def classified_event(session, pk):
    return session.scalars(select(CaseEvent).where(
        CaseEvent.kind == "message_classified", CaseEvent.message_pk == pk)).one()


def assert_a_change_of_the_order(app, message_id, *, by_context=True):
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        message = stored(session, message_id)
        assert message.case_id == case.id  # threaded into the order's case
        assert (message.category, message.scope_change) == ("order", True)
        assert case.scope_change is True and case.review_required is True
        review = session.scalars(select(Review)).one()
        assert (review.kind, review.status) == ("scope-change", "pending")
        assert review.trigger_message_pk == message.id
        if not by_context:
            return
        assert "ctx.existing_order" in {e["rule_id"] for e in message.evidence}
        assert any(e["rule_id"] == "ctx.existing_order" for e in review.evidence)
        context = classified_event(session, message.id).data["context"]
        assert context["rules"] == ["ctx.existing_order"]
        assert context["from"]["scope_change"] is False


@pytest.mark.parametrize("batches", ["one batch", "two batches"])
def test_a_reply_that_moves_the_delivery_of_an_order_is_a_change_of_that_order(
        app, tmp_path, batches):
    if batches == "one batch":
        file(app, tmp_path, ORDER, MOVE)
    else:  # the second message reads the case from the database
        file(app, tmp_path, ORDER)
        file(app, tmp_path, MOVE, folder="reply")
    assert_a_change_of_the_order(app, "move@customer.example")


def test_reclassify_reads_the_case_as_the_pipeline_did(app, tmp_path, cli):
    file(app, tmp_path, ORDER, MOVE)
    result = cli("reclassify", "--json")
    assert result.code == 0, result.err
    assert result.json()["changed"] == []
    assert_a_change_of_the_order(app, "move@customer.example")


def test_the_issue_s_own_sentence_in_an_order_thread_is_a_change_of_that_order(app, tmp_path):
    file(app, tmp_path, ORDER, MOVE_AS_ISSUED)
    # With a rule that reads the date change, the classifier may flag it on its own (the PO
    # is in the subject) or the context lifts it: either way a change of that order.
    assert_a_change_of_the_order(app, "move48@customer.example", by_context=False)


@pytest.mark.parametrize("body", [MOVE["body"], MOVE_AS_ISSUED["body"]])
def test_the_same_sentence_as_a_fresh_mail_is_not_made_an_order_change(app, tmp_path, body):
    file(app, tmp_path, dict(subject="Delivery week 48", message_id="<fresh@customer.example>",
                             body=body))
    with app.db.session() as session:
        message = stored(session, "fresh@customer.example")
        assert message.category != "order"
        assert not any(e["rule_id"].startswith("ctx.") for e in message.evidence)
        assert "context" not in classified_event(session, message.id).data
        # Whether it is a scope change at all is the language rules' call, not the context's.


def test_a_second_po_in_an_order_case_stays_a_new_order(app, tmp_path):
    file(app, tmp_path, ORDER, SECOND_PO)
    with app.db.session() as session:
        message = stored(session, "po2@customer.example")
        case = session.get(Case, message.case_id)
        assert case.ref == "NPC-000001"
        assert (message.category, message.scope_change) == ("order", False)
        assert not any(e["rule_id"].startswith("ctx.") for e in message.evidence)
        assert session.scalars(select(Review)).all() == []
        assert case.scope_change is False


def test_a_case_a_person_classified_as_an_order_holds_one(app, tmp_path, cli):
    """A weak guess confirmed as an order by staff: a later change in the thread changes it."""
    guess = dict(subject="Pump housings", message_id="<guess@customer.example>",
                 body="Hello,\nattached the paperwork for the 200 housings.\n\nAnna")
    file(app, tmp_path, guess)
    with app.db.session() as session:
        assert session.scalars(select(Message.needs_triage)).one() is True
    result = cli("cases", "classify", "NPC-000001", "--category", "order", "--as", "alice")
    assert result.code == 0, result.err
    file(app, tmp_path, dict(MOVE, subject="Re: Pump housings",
                             in_reply_to="<guess@customer.example>",
                             body="Hi,\ncould you reschedule the delivery to week 48?\n\nAnna"),
         folder="reply")
    with app.db.session() as session:
        message = stored(session, "move@customer.example")
        assert (message.category, message.scope_change) == ("order", True)
        context = classified_event(session, message.id).data["context"]
        assert context["from"] == {"category": "enquiry", "scope_change": True}
        assert session.scalars(select(Review.trigger_message_pk)).one() == message.id


def test_a_guess_nobody_confirmed_does_not_make_the_case_hold_an_order(app, tmp_path):
    guess = dict(subject="Pump housings", message_id="<guess@customer.example>",
                 body="Hello,\nattached the paperwork for the 200 housings, our order "
                      "number follows.\n\nAnna")
    file(app, tmp_path, guess, dict(MOVE, subject="Re: Pump housings",
                                    in_reply_to="<guess@customer.example>",
                                    body="Hi,\ncould you reschedule the delivery to week 48?"))
    with app.db.session() as session:
        message = stored(session, "move@customer.example")
        assert message.category == "enquiry"
        assert "context" not in classified_event(session, message.id).data


def test_the_context_read_from_the_database_says_what_the_case_holds(app, tmp_path, cli):
    # Only guessed to be an order (a PO named in the subject, nothing else): an item line
    # ("25 x shaft") beside the PO number would make it a decided order (clf.order_lines).
    guess = dict(subject="Purchase order RB-0098", message_id="<rb@customer.example>",
                 body="Hi Hannah,\nthe precision shafts, 12 mm.\n\nMark")
    quote = dict(subject="RFQ brackets", message_id="<rfq@customer.example>",
                 sender="Lea <lea@other.example>",
                 body="Hello,\ncould you quote 40 brackets? Our reference RFQ-2025-0231.\n\nLea")
    file(app, tmp_path, guess, quote)
    with app.db.session() as session:
        cases = {c.subject: c.id for c in session.scalars(select(Case))}
        contexts = load_contexts(session, cases.values(), 0.35)
        guessed = contexts[cases["Purchase order RB-0098"]]
        assert guessed.order is False and guessed.ordered == frozenset({"rb0098"})
        enquiry = contexts[cases["RFQ brackets"]]
        assert (enquiry.enquiry, enquiry.order, enquiry.quote) == (True, False, True)
    assert cli("cases", "classify", "NPC-000001", "--category", "order").code == 0
    with app.db.session() as session:
        assert load_contexts(session, [cases["Purchase order RB-0098"]], 0.35)[
            cases["Purchase order RB-0098"]].order is True
