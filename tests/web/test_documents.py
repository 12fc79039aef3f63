"""The document pages and a reply with a controlled document attached: uploads become drafts
with a sanitised display name, the four-eyes and owner rules are the workflow's (a 409 page),
each step is in the history with the signed-in person, downloads of any version are recorded
in the access log, and the reply form attaches the published version only."""

from __future__ import annotations

import hashlib

import pytest

from gateway.services.compliance import audit_log
from gateway.services.documents import (
    add_document,
    approve_document,
    publish_document,
    show_document,
)
from gateway.services.outbound import approve_template as approve_t
from gateway.services.outbound import create_template, list_mail
from gateway.services.outbound import publish_template as publish_t
from tests.support.mail import make_message
from tests.support.outbound import SALES
from tests.support.web import SCRIPT, account, active_content, file_mail, form_token, signed_in

SPEC = b"%PDF-1.4\n% spec sheet\n" + bytes(range(256))
SPEC_B = b"%PDF-1.4\n% spec sheet rev B\n"


def released(app, data: bytes = SPEC) -> int:
    for name, role in (("alice", "staff"), ("rob", "reviewer")):
        account(app, name, role)
    doc = add_document(app, actor="alice", name="spec", data=data, filename="spec.pdf",
                       title="Spec sheet", owner_role="reviewer")
    approve_document(app, actor="rob", name="spec", version=doc.version)
    publish_document(app, actor="rob", name="spec", version=doc.version)
    return doc.version


def test_pages_need_a_session(app, client):
    for path in ("/documents", "/documents/spec", "/documents/spec/versions/1/download"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?")
    assert client.post("/documents/spec/versions/1/approve").status_code == 303


def test_upload_approve_publish_through_the_pages(app):
    with signed_in(app, "anna", "staff", SALES) as anna:
        token = form_token(anna, "/documents")
        answer = anna.post("/documents", data={
            "name": "spec", "title": "Spec sheet", "owner_role": "reviewer", "csrf": token},
            files={"file": ("../../etc/Spec <b>x.pdf", SPEC, "application/pdf")})
        assert answer.status_code == 303 and answer.headers["location"] == "/documents/spec"
        page = anna.get("/documents/spec").text
        assert "Approve v1" not in page  # staff is not the owner role
        assert anna.post("/documents/spec/versions/1/approve",
                         data={"csrf": token}).status_code == 409
    with signed_in(app, "rita", "reviewer", SALES) as rita:
        token = form_token(rita, "/documents/spec")
        assert "Approve v1" in rita.get("/documents/spec").text
        assert rita.post("/documents/spec/versions/1/approve",
                         data={"csrf": "forged"}).status_code == 403
        assert rita.post("/documents/spec/versions/1/approve",
                         data={"csrf": token}).status_code == 303
        assert rita.post("/documents/spec/versions/1/publish",
                         data={"csrf": token}).status_code == 303
        # rita uploads v2 herself, and may not approve her own version.
        assert rita.post("/documents", data={"name": "spec", "title": "Spec sheet B",
                                             "csrf": token},
                         files={"file": ("spec-b.pdf", SPEC_B, "application/pdf")}
                         ).status_code == 303
        refused = rita.post("/documents/spec/versions/2/approve", data={"csrf": token})
        assert refused.status_code == 409
        assert "rita drafted spec v2: a different person must approve it" in refused.text
        page = rita.get("/documents/spec").text
        listing = rita.get("/documents").text
    detail = show_document(app, actor="test", name="spec")
    v1, v2 = detail.versions
    assert v1.filename == "Spec _b_x.pdf" and v1.sha256 == hashlib.sha256(SPEC).hexdigest()
    assert (v1.status, v1.author, v1.approved_by, v1.published_by) == (
        "published", "anna", "rita", "rita")
    assert (v2.status, v2.owner_role) == ("draft", "reviewer")
    assert [(e.version, e.action, e.actor) for e in detail.history] == [
        (1, "drafted", "anna"), (1, "approved", "rita"), (1, "published", "rita"),
        (2, "drafted", "rita")]
    for event in detail.history:
        assert f"<td>{event.at}</td><td>v{event.version}</td><td>{event.action}</td>" in page
    assert f"<code>{v1.sha256}</code>" in page
    assert 'v1 · <code>' in listing and ">spec</a>" in listing


def test_compliance_reads_and_downloads_any_version_and_the_download_is_recorded(app):
    released(app, SPEC)
    add_document(app, actor="alice", name="spec", data=SPEC_B, filename="spec.pdf",
                 title="Spec sheet B")
    account(app, "ada", "admin")
    approve_document(app, actor="ada", name="spec")
    publish_document(app, actor="ada", name="spec")
    with signed_in(app, "cora", "compliance") as cora:
        page = cora.get("/documents/spec").text
        assert 'action="/documents"' not in page  # no upload form
        assert cora.get("/documents/nothing").status_code == 404
        old = cora.get("/documents/spec/versions/1/download")
        assert old.status_code == 200 and old.content == SPEC
        assert old.headers["content-type"] == "application/octet-stream"
        assert old.headers["content-disposition"].startswith('attachment; filename="spec.pdf"')
        token = form_token(cora, "/documents")
        assert cora.post("/documents", data={"name": "x", "title": "t", "owner_role": "admin",
                                             "csrf": token},
                         files={"file": ("x.txt", b"x", "text/plain")}).status_code == 403
    assert [v.status for v in show_document(app, actor="test", name="spec").versions] == [
        "superseded", "published"]
    [access] = audit_log(app, actor="test", action="view-document").rows
    assert (access["actor"], access["detail"]["version"], access["detail"]["sha256"]) == (
        "cora", 1, hashlib.sha256(SPEC).hexdigest())


@pytest.fixture
def case(app, tmp_path):
    (ref,) = file_mail(app, tmp_path / "in", make_message(subject="Spec sheet please"))
    return ref


def test_the_reply_form_attaches_the_published_version(app, case):
    released(app, SPEC)
    draft = create_template(app, actor="alice", name="quote", subject="Spec", body="Attached.\n")
    approve_t(app, actor="rob", name="quote", version=draft.version)
    publish_t(app, actor="rob", name="quote", version=draft.version)
    with signed_in(app, "anna", "staff", SALES) as anna:
        form = anna.get(f"/cases/{case}/reply?template=quote").text
        assert '<option value="spec:1">spec v1 · Spec sheet (spec.pdf)</option>' in form
        token = form_token(anna, f"/cases/{case}/reply")
        sent = {"template": "quote", "version": "1", "csrf": token}
        assert anna.post(f"/cases/{case}/reply", data={**sent, "document": "spec:0"}
                         ).status_code == 409
        assert anna.post(f"/cases/{case}/reply", data={**sent, "document": "nope:1"}
                         ).status_code == 409
        assert list_mail(app, actor="test").items == ()
        assert anna.post(f"/cases/{case}/reply", data={**sent, "document": "spec:1"}
                         ).status_code == 303
        page = anna.get("/documents/spec").text
    (mail,) = list_mail(app, actor="test").items
    (send,) = show_document(app, actor="test", name="spec").sends
    assert (send.outbound_id, send.version, send.case, send.actor) == (mail.id, 1, case, "anna")
    assert f"#outbound-{mail.id}" in page


def test_hostile_titles_and_file_names_stay_text(app):
    with signed_in(app, "rita", "reviewer") as rita:
        assert rita.post("/documents", data={
            "name": "spec", "title": SCRIPT, "owner_role": "reviewer",
            "csrf": form_token(rita, "/documents")},
            files={"file": (SCRIPT + ".pdf", b"x", "application/pdf")}).status_code == 303
        for path in ("/documents", "/documents/spec"):
            page = rita.get(path)
            assert page.status_code == 200 and SCRIPT not in page.text, path
            assert active_content(page.text) == [], path
