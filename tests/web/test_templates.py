"""The template pages and the reply from a published template: the four-eyes rule is the
workflow's (its refusal comes back as a 409 page), each step is in the template history with
the signed-in person, and a reply is queued as ``commgate reply`` queues it, with the person
as actor, without a way for a variable to add a header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.bootstrap import App
from gateway.services.cases import show_case
from gateway.services.outbound import (
    approve_template,
    create_template,
    deliver,
    list_mail,
    list_templates,
    publish_template,
    show_template,
)
from tests.support.mail import make_message
from tests.support.outbound import CUSTOMER, SALES, Relays, configure
from tests.support.smtp import LoopThread
from tests.support.web import (
    SCRIPT,
    active_content,
    file_mail,
    form_token,
    signed_in,
    xss_message,
)

SUPPORT = "support@northpoint.example"
QUOTE_BODY = "Dear ${customer_name},\n\nyour order ${order_no} ships this week.\n\n${actor}\n"


def publish(app: App, name: str = "quote", subject: str = "Your order", body: str = QUOTE_BODY
            ) -> int:
    """A published template, drafted by alice and approved and published by bob."""
    draft = create_template(app, actor="alice", name=name, subject=subject, body=body)
    approve_template(app, actor="bob", name=name, version=draft.version)
    publish_template(app, actor="bob", name=name, version=draft.version)
    return draft.version


@pytest.fixture
def case(app, tmp_path):
    """A customer's case in the sales queue."""
    (ref,) = file_mail(app, tmp_path / "in", make_message(subject="Order 20 pump housings"))
    return ref


def test_pages_need_a_session(app, client, case):
    for path in ("/templates", "/templates/quote", "/outbound", f"/cases/{case}/reply"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?")
    for path in ("/templates", "/templates/quote/versions/1/approve", f"/cases/{case}/reply"):
        assert client.post(path, data={"name": "x"}).status_code == 303
    assert list_templates(app, actor="test").items == ()


def test_compliance_reads_but_does_not_draft_approve_or_reply(app, case):
    publish(app)
    create_template(app, actor="alice", name="quote", subject="Your order", body="v2\n")
    with signed_in(app, "cora", "compliance") as cora:
        listing = cora.get("/templates")
        assert listing.status_code == 200 and ">quote</a>" in listing.text
        assert 'action="/templates"' not in listing.text  # no draft form
        detail = cora.get("/templates/quote?version=1")
        assert detail.status_code == 200 and "${order_no}" in detail.text
        assert "Approve v2" not in cora.get("/templates/quote").text
        assert cora.get("/templates/quote?version=3").status_code == 404
        assert cora.get("/templates/nothing").status_code == 404
        token = form_token(cora, "/templates")
        assert cora.post("/templates", data={"name": "x", "subject": "s", "body": "b",
                                             "csrf": token}).status_code == 403
        assert cora.post("/templates/quote/versions/2/approve",
                         data={"csrf": token}).status_code == 403
        assert cora.get(f"/cases/{case}/reply").status_code == 403
        assert cora.post(f"/cases/{case}/reply", data={
            "template": "quote", "version": "1", "name": "order_no", "value": "4711",
            "csrf": token}).status_code == 403
        assert cora.get("/outbound").status_code == 200
    assert [t.status for t in list_templates(app, actor="test").items] == ["published", "draft"]
    assert list_mail(app, actor="test").items == ()


def test_staff_drafts_but_does_not_approve_or_publish(app):
    with signed_in(app, "anna", "staff", SALES) as anna:
        token = form_token(anna, "/templates")
        assert anna.post("/templates", data={"name": "quote", "subject": "Your order",
                                             "body": QUOTE_BODY, "csrf": token}
                         ).status_code == 303
        assert "Approve v1" not in anna.get("/templates/quote").text
        for action in ("approve", "publish"):
            assert anna.post(f"/templates/quote/versions/1/{action}",
                             data={"csrf": token}).status_code == 403
    assert show_template(app, actor="test", name="quote").status == "draft"


def test_forms_without_the_csrf_token_are_refused(app, case):
    create_template(app, actor="alice", name="draft-only", subject="s", body="b\n")
    publish(app)
    with signed_in(app, "rita", "reviewer", SALES) as rita:
        assert rita.post("/templates", data={"name": "new", "subject": "s",
                                             "body": "b"}).status_code == 403
        assert rita.post("/templates/draft-only/versions/1/approve",
                         data={"csrf": "forged"}).status_code == 403
        assert rita.post(f"/cases/{case}/reply", data={
            "template": "quote", "version": "1", "name": "order_no",
            "value": "4711"}).status_code == 403
    assert [(t.name, t.status) for t in list_templates(app, actor="test").items] == [
        ("draft-only", "draft"), ("quote", "published")]
    assert list_mail(app, actor="test").items == ()


def test_draft_approved_by_another_person_then_published(app):
    with signed_in(app, "anna", "staff", SALES) as anna:
        answer = anna.post("/templates", data={
            "name": "quote", "subject": "Your order ${order_no}",
            "body": QUOTE_BODY.replace("\n", "\r\n"), "csrf": form_token(anna, "/templates")})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/templates/quote?version=1"
        page = anna.get(answer.headers["location"]).text
        assert "<code>order_no</code> (asked when replying)" in page
        assert "<code>customer_name</code>," in page
    with signed_in(app, "rita", "reviewer", SALES) as rita:
        token = form_token(rita, "/templates/quote")
        assert "Approve v1" in rita.get("/templates/quote").text
        assert rita.post("/templates/quote/versions/1/approve",
                         data={"csrf": token}).status_code == 303
        assert "Publish v1" in rita.get("/templates/quote").text
        assert rita.post("/templates/quote/versions/1/publish",
                         data={"csrf": token}).status_code == 303
        page = rita.get("/templates/quote").text
    template = show_template(app, actor="test", name="quote")
    assert (template.status, template.author, template.approved_by) == (
        "published", "anna", "rita")
    assert template.body == QUOTE_BODY  # the textarea's CR LF read as the CLI reads a file
    assert [(e.action, e.actor) for e in template.history] == [
        ("created", "anna"), ("approved", "rita"), ("published", "rita")]
    for event in template.history:
        assert f"<td>{event.at}</td><td>v1</td><td>{event.action}</td><td>{event.actor}</td>" \
            in page


def test_a_new_version_retires_the_published_one(app):
    publish(app)
    with signed_in(app, "anna", "staff", SALES) as anna:
        assert anna.post("/templates", data={
            "name": "quote", "subject": "Your order", "body": "Shipped.\n",
            "csrf": form_token(anna, "/templates/quote")}).status_code == 303
    with signed_in(app, "ada", "admin") as ada:
        token = form_token(ada, "/templates")
        for action in ("approve", "publish"):
            assert ada.post(f"/templates/quote/versions/2/{action}",
                            data={"csrf": token}).status_code == 303
        listing = ada.get("/templates").text
    assert [(t.version, t.status) for t in list_templates(app, actor="test").items] == [
        (1, "retired"), (2, "published")]
    assert 'v2</a>\n        <span class="status">published</span>' in listing


def test_the_author_cannot_approve_their_own_draft(app):
    with signed_in(app, "rita", "reviewer", SALES) as rita:
        token = form_token(rita, "/templates")
        assert rita.post("/templates", data={"name": "quote", "subject": "s",
                                             "body": QUOTE_BODY, "csrf": token}
                         ).status_code == 303
        answer = rita.post("/templates/quote/versions/1/approve", data={"csrf": token})
        assert answer.status_code == 409
        assert "rita wrote quote v1: a different person must approve it" in answer.text
        # Publishing a draft is refused by the workflow too.
        assert rita.post("/templates/quote/versions/1/publish",
                         data={"csrf": token}).status_code == 409
    template = show_template(app, actor="test", name="quote")
    assert template.status == "draft" and template.approved_by is None
    assert [e.action for e in template.history] == ["created"]


def test_a_reply_from_a_published_template_is_queued_as_the_person(app, case):
    publish(app)
    create_template(app, actor="alice", name="unpublished", subject="s", body="b\n")
    with signed_in(app, "anna", "staff", SALES) as anna:
        assert f'href="/cases/{case}/reply"' in anna.get(f"/cases/{case}").text
        chooser = anna.get(f"/cases/{case}/reply").text
        assert ">quote v1</option>" in chooser and "unpublished" not in chooser
        assert anna.get(f"/cases/{case}/reply?template=unpublished").status_code == 404
        form = anna.get(f"/cases/{case}/reply?template=quote").text
        assert 'name="name" value="order_no"' in form
        assert 'name="name" value="customer_name"' not in form  # filled in by the service
        token = form_token(anna, f"/cases/{case}/reply")
        sent = {"template": "quote", "version": "1", "csrf": token}
        # Only the variables the form asks for, each filled in.
        assert anna.post(f"/cases/{case}/reply", data=sent).status_code == 400
        assert anna.post(f"/cases/{case}/reply", data={
            **sent, "name": ["order_no", "customer_name"], "value": ["4711", "Mallory"]}
            ).status_code == 400
        assert anna.post(f"/cases/{case}/reply", data={
            **sent, "name": "order_no", "value": " "}).status_code == 400
        assert anna.post(f"/cases/{case}/reply", data={
            **sent, "version": "0", "name": "order_no", "value": "4711"}).status_code == 409
        assert list_mail(app, actor="test").items == ()
        answer = anna.post(f"/cases/{case}/reply", data={
            **sent, "name": "order_no", "value": "4711"})
        assert answer.status_code == 303
        (mail,) = list_mail(app, actor="test").items
        assert answer.headers["location"] == f"/cases/{case}#outbound-{mail.id}"
        page = anna.get(f"/cases/{case}").text
        outbox = anna.get("/outbound").text
    assert (mail.case, mail.kind, mail.status, mail.actor) == (case, "reply", "queued", "anna")
    assert (mail.template_name, mail.template_version, mail.to) == ("quote", 1, (CUSTOMER,))
    assert mail.subject == f"Your order [{case}]"
    (event,) = [e for e in show_case(app, actor="test", ref=case).events
                if e.kind == "outbound_queued"]
    assert event.actor == "anna" and event.data["outbound_id"] == mail.id
    for html in (page, outbox):
        assert f'<tr id="outbound-{mail.id}">' in html
        assert f"<td>Your order [{case}]</td>" in html and "<td>anna</td>" in html


def test_a_reply_needs_the_cases_queue(app, case):
    publish(app)
    with signed_in(app, "sam", "staff", SUPPORT) as sam:
        assert sam.get(f"/cases/{case}/reply").status_code == 403
        assert sam.post(f"/cases/{case}/reply", data={
            "template": "quote", "version": "1", "name": "order_no", "value": "4711",
            "csrf": form_token(sam, "/templates")}).status_code == 403
    assert list_mail(app, actor="test").items == ()


def test_hostile_text_in_the_case_and_the_variables_stays_text(app, tmp_path):
    (ref,) = file_mail(app, tmp_path / "in", xss_message(SALES))
    publish(app, subject="")  # the reply's subject is Re: the customer's subject
    with signed_in(app, "anna", "staff", SALES) as anna:
        assert anna.post(f"/cases/{ref}/reply", data={
            "template": "quote", "version": "1", "name": "order_no", "value": SCRIPT,
            "csrf": form_token(anna, "/templates")}).status_code == 303
        (mail,) = list_mail(app, actor="test").items
        assert SCRIPT in mail.subject
        for path in (f"/cases/{ref}/reply?template=quote", "/outbound", f"/cases/{ref}"):
            page = anna.get(path)
            assert page.status_code == 200 and SCRIPT not in page.text, path
            assert active_content(page.text) == [], path


@pytest.fixture
def relay(home: Path) -> Iterator[Relays]:
    thread = LoopThread()
    relays = Relays(thread)
    yield relays
    relays.close()
    thread.close()


INJECTION = "4711\r\nBcc: victim@elsewhere.example\r\nX-Injected: yes"


def test_a_line_break_in_a_subject_variable_is_refused(app, case):
    publish(app, subject="Your order ${order_no}")
    with signed_in(app, "anna", "staff", SALES) as anna:
        answer = anna.post(f"/cases/{case}/reply", data={
            "template": "quote", "version": "1", "name": "order_no", "value": INJECTION,
            "csrf": form_token(anna, "/templates")})
    assert answer.status_code == 409 and "contains a line break" in answer.text
    assert list_mail(app, actor="test").items == ()


def test_a_line_break_in_a_body_variable_stays_body_text(app, case, home, relay):
    publish(app)
    with signed_in(app, "anna", "staff", SALES) as anna:
        assert anna.post(f"/cases/{case}/reply", data={
            "template": "quote", "version": "1", "name": "order_no", "value": INJECTION,
            "csrf": form_token(anna, "/templates")}).status_code == 303
        server = relay.start()
        configure(home, server.port, acknowledge=False)
        worker = App.open(home)
        try:
            report = deliver(worker, actor="test")
        finally:
            worker.close()
        page = anna.get(f"/cases/{case}").text
    assert len(report.sent) == 1
    (got,) = server.handler.received
    message = got.message()
    assert got.rcpt_tos == [CUSTOMER] and message["To"] == CUSTOMER
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert "your order 4711\nBcc: victim@elsewhere.example\nX-Injected: yes ships" in (
        message.get_content().replace("\r\n", "\n"))
    # Archived before it left, filed into the case: the timeline shows it with its sha256.
    (mail,) = list_mail(app, actor="test").items
    assert mail.status == "sent" and mail.sha256 and mail.actor == "anna"
    (filed,) = [m for m in show_case(app, actor="test", ref=case).messages
                if m["direction"] == "outbound"]
    assert filed["sha256"] == mail.sha256
    assert f'<li class="message outbound" id="message-{filed["id"]}">' in page
    assert f"sha256 {mail.sha256}" in page
