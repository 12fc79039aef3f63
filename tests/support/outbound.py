"""Outbound mail helpers: a real aiosmtpd relay on loopback that records what it received,
turning outbound on in a home, publishing the acknowledgement template, and filing customer
mail as our MX delivers it."""

from __future__ import annotations

import email
import email.policy
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from gateway.bootstrap import App
from gateway.config import CONFIG_NAME
from gateway.processing.ingest import ingest
from gateway.processing.parsing import parse_message
from gateway.workflows import templates
from tests.support.mail import write_messages
from tests.support.smtp import LoopThread

SALES = "sales@northpoint.example"
CUSTOMER = "anna@customer.example"
MX = "mx.northpoint.example"  # our MX: the authserv-id configure() trusts
ACK_BODY = "Dear ${customer_name},\n\nthank you, we filed your message as ${case_ref}.\n"


# -- a relay that records what it received ---------------------------------------------------

@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    login: str | None

    def message(self) -> email.message.EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        return parsed


@dataclass
class RelayHandler:
    """Answers DATA with the scripted replies first (e.g. one 451), then 250; keeps only what
    it accepted, as a real relay would."""

    replies: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    attempts: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        reply = self.replies.pop(0) if self.replies else "250 2.0.0 Ok: queued as R1"
        if reply.startswith("250"):
            login = session.auth_data.login.decode() if isinstance(
                session.auth_data, LoginPassword) else None
            assert envelope.original_content is not None
            self.received.append(Received(envelope.mail_from or "", list(envelope.rcpt_tos),
                                          envelope.original_content, session.ssl is not None,
                                          login))
        return reply


@dataclass
class RelayServer:
    handler: RelayHandler
    port: int


class Relays:
    """Starts aiosmtpd servers on one background loop; stops them at the end of the test."""

    def __init__(self, loop: LoopThread) -> None:
        self.loop = loop
        self.servers: list[Any] = []

    def start(self, handler: RelayHandler | None = None, *, tls: ssl.SSLContext | None = None,
              users: dict[str, str] | None = None) -> RelayServer:
        handler = handler or RelayHandler()

        def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                         data: Any) -> AuthResult:
            ok = (isinstance(data, LoginPassword) and users is not None
                  and users.get(data.login.decode()) == data.password.decode())
            return AuthResult(success=ok, handled=False, auth_data=data)

        options: dict[str, Any] = {}
        if tls is not None:
            options |= {"tls_context": tls, "require_starttls": True}
        if users is not None:
            options |= {"authenticator": authenticate, "auth_required": True}

        async def serve() -> Any:
            loop = self.loop.loop
            return await loop.create_server(
                lambda: SMTP(handler, hostname="relay.test", loop=loop, **options),
                "127.0.0.1", 0)

        server = self.loop.run(serve())
        self.servers.append(server)
        return RelayServer(handler, server.sockets[0].getsockname()[1])

    def close(self) -> None:
        async def stop(server: Any) -> None:
            server.close()
            await server.wait_closed()

        for server in self.servers:
            self.loop.run(stop(server))


def configure(home: Path, port: int, *, acknowledge: bool = True, extra: str = "",
              relay_extra: str = "") -> None:
    """Turn outbound on in the home's commgate.toml, relaying to 127.0.0.1:port; our MX's
    Authentication-Results are trusted."""
    ack = f'[outbound.acknowledge]\n"{SALES}" = "ack-sales"\n' if acknowledge else ""
    with (home / CONFIG_NAME).open("a") as handle:
        handle.write(f"\n[outbound]\nenabled = true\nmessage_id_domain = \"mx.northpoint.example\""
                     f"\nretry_base_seconds = 60\ntrusted_authserv_ids = [\"{MX}\"]\n"
                     f"{extra}\n{ack}\n[outbound.relay]\n"
                     f"host = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n{relay_extra}\n")


def publish(app: App, name: str = "ack-sales", subject: str = "Received: ${subject}",
            body: str = ACK_BODY) -> int:
    with app.db.session() as session:
        template = templates.create(session, name, subject, body, "alice")
        templates.approve(session, name, template.version, "bob")
        templates.publish(session, name, template.version, "bob")
        return template.version


def delivered(raw: bytes, envelope: str | None = None, results: str | None = None) -> bytes:
    """``raw`` as our MX delivers it to a mailbox: a Return-Path with the SMTP MAIL FROM
    (default: the From address) and our MX's Authentication-Results (default: SPF passed)."""
    sender = envelope if envelope is not None else parse_message(raw).from_addr
    verdict = results if results is not None else f"spf=pass smtp.mailfrom={sender}"
    return (f"Return-Path: <{sender}>\r\nAuthentication-Results: {MX}; {verdict}\r\n"
            .encode() + raw)


def receive(app: App, folder: Path, *messages: bytes) -> None:
    """File ``messages`` as delivered by our MX for their From address (see delivered)."""
    ingest(app, write_messages(folder, [delivered(raw) for raw in messages]))


def receive_raw(app: App, folder: Path, *messages: bytes) -> None:
    ingest(app, write_messages(folder, list(messages)))
