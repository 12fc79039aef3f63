"""Escalation of overdue cases: one event and one mail per breach, to the owner role's address."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.bootstrap import App
from gateway.db.events import case_by_ref
from gateway.db.models import CaseEvent
from gateway.db.outbound import OutboundMail
from gateway.processing.ingest import ingest
from gateway.workflows.lifecycle import escalate_overdue, mark_first_response, set_status
from tests.support.daemon import daemon_process
from tests.support.mail import make_message, write_messages
from tests.support.waiting import wait_for

COMPLAINT = ("Hello,\nthis is a formal complaint: the bearings arrived damaged, unacceptable."
             "\nAnna")
TARGETS = """
[[lifecycle.targets]]
category = "feedback"
owner_role = "quality"
first_response_hours = 8
resolution_hours = 48

[[lifecycle.targets]]
category = "enquiry"
first_response_hours = 4
"""
QUALITY = 'role_addresses = { quality = "quality-lead@northpoint.example" }\n'


def open_app(home, lifecycle_options=QUALITY):
    config = home / "commgate.toml"
    if "[lifecycle]" not in config.read_text():
        config.write_text(config.read_text() + "\n[lifecycle]\n" + lifecycle_options + TARGETS)
    return App.open(home)


@pytest.fixture
def lc_app(home):
    application = open_app(home)
    yield application
    application.close()


def file_mail(app, tmp_path, *messages):
    return ingest(app, write_messages(tmp_path / uuid.uuid4().hex, list(messages)))


def opened_at(app, ref="NPC-000001"):
    with app.db.session() as session:
        return case_by_ref(session, ref).opened_at


def escalations(app, ref="NPC-000001"):
    with app.db.session() as session:
        case = case_by_ref(session, ref)
        return [e.data for e in session.scalars(select(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == "escalated").order_by(CaseEvent.id))]


def mails(app):
    with app.db.session() as session:
        return [(m.kind, m.to_addrs, m.auto, m.subject) for m in session.scalars(
            select(OutboundMail).order_by(OutboundMail.id))]


def test_an_overdue_complaint_is_escalated_once_to_the_quality_role(lc_app, tmp_path):
    file_mail(lc_app, tmp_path, make_message(subject="Damaged bearings", body=COMPLAINT))
    opened = opened_at(lc_app)
    assert escalate_overdue(lc_app, now=opened + timedelta(hours=7)) == []
    now = opened + timedelta(hours=9)
    (done,) = escalate_overdue(lc_app, now=now)
    assert (done.case_ref, done.breach, done.role, done.address) == (
        "NPC-000001", "first_response", "quality", "quality-lead@northpoint.example")
    assert escalate_overdue(lc_app, now=now + timedelta(minutes=5)) == []
    (event,) = escalations(lc_app)
    assert event["breach"] == "first_response" and event["mail_id"] == done.mail_id
    assert event["due"] == (opened + timedelta(hours=8)).isoformat().replace("+00:00", "Z")
    ((kind, to, auto, subject),) = mails(lc_app)
    assert (kind, to, auto) == ("escalation", ["quality-lead@northpoint.example"], True)
    assert "first response" in subject and "NPC-000001" in subject
    with lc_app.db.session() as session:
        assert case_by_ref(session, "NPC-000001").escalated_at == now


def test_the_resolution_breach_is_escalated_again_after_the_first_response_one(lc_app,
                                                                               tmp_path):
    file_mail(lc_app, tmp_path, make_message(subject="Damaged bearings", body=COMPLAINT))
    opened = opened_at(lc_app)
    escalate_overdue(lc_app, now=opened + timedelta(hours=9))
    with lc_app.db.session() as session:
        mark_first_response(session, case_by_ref(session, "NPC-000001"),
                            opened + timedelta(hours=10), actor="alice")
    (done,) = escalate_overdue(lc_app, now=opened + timedelta(hours=49))
    assert done.breach == "resolution"
    assert escalate_overdue(lc_app, now=opened + timedelta(hours=50)) == []
    assert [e["breach"] for e in escalations(lc_app)] == ["first_response", "resolution"]
    assert len(mails(lc_app)) == 2


def test_resolved_and_answered_cases_are_not_escalated(lc_app, tmp_path):
    file_mail(lc_app, tmp_path, make_message(subject="Damaged bearings", body=COMPLAINT),
              make_message(sender="ben@other.example"))
    opened = opened_at(lc_app)
    with lc_app.db.session() as session:
        set_status(session, case_by_ref(session, "NPC-000001"), "resolved", "alice")
        mark_first_response(session, case_by_ref(session, "NPC-000002"), opened, actor="bob")
    assert escalate_overdue(lc_app, now=opened + timedelta(days=30)) == []
    assert mails(lc_app) == []


def test_a_role_without_an_address_is_recorded_once_then_mailed_once_configured(home,
                                                                               tmp_path,
                                                                               caplog):
    app = open_app(home, lifecycle_options="")
    try:
        file_mail(app, tmp_path, make_message())  # an enquiry: role "staff", 4 h
        now = opened_at(app) + timedelta(hours=5)
        (done,) = escalate_overdue(app, now=now)
        assert (done.role, done.address, done.mail_id) == ("staff", None, None)
        assert "set lifecycle.role_addresses.staff" in done.reason
        assert "set lifecycle.role_addresses.staff" in caplog.text
        assert escalate_overdue(app, now=now) == []
    finally:
        app.close()
    config = home / "commgate.toml"
    config.write_text(config.read_text().replace(
        "[lifecycle]\n", '[lifecycle]\nrole_addresses = { staff = "desk@northpoint.example" }\n'))
    app = App.open(home)
    try:
        (done,) = escalate_overdue(app, now=now)
        assert done.address == "desk@northpoint.example" and done.mail_id is not None
        assert escalate_overdue(app, now=now) == []
        assert [e["address"] for e in escalations(app)] == [None, "desk@northpoint.example"]
        assert [m[1] for m in mails(app)] == [["desk@northpoint.example"]]
    finally:
        app.close()


def test_cases_escalate_on_the_command_line(lc_app, tmp_path, cli):
    file_mail(lc_app, tmp_path, make_message(subject="Damaged bearings", body=COMPLAINT))
    with lc_app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        case.first_response_due = case.opened_at - timedelta(minutes=1)  # overdue already
    result = cli("cases", "escalate", "--json", "--as", "alice")
    assert result.code == 0, result.err
    (row,) = result.json()
    assert (row["case"], row["breach"], row["role"]) == ("NPC-000001", "first_response",
                                                         "quality")
    assert escalations(lc_app)[0]["run_by"] == "alice"
    assert cli("cases", "escalate", "--json").json() == []


def test_the_daemon_escalates_on_its_schedule(home, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    app = open_app(home, lifecycle_options=QUALITY + "escalate_every_minutes = 0.005\n")
    config = home / "commgate.toml"
    # Due about a second after the case opens: overdue by the time the daemon looks again.
    config.write_text(config.read_text().replace("first_response_hours = 8",
                                                 "first_response_hours = 0.0003")
                      + f'\n[[dropfolders]]\npath = "{drop}"\nsettle_seconds = 0.1\n')
    app.close()
    log_path = tmp_path / "daemon.log"
    with daemon_process(home, log_path) as daemon:
        (drop / "complaint.eml").write_bytes(make_message(subject="Damaged bearings",
                                                          body=COMPLAINT))
        wait_for(lambda: "escalated 1 overdue breach(es): NPC-000001 first_response"
                 in log_path.read_text(), what="the daemon's escalation run")
    assert daemon.returncode == 0, log_path.read_text()[-3000:]
    app = App.open(home)
    try:
        assert [e["breach"] for e in escalations(app)] == ["first_response"]
        assert [m[1] for m in mails(app)] == [["quality-lead@northpoint.example"]]
    finally:
        app.close()
