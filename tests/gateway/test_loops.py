"""RFC 3834 loop protection: which mail never gets an automatic reply, and why (each reason is
what the suppression event records), plus the per-sender daily limit."""

from __future__ import annotations

import smtplib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from classifiers import Classification
from gateway.bootstrap import App
from gateway.config import Settings, SmtpConfig, parse_config
from gateway.core.clock import utcnow
from gateway.db.models import CaseEvent
from gateway.db.outbound import OutboundMail
from gateway.intake.handoff import GroupCommitter
from gateway.intake.smtp import SmtpIntake
from gateway.processing.classification import classify_parsed, rules_for
from gateway.processing.parsing import parse_message
from gateway.workflows.outbound import loops
from tests.support.mail import make_message
from tests.support.outbound import SALES, configure, publish, receive
from tests.support.smtp import LoopThread

DEMO = Path(__file__).resolve().parents[2] / "gateway" / "cli" / "demo" / "mail"
SETTINGS = Settings(Path("/nonexistent"), parse_config(
    'case_prefix = "NPC"\n[[aliases]]\naddress = "sales@northpoint.example"\n'
    '[[aliases]]\naddress = "support@northpoint.example"\n'))


def enquiry(**changes: object) -> Classification:
    values: dict[str, object] = {
        "category": "enquiry", "scope_change": False, "identifiers": (), "language": "en",
        "confidence": 0.9, "evidence": (), "rules_version": "test"} | changes
    return Classification(**values)  # type: ignore[arg-type]


def verdict(raw: bytes, classification: Classification | None = None,
            envelope_from: str | None = None) -> tuple[bool, str]:
    return loops.is_automatic_reply_allowed(SETTINGS, parse_message(raw),
                                            classification or enquiry(),
                                            envelope_from=envelope_from)


def test_a_customer_enquiry_may_be_answered() -> None:
    assert verdict(make_message()) == (True, "")
    assert verdict(make_message(extra_headers="Auto-Submitted: no")) == (True, "")


@pytest.mark.parametrize("headers, reason", [
    ("Auto-Submitted: auto-replied", "auto-submitted: auto-replied"),
    ("Auto-Submitted: auto-generated; owner-email=x@y.example", "auto-submitted: auto-generated"),
    ("Precedence: bulk", "precedence: bulk"),
    ("Precedence: list", "precedence: list"),
    ("Precedence: junk", "precedence: junk"),
    ("List-Id: <news.customer.example>", "mailing list (list-id)"),
    ("List-Unsubscribe: <mailto:leave@customer.example>", "mailing list (list-unsubscribe)"),
    ("X-Auto-Response-Suppress: All", "x-auto-response-suppress: all"),
    ("X-Autoreply: yes", "auto-responder header (x-autoreply)"),
    ("Return-Path: <>", "null return path"),
    ("Return-Path: <bounces+123@mailer.customer.example>", "machine return path"),
])
def test_marked_mail_is_never_answered(headers: str, reason: str) -> None:
    allowed, why = verdict(make_message(extra_headers=headers))
    assert not allowed and why.startswith(reason)


@pytest.mark.parametrize("sender, reason", [
    ("MAILER-DAEMON@mx.customer.example", "machine sender (mailer-daemon)"),
    ("postmaster@customer.example", "machine sender (postmaster)"),
    ("noreply@customer.example", "machine sender (noreply)"),
    ("No-Reply <no-reply@shop.example>", "machine sender (no-reply)"),
    ("do-not-reply@customer.example", "machine sender (do-not-reply)"),
    ("news-bounces@list.example", "machine sender (news-bounces)"),
    ("Sales <SALES@northpoint.example>", "from one of our own aliases"),
    ("support@northpoint.example", "from one of our own aliases"),
    ("undisclosed-recipients:;", "no sender address"),
])
def test_machines_and_our_own_aliases_are_never_answered(sender: str, reason: str) -> None:
    assert verdict(make_message(sender=sender)) == (False, reason)


def test_a_null_smtp_envelope_sender_is_never_answered() -> None:
    assert verdict(make_message(), envelope_from="") == (False, "null return path")
    assert verdict(make_message(), envelope_from="anna@customer.example") == (True, "")


def test_classification_other_bounces_and_autoreply_subjects_are_never_answered() -> None:
    assert verdict(make_message(), enquiry(category="other"))[1].startswith("category other")
    assert verdict(make_message(), enquiry(bounced_message_id="x@y")) == (False, "bounce")
    assert verdict(make_message(subject="Automatic reply: RFQ")) == (
        False, "subject of an automatic message")
    assert verdict(make_message(subject="Abwesenheitsnotiz: Anfrage"))[0] is False


@pytest.mark.parametrize("name, allowed", [
    ("01-rfq-manifold-blocks.eml", True),
    ("09-out-of-office.eml", False),
    ("12-bounce-user-unknown.eml", False),
    ("18-newsletter-trade.eml", False),
    ("28-read-receipt.eml", False),
])
def test_the_demo_mail_with_the_real_classifier(name: str, allowed: bool) -> None:
    parsed = parse_message((DEMO / name).read_bytes())
    verdict_ = loops.is_automatic_reply_allowed(SETTINGS, parsed,
                                                classify_parsed(parsed, rules_for(None)))
    assert verdict_[0] is allowed, verdict_


# -- in the pipeline -------------------------------------------------------------------------

@pytest.fixture
def acking(home: Path):  # type: ignore[no-untyped-def]
    """An app whose sales@ acknowledges new cases (relay never contacted in these tests)."""
    configure(home, 9, extra="ack_per_sender_per_day = 3")
    app = App.open(home)
    publish(app)
    yield app
    app.close()


def outbound_rows(app: App) -> list[tuple[str, str, str]]:
    with app.db.session() as session:
        return [(m.recipient, m.status, m.last_error) for m in session.scalars(
            select(OutboundMail).order_by(OutboundMail.id))]


def test_at_most_n_acknowledgements_per_sender_per_day(acking: App, tmp_path: Path) -> None:
    receive(acking, tmp_path / "a", *[make_message(subject=f"RFQ for part {n}")
                                      for n in range(5)])
    receive(acking, tmp_path / "b", make_message(subject="RFQ brackets",
                                                 sender="ben@other.example"))
    rows = outbound_rows(acking)
    assert [r[:2] for r in rows] == [("anna@customer.example", "queued")] * 3 + [
        ("anna@customer.example", "suppressed")] * 2 + [("ben@other.example", "queued")]
    assert rows[3][2] == ("rate limit: 3 acknowledgement(s) to this sender in 24 h (limit 3)")
    with acking.db.session() as session:
        reasons = [e.data["reason"] for e in session.scalars(select(CaseEvent).where(
            CaseEvent.kind == "outbound_suppressed"))]
        assert len(reasons) == 2 and all(r.startswith("rate limit") for r in reasons)
        later = utcnow() + timedelta(hours=24, minutes=1)
        assert loops.acks_in_last_day(session, "ANNA@customer.example", utcnow()) == 3
        assert loops.acks_in_last_day(session, "anna@customer.example", later) == 0


def test_a_newsletter_gets_a_suppression_event_not_an_ack(acking: App, tmp_path: Path) -> None:
    receive(acking, tmp_path / "in", make_message(subject="Trade fair news",
                                                  extra_headers="List-Id: <news.example>"))
    assert outbound_rows(acking) == [("anna@customer.example", "suppressed",
                                      "mailing list (list-id)")]


def test_smtp_mail_with_a_null_return_path_is_not_acknowledged(acking: App) -> None:
    thread = LoopThread()
    committer = GroupCommitter(acking)
    intake = SmtpIntake(acking, SmtpConfig(enabled=True, listen="127.0.0.1", port=0,
                                           hostname="mx.northpoint.test"), committer)
    try:
        thread.run(intake.start())
        with smtplib.SMTP("127.0.0.1", intake.port, timeout=30) as client:
            client.sendmail("<>", [SALES], make_message(subject="RFQ 10 blocks"))
            client.sendmail("ben@other.example", [SALES],
                            make_message(subject="RFQ 20 blocks", sender="ben@other.example"))
    finally:
        thread.run(intake.stop())
        thread.run(committer.drain())
        thread.close()
    acking.processor.catch_up()
    acking.processor.process_pending()
    assert outbound_rows(acking) == [("anna@customer.example", "suppressed", "null return path"),
                                     ("ben@other.example", "queued", "")]
