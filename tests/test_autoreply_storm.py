"""Auto-reply storms cannot happen: commgate against another commgate, and against a careless
autoresponder that answers everything (no Auto-Submitted, new subject, no threading headers).

Everything is real: each commgate has its own home, database and SMTP intake on loopback, and
its relay is the other side's intake (or the autoresponder). The test pumps both sides until
nothing moves any more and counts what was sent.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from gateway.bootstrap import App
from gateway.config import CONFIG_NAME, DATABASE_URL_ENV, SmtpConfig
from gateway.db.models import CaseEvent
from gateway.db.outbound import OutboundMail
from gateway.installation import init_home
from gateway.intake.handoff import GroupCommitter
from gateway.intake.smtp import SmtpIntake
from gateway.workflows.outbound.delivery import deliver_due
from tests.support.databases import fresh_pg_database
from tests.support.mail import make_message
from tests.support.outbound import publish
from tests.support.smtp import LoopThread

MAX_ROUNDS = 25


@dataclass
class Side:
    """One commgate installation with its SMTP intake listening."""

    app: App
    alias: str
    intake: SmtpIntake
    committer: GroupCommitter

    def sent(self) -> list[OutboundMail]:
        with self.app.db.session() as session:
            return list(session.scalars(select(OutboundMail).where(
                OutboundMail.status == "sent").order_by(OutboundMail.id)))

    def suppressed_reasons(self) -> list[str]:
        with self.app.db.session() as session:
            return [e.data["reason"] for e in session.scalars(select(CaseEvent).where(
                CaseEvent.kind == "outbound_suppressed").order_by(CaseEvent.id))]


@pytest.fixture
def other_db_url(db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A second database on the same backend, for the second installation."""
    if db_url.startswith("sqlite"):
        yield f"sqlite+pysqlite:///{tmp_path / 'other.db'}"
        return
    with fresh_pg_database(request.getfixturevalue("pg_template"), "commgate_b") as url:
        yield url


@pytest.fixture
def world(tmp_path: Path, db_url: str, other_db_url: str,
          monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``make(name, prefix, url, relay_port)`` builds a side; all are stopped afterwards."""
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    loop = LoopThread()
    sides: list[Side] = []

    def make(name: str, prefix: str, url: str) -> Side:
        alias = f"sales@{name}.example"
        home = init_home(str(tmp_path / name), prefix, [alias])
        config = home / CONFIG_NAME  # each side its own database, named in its own config
        config.write_text(config.read_text().replace("[database]\n",
                                                      f'[database]\nurl = "{url}"\n', 1))
        app = App.open(home, schema="create")  # its own new database
        committer = GroupCommitter(app)
        intake = SmtpIntake(app, SmtpConfig(enabled=True, listen="127.0.0.1", port=0,
                                            hostname=f"mx.{name}.example"), committer)
        loop.run(intake.start())
        side = Side(app, alias, intake, committer)
        sides.append(side)
        return side

    def relay_to(side: Side, port: int) -> None:
        """Point ``side``'s relay at ``port`` and let sales@ acknowledge new cases."""
        config = side.app.settings.config_path
        with config.open("a") as handle:
            handle.write(f'\n[outbound]\nenabled = true\n[outbound.acknowledge]\n'
                         f'"{side.alias}" = "ack"\n[outbound.relay]\nhost = "127.0.0.1"\n'
                         f'port = {port}\nsecurity = "none"\n')
        side.app.close()
        side.app = App.open(side.app.settings.home)
        publish(side.app, "ack", subject="We received: ${subject}",
                body="Thank you, we filed your message as ${case_ref}.\n")

    yield make, relay_to, loop, other_db_url, db_url
    for side in sides:
        loop.run(side.intake.stop())
        loop.run(side.committer.drain())
        side.app.close()
    loop.close()


def pump(sides: list[Side]) -> int:
    """File and deliver on every side until a whole round changes nothing; the rounds taken."""
    for round_number in range(1, MAX_ROUNDS + 1):
        moved = 0
        for side in sides:
            side.app.processor.catch_up()  # what the other side's relay just delivered
            moved += len(side.app.processor.process_pending())
            report = deliver_due(side.app)
            moved += len(report.sent) + len(report.deferred) + len(report.failed)
        if not moved:
            return round_number
    raise AssertionError(f"still moving after {MAX_ROUNDS} rounds: a mail loop")


def deliver(port: int, mail_from: str, rcpt: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(mail_from, [rcpt], raw)


def test_two_commgates_acknowledge_each_other_once_and_stop(world) -> None:
    make, relay_to, _, other_url, url = world
    a = make("alpha", "NPA", url)
    b = make("beta", "NPB", other_url)
    relay_to(a, b.intake.port)
    relay_to(b, a.intake.port)
    # Each company's sales@ writes to the other's sales@ at the same moment.
    deliver(a.intake.port, b.alias, a.alias,
            make_message(subject="RFQ 20 manifold blocks", sender=b.alias, to=a.alias))
    deliver(b.intake.port, a.alias, b.alias,
            make_message(subject="Quote request for brackets", sender=a.alias, to=b.alias))
    rounds = pump([a, b])
    assert [m.to_addrs for m in a.sent()] == [[b.alias]]
    assert [m.to_addrs for m in b.sent()] == [[a.alias]]
    # Each side received the other's acknowledgement and answered it with nothing.
    assert a.suppressed_reasons() == ["auto-submitted: auto-replied"]
    assert b.suppressed_reasons() == ["auto-submitted: auto-replied"]
    assert rounds <= 4


@dataclass
class Autoresponder:
    """A careless autoresponder: answers every message at once with a brand-new message from
    the customer's address: no Auto-Submitted, no In-Reply-To, a new subject each time."""

    reply_to_port: int
    customer: str
    target: str
    received: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert envelope.content is not None
        raw = envelope.original_content or b""
        self.received.append(raw)
        number = len(self.received)
        deliver(self.reply_to_port, self.customer, self.target, make_message(
            subject=f"Your message number {number} about part 44-{number}", sender=self.customer,
            to=self.target, body=f"Hello, thanks for your message. Could you also quote part "
                                 f"44-{number} in 20 pieces?\n\nAnna"))
        return "250 2.0.0 Ok"


def test_a_careless_autoresponder_gets_at_most_the_daily_limit(world) -> None:
    make, relay_to, _, _, url = world
    a = make("alpha", "NPA", url)
    customer = "anna@customer.example"
    responder = Autoresponder(a.intake.port, customer, a.alias)
    responder_loop = LoopThread()
    try:
        async def serve() -> Any:
            return await responder_loop.loop.create_server(
                lambda: SMTP(responder, hostname="mx.customer.example",
                             loop=responder_loop.loop), "127.0.0.1", 0)

        server = responder_loop.run(serve())
        relay_to(a, server.sockets[0].getsockname()[1])
        deliver(a.intake.port, customer, a.alias,
                make_message(subject="RFQ 20 manifold blocks", sender=customer, to=a.alias))
        pump([a])

        async def stop() -> None:
            server.close()
            await server.wait_closed()

        responder_loop.run(stop())
    finally:
        responder_loop.close()
    limit = a.app.settings.config.outbound.ack_per_sender_per_day
    assert limit == 3
    # The first message and every autoreply opened a case; only `limit` were acknowledged.
    assert len(a.sent()) == len(responder.received) == limit
    assert a.suppressed_reasons() == [
        f"rate limit: {limit} acknowledgement(s) to this sender in 24 h (limit {limit})"]
