"""Controlled documents: four eyes and the owner role, publish supersedes, every version stays
retrievable with the same sha256 (its access recorded), the database refuses to change bytes
or history, and a reply carries the published version's bytes with a record of who got which
version (checked in what the relay received and what the archive holds)."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from gateway.bootstrap import App
from gateway.core.errors import WorkflowError
from gateway.db.documents import DocumentSend
from gateway.db.models import CaseEvent
from gateway.db.outbound import OutboundMail
from gateway.services.compliance import audit_log
from gateway.services.documents import (
    add_document,
    approve_document,
    get_document,
    list_documents,
    publish_document,
    retire_document,
    show_document,
)
from gateway.services.outbound import deliver, list_mail, reply
from gateway.workflows import documents
from gateway.workflows.outbound import queue as outbound
from gateway.workflows.outbound.delivery import deliver_due
from tests.support.mail import make_message
from tests.support.outbound import CUSTOMER, receive
from tests.support.web import account, file_mail

SPEC_V1 = b"%PDF-1.4\n% pump housing PH-20 spec sheet, revision A\n" + bytes(range(256))
SPEC_V2 = b"%PDF-1.4\n% pump housing PH-20 spec sheet, revision B\n" + bytes(range(255, -1, -1))


def people(app: App) -> None:
    """alice drafts (staff); rita approves (reviewer, the owner role); ada is an admin."""
    for name, role in (("alice", "staff"), ("rita", "reviewer"), ("rob", "reviewer"),
                       ("ada", "admin"), ("cora", "compliance")):
        account(app, name, role)


def released(app: App, data: bytes = SPEC_V1, name: str = "spec-ph20") -> int:
    doc = add_document(app, actor="alice", name=name, data=data, filename="PH-20 spec.pdf",
                       title="PH-20 pump housing spec sheet", owner_role="reviewer")
    approve_document(app, actor="rita", name=name, version=doc.version)
    publish_document(app, actor="rita", name=name, version=doc.version)
    return doc.version


def test_four_eyes_and_the_owner_role_decide_who_approves(app: App) -> None:
    people(app)
    add_document(app, actor="rita", name="terms", data=b"terms v1\n", filename="terms.txt",
                 title="Terms of sale", owner_role="reviewer")
    with pytest.raises(WorkflowError, match="rita drafted terms v1: a different person"):
        approve_document(app, actor="rita", name="terms")
    with pytest.raises(WorkflowError, match="needs the owner role reviewer or admin, and "
                                            "alice has the role staff"):
        approve_document(app, actor="alice", name="terms")
    with pytest.raises(WorkflowError, match="mallory has no enabled account"):
        approve_document(app, actor="mallory", name="terms")
    with pytest.raises(WorkflowError, match="only an approved version can be published"):
        publish_document(app, actor="rob", name="terms", version=1)
    assert approve_document(app, actor="rob", name="terms").approved_by == "rob"
    with pytest.raises(WorkflowError, match="needs the owner role reviewer or admin, and "
                                            "cora has the role compliance"):
        publish_document(app, actor="cora", name="terms")
    published = publish_document(app, actor="rita", name="terms")
    assert (published.status, published.author, published.approved_by,
            published.published_by) == ("published", "rita", "rob", "rita")
    # A new version that hands the document to another owner needs an admin's approval.
    add_document(app, actor="alice", name="terms", data=b"terms v2\n", filename="terms.txt",
                 title="Terms of sale", owner_role="compliance")
    with pytest.raises(WorkflowError, match="needs an admin"):
        approve_document(app, actor="cora", name="terms")
    approve_document(app, actor="ada", name="terms")
    detail = show_document(app, actor="test", name="terms")
    assert [(e.version, e.action, e.actor) for e in detail.history] == [
        (1, "drafted", "rita"), (1, "approved", "rob"), (1, "published", "rita"),
        (2, "drafted", "alice"), (2, "approved", "ada")]
    assert detail.history[3].data["owner_role"] == {"from": "reviewer", "to": "compliance"}
    assert all(e.at for e in detail.history)


def test_publish_supersedes_and_every_version_stays_retrievable(app: App) -> None:
    people(app)
    released(app, SPEC_V1)
    add_document(app, actor="alice", name="spec-ph20", data=SPEC_V2, filename="PH-20 spec.pdf",
                 title="PH-20 pump housing spec sheet, rev B")
    # A new draft changes nothing about what is in force.
    assert documents_in_force_versions(app) == [("spec-ph20", 1)]
    approve_document(app, actor="rob", name="spec-ph20")
    publish_document(app, actor="rob", name="spec-ph20")
    assert [(v.version, v.status, v.sha256) for v in
            list_documents(app, actor="test").items] == [
        (1, "superseded", hashlib.sha256(SPEC_V1).hexdigest()),
        (2, "published", hashlib.sha256(SPEC_V2).hexdigest())]
    assert documents_in_force_versions(app) == [("spec-ph20", 2)]
    old = get_document(app, actor="cora", name="spec-ph20", version=1, purpose="audit")
    assert old.data == SPEC_V1 and old.version.status == "superseded"
    assert old.version.sha256 == hashlib.sha256(old.data).hexdigest()
    assert old.version.ended_by == "rob"
    [access] = audit_log(app, actor="test", action="view-document").rows
    assert access["seq"] == old.access_seq and access["actor"] == "cora"
    assert access["detail"] == {"document": "spec-ph20", "version": 1,
                                "sha256": old.version.sha256, "purpose": "audit"}
    retired = retire_document(app, actor="rita", name="spec-ph20", note="product withdrawn")
    assert (retired.version, retired.status) == (2, "retired")
    assert documents_in_force_versions(app) == []
    assert get_document(app, actor="cora", name="spec-ph20").data == SPEC_V2


def documents_in_force_versions(app: App) -> list[tuple[str, int]]:
    with app.db.session() as session:
        return [(d.name, d.version) for d in documents.documents_in_force(session)]


def test_the_database_refuses_to_change_bytes_versions_or_history(app: App) -> None:
    people(app)
    released(app)
    sha = hashlib.sha256(SPEC_V1).hexdigest()
    for statement in (
            "UPDATE document_blobs SET content = :evil",
            "DELETE FROM document_blobs",
            "UPDATE document_versions SET sha256 = :other",
            "UPDATE document_versions SET author = 'mallory'",
            "DELETE FROM document_versions",
            "UPDATE document_events SET actor = 'mallory'",
            "DELETE FROM document_events"):
        with pytest.raises(DBAPIError), app.db.session() as session:
            session.execute(text(statement), {"evil": b"evil", "other": "0" * 64})
    got = get_document(app, actor="cora", name="spec-ph20")
    assert (got.data, got.version.sha256, got.version.author) == (SPEC_V1, sha, "alice")


def test_bytes_changed_behind_the_triggers_back_are_refused_on_read(app: App) -> None:
    """An operator with the database's owner rights can switch a trigger off; the sha256
    recomputed on every read still catches the changed bytes."""
    people(app)
    released(app)
    with app.db.session() as session:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("DROP TRIGGER document_blobs_no_update"))
        else:
            session.execute(text("ALTER TABLE document_blobs DISABLE TRIGGER "
                                 "document_blobs_append_only"))
        session.execute(text("UPDATE document_blobs SET content = :evil"), {"evil": b"evil"})
    with pytest.raises(WorkflowError, match="no longer matches its sha256"):
        get_document(app, actor="cora", name="spec-ph20")
    [access] = audit_log(app, actor="test", action="view-document").rows
    assert access["actor"] == "cora"  # the attempt is on the record all the same
    with app.db.session() as session, pytest.raises(WorkflowError, match="no longer matches"):
        documents.document_bytes(session, "spec-ph20", 1)


def test_uploaded_names_never_become_paths() -> None:
    assert documents.display_name("../../etc/passwd") == "passwd"
    assert documents.display_name("C:\\Users\\x\\Spec sheet.pdf") == "Spec sheet.pdf"
    assert documents.display_name(".htaccess") == "htaccess"
    assert documents.display_name("a\r\nContent-Type: evil\x00.pdf") == (
        "a_Content-Type_ evil_.pdf")
    assert documents.display_name("x/y\x00z.pdf") == "y_z.pdf"
    assert documents.display_name("..") == "document"
    long = documents.display_name("x" * 300 + ".pdf")
    assert len(long) == documents.MAX_FILENAME_CHARS and long.endswith(".pdf")
    assert documents.content_type_of("spec.pdf") == "application/pdf"
    assert documents.content_type_of("spec") == "application/octet-stream"
    assert documents.content_type_of("forwarded.eml") == "application/octet-stream"


def test_bad_documents_are_refused(app: App) -> None:
    for name, data, role, reason in (
            ("Bad Name", b"x", "reviewer", "not a document name"),
            ("ok", b"", "reviewer", "the file is empty"),
            ("ok", b"x", None, "not an owner role"),
            ("ok", b"x", "sales", "not an owner role"),
            ("ok", b"x" * (documents.MAX_DOCUMENT_BYTES + 1), "reviewer", "more than")):
        with pytest.raises(WorkflowError, match=reason):
            add_document(app, actor="alice", name=name, data=data, filename="f.pdf",
                         title="T", owner_role=role)
    assert list_documents(app, actor="test").items == ()


def attachments(message: EmailMessage) -> list[tuple[str | None, str, bytes]]:
    return [(part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
            for part in message.iter_attachments()]


def test_a_reply_carries_the_published_version_and_records_who_got_which(
        started, tmp_path: Path) -> None:
    app, relay = started()
    people(app)
    receive(app, tmp_path / "in", make_message(subject="Spec sheet for PH-20?"))
    deliver_due(app)  # the acknowledgement
    relay.handler.received.clear()
    ref = list_mail(app, actor="test").items[0].case
    add_document(app, actor="alice", name="spec-ph20", data=SPEC_V1, filename="PH-20 spec.pdf",
                 title="PH-20 spec sheet", owner_role="reviewer")
    with pytest.raises(WorkflowError, match="has no published version"):
        reply(app, actor="alice", ref=ref, body="Attached.\n", attach_documents=["spec-ph20"])
    with pytest.raises(WorkflowError, match="no document 'nothing'"):
        reply(app, actor="alice", ref=ref, body="Attached.\n", attach_documents=["nothing"])
    assert [m.kind for m in list_mail(app, actor="test").items] == ["ack"]  # nothing queued
    approve_document(app, actor="rita", name="spec-ph20")
    publish_document(app, actor="rita", name="spec-ph20")
    first = reply(app, actor="alice", ref=ref, body="Attached, as asked.\n",
                  attach_documents=["spec-ph20"])
    assert [(d["name"], d["version"]) for d in first.documents] == [("spec-ph20", 1)]
    # v2 is published; a second reply to someone else carries v2.
    add_document(app, actor="alice", name="spec-ph20", data=SPEC_V2, filename="PH-20 spec.pdf",
                 title="PH-20 spec sheet rev B")
    approve_document(app, actor="rob", name="spec-ph20")
    publish_document(app, actor="rob", name="spec-ph20")
    second = reply(app, actor="alice", ref=ref, body="Revision B.\n",
                   to=["buyer@customer.example"], attach_documents=["spec-ph20"])
    deliver(app, actor="test")
    by_recipient = {got.rcpt_tos[0]: got for got in relay.handler.received}
    assert set(by_recipient) == {CUSTOMER, "buyer@customer.example"}
    for recipient, data in ((CUSTOMER, SPEC_V1), ("buyer@customer.example", SPEC_V2)):
        got = by_recipient[recipient]
        message = got.message()
        assert attachments(message) == [("PH-20 spec.pdf", "application/pdf", data)]
        assert message.get_body(("plain",)) is not None
        # What the archive holds is what left, attachment included.
        assert app.archive.read(hashlib.sha256(got.data).hexdigest()) == got.data
    with app.db.session() as session:
        sends = [(s.outbound_id, s.recipient, s.version, s.sha256) for s in session.scalars(
            select(DocumentSend).order_by(DocumentSend.id))]
        mails = {m.id: m for m in session.scalars(select(OutboundMail))}
        events = [e.data for e in session.scalars(select(CaseEvent).where(
            CaseEvent.kind == "document_attached").order_by(CaseEvent.id))]
        again = outbound.compose(mails[first.id], documents.attachments_for(
            session, [first.id])[first.id])
    assert sends == [(first.id, CUSTOMER, 1, hashlib.sha256(SPEC_V1).hexdigest()),
                     (second.id, "buyer@customer.example", 2,
                      hashlib.sha256(SPEC_V2).hexdigest())]
    assert [(e["outbound_id"], e["version"], e["to"]) for e in events] == [
        (first.id, 1, [CUSTOMER]), (second.id, 2, ["buyer@customer.example"])]
    # Composing again after a crash gives the very bytes that were archived and sent.
    assert hashlib.sha256(again).hexdigest() == mails[first.id].sha256
    assert again == by_recipient[CUSTOMER].data
    shown = show_document(app, actor="test", name="spec-ph20")
    assert [(s.version, s.recipient, s.case, s.outbound_id) for s in shown.sends] == [
        (1, CUSTOMER, ref, first.id), (2, "buyer@customer.example", ref, second.id)]


def test_the_command_line_keeps_and_hands_out_documents(app: App, cli, tmp_path) -> None:
    people(app)
    source = tmp_path / "Service description.txt"
    source.write_bytes("Service description — ü\n".encode())
    result = cli("documents", "add", "svc-desc", str(source), "--title", "Service description",
                 "--owner-role", "reviewer", "--as", "alice", "--json")
    assert result.code == 0, result.err
    assert result.json()["filename"] == "Service description.txt"
    refused = cli("documents", "approve", "svc-desc", "--as", "alice")
    assert refused.code == 1 and "a different person must approve" in refused.err
    assert cli("documents", "approve", "svc-desc", "--as", "rita").code == 0
    assert cli("documents", "publish", "svc-desc", "--version", "1", "--as", "rita").code == 0
    listing = cli("documents", "list", "--json").json()
    assert [(r["name"], r["version"], r["status"]) for r in listing] == [
        ("svc-desc", 1, "published")]
    shown = cli("documents", "show", "svc-desc", "--json").json()
    assert [e["action"] for e in shown["history"]] == ["drafted", "approved", "published"]
    text_out = cli("documents", "show", "svc-desc").out
    assert f"sha256 {hashlib.sha256(source.read_bytes()).hexdigest()}" in text_out
    out = tmp_path / "copy.bin"
    got = cli("documents", "get", "svc-desc", "--version", "1", "-o", str(out), "--as", "cora")
    assert got.code == 0, got.err
    assert out.read_bytes() == source.read_bytes()
    assert "access recorded" in got.out
    log = cli("audit", "log", "--action", "view-document", "--json").json()
    assert [(r["actor"], r["detail"]["document"]) for r in log] == [("cora", "svc-desc")]
    (ref,) = file_mail(app, tmp_path / "in", make_message(subject="Your service terms?"))
    body = tmp_path / "body.txt"
    body.write_text("Attached.\n")
    sent = cli("reply", ref, "--body-file", str(body), "--attach-document", "svc-desc",
               "--as", "alice")
    assert sent.code == 0, sent.err
    sha = shown["versions"][0]["sha256"]
    assert f"attached svc-desc v1 (Service description.txt, sha256 {sha})" in sent.out
    sends = cli("documents", "show", "svc-desc", "--json").json()["sends"]
    assert [(s["case"], s["version"], s["recipient"], s["actor"]) for s in sends] == [
        (ref, 1, CUSTOMER, "alice")]
