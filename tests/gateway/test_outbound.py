"""Outbound mail through a real aiosmtpd relay on loopback: what the relay received, what the
archive holds, what the case records, and how temporary and permanent failures are handled."""

from __future__ import annotations

import mailbox
import os
import signal
import ssl
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from archive import sha256_hex
from gateway.bootstrap import App
from gateway.config import CONFIG_NAME, load_settings
from gateway.core.errors import ConfigError, WorkflowError
from gateway.db.events import case_by_ref
from gateway.db.models import Case, CaseEvent, Message
from gateway.db.outbound import OutboundMail
from gateway.processing.signing import signed_case_ref
from gateway.workflows import templates
from gateway.workflows.outbound import delivery
from gateway.workflows.outbound import queue as outbound
from tests.support.cli import OS_USER
from tests.support.mail import make_message
from tests.support.outbound import (
    CUSTOMER,
    SALES,
    RelayHandler,
    configure,
    delivered,
    publish,
    receive,
)
from tests.support.waiting import wait_for


@pytest.fixture(scope="session")
def relay_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate valid for 127.0.0.1, so the client really verifies it."""
    folder = tmp_path_factory.mktemp("relay-tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key



def mails(app: App) -> list[OutboundMail]:
    with app.db.session() as session:
        return list(session.scalars(select(OutboundMail).order_by(OutboundMail.id)))


def events(app: App, kind: str) -> list[CaseEvent]:
    with app.db.session() as session:
        return list(session.scalars(select(CaseEvent).where(CaseEvent.kind == kind)
                                    .order_by(CaseEvent.id)))



def test_ack_reaches_the_relay_archived_first_signed_tagged_and_auto_submitted(
        started, tmp_path: Path) -> None:
    app, relay = started()
    receive(app, tmp_path / "in", make_message(subject="RFQ 20 manifold blocks",
                                               message_id="<rfq-1@customer.example>"))
    report = delivery.deliver_due(app)
    assert (len(report.sent), report.deferred, report.failed) == (1, [], [])
    [got] = relay.handler.received
    message = got.message()
    assert got.mail_from == "<>"  # RFC 3834 §3.3: null return path for automatic replies
    assert got.rcpt_tos == [CUSTOMER]
    assert message["From"] == SALES and message["To"] == CUSTOMER
    assert message["Subject"] == "Received: RFQ 20 manifold blocks [NPC-000001]"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["In-Reply-To"] == "<rfq-1@customer.example>"
    assert message["References"] == "<rfq-1@customer.example>"
    assert signed_case_ref(app.settings, message["Message-ID"]) == "NPC-000001"
    assert message["Message-ID"].endswith("@mx.northpoint.example>")
    assert "Dear Anna Buyer," in message.get_content()
    # The archive holds exactly the bytes the relay received, as an outbound ledger entry.
    entry = [e for e in app.archive.entries() if e.direction == "outbound"]
    assert [(e.transport, e.sha256) for e in entry] == [("outbound", sha256_hex(got.data))]
    assert app.archive.read(entry[0].sha256) == got.data
    [mail] = mails(app)
    assert (mail.status, mail.sha256, mail.template_name, mail.template_version) == (
        "sent", sha256_hex(got.data), "ack-sales", 1)
    assert mail.relay_reply.startswith("250 2.0.0")
    # Filed into the customer's case (not a new one), as outbound, by our signed id.
    app.processor.process_pending()
    with app.db.session() as session:
        assert session.scalar(select(text("count(*)")).select_from(Case)) == 1
        filed = session.scalars(select(Message).where(Message.direction == "outbound")).one()
        assert (filed.sha256, filed.case_id, filed.thread_rule) == (
            mail.sha256, mail.case_id, "signed-reference")
    [sent] = events(app, "outbound_sent")
    assert sent.data["relay_reply"].startswith("250") and sent.data["seq"] == entry[0].seq


def test_our_own_ack_is_never_acknowledged_and_only_new_cases_are(started, tmp_path) -> None:
    app, relay = started()
    receive(app, tmp_path / "a", make_message(message_id="<q1@customer.example>"))
    delivery.deliver_due(app)
    receive(app, tmp_path / "b", make_message(subject="Re: Question about part 1234",
                                              in_reply_to="<q1@customer.example>"))
    delivery.deliver_due(app)
    assert [m.kind for m in mails(app)] == ["ack"]
    assert len(relay.handler.received) == 1


def test_ack_without_a_published_template_is_suppressed_with_the_reason(
        home, relays, tmp_path) -> None:
    relay = relays.start()
    configure(home, relay.port)
    app = App.open(home)
    try:
        receive(app, tmp_path / "in", make_message())
        [mail] = mails(app)
        assert mail.status == "suppressed"
        [event] = events(app, "outbound_suppressed")
        assert "no published version" in event.data["reason"]
        assert delivery.deliver_due(app).sent == []
    finally:
        app.close()


def test_the_configured_display_name_and_company_name_reach_the_customer(
        started, tmp_path: Path) -> None:
    app, relay = started(extra='company_name = "Northpoint Components GmbH"\n'
                               'from_name = "Northpoint"\n'
                               f'from_names = {{ "{SALES.upper()}" = "Northpoint Vertrieb Öst" }}')
    publish(app, body="Dear ${customer_name},\nthank you; ${company} will answer.\n")
    receive(app, tmp_path / "in", make_message(subject="RFQ 20 manifold blocks"))
    delivery.deliver_due(app)
    [got] = relay.handler.received
    message = got.message()
    # Non-ASCII display names are RFC 2047 encoded on the wire and read back unchanged.
    assert b"From: Northpoint Vertrieb =?utf-8?q?=C3=96st?= <sales@" in got.data
    assert str(message["From"]) == f"Northpoint Vertrieb Öst <{SALES}>"
    assert message["From"].addresses[0].addr_spec == SALES
    assert "Northpoint Components GmbH will answer." in message.get_content()
    [mail] = mails(app)
    assert outbound.compose(mail) == got.data  # the name is part of the stored row


def test_a_display_name_with_a_line_break_is_refused_at_start_up(home: Path) -> None:
    configure(home, 2525, acknowledge=False, extra='from_name = "Sales\\r\\nBcc: x@evil"')
    with pytest.raises(ConfigError, match=r"from_name.*one line"):
        load_settings(home)


def test_compose_is_a_pure_function_of_the_row(started, tmp_path) -> None:
    app, _ = started()
    receive(app, tmp_path / "in", make_message())
    [mail] = mails(app)
    assert outbound.compose(mail) == outbound.compose(mails(app)[0])


# -- header injection ------------------------------------------------------------------------

INJECTED_SUBJECT = "=?utf-8?q?hi=0D=0ABcc=3A_victim=40x.example?="
INJECTED_NAME = "=?utf-8?q?Anna=0D=0AX-Injected=3A_yes?= <anna@customer.example>"


def header_names(raw: bytes) -> list[bytes]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    return [line.split(b":", 1)[0].lower() for line in head.split(b"\r\n")
            if line and line[:1] not in b" \t"]


def test_crlf_in_a_customer_subject_and_name_never_becomes_a_header(
        started, tmp_path, cli) -> None:
    app, relay = started()
    receive(app, tmp_path / "in", make_message(subject=INJECTED_SUBJECT, sender=INJECTED_NAME))
    body = tmp_path / "reply.txt"
    body.write_text("Hello, about your message.\n")
    assert cli("reply", "NPC-000001", "--body-file", str(body), "--subject",
               "Subject: hi\r\nBcc: victim3@x.example", "--as", "carol").code == 0
    delivery.deliver_due(app)
    assert len(relay.handler.received) == 2
    for got in relay.handler.received:
        names = header_names(got.data)
        assert b"bcc" not in names and b"x-injected" not in names
        assert names.count(b"subject") == 1 and names.count(b"to") == 1
        assert got.rcpt_tos == [CUSTOMER]
        assert got.message()["Subject"].endswith("[NPC-000001]")
    ack, reply = (got.message() for got in relay.handler.received)
    assert ack["Subject"] == "Received: hi Bcc: victim@x.example [NPC-000001]"
    assert reply["Subject"] == "Subject: hi Bcc: victim3@x.example [NPC-000001]"


def test_an_address_encoded_in_a_display_name_does_not_become_the_customer(
        started, tmp_path) -> None:
    app, relay = started()
    receive(app, tmp_path / "in", make_message(
        sender="=?utf-8?q?Anna=0D=0ABcc=3A_victim=40x.example?= <anna@customer.example>"))
    delivery.deliver_due(app)
    assert [got.rcpt_tos for got in relay.handler.received] == [[CUSTOMER]]


def test_a_variable_with_a_line_break_is_refused_in_a_subject(started, tmp_path) -> None:
    app, _ = started()
    receive(app, tmp_path / "in", make_message())
    publish(app, "confirm", subject="Confirmed: ${change}", body="${change}\n")
    with app.db.session() as session, pytest.raises(WorkflowError, match="line break"):
        outbound.queue_mail(session, app.settings, case_by_ref(session, "NPC-000001"),
                            kind="confirmation", to=CUSTOMER, actor="dora", template="confirm",
                            variables={"change": "x\r\nBcc: victim@x.example"})


def test_a_recipient_with_a_line_break_is_refused(started, tmp_path) -> None:
    app, _ = started()
    receive(app, tmp_path / "in", make_message())
    with app.db.session() as session, pytest.raises(WorkflowError, match="not an e-mail"):
        outbound.queue_mail(session, app.settings, case_by_ref(session, "NPC-000001"),
                            kind="reply", to="anna@customer.example\r\nBcc: v@x.example",
                            actor="dora", body="hi")


# -- staff replies ---------------------------------------------------------------------------

def test_staff_reply_from_the_cli_is_sent_as_the_alias_and_answers_the_customer(
        started, tmp_path, cli) -> None:
    app, relay = started(acknowledge=False)
    receive(app, tmp_path / "in", make_message(subject="AW: Re: Lieferzeit",
                                               message_id="<lz@customer.example>"))
    publish(app, "reply-delivery", subject="", body="Dear ${customer_name},\n"
            "delivery takes 3 weeks.\n${actor}\n")
    queued = cli("reply", "npc-000001", "--template", "reply-delivery", "--as", "carol",
                 "--json")
    assert queued.code == 0, queued.err
    assert queued.json()["template_name"] == "reply-delivery"
    delivered = cli("outbound", "deliver", "--json")
    assert delivered.json()["sent"] == [queued.json()["id"]]
    [got] = relay.handler.received
    message = got.message()
    assert got.mail_from == SALES and "Auto-Submitted" not in message
    assert message["Subject"] == "Re: Lieferzeit [NPC-000001]"
    assert message["In-Reply-To"] == "<lz@customer.example>"
    assert message.get_content().endswith("carol\r\n")
    [queued_event] = events(app, "outbound_queued")
    assert (queued_event.actor, queued_event.claimed_as,
            queued_event.data["template_version"]) == (OS_USER, "carol", 1)
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        assert case.first_response_at is not None
    listed = cli("outbound", "list", "--status", "sent", "--json").json()
    assert [(m["case"], m["actor"], m["status"]) for m in listed] == [
        ("NPC-000001", "carol", "sent")]


def test_a_reply_needs_a_published_template(started, tmp_path, cli) -> None:
    app, _ = started(acknowledge=False)
    receive(app, tmp_path / "in", make_message())
    with app.db.session() as session:
        draft = templates.create(session, "unapproved", "S", "B\n", "alice")
        templates.approve(session, "unapproved", draft.version, "bob")
    result = cli("reply", "NPC-000001", "--template", "unapproved", "--as", "carol")
    assert result.code == 1 and "no published version" in result.err
    assert mails(app) == []


# -- delivery failures -----------------------------------------------------------------------

def test_451_is_retried_with_backoff_across_a_restart_then_sent_once(
        started, home, tmp_path) -> None:
    app, relay = started(RelayHandler(replies=["451 4.3.0 Try again later"]))
    receive(app, tmp_path / "in", make_message())
    first = delivery.deliver_due(app)
    [mail] = mails(app)
    assert (first.deferred, mail.status, mail.attempts) == ([mail.id], "deferred", 1)
    assert mail.last_error == "451 4.3.0 Try again later"
    assert mail.next_attempt_at is not None and mail.created_at < mail.next_attempt_at
    assert delivery.deliver_due(app).deferred == []  # not due yet: nothing is tried
    assert relay.handler.attempts == 1
    app.close()  # a daemon restart: the retry state is in the database
    again = App.open(home)
    try:
        later = delivery.deliver_due(again, now=mail.next_attempt_at + timedelta(seconds=1))
        assert later.sent == [mail.id] and later.archived == []
        [done] = mails(again)
        assert (done.status, done.attempts, done.sha256) == ("sent", 2, mail.sha256)
        [got] = relay.handler.received
        assert sha256_hex(got.data) == mail.sha256
        assert [e.sha256 for e in again.archive.entries() if e.direction == "outbound"] == [
            mail.sha256]  # archived once, relayed twice
        [deferred] = events(again, "outbound_deferred")
        assert deferred.data["relay_reply"].startswith("451")
    finally:
        again.close()


def test_550_fails_permanently_and_is_recorded(started, tmp_path) -> None:
    app, relay = started(RelayHandler(replies=["550 5.7.1 Message rejected"]))
    receive(app, tmp_path / "in", make_message())
    report = delivery.deliver_due(app)
    [mail] = mails(app)
    assert (report.failed, mail.status, mail.next_attempt_at) == ([mail.id], "failed", None)
    [failed] = events(app, "outbound_failed")
    assert failed.data["relay_reply"] == "550 5.7.1 Message rejected"
    assert failed.data["reason"] == "permanent failure"
    assert delivery.deliver_due(app, now=mail.created_at + timedelta(days=2)).failed == []
    assert relay.handler.attempts == 1 and relay.handler.received == []


def test_temporary_failures_give_up_after_max_attempts(started, tmp_path) -> None:
    app, _ = started(RelayHandler(replies=["451 4.3.0 busy"] * 5), extra="max_attempts = 2")
    receive(app, tmp_path / "in", make_message())
    delivery.deliver_due(app)
    [mail] = mails(app)
    assert mail.next_attempt_at is not None
    report = delivery.deliver_due(app, now=mail.next_attempt_at + timedelta(seconds=1))
    [mail] = mails(app)
    assert (report.failed, mail.status, mail.attempts) == ([mail.id], "failed", 2)
    assert "gave up after 2 attempts" in events(app, "outbound_failed")[0].data["reason"]


def test_an_unreachable_relay_defers(home, relays, tmp_path) -> None:
    relay = relays.start()
    relays.close()  # nothing listens on that port any more
    relays.servers.clear()
    configure(home, relay.port)
    app = App.open(home)
    try:
        publish(app)
        receive(app, tmp_path / "in", make_message())
        report = delivery.deliver_due(app)
        [mail] = mails(app)
        assert (report.deferred, mail.status) == ([mail.id], "deferred")
        assert mail.last_error.startswith("relay unavailable: ConnectionRefusedError")
        assert mail.sha256 is not None  # archived before the relay was tried
    finally:
        app.close()


# -- STARTTLS and AUTH -----------------------------------------------------------------------

def tls_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.mark.parametrize("password, sent", [("s3cret", True), ("wrong", False)])
def test_starttls_verified_against_ca_file_and_auth(home, relays, relay_certificate, tmp_path,
                                                    monkeypatch, password, sent) -> None:
    relay = relays.start(tls=tls_context(relay_certificate), users={"gateway": "s3cret"})
    monkeypatch.setenv("RELAY_PASSWORD", password)
    configure(home, relay.port, relay_extra=(
        f'user = "gateway"\npassword_env = "RELAY_PASSWORD"\nca_file = "{relay_certificate[0]}"'
    ).replace('security = "none"', ""))
    config = home / CONFIG_NAME
    config.write_text(config.read_text().replace('security = "none"', 'security = "starttls"'))
    app = App.open(home)
    try:
        publish(app)
        receive(app, tmp_path / "in", make_message())
        report = delivery.deliver_due(app)
        [mail] = mails(app)
        if sent:
            [got] = relay.handler.received
            assert (got.tls, got.login, report.sent) == (True, "gateway", [mail.id])
            assert sha256_hex(got.data) == mail.sha256
        else:
            assert relay.handler.received == [] and report.deferred == [mail.id]
            assert "535" in mail.last_error
    finally:
        app.close()


def test_starttls_refuses_a_relay_whose_certificate_is_not_trusted(
        home, relays, relay_certificate, tmp_path) -> None:
    relay = relays.start(tls=tls_context(relay_certificate))
    configure(home, relay.port)
    config = home / CONFIG_NAME
    config.write_text(config.read_text().replace('security = "none"', 'security = "starttls"'))
    app = App.open(home)
    try:
        publish(app)
        receive(app, tmp_path / "in", make_message())
        delivery.deliver_due(app)
        [mail] = mails(app)
        assert mail.status == "deferred" and "SSLCertVerificationError" in mail.last_error
        assert relay.handler.received == []
    finally:
        app.close()



# -- the daemon ------------------------------------------------------------------------------

def test_the_daemon_acknowledges_a_dropped_message_through_the_relay(
        home, relays, tmp_path) -> None:
    relay = relays.start()
    configure(home, relay.port)
    drop = tmp_path / "Maildir"
    mailbox.Maildir(str(drop))
    with (home / CONFIG_NAME).open("a") as handle:
        handle.write(f'\n[[dropfolders]]\npath = "{drop}"\nsettle_seconds = 0\n')
    app = App.open(home)
    log_path = tmp_path / "daemon.log"
    try:
        publish(app)
        with open(log_path, "w") as log:
            daemon = subprocess.Popen([sys.executable, "-m", "gateway.cli.main", "run"],
                                      env={**os.environ, "COMMGATE_HOME": str(home)},
                                      stdout=log, stderr=subprocess.STDOUT)
            try:
                mailbox.Maildir(str(drop)).add(delivered(make_message(subject="dropped RFQ")))
                wait_for(lambda: relay.handler.received, what="the acknowledgement at the relay")
            finally:
                daemon.send_signal(signal.SIGTERM)
                assert daemon.wait(60) == 0, log_path.read_text()
        [got] = relay.handler.received
        assert got.message()["Subject"] == "Received: dropped RFQ [NPC-000001]"
        [mail] = mails(app)
        assert (mail.status, mail.sha256) == ("sent", sha256_hex(got.data))
    finally:
        app.close()


def test_our_own_reply_never_flags_a_scope_change_or_recategorises_the_case(
        started, tmp_path) -> None:
    app, _ = started()
    receive(app, tmp_path / "in", make_message(
        subject="Hello", body="Hello, just a quick note about our account.",
        message_id="<hello@customer.example>"))
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        before = (case.category, case.scope_change)
        outbound.queue_mail(session, app.settings, case, kind="reply", to=CUSTOMER,
                            actor="dora", subject="Your order",
                            body="As agreed, we will increase the quantity of PO-4711 from 20 "
                                 "to 40 pieces and move delivery to 12 December.\n")
    delivery.deliver_due(app)
    app.processor.process_pending()
    with app.db.session() as session:
        filed = session.scalars(select(Message).where(Message.direction == "outbound")).one()
        case = case_by_ref(session, "NPC-000001")
        # The classifier sees an order and a change in what we wrote ...
        assert (filed.category, filed.scope_change) == ("order", True)
        assert (case.category, case.scope_change) == before  # ... which is not the customer's
        kinds = {e.kind for e in session.scalars(select(CaseEvent))}
    assert "scope_change_flagged" not in kinds and "review_opened" not in kinds
