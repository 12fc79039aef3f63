"""Merge, split and link from the case page, and their undo: the threading service's case
events with the signed-in person as actor, the queue right on both cases, CSRF on each form."""

from __future__ import annotations

import pytest

from gateway.services.cases import show_case
from tests.support.mail import make_message
from tests.support.web import file_mail, form_token, signed_in

SALES, SUPPORT = "sales@northpoint.example", "support@northpoint.example"


@pytest.fixture
def cases(app, tmp_path):
    """Two sales cases (the first with a customer's message and its reply) and a support
    case: (first, second, support)."""
    file_mail(app, tmp_path / "a",
              make_message(subject="Quote for 20 pump housings",
                           message_id="<q1@customer.example>"),
              make_message(subject="Re: Quote for 20 pump housings",
                           message_id="<q2@customer.example>",
                           in_reply_to="<q1@customer.example>",
                           references="<q1@customer.example>"),
              make_message(subject="Valves", sender="bob@buyer.example"),
              make_message(subject="Invoice", to=SUPPORT, sender="dora@fourth.example"))
    refs = {}
    for ref in ("NPC-000001", "NPC-000002", "NPC-000003"):
        case = show_case(app, actor="test", ref=ref)
        refs[case.subject] = case
    first, second = refs["Quote for 20 pump housings"], refs["Valves"]
    assert first.message_count == 2 and first.alias == second.alias == SALES
    return first.ref, second.ref, refs["Invoice"].ref


def kinds(app, ref, *wanted):
    return [(e.kind, e.actor) for e in show_case(app, actor="test", ref=ref).events
            if e.kind in wanted]


def post(client, path, page, **data):
    return client.post(path, data={**data, "csrf": form_token(client, page)})


def test_actions_need_a_session_the_right_and_the_token(app, client, cases):
    first, second, support = cases
    assert client.post(f"/cases/{first}/merge", data={"into": second}).status_code == 303
    with signed_in(app, "cora", "compliance") as cora:
        page = cora.get(f"/cases/{first}")
        assert 'action="/cases/' + first + '/merge"' not in page.text
        assert post(cora, f"/cases/{first}/merge", "/cases", into=second).status_code == 403
    with signed_in(app, "anna", "staff", SALES) as anna:
        assert anna.post(f"/cases/{first}/merge", data={"into": second}).status_code == 403
        assert anna.post(f"/cases/{first}/link", data={
            "other": second, "kind": "related", "csrf": "forged"}).status_code == 403
        # Her queue, but not the other case's.
        assert post(anna, f"/cases/{first}/merge", "/cases", into=support).status_code == 403
        assert post(anna, f"/cases/{first}/link", "/cases", other=support,
                    kind="related").status_code == 403
    with signed_in(app, "sam", "staff", SUPPORT) as sam:
        assert post(sam, f"/cases/{support}/merge", "/cases", into=first).status_code == 403
    for ref in cases:
        case = show_case(app, actor="test", ref=ref)
        assert case.status != "merged" and case.links["links"] == []


def test_merge_and_unmerge_are_recorded_with_the_person(app, cases):
    first, second, _ = cases
    with signed_in(app, "anna", "staff", SALES) as anna:
        form = anna.get(f"/cases/{second}").text
        assert f'action="/cases/{second}/merge"' in form
        answer = post(anna, f"/cases/{second}/merge", f"/cases/{second}", into=first,
                      note="same customer order")
        assert answer.status_code == 303 and answer.headers["location"] == f"/cases/{first}"
        assert show_case(app, actor="test", ref=first).message_count == 3
        page = anna.get(f"/cases/{second}").text
        assert f"Merged into <a href=\"/cases/{first}\">{first}</a>" in page
        assert f'action="/cases/{second}/unmerge"' in page
        answer = post(anna, f"/cases/{second}/unmerge", f"/cases/{second}")
        assert answer.status_code == 303 and answer.headers["location"] == f"/cases/{second}"
    assert show_case(app, actor="test", ref=first).message_count == 2
    assert show_case(app, actor="test", ref=second).status != "merged"
    assert ("case_merged", "anna") in kinds(app, second, "case_merged")
    assert ("case_unmerged", "anna") in kinds(app, second, "case_unmerged")
    merged = [e for e in show_case(app, actor="test", ref=second).events
              if e.kind == "case_merged"]
    assert merged[-1].data["note"] == "same customer order"


def test_split_and_unsplit_are_recorded_with_the_person(app, cases):
    first, _, _ = cases
    reply = show_case(app, actor="test", ref=first).messages[-1]["id"]
    with signed_in(app, "anna", "staff", SALES) as anna:
        assert f'name="messages" value="{reply}"' in anna.get(f"/cases/{first}").text
        assert post(anna, f"/cases/{first}/split", f"/cases/{first}").status_code == 400
        answer = post(anna, f"/cases/{first}/split", f"/cases/{first}", messages=[str(reply)],
                      note="a second order")
        assert answer.status_code == 303
        new = answer.headers["location"].rsplit("/", 1)[1]
        assert [m["id"] for m in show_case(app, actor="test", ref=new).messages] == [reply]
        assert f'action="/cases/{new}/unsplit"' in anna.get(f"/cases/{new}").text
        answer = post(anna, f"/cases/{new}/unsplit", f"/cases/{new}")
        assert answer.status_code == 303 and answer.headers["location"] == f"/cases/{first}"
    assert show_case(app, actor="test", ref=first).message_count == 2
    assert ("case_split", "anna") in kinds(app, first, "case_split")
    assert kinds(app, new, "case_split_from") == [("case_split_from", "anna")]
    assert ("case_merged", "anna") in kinds(app, new, "case_merged")


def test_link_and_unlink_are_recorded_on_both_cases(app, cases):
    first, second, _ = cases
    with signed_in(app, "anna", "staff", SALES) as anna:
        assert post(anna, f"/cases/{first}/link", f"/cases/{first}", other=second,
                    kind="merged-into").status_code == 400
        answer = post(anna, f"/cases/{first}/link", f"/cases/{first}", other=second,
                      kind="enquiry-order")
        assert answer.status_code == 303
        page = anna.get(f"/cases/{second}").text
        assert f'<a href="/cases/{first}">{first}</a>' in page and "enquiry-order" in page
        answer = post(anna, f"/cases/{second}/unlink", f"/cases/{second}", other=first,
                      kind="enquiry-order")
        assert answer.status_code == 303
    for ref in (first, second):
        assert kinds(app, ref, "case_linked", "case_unlinked") == [
            ("case_linked", "anna"), ("case_unlinked", "anna")]
    assert show_case(app, actor="test", ref=first).links["links"] == []
