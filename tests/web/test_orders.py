"""The review and order pages: ``/reviews`` and ``/orders`` limited to the reader's queues, and
the case page's review decision, requirement checklist and order acceptance, recorded as the
same events ``commgate review`` and ``commgate order`` record, with the signed-in person as
actor; every refusal is the workflow's."""

from __future__ import annotations

import pytest

from gateway.services.cases import show_case
from gateway.services.orders import CHECKLIST_ITEMS, list_reviews, order_record
from gateway.services.outbound import approve_template, create_template, publish_template
from tests.support.cases import CHANGE, ORDER, file
from tests.support.web import form_token, signed_in

SALES, SUPPORT = "sales@northpoint.example", "support@northpoint.example"
REF = "NPC-000001"


@pytest.fixture
def changed(app, tmp_path):
    """An order in the sales queue and the customer's change to it: a pending scope review."""
    file(app, tmp_path, ORDER, CHANGE)
    (review,) = list_reviews(app, actor="test", pending_only=True).items
    return review.id


@pytest.fixture
def ordered(app, tmp_path):
    """An order in the sales queue, no review; the pk of its purchase-order message."""
    file(app, tmp_path, ORDER)
    return order_record(app, actor="test", ref=REF).messages[0]["pk"]


def kinds(app, actor):
    return [e.kind for e in show_case(app, actor="test", ref=REF).events if e.actor == actor]


def checklist_form(token, states, note=""):
    return {"item": list(CHECKLIST_ITEMS), "state": states,
            "note": [note] * len(CHECKLIST_ITEMS), "csrf": token}


def test_the_pages_need_a_session_and_the_actions_the_right_to_work(app, client, changed):
    for path in ("/reviews", "/orders"):
        assert client.get(path).status_code == 303
    for path in (f"/cases/{REF}/reviews/{changed}", f"/cases/{REF}/checklist",
                 f"/cases/{REF}/order"):
        assert client.post(path, data={}).status_code == 303
    with signed_in(app, "cora", "compliance") as cora:
        assert changed and REF in cora.get("/reviews").text
        page = cora.get(f"/cases/{REF}")
        assert "Order and reviews" in page.text and "Approve</button>" not in page.text
        answer = cora.post(f"/cases/{REF}/reviews/{changed}", data={
            "decision": "approve", "note": "fine", "csrf": form_token(cora, "/reviews")})
        assert answer.status_code == 403
    assert kinds(app, "cora") == []


def test_a_reader_sees_and_decides_only_in_their_queues(app, changed):
    with signed_in(app, "sam", "staff", SUPPORT) as sam:
        assert REF not in sam.get("/reviews").text
        assert REF not in sam.get("/reviews?show=all").text
        token = form_token(sam, "/reviews")
        assert sam.post(f"/cases/{REF}/reviews/{changed}", data={
            "decision": "approve", "note": "fine", "csrf": token}).status_code == 403
        assert sam.post(f"/cases/{REF}/checklist", data=checklist_form(
            token, ["ok"] * len(CHECKLIST_ITEMS))).status_code == 403
        assert sam.post(f"/cases/{REF}/order", data={
            "message": "1", "decision": "decline", "note": "no", "csrf": token}
        ).status_code == 403
    assert kinds(app, "sam") == []
    with signed_in(app, "anna", "staff", SALES) as anna:
        page = anna.get("/reviews")
        assert f'href="/cases/{REF}#review-{changed}"' in page.text and "quantity" in page.text


def test_an_action_without_the_csrf_token_is_refused(app, changed):
    with signed_in(app, "anna", "staff", SALES) as anna:
        assert anna.post(f"/cases/{REF}/reviews/{changed}", data={
            "decision": "approve", "note": "fine"}).status_code == 403
        assert anna.post(f"/cases/{REF}/checklist", data=checklist_form(
            "forged", ["ok"] * len(CHECKLIST_ITEMS))).status_code == 403
        assert anna.post(f"/cases/{REF}/order", data={
            "message": "1", "decision": "decline", "note": "no"}).status_code == 403
    assert kinds(app, "anna") == []


def test_a_review_is_decided_by_the_signed_in_person(app, changed):
    with signed_in(app, "anna", "staff", SALES) as anna:
        page = anna.get(f"/cases/{REF}")
        assert f'action="/cases/{REF}/reviews/{changed}"' in page.text
        answer = anna.post(f"/cases/{REF}/reviews/{changed}", data={
            "decision": "reject", "note": "260 pieces do not fit the line plan",
            "csrf": form_token(anna, f"/cases/{REF}")})
        assert (answer.status_code, answer.headers["location"]) == (
            303, f"/cases/{REF}#review-{changed}")
        assert REF not in anna.get("/reviews").text
        listed = anna.get("/reviews?show=all").text
        assert "rejected" in listed and "260 pieces do not fit the line plan" in listed
    (event,) = [e for e in show_case(app, actor="test", ref=REF).events
                if e.kind == "review_rejected"]
    assert event.actor == "anna" and event.data["note"] == "260 pieces do not fit the line plan"
    assert event.data["confirmation"].startswith("not sent")


def test_a_decision_is_confirmed_to_the_customer_from_the_published_template(app, changed):
    create_template(app, actor="writer", name="scope-change-approved",
                    subject="Your change on ${case_ref}", body="We accept it (${note}).\n")
    approve_template(app, actor="lead", name="scope-change-approved", version=1)
    publish_template(app, actor="lead", name="scope-change-approved", version=1)
    with signed_in(app, "ada", "admin") as ada:
        answer = ada.post(f"/cases/{REF}/reviews/{changed}", data={
            "decision": "approve", "note": "capacity checked", "confirm": "yes",
            "csrf": form_token(ada, f"/cases/{REF}")})
        assert answer.status_code == 303
        assert "queued" in ada.get(f"/cases/{REF}").text
    assert kinds(app, "ada") == ["review_approved", "outbound_queued",
                                 "review_confirmation_queued"]


def test_the_workflows_refusals_are_shown_and_record_nothing(app, changed):
    with signed_in(app, "anna", "staff", SALES) as anna:
        token = form_token(anna, f"/cases/{REF}")
        no_note = anna.post(f"/cases/{REF}/reviews/{changed}", data={
            "decision": "approve", "note": " ", "csrf": token})
        assert no_note.status_code == 409 and "needs a note" in no_note.text
        no_template = anna.post(f"/cases/{REF}/reviews/{changed}", data={
            "decision": "approve", "note": "fine", "confirm": "yes", "csrf": token})
        assert no_template.status_code == 409 and "published" in no_template.text
        pk = order_record(app, actor="test", ref=REF).messages[0]["pk"]
        pending = anna.post(f"/cases/{REF}/order", data={
            "message": str(pk), "decision": "accept", "csrf": token})
        assert pending.status_code == 409
        assert "(scope-change) is pending" in pending.text
        assert "requirement review is incomplete" in pending.text
        decline = anna.post(f"/cases/{REF}/order", data={
            "message": str(pk), "decision": "decline", "note": "", "csrf": token})
        assert decline.status_code == 409 and "needs a note" in decline.text
        assert anna.post(f"/cases/{REF}/order", data={
            "message": "po", "decision": "accept", "csrf": token}).status_code == 400
        assert anna.post(f"/cases/{REF}/checklist", data=checklist_form(
            token, ["fine"] * len(CHECKLIST_ITEMS))).status_code == 400
    assert kinds(app, "anna") == []
    assert len(list_reviews(app, actor="test", pending_only=True)) == 1


def test_an_order_is_accepted_with_its_checklist(app, ordered):
    with signed_in(app, "anna", "staff", SALES) as anna:
        token = form_token(anna, f"/cases/{REF}")
        states = ["ok"] * (len(CHECKLIST_ITEMS) - 1) + [""]
        answer = anna.post(f"/cases/{REF}/checklist", data=checklist_form(token, states))
        assert (answer.status_code, answer.headers["location"]) == (303, f"/cases/{REF}#checklist")
        refused = anna.post(f"/cases/{REF}/order", data={
            "message": str(ordered), "decision": "accept", "csrf": token})
        assert refused.status_code == 409 and "not checked: customer-property" in refused.text
        # The whole form is sent again: only the item that changed is recorded.
        states[-1] = "n/a"
        assert anna.post(f"/cases/{REF}/checklist", data=checklist_form(token, states)
                         ).status_code == 303
        assert "Complete." in anna.get(f"/cases/{REF}").text
        unchanged = anna.post(f"/cases/{REF}/checklist", data=checklist_form(token, states))
        assert unchanged.status_code == 400 and "nothing in the checklist" in unchanged.text
        accepted = anna.post(f"/cases/{REF}/order", data={
            "message": str(ordered), "decision": "accept", "note": "as quoted", "csrf": token})
        assert (accepted.status_code, accepted.headers["location"]) == (303, f"/cases/{REF}#order")
        listed = anna.get("/orders?decision=accepted").text
        assert f'href="/cases/{REF}#order"' in listed and "as quoted" in listed
        assert REF not in anna.get("/orders?decision=declined").text
    events = [e for e in show_case(app, actor="test", ref=REF).events if e.actor == "anna"]
    assert [e.kind for e in events] == ["checklist_updated", "checklist_updated",
                                        "order_accepted"]
    assert [c["item"] for c in events[1].data["changes"]] == ["customer-property"]
    assert events[2].data["message"]["pk"] == ordered
    assert events[2].data["checklist"]["customer-property"]["state"] == "n/a"
    (decision,) = order_record(app, actor="test", ref=REF).decisions
    assert (decision.decision, decision.actor, decision.note) == ("accepted", "anna",
                                                                  "as quoted")


def test_the_order_list_is_limited_to_the_readers_queues(app, ordered):
    with signed_in(app, "anna", "staff", SALES) as anna:
        assert anna.post(f"/cases/{REF}/order", data={
            "message": str(ordered), "decision": "decline", "note": "cannot meet the date",
            "csrf": form_token(anna, "/orders")}).status_code == 303
        assert "cannot meet the date" in anna.get("/orders").text
        assert anna.get("/orders?decision=bogus").status_code == 400
    with signed_in(app, "sam", "staff", SUPPORT) as sam:
        page = sam.get("/orders")
        assert page.status_code == 200 and REF not in page.text
