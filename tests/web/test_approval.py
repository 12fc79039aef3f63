"""Held replies on the web: the outbound list and the case page show a reply waiting for a
second person's approval, with approve and reject forms only for those who may decide it; the
service refuses the author, the wrong role and a missing CSRF token whatever the page shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.bootstrap import App
from gateway.config import CONFIG_NAME
from gateway.services.outbound import (
    approve_template,
    create_template,
    list_mail,
    publish_template,
    reply,
    show_mail,
)
from tests.support.mail import make_message
from tests.support.outbound import SALES
from tests.support.web import csrf_of, file_mail, form_token, signed_in

MATRIX = '\n[approval]\nkinds = { delay = "reviewer" }\n'
DELAY = "Dear Anna,\n\nyour pump housings ship two weeks late.\n"
SUPPORT = "support@northpoint.example"


@pytest.fixture
def held(home: Path) -> Iterator[App]:
    config = home / CONFIG_NAME
    config.write_text(config.read_text() + MATRIX)
    app = App.open(home)
    yield app
    app.close()


@pytest.fixture
def case(held: App, tmp_path: Path) -> str:
    (ref,) = file_mail(held, tmp_path / "in", make_message(subject="Order 20 pump housings"))
    return ref


def test_a_reviewer_approves_a_held_reply_on_the_case_page(held, case) -> None:
    mail = reply(held, actor="anna", ref=case, body=DELAY, reply_kind="delay")
    assert mail.status == "pending"
    approve = f'action="/outbound/{mail.id}/approve"'
    with signed_in(held, "anna", "staff", SALES) as anna:
        page = anna.get("/outbound?status=pending").text
        assert f'id="outbound-{mail.id}"' in page and "waits for approval by reviewer" in page
        assert approve not in page  # the author is offered no form ...
        answer = anna.post(f"/outbound/{mail.id}/approve",
                           data={"csrf": form_token(anna, "/outbound")})
        assert answer.status_code == 409 and "a different person must approve it" in answer.text
    with signed_in(held, "sam", "staff", SALES) as sam:
        assert approve not in sam.get(f"/cases/{case}").text  # ... nor the wrong role
        answer = sam.post(f"/outbound/{mail.id}/approve",
                          data={"csrf": form_token(sam, "/outbound")})
        assert answer.status_code == 409 and "the role reviewer" in answer.text
    with signed_in(held, "otto", "reviewer", SUPPORT) as otto:  # not his queue
        assert otto.post(f"/outbound/{mail.id}/approve",
                         data={"csrf": form_token(otto, "/outbound")}).status_code == 403
    assert show_mail(held, actor="test", outbound_id=mail.id).status == "pending"
    with signed_in(held, "rita", "reviewer", SALES) as rita:
        page = rita.get(f"/cases/{case}").text
        assert approve in page and "waits for approval by reviewer" in page
        assert rita.post(f"/outbound/{mail.id}/approve",
                         data={"back": "case"}).status_code == 403  # no CSRF token
        answer = rita.post(f"/outbound/{mail.id}/approve", data={
            "csrf": form_token(rita, f"/cases/{case}"), "back": "case", "note": "dates checked"})
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/cases/{case}#outbound-{mail.id}"
        assert "approved by rita (reviewer)" in rita.get(f"/cases/{case}").text
    released = show_mail(held, actor="test", outbound_id=mail.id)
    assert released.status == "queued" and released.approval is not None
    assert (released.approval["decided_by"], released.approval["note"]) == (
        "rita", "dates checked")


def test_a_reviewer_rejects_a_held_reply_with_a_note(held, case) -> None:
    mail = reply(held, actor="anna", ref=case, body=DELAY, reply_kind="delay")
    with signed_in(held, "rita", "reviewer", SALES) as rita:
        token = form_token(rita, "/outbound")
        assert rita.post(f"/outbound/{mail.id}/reject",
                         data={"csrf": token, "note": " "}).status_code == 400
        answer = rita.post(f"/outbound/{mail.id}/reject",
                           data={"csrf": token, "note": "give the new date"})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/outbound?status=pending"
        page = rita.get("/outbound?status=rejected").text
        assert f'id="outbound-{mail.id}"' in page and "rejected by rita" in page
    assert show_mail(held, actor="test", outbound_id=mail.id).status == "rejected"


def test_the_reply_form_holds_a_reply_of_the_templates_kind_or_the_chosen_one(held, case):
    for name, kind in (("late-notice", "delay"), ("plain", "")):
        draft = create_template(held, actor="alice", name=name, subject="", reply_kind=kind,
                                body="Dear ${customer_name},\n\nabout your order.\n")
        approve_template(held, actor="bob", name=name, version=draft.version)
        publish_template(held, actor="bob", name=name, version=draft.version)
    with signed_in(held, "anna", "staff", SALES) as anna:
        page = anna.get(f"/cases/{case}/reply?template=late-notice").text
        assert "A delay reply: it may wait for a second person" in page
        token = csrf_of(page)
        assert anna.post(f"/cases/{case}/reply", data={
            "template": "late-notice", "version": "1", "csrf": token}).status_code == 303
        assert anna.post(f"/cases/{case}/reply", data={
            "template": "plain", "version": "1", "csrf": token}).status_code == 303
        assert anna.post(f"/cases/{case}/reply", data={
            "template": "plain", "version": "1", "kind": "defect",
            "csrf": token}).status_code == 303
        assert anna.post(f"/cases/{case}/reply", data={
            "template": "plain", "version": "1", "kind": "late",
            "csrf": token}).status_code == 409
    mails = list_mail(held, actor="test").items
    assert [(m.template_name, m.reply_kind, m.status) for m in mails] == [
        ("late-notice", "delay", "pending"), ("plain", "", "queued"),
        ("plain", "defect", "queued")]  # defect is not in this matrix
