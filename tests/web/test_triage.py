"""The triage page: what waits for a person (undecided mail, strangers' follow-ups, the
quarantine), limited to the reader's queues, and the decision recorded as the same
``case_classified`` event ``commgate cases classify`` records, with the person as actor."""

from __future__ import annotations

import pytest

from gateway.services.cases import list_cases, show_case
from tests.support.mail import make_message
from tests.support.triage import UNDECIDED
from tests.support.web import file_mail, form_token, signed_in

SALES, SUPPORT = "sales@northpoint.example", "support@northpoint.example"


@pytest.fixture
def waiting(app, tmp_path):
    """A case in the sales queue whose only message no rule decided."""
    (ref,) = file_mail(app, tmp_path / "in", make_message(**UNDECIDED))
    assert [e.ref for e in list_cases(app, actor="test", triage_only=True).items] == [ref]
    return ref


@pytest.fixture
def follow_up(app, tmp_path):
    """A customer's case and a stranger's new case that quotes its tag."""
    file_mail(app, tmp_path / "a", make_message(sender="anna@customer.example"))
    refs = file_mail(app, tmp_path / "b", make_message(
        subject="Re: [NPC-000001] Question", sender="mallory@elsewhere.example"))
    return refs[1], refs[0]


def test_triage_needs_a_session_and_the_right_to_work_cases(app, client, waiting):
    assert client.get("/triage").status_code == 303
    assert client.post(f"/triage/{waiting}/classify", data={"category": "enquiry"}
                       ).status_code == 303
    with signed_in(app, "cora", "compliance") as cora:
        assert cora.get("/triage").status_code == 403
        answer = cora.post(f"/triage/{waiting}/classify", data={
            "category": "enquiry", "csrf": form_token(cora, "/cases")})
        assert answer.status_code == 403


def test_the_queue_shows_only_the_readers_queues(app, waiting):
    with signed_in(app, "anna", "staff", SALES) as anna:
        page = anna.get("/triage")
        assert page.status_code == 200 and waiting in page.text and "Hello" in page.text
    with signed_in(app, "sam", "staff", SUPPORT) as sam:
        page = sam.get("/triage")
        assert page.status_code == 200 and waiting not in page.text
        answer = sam.post(f"/triage/{waiting}/classify", data={
            "category": "order", "csrf": form_token(sam, "/triage")})
        assert answer.status_code == 403
    assert show_case(app, actor="test", ref=waiting).category != "order"


def test_confirming_records_the_classification_with_the_person(app, waiting):
    category = show_case(app, actor="test", ref=waiting).category
    with signed_in(app, "anna", "staff", SALES) as anna:
        assert f"Confirm {category}</button>" in anna.get("/triage").text
        answer = anna.post(f"/triage/{waiting}/classify", data={
            "category": category, "csrf": form_token(anna, "/triage")})
        assert answer.status_code == 303
        assert anna.get(answer.headers["location"]).text.count(f"{waiting} confirmed") == 1
    case = show_case(app, actor="test", ref=waiting)
    (event,) = [e for e in case.events if e.kind == "case_classified"]
    assert event.actor == "anna" and event.data["changed"] is False
    assert list_cases(app, actor="test", triage_only=True).items == ()


def test_correcting_category_and_scope_flag_opens_the_review(app, waiting):
    with signed_in(app, "anna", "staff", SALES) as anna:
        answer = anna.post(f"/triage/{waiting}/classify", data={
            "category": "order", "scope_change": "yes", "note": "new drawing rev C",
            "csrf": form_token(anna, "/triage")})
        assert answer.status_code == 303
    case = show_case(app, actor="test", ref=waiting)
    assert (case.category, case.scope_change) == ("order", True)
    (event,) = [e for e in case.events if e.kind == "case_classified"]
    assert event.actor == "anna" and event.data["note"] == "new drawing rev C"
    assert event.data["to"] == {"category": "order", "scope_change": True}
    assert [r["action"] for r in event.data["reviews"]] == ["opened"]


def test_a_classification_without_the_csrf_token_is_refused(app, waiting):
    with signed_in(app, "anna", "staff", SALES) as anna:
        assert anna.post(f"/triage/{waiting}/classify",
                         data={"category": "order"}).status_code == 403
        assert anna.post(f"/triage/{waiting}/classify", data={
            "category": "bogus", "csrf": form_token(anna, "/triage")}).status_code == 400
    case = show_case(app, actor="test", ref=waiting)
    assert case.category != "order" and not [e for e in case.events
                                             if e.kind == "case_classified"]


def test_a_strangers_follow_up_is_listed_and_kept_apart(app, follow_up):
    new, tagged = follow_up
    with signed_in(app, "anna", "staff", SALES) as anna:
        page = anna.get("/triage")
        assert f"Merge into {tagged}" in page.text
        answer = anna.post(f"/triage/{new}/follow-up", data={
            "other": tagged, "action": "unlink", "csrf": form_token(anna, "/triage")})
        assert answer.status_code == 303
        assert f"Merge into {tagged}" not in anna.get("/triage").text
    unlinked = [e for e in show_case(app, actor="test", ref=new).events
                if e.kind == "case_unlinked"]
    assert [(e.actor, e.data["kind"]) for e in unlinked] == [("anna", "possible-follow-up")]


def test_a_strangers_follow_up_is_merged(app, follow_up):
    new, tagged = follow_up
    with signed_in(app, "anna", "staff", SALES) as anna:
        answer = anna.post(f"/triage/{new}/follow-up", data={
            "other": tagged, "action": "merge", "csrf": form_token(anna, "/triage")})
        assert answer.status_code == 303
    assert show_case(app, actor="test", ref=tagged).message_count == 2
