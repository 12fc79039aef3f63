"""Four-eyes on non-happy-path mail (issue 15 item 3): a reply the [approval] matrix names is
held, never relayed, until a second person holding the role approves it; a rejected one never
leaves; a long wait is escalated once per interval; every step is a case event. Through the
CLI on a real database and a real aiosmtpd relay on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import pwd
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.bootstrap import App
from gateway.config import CONFIG_NAME, Settings, parse_config
from gateway.core.errors import ConfigError, WorkflowError
from gateway.db.events import case_by_ref
from gateway.db.models import Case, CaseEvent
from gateway.db.outbound import OutboundApproval, OutboundMail
from gateway.workflows import feedback, mock_audit, templates
from gateway.workflows.outbound import approval, delivery
from gateway.workflows.outbound import queue as outbound
from gateway.workflows.outbound.approval_wait import escalate_waiting
from gateway.workflows.reviews import decide_review, pending_review
from tests.support.cases import CHANGE, ORDER, file
from tests.support.daemon import daemon_process
from tests.support.mail import make_message
from tests.support.outbound import CUSTOMER, receive
from tests.support.waiting import wait_for
from tests.support.web import account

ME = pwd.getpwuid(os.geteuid()).pw_name  # the OS user: the actor of every command here
REVIEWERS = "reviewers@northpoint.example"
MATRIX = f"""
[approval]
kinds = {{ delay = "reviewer", defect = "reviewer", scope-change-confirmation = "reviewer" }}
states = {{ complaint = "compliance", scope-change-pending = "reviewer" }}
escalate_after_minutes = 60

[lifecycle]
role_addresses = {{ reviewer = "{REVIEWERS}" }}
"""
DELAY = "Dear Anna,\n\nyour 20 manifold blocks ship two weeks late, on 18 December.\n"


@pytest.fixture
def held_app(home: Path, started):  # type: ignore[no-untyped-def]
    """Outbound on (a real relay), the matrix above, and the people: alice and carol (staff)
    write replies, bob is a reviewer, quinn compliance, root an admin."""
    config = home / CONFIG_NAME
    config.write_text(config.read_text() + MATRIX)
    app, relay = started()
    for name, role in (("alice", "staff"), ("carol", "staff"), ("bob", "reviewer"),
                       ("quinn", "compliance"), ("root", "admin")):
        account(app, name, role)
    return app, relay


def customer_case(app: App, tmp_path: Path, subject: str = "RFQ 20 manifold blocks") -> str:
    receive(app, tmp_path / uuid.uuid4().hex, make_message(subject=subject))
    delivery.deliver_due(app)  # the acknowledgement leaves; what follows is the reply
    with app.db.session() as session:
        return str(session.scalars(select(Case.ref).order_by(Case.id.desc())).first())


def kinds_of_events(app: App, ref: str) -> list[tuple[str, str]]:
    """Kind and who: the actor, or for a command-line action the ``--as`` claim beside the OS
    user (the staff identity the command acted as)."""
    with app.db.session() as session:
        case = case_by_ref(session, ref)
        return [(e.kind, e.claimed_as if e.actor == ME and e.claimed_as else e.actor)
                for e in session.scalars(select(CaseEvent).where(
                    CaseEvent.case_id == case.id, CaseEvent.kind.like("outbound_%")
                    | (CaseEvent.kind == "approval_escalated")).order_by(CaseEvent.id))]


def replies_received(relay) -> list:  # type: ignore[no-untyped-def]
    return [r for r in relay.handler.received if r.message()["Auto-Submitted"] is None]


def test_a_delay_notice_is_not_sent_before_a_second_person_approves_it(
        held_app, tmp_path, cli) -> None:
    app, relay = held_app
    ref = customer_case(app, tmp_path)
    body = tmp_path / "delay.txt"
    body.write_text(DELAY)
    queued = cli("reply", ref, "--body-file", str(body), "--kind", "delay", "--as", "alice",
                 "--json")
    assert queued.code == 0, queued.err
    mail = queued.json()
    assert (mail["status"], mail["reply_kind"], mail["approval"]["role"],
            mail["approval"]["reasons"]) == ("pending", "delay", "reviewer", ["kind:delay"])
    outbound_id = str(mail["id"])

    assert cli("outbound", "deliver").code == 0
    assert replies_received(relay) == []  # held: nothing reached the relay
    pending = cli("outbound", "list", "--pending", "--json").json()
    assert [m["id"] for m in pending] == [mail["id"]]

    own = cli("outbound", "approve", outbound_id, "--as", "alice")
    assert own.code != 0 and "a different person must approve it" in own.err
    wrong_role = cli("outbound", "approve", outbound_id, "--as", "carol")
    assert wrong_role.code != 0 and "needs approval by the role reviewer" in wrong_role.err
    no_account = cli("outbound", "approve", outbound_id, "--as", "mallory")
    assert no_account.code != 0 and "has no enabled account" in no_account.err
    assert cli("outbound", "deliver").code == 0
    assert replies_received(relay) == []  # still held after three refused approvals

    approved = cli("outbound", "approve", outbound_id, "--as", "bob", "--json")
    assert approved.code == 0, approved.err
    assert approved.json()["approval"]["decided_by"] == "bob"
    assert cli("outbound", "deliver").code == 0
    [sent] = replies_received(relay)
    assert sent.rcpt_tos == [CUSTOMER] and "ship two weeks late" in sent.message().get_content()
    assert cli("outbound", "approve", outbound_id, "--as", "root").code != 0  # decided once
    # What the auditor is shown: held by its author, approved by another, and only then sent.
    with app.db.session() as session:  # the command-line actions' actor is the OS user
        assert {e.actor for e in session.scalars(select(CaseEvent).where(
            CaseEvent.claimed_as.is_not(None)))} == {ME}
    assert kinds_of_events(app, ref)[-4:] == [
        ("outbound_queued", "alice"), ("outbound_held", "alice"),
        ("outbound_approved", "bob"), ("outbound_sent", "system")]


def test_a_rejected_reply_from_a_defect_template_is_never_sent(held_app, tmp_path, cli) -> None:
    app, relay = held_app
    ref = customer_case(app, tmp_path)
    with app.db.session() as session:
        draft = templates.create(session, "defect-notice", "Defect: ${subject}",
                                 "Dear ${customer_name},\n\nlot 42 is defective.\n", "alice",
                                 reply_kind="defect")
        templates.approve(session, "defect-notice", draft.version, "bob")
        templates.publish(session, "defect-notice", draft.version, "bob")
    queued = cli("reply", ref, "--template", "defect-notice", "--as", "carol")
    assert queued.code == 0 and "held reply" in queued.out, queued.err
    [held] = cli("outbound", "list", "--pending", "--json").json()
    assert held["reply_kind"] == "defect"  # from the template's declared kind
    outbound_id = str(held["id"])

    with pytest.raises(SystemExit):  # argparse: --note is required
        cli("outbound", "reject", outbound_id, "--as", "bob")
    with pytest.raises(WorkflowError, match="needs a note"), app.db.session() as session:
        approval.reject(session, held["id"], actor="bob", note="  ")
    rejected = cli("outbound", "reject", outbound_id, "--as", "bob", "--note",
                   "name the lot numbers and the replacement date")
    assert rejected.code == 0, rejected.err
    assert cli("outbound", "approve", outbound_id, "--as", "root").code != 0
    assert cli("outbound", "deliver").code == 0
    assert replies_received(relay) == []
    [row] = cli("outbound", "list", "--status", "rejected", "--json").json()
    assert (row["status"], row["sha256"], row["approval"]["note"]) == (
        "rejected", None, "name the lot numbers and the replacement date")
    assert kinds_of_events(app, ref)[-3:] == [
        ("outbound_queued", "carol"), ("outbound_held", "carol"), ("outbound_rejected", "bob")]


def test_any_reply_on_a_complaint_case_needs_the_state_role(held_app, tmp_path, cli) -> None:
    app, _ = held_app
    complaint = customer_case(app, tmp_path, "Damaged bearings")
    other = customer_case(app, tmp_path, "Question about part 1234")
    with app.db.session() as session:
        feedback.classify_feedback(session, case_by_ref(session, complaint), actor="alice",
                                   feedback_type="complaint")
    body = tmp_path / "answer.txt"
    body.write_text("Dear Anna,\n\nwe are looking into it.\n")
    on_complaint = cli("reply", complaint, "--body-file", str(body), "--as", "alice", "--json")
    on_other = cli("reply", other, "--body-file", str(body), "--as", "alice", "--json")
    assert on_other.json()["status"] == "queued" and on_other.json()["approval"] is None
    held = on_complaint.json()
    assert (held["status"], held["approval"]["role"], held["approval"]["reasons"]) == (
        "pending", "compliance", ["state:complaint"])
    refused = cli("outbound", "approve", str(held["id"]), "--as", "bob")
    assert "needs approval by the role compliance" in refused.err
    assert cli("outbound", "approve", str(held["id"]), "--as", "quinn").code == 0
    # The kind's role wins over the state's: a delay notice on the complaint is the reviewer's.
    delay = cli("reply", complaint, "--body-file", str(body), "--kind", "delay", "--as",
                "alice", "--json").json()
    assert (delay["approval"]["role"], delay["approval"]["reasons"]) == (
        "reviewer", ["kind:delay", "state:complaint"])


def test_a_scope_change_and_its_confirmation_wait_for_the_reviewer(held_app, tmp_path,
                                                                   cli) -> None:
    app, relay = held_app
    file(app, tmp_path, ORDER, CHANGE)
    body = tmp_path / "received.txt"
    body.write_text("Dear Anna,\n\nwe received your change and are checking it.\n")
    # While the change waits for review, any reply on the case needs the reviewer.
    interim = cli("reply", "NPC-000001", "--body-file", str(body), "--as", "alice",
                  "--json").json()
    assert (interim["status"], interim["approval"]["reasons"]) == (
        "pending", ["state:scope-change-pending"])
    with app.db.session() as session:
        draft = templates.create(session, "scope-change-approved", "Your change on ${case_ref}",
                                 "We accept your change: ${change}.\n", "alice")
        templates.approve(session, "scope-change-approved", draft.version, "bob")
        templates.publish(session, "scope-change-approved", draft.version, "bob")
        case = case_by_ref(session, "NPC-000001")
        review = decide_review(session, app.settings, case, pending_review(session, case),
                               approve=True, note="capacity checked", actor="root")
        confirmation_id = review.confirmation_mail_id
    [confirmation] = [m for m in cli("outbound", "list", "--pending", "--json").json()
                      if m["id"] == confirmation_id]
    assert (confirmation["kind"], confirmation["reply_kind"],
            confirmation["approval"]["reasons"]) == (
        "confirmation", "scope-change-confirmation", ["kind:scope-change-confirmation"])
    cli("outbound", "deliver")
    assert replies_received(relay) == []
    assert cli("outbound", "approve", str(confirmation_id), "--as", "root").code != 0  # author
    assert cli("outbound", "approve", str(confirmation_id), "--as", "bob").code == 0
    cli("outbound", "deliver")
    [sent] = replies_received(relay)
    assert "We accept your change" in sent.message().get_content()
    assert [m["status"] for m in cli("outbound", "list", "--case", "NPC-000001",
                                     "--json").json() if m["kind"] != "ack"] == [
        "pending", "sent"]  # the interim reply still waits


def test_the_daemon_escalates_a_long_wait_on_its_schedule(home, tmp_path) -> None:
    config = home / CONFIG_NAME
    config.write_text(config.read_text() + MATRIX.replace(
        "escalate_after_minutes = 60", "escalate_after_minutes = 0.002").replace(
        "[lifecycle]\n", "[lifecycle]\nescalate_every_minutes = 0.005\n"))
    app = App.open(home)
    try:
        account(app, "alice", "staff")
        receive(app, tmp_path / "in", make_message(subject="RFQ 20 manifold blocks"))
        with app.db.session() as session:
            outbound.queue_mail(session, app.settings, case_by_ref(session, "NPC-000001"),
                                kind="reply", to=CUSTOMER, actor="alice", body=DELAY,
                                reply_kind="delay")
    finally:
        app.close()
    log_path = tmp_path / "daemon.log"
    with daemon_process(home, log_path) as daemon:
        wait_for(lambda: "escalated 1 repl(ies) waiting for approval: NPC-000001 outbound 1"
                 in log_path.read_text(), what="the daemon's approval escalation")
    assert daemon.returncode == 0, log_path.read_text()[-3000:]
    app = App.open(home)
    try:
        with app.db.session() as session:
            escalations = list(session.scalars(select(OutboundMail).where(
                OutboundMail.kind == "escalation")))
            assert escalations and {tuple(m.to_addrs) for m in escalations} == {(REVIEWERS,)}
            assert session.scalars(select(OutboundMail.status).where(
                OutboundMail.id == 1)).one() == "pending"
    finally:
        app.close()


def test_a_long_wait_is_escalated_once_per_interval_to_the_roles_address(
        held_app, tmp_path, cli) -> None:
    app, relay = held_app
    ref = customer_case(app, tmp_path)
    with app.db.session() as session:
        mail = outbound.queue_mail(session, app.settings, case_by_ref(session, ref),
                                   kind="reply", to=CUSTOMER, actor="alice", body=DELAY,
                                   reply_kind="delay")
        mail_id = mail.id
        held_at = session.scalars(select(OutboundApproval.held_at)).one()
    assert escalate_waiting(app, now=held_at + timedelta(minutes=59)) == []
    [first] = escalate_waiting(app, now=held_at + timedelta(minutes=61))
    assert (first.outbound_id, first.role, first.address) == (mail_id, "reviewer", REVIEWERS)
    assert escalate_waiting(app, now=held_at + timedelta(minutes=62)) == []  # once per wait
    assert escalate_waiting(app, now=held_at + timedelta(minutes=90)) == []
    delivery.deliver_due(app)
    escalations = [r for r in relay.handler.received if r.rcpt_tos == [REVIEWERS]]
    assert len(escalations) == 1
    message = escalations[0].message()
    assert message["Auto-Submitted"] == "auto-generated"
    assert f"commgate outbound approve {mail_id}" in message.get_content()
    assert replies_received(relay) == []  # the escalation is not the reply
    [again] = escalate_waiting(app, now=held_at + timedelta(minutes=122))  # a second interval
    assert again.outbound_id == mail_id
    assert kinds_of_events(app, ref).count(("approval_escalated", "system")) == 2
    assert cli("outbound", "approve", str(mail_id), "--as", "bob").code == 0
    assert escalate_waiting(app, now=held_at + timedelta(minutes=500)) == []  # decided


def test_a_role_without_an_address_is_recorded_not_mailed(held_app, tmp_path) -> None:
    app, _ = held_app
    ref = customer_case(app, tmp_path, "Damaged bearings")
    with app.db.session() as session:
        case = case_by_ref(session, ref)
        feedback.classify_feedback(session, case, actor="alice", feedback_type="complaint")
        outbound.queue_mail(session, app.settings, case, kind="reply", to=CUSTOMER,
                            actor="alice", body="We are sorry.\n")
        held_at = session.scalars(select(OutboundApproval.held_at)).one()
    [done] = escalate_waiting(app, now=held_at + timedelta(minutes=61))
    assert (done.role, done.address, done.mail_id) == ("compliance", None, None)
    assert "lifecycle.role_addresses.compliance" in done.reason
    assert escalate_waiting(app, now=held_at + timedelta(minutes=62)) == []


def test_automatic_mail_is_never_held(held_app, tmp_path) -> None:
    """The acknowledgement of a new complaint case goes out although the case's state is in
    the matrix: nobody wrote it, so there is nobody to be a second person to."""
    app, relay = held_app
    receive(app, tmp_path / "c", make_message(subject="Complaint: damaged bearings"))
    delivery.deliver_due(app)
    assert [m["Auto-Submitted"] for m in (r.message() for r in relay.handler.received)] == [
        "auto-replied"]


def test_the_audit_finds_replies_sent_without_the_approval_they_needed(
        held_app, tmp_path) -> None:
    app, _ = held_app
    ref = customer_case(app, tmp_path)
    no_matrix = Settings(app.settings.home, app.settings.config.model_copy(
        update={"approval": parse_config("").approval}))
    with app.db.session() as session:
        case = case_by_ref(session, ref)
        # Queued while the matrix was empty (not held), and one held and approved.
        unchecked = outbound.queue_mail(session, no_matrix, case, kind="reply", to=CUSTOMER,
                                        actor="alice", body=DELAY, reply_kind="delay")
        checked = outbound.queue_mail(session, app.settings, case, kind="reply", to=CUSTOMER,
                                      actor="alice", body=DELAY, reply_kind="delay")
        plain = outbound.queue_mail(session, app.settings, case, kind="reply", to=CUSTOMER,
                                    actor="alice", body="Thanks.\n")
        ids = unchecked.id, checked.id, plain.id
        since = unchecked.created_at - timedelta(minutes=1)
    with app.db.session() as session:
        approval.approve(session, ids[1], actor="bob")
    delivery.deliver_due(app)
    with app.db.session() as session:
        assert [m.status for m in session.scalars(select(OutboundMail).where(
            OutboundMail.id.in_(ids)).order_by(OutboundMail.id))] == ["sent"] * 3
        missing = approval.sent_without_approval(session, app.settings, since)
        assert [(m["outbound_id"], m["role"], m["reasons"]) for m in missing] == [
            (ids[0], "reviewer", ["kind:delay"])]
        assert approval.approval_of(session, ids[0]) is None
        record = approval.approval_of(session, ids[1])
        assert record is not None and (record["status"], record["decided_by"]) == (
            "approved", "bob")


@pytest.mark.parametrize(("text", "message"), [
    ('[approval]\nkinds = { delays = "reviewer" }',
     "approval.kinds: unknown reply kind 'delays'; expected one of delay, defect, incident, "
     "complaint-response, scope-change-confirmation"),
    ('[approval]\nkinds = { delay = "boss" }',
     "approval.kinds: delay = 'boss' is not an account role; expected one of staff, reviewer, "
     "compliance, admin"),
    ('[approval]\nstates = { "on-fire" = "reviewer" }',
     "approval.states: unknown case state 'on-fire'; expected one of complaint, "
     "scope-change-pending, property-incident"),
    ("[approval]\nescalate_after_minutes = 0",
     "approval.escalate_after_minutes: input should be greater than 0"),
    ('[approval]\nescalate_after = 5', "unknown key 'escalate_after' in approval"),
])
def test_a_bad_matrix_is_one_line_that_says_what_is_expected(text, message) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(text, "commgate.toml")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_an_unknown_reply_kind_is_refused(held_app, tmp_path, cli) -> None:
    app, _ = held_app
    ref = customer_case(app, tmp_path)
    with (pytest.raises(WorkflowError, match="'late' is not a kind of reply"),
          app.db.session() as session):
        outbound.queue_mail(session, app.settings, case_by_ref(session, ref), kind="reply",
                            to=CUSTOMER, actor="alice", body="x\n", reply_kind="late")
    body = tmp_path / "b.txt"
    body.write_text("x\n")
    with pytest.raises(SystemExit):  # argparse: not one of the choices
        cli("reply", ref, "--body-file", str(body), "--kind", "late")


def test_the_evidence_report_says_who_held_and_who_approved(held_app, tmp_path) -> None:
    from gateway.evidence.report import describe

    app, _ = held_app
    ref = customer_case(app, tmp_path)
    with app.db.session() as session:
        mail = outbound.queue_mail(session, app.settings, case_by_ref(session, ref),
                                   kind="reply", to=CUSTOMER, actor="alice", body=DELAY,
                                   reply_kind="delay")
        mail_id = mail.id
    with app.db.session() as session:
        approval.approve(session, mail_id, actor="bob", note="dates checked")
    with app.db.session() as session:
        lines = [describe({"kind": e.kind, "data": e.data}) for e in session.scalars(
            select(CaseEvent).where(CaseEvent.kind.in_(("outbound_held", "outbound_approved")))
            .order_by(CaseEvent.id))]
    assert lines == [f"delay {mail_id} held for approval by the role reviewer (kind:delay)",
                     f"outbound {mail_id} approved as reviewer (written by alice) — "
                     f"dates checked"]


def test_one_os_user_on_both_sides_is_refused_when_linked_and_a_finding_when_not(
        held_app, tmp_path, cli) -> None:
    """This OS user writes as alice (linked to nobody: the claim is taken). Linked to bob, it
    may not approve its own reply as bob; unlinked, its claim bob is accepted and the mock
    audit names the approval."""
    app, _ = held_app
    ref = customer_case(app, tmp_path)
    body = tmp_path / "delay.txt"
    body.write_text(DELAY)
    mail = cli("reply", ref, "--body-file", str(body), "--kind", "delay", "--as", "alice",
               "--json").json()
    outbound_id = str(mail["id"])
    assert cli("users", "link", "bob", "--os-user", ME).code == 0
    refused = cli("outbound", "approve", outbound_id)
    assert refused.code == 1
    assert (f"alice wrote outbound mail {outbound_id} and bob approves it through the same OS "
            f"user {ME} (linked to bob)") in refused.err
    assert cli("users", "link", "bob", "--unlink").code == 0
    assert cli("outbound", "approve", outbound_id, "--as", "bob").code == 0
    assert cli("outbound", "deliver").code == 0
    with app.db.session() as session:
        case = case_by_ref(session, ref)
        status, detail = mock_audit.replies_approved(
            session, app.settings, mock_audit.Sampled("order", 0, None, case, ref))
    assert (status, detail) == (mock_audit.MISSING, (
        f"reply {outbound_id} approved under a claim by the same OS user as the author "
        f"({ME}: written as alice, approved as bob)"))
