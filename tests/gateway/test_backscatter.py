"""Backscatter: acknowledgements go only to a From address that agrees with the envelope sender
and that our own MX did not fail (RFC 8601 Authentication-Results), and repeat the sender's words
only when it was authenticated. Real SMTP intake, real relay on loopback, both databases."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.bootstrap import App
from gateway.config import SmtpConfig, parse_config
from gateway.core.errors import ConfigError
from gateway.db.models import CaseEvent
from gateway.db.outbound import OutboundMail
from gateway.intake.handoff import GroupCommitter
from gateway.intake.smtp import SmtpIntake
from gateway.processing.parsing import parse_message
from gateway.workflows.outbound import delivery, loops
from tests.support.mail import make_message
from tests.support.outbound import MX, SALES, delivered, receive_raw
from tests.support.smtp import LoopThread

SPAM = "Cheap pills at http://spam.example/buy"


def over_smtp(app: App, *mails: tuple[str, bytes]) -> None:
    """Deliver (MAIL FROM, bytes) pairs through a real SMTP intake, then file them."""
    thread = LoopThread()
    committer = GroupCommitter(app)
    intake = SmtpIntake(app, SmtpConfig(enabled=True, listen="127.0.0.1", port=0,
                                        hostname="mx.northpoint.test"), committer)
    try:
        thread.run(intake.start())
        with smtplib.SMTP("127.0.0.1", intake.port, timeout=30) as client:
            for mail_from, raw in mails:
                client.sendmail(mail_from, [SALES], raw)
    finally:
        thread.run(intake.stop())
        thread.run(committer.drain())
        thread.close()
    app.processor.catch_up()
    app.processor.process_pending()


def rows(app: App) -> list[tuple[str, str, str]]:
    with app.db.session() as session:
        return [(m.recipient, m.status, m.last_error) for m in session.scalars(
            select(OutboundMail).order_by(OutboundMail.id))]


def test_forged_from_addresses_get_no_acknowledgement(started) -> None:
    app, relay = started()
    victims = [f"victim{n}@target{n}.example" for n in range(20)]
    over_smtp(app, *[("spammer@bulk.example", make_message(subject=SPAM, sender=victim))
                     for victim in victims])
    assert rows(app) == [(victim, "suppressed", f"envelope sender spammer@bulk.example does "
                                                f"not match From {victim}") for victim in victims]
    assert delivery.deliver_due(app).sent == [] and relay.handler.received == []
    with app.db.session() as session:  # each suppression is on record in the victim's case
        reasons = [e.data["reason"] for e in session.scalars(select(CaseEvent).where(
            CaseEvent.kind == "outbound_suppressed"))]
    assert len(reasons) == 20 and all(r.startswith("envelope sender") for r in reasons)


def test_an_envelope_of_the_same_organisation_is_acknowledged(started) -> None:
    app, relay = started()
    over_smtp(app, ("orders@mail.example.co.uk",
                    make_message(subject="RFQ 20 blocks", sender="anna@example.co.uk")),
              ("anna@example.co.uk", make_message(subject="RFQ 30 blocks",
                                                  sender="Ben <BEN@Example.co.uk>")),
              ("x@other.co.uk", make_message(subject="RFQ 40 blocks",
                                             sender="cleo@example.co.uk")))
    assert [r[:2] for r in rows(app)] == [("anna@example.co.uk", "queued"),
                                          ("ben@example.co.uk", "queued"),
                                          ("cleo@example.co.uk", "suppressed")]
    assert len(delivery.deliver_due(app).sent) == 2
    assert [r.rcpt_tos for r in relay.handler.received] == [["anna@example.co.uk"],
                                                            ["ben@example.co.uk"]]


@pytest.mark.parametrize("verdict, reason", [
    ("dmarc=fail header.from=customer.example", "dmarc=fail"),
    ("spf=fail smtp.mailfrom=anna@customer.example", "spf=fail"),
    ("spf=pass smtp.mailfrom=anna@customer.example; dmarc=fail (p=none)", "dmarc=fail"),
    ("spf=softfail smtp.mailfrom=anna@customer.example", "spf=softfail"),
])
def test_our_mx_saying_the_sender_failed_means_no_acknowledgement(
        started, tmp_path: Path, verdict: str, reason: str) -> None:
    app, _ = started()
    receive_raw(app, tmp_path / "in", delivered(make_message(subject=SPAM), results=verdict))
    assert rows(app) == [("anna@customer.example", "suppressed",
                          f"{reason} in Authentication-Results of {MX}")]
    assert delivery.deliver_due(app).sent == []


def test_another_hosts_authentication_results_are_ignored(started, tmp_path: Path) -> None:
    app, relay = started()
    forged = make_message(subject=SPAM, sender="Click http://spam.example <anna@customer.example>",
                          extra_headers="Authentication-Results: mx.attacker.example; dmarc=pass"
                                        " header.from=customer.example; spf=pass")
    # Our MX wrote nothing, or its header sits below a forged one: only the topmost trusted
    # header counts, and the attacker's "pass" never authenticates.
    receive_raw(app, tmp_path / "in",
                b"Return-Path: <anna@customer.example>\r\n" + forged,
                delivered(make_message(subject="second", message_id="<m2@customer.example>"),
                          results="spf=softfail")
                .replace(b"\r\n", b"\r\nAuthentication-Results: mx.attacker.example; spf=pass"
                         b"\r\n", 1))
    assert [r[:2] for r in rows(app)] == [("anna@customer.example", "queued"),
                                          ("anna@customer.example", "suppressed")]
    delivery.deliver_due(app)
    [got] = relay.handler.received
    message = got.message()
    assert message["Subject"] == "Received: [NPC-000001]"  # the case reference only
    text = message.get_content()
    assert "spam.example" not in got.data.decode() and "NPC-000001" in text
    assert "Dear anna@customer.example," in text  # not the display name the sender chose
    with app.db.session() as session:
        queued = session.scalars(select(CaseEvent).where(
            CaseEvent.kind == "outbound_queued")).one()
    assert queued.data["customer_text_withheld"] is True


def test_an_authenticated_sender_sees_its_subject_and_dmarc_pass_beats_an_esp_envelope(
        started, tmp_path: Path) -> None:
    app, relay = started()
    receive_raw(app, tmp_path / "in", delivered(
        make_message(subject="RFQ 20 manifold blocks"), envelope="return-77@esp.example",
        results="spf=pass smtp.mailfrom=esp.example; dkim=pass header.d=customer.example; "
                "dmarc=pass (p=reject) header.from=customer.example"))
    delivery.deliver_due(app)
    [got] = relay.handler.received
    assert got.message()["Subject"] == "Received: RFQ 20 manifold blocks [NPC-000001]"
    assert "Dear Anna Buyer," in got.message().get_content()


def test_without_any_envelope_sender_there_is_no_acknowledgement(started, tmp_path) -> None:
    app, _ = started()
    receive_raw(app, tmp_path / "in", make_message())
    assert rows(app) == [("anna@customer.example", "suppressed", "envelope sender unknown "
                          "(no MAIL FROM or Return-Path) and From not authenticated")]


def test_authentication_results_are_read_as_rfc_8601_writes_them() -> None:
    results = loops.parse_authentication_results(
        'MX.Northpoint.example 1 (our mx); spf=pass (sender ok) smtp.mailfrom="a@b.example";'
        ' dkim=pass header.d=b.example header.s=sel; dmarc/1 = fail header.from=b.example;'
        ' x-weird="a;b"')
    assert results is not None and results.authserv_id == "mx.northpoint.example"
    assert results.results("spf") == {"pass"} and results.results("dmarc") == {"fail"}
    assert results.passed("spf", "smtp.mailfrom", "mail.b.example")
    assert results.passed("dkim", "header.d", "b.example")
    assert loops.parse_authentication_results("mx.example; none").methods == {}


def test_the_organisational_domain_uses_the_public_suffix_list() -> None:
    assert loops.organisational_domain("mail.example.co.uk") == "example.co.uk"
    assert loops.organisational_domain("a.b.example.com") == "example.com"
    assert not loops.same_organisation("alice.github.io", "bob.github.io")
    assert not loops.same_organisation("example.co.uk", "other.co.uk")


def test_a_forged_return_path_below_the_mtas_is_not_the_envelope() -> None:
    parsed = parse_message(b"Return-Path: <anna@customer.example>\r\n"
                           b"Return-Path: <spammer@bulk.example>\r\n" + make_message())
    assert loops.envelope_sender(parsed, None) == "anna@customer.example"
    assert loops.envelope_sender(parsed, "x@y.example") == "x@y.example"


def test_trusted_authserv_ids_are_host_names_lower_cased() -> None:
    config = parse_config('[outbound]\ntrusted_authserv_ids = ["MX.Example.com"]\n')
    assert config.outbound.trusted_authserv_ids == ["mx.example.com"]
    for bad in ('"mx example"', '"a;b"', '""'):
        with pytest.raises(ConfigError, match=r"trusted_authserv_ids.*host names"):
            parse_config(f"[outbound]\ntrusted_authserv_ids = [{bad}]\n")
