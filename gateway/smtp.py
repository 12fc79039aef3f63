"""The SMTP/LMTP intake: the company's mail server delivers the aliases to commgate.

aiosmtpd speaks the protocol on the daemon's own asyncio loop (``loop.create_server``, not
aiosmtpd's threaded Controller). :class:`AliasHandler` decides every reply; the only thing it
knows of storage is ``GroupCommitter.submit``, which returns once a message is durable.

Replies are chosen on purpose: permanent (5xx) only where a retry cannot help (unknown alias,
message too big); temporary (4xx) whenever commgate itself is the problem (archive full or
unwritable, shutting down), so the sending server keeps the message and tries again.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from archive import ArchiveWriteError, LedgerEntry, Receipt
from gateway.app import App
from gateway.config import SmtpConfig
from gateway.errors import ConfigError
from gateway.intake import Delivery, GroupCommitter

log = logging.getLogger(__name__)

# Replies (RFC 5321 §4.2 codes, RFC 3463 enhanced status codes).
SENDER_OK = "250 2.1.0 Sender OK"
RECIPIENT_OK = "250 2.1.5 Recipient OK"
ARCHIVED = "250 2.0.0 Archived as ledger entry {seqs}"
ARCHIVED_FOR = "250 2.0.0 <{alias}> archived as ledger entry {seq}"
NO_SUCH_ALIAS = "550 5.1.1 <{address}>: no such alias here (this server relays nothing)"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
MESSAGE_TOO_BIG = "552 5.3.4 Message size exceeds fixed maximum message size"
LINE_TOO_LONG = "500 5.5.2 Line too long"
STARTTLS_FIRST = "530 5.7.0 Must issue a STARTTLS command first"
ARCHIVE_FAILED = "451 4.3.0 Archive write failed; please try again later"
ARCHIVE_FULL = "452 4.3.1 Insufficient archive storage; please try again later"
INTERNAL_ERROR = "451 4.3.0 Internal error; please try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, closing connection"

# RFC 5321 §4.5.3.1.8: a server must buffer at least 100 recipients. Counted per transaction,
# refused ones included, so the alias list cannot be probed with one long RCPT run.
MAX_RECIPIENTS = 100
# RFC 5321 §4.5.3.1.6 asks servers not to limit line length where they can avoid it; senders
# (and relays that do not fold) do exceed 998 octets, and contract 5 archives bad input rather
# than bouncing it. The limit is also the stream buffer size, so a larger one reads faster.
MAX_LINE_BYTES = 64 * 1024
# How long stop() lets a message already handed to the archive finish before closing anyway.
STOP_GRACE_SECONDS = 20.0
CLOSE_WAIT_SECONDS = 5.0

# aiosmtpd answers these itself (after draining the data, as RFC 5321 §4.2.5 implies); they are
# re-worded to carry enhanced status codes. Data-phase ones need one line per recipient in LMTP.
_AIOSMTPD_REPLIES = {
    "552 Error: message size exceeds fixed maximum message size": MESSAGE_TOO_BIG,
    "552 Error: Too much mail data": MESSAGE_TOO_BIG,
    "500 Line too long (see RFC5321 4.5.3.1.6)": LINE_TOO_LONG,
}
_DATA_PHASE_REPLIES = {"552 Error: Too much mail data", "500 Line too long (see RFC5321 4.5.3.1.6)"}


def failure_reply(exc: BaseException) -> str:
    """The temporary reply for a delivery that could not be made durable."""
    if isinstance(exc, ArchiveWriteError):
        cause = exc.__cause__
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return ARCHIVE_FULL
        return ARCHIVE_FAILED
    return INTERNAL_ERROR


def _text(value: str) -> str:
    """Arguments are decoded with surrogateescape; the ledger needs valid UTF-8."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class _Transaction(Envelope):
    def __init__(self) -> None:
        super().__init__()
        self.rcpt_attempts = 0


class _Tracked:
    """What both protocol classes add: registration with the intake, typed replies."""

    intake: SmtpIntake
    archiving: asyncio.Future[None] | None = None

    def _create_envelope(self) -> Envelope:
        return _Transaction()

    async def push(self, status: Any) -> None:
        replacement = _AIOSMTPD_REPLIES.get(status) if isinstance(status, str) else None
        if replacement is not None:
            if isinstance(self, LMTP) and status in _DATA_PHASE_REPLIES:
                # RFC 2033 §4.2: after DATA, one reply per accepted recipient.
                replacement = "\r\n".join([replacement] * max(1, len(self.envelope.rcpt_tos)))
            status = replacement
        await super().push(status)  # type: ignore[misc]

    async def smtp_DATA(self, arg: str) -> None:
        try:
            await super().smtp_DATA(arg)  # type: ignore[misc]
        finally:
            # The reply has been written: stop() may close this connection now.
            if self.archiving is not None and not self.archiving.done():
                self.archiving.set_result(None)
            self.archiving = None

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)  # type: ignore[misc]
        self.intake._forget(self)


    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        limit: int = self.local_part_limit  # type: ignore[attr-defined]
        if len(arg) > _CACHED_ADDRESS_CHARS:  # the cache must not hold what a sender makes up
            return _parse_address.__wrapped__(arg, limit)
        return _parse_address(arg, limit)


_CACHED_ADDRESS_CHARS = 320


@functools.lru_cache(maxsize=4096)
def _parse_address(arg: str, local_part_limit: int) -> tuple[str | None, str | None]:
    """aiosmtpd's ``SMTP._getaddr`` (1.4), remembered: the same MAIL FROM or RCPT TO argument
    (an alias, a regular sender) is parsed once, not on every transaction. The email package's
    parser costs more interpreter time than anything else in a MAIL or RCPT command, and
    aiosmtpd's version also builds a ``typing.Protocol`` class on each call."""
    if not arg:
        return "", ""
    try:
        if arg.lstrip().startswith("<"):
            address, rest = get_angle_addr(arg)
        else:
            address, rest = get_addr_spec(arg)
    except HeaderParseError:
        return None, None
    addr = address.addr_spec
    localpart, _, _ = addr.rpartition("@")
    if local_part_limit and len(localpart) > local_part_limit:
        return None, None
    return addr, rest


class _SmtpSession(_Tracked, SMTP):
    line_length_limit = MAX_LINE_BYTES


class _LmtpSession(_Tracked, LMTP):
    line_length_limit = MAX_LINE_BYTES


@dataclass
class AliasHandler:
    """aiosmtpd hooks: take mail for the aliases only, and say 250 only once it is durable."""

    aliases: frozenset[str]
    committer: GroupCommitter
    protocol: str  # "smtp" or "lmtp"
    require_tls: bool = False
    closing: bool = False
    server_name: str = ""
    counts: dict[str, int] = field(default_factory=lambda: {"archived": 0, "refused": 0})

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        # No AUTH: commgate takes mail for its aliases from anyone and submits nothing onward.
        lines = [line for line in responses if not line[4:].startswith("AUTH")]
        # aiosmtpd reads commands one by one from a buffered stream, so pipelined commands
        # (RFC 2920) are answered in order; advertising it saves the sender round trips.
        return [*lines[:-1], "250-PIPELINING", lines[-1]]

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        if self.require_tls and session.ssl is None:
            return STARTTLS_FIRST  # RFC 3207 §4
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return SENDER_OK

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        assert isinstance(envelope, _Transaction)
        envelope.rcpt_attempts += 1
        if envelope.rcpt_attempts > MAX_RECIPIENTS:
            return TOO_MANY_RECIPIENTS
        alias = address.lower()
        if alias not in self.aliases:
            return NO_SUCH_ALIAS.format(address=_text(address))
        envelope.rcpt_tos.append(alias)
        envelope.rcpt_options.extend(rcpt_options)
        return RECIPIENT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(server, _Tracked)
        if self.closing:
            return SHUTTING_DOWN
        raw = envelope.original_content
        assert raw is not None
        facts = self.envelope_facts(session, envelope)
        aliases = list(dict.fromkeys(envelope.rcpt_tos))  # one receipt per alias, one blob
        server.archiving = asyncio.get_running_loop().create_future()
        # Submitted together so they normally share one archive batch (all durable or none).
        futures = self.committer.submit_many(
            [Delivery(raw, Receipt(self.protocol, {**facts, "alias": a})) for a in aliases])
        results: list[LedgerEntry | BaseException]
        if len(futures) == 1:  # the usual case, without gather's extra future and callbacks
            try:
                results = [await futures[0]]
            except Exception as exc:
                results = [exc]
        else:
            results = await asyncio.gather(*futures, return_exceptions=True)
        # RFC 5321 §4.2 and §6.1: a 250 after DATA makes us responsible for the message, so it
        # is sent only once submit() returned, i.e. blob and ledger entry are fsynced. Anything
        # else is a 4xx: the sending server keeps the message and retries, nothing is lost.
        outcome: dict[str, LedgerEntry | BaseException] = dict(zip(aliases, results, strict=True))
        for alias, result in outcome.items():
            if isinstance(result, BaseException):
                self.counts["refused"] += 1
                self._log_failure(alias, result)
            else:
                self.counts["archived"] += 1
        if self.protocol == "lmtp":
            # RFC 2033 §4.2: one status per accepted RCPT, in order, each for its recipient.
            return "\r\n".join(self._reply_for(alias, outcome[alias])
                               for alias in envelope.rcpt_tos)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            return failure_reply(failures[0])
        seqs = ", ".join(str(r.seq) for r in results if isinstance(r, LedgerEntry))
        return ARCHIVED.format(seqs=seqs)

    async def handle_exception(self, error: Exception) -> str:
        log.exception("SMTP session failed")
        return INTERNAL_ERROR

    def envelope_facts(self, session: Session, envelope: Envelope) -> dict[str, Any]:
        """What the ledger records about the transaction, next to (never inside) the bytes."""
        peer: Sequence[Any] = session.peer if isinstance(session.peer, tuple) else ("", 0)
        mail_from = envelope.mail_from or ""
        options = {option.upper() for option in envelope.mail_options}
        return {
            "mail_from": "" if mail_from == "<>" else _text(mail_from),
            "rcpt_to": list(dict.fromkeys(envelope.rcpt_tos)),
            "peer": str(peer[0]),
            "peer_port": int(peer[1]) if len(peer) > 1 else 0,
            "helo": _text(session.host_name or ""),
            "tls": session.ssl is not None,
            "protocol": self.protocol,
            "smtputf8": bool(envelope.smtp_utf8),
            "8bitmime": "BODY=8BITMIME" in options,
            "server": self.server_name,
        }

    def _reply_for(self, alias: str, result: LedgerEntry | BaseException) -> str:
        if isinstance(result, BaseException):
            code, _, text = failure_reply(result).partition(" ")
            return f"{code} {text.replace(' ', f' <{alias}> ', 1)}"
        return ARCHIVED_FOR.format(alias=alias, seq=result.seq)

    @staticmethod
    def _log_failure(alias: str, exc: BaseException) -> None:
        if isinstance(exc, ArchiveWriteError):
            log.error("message for %s not archived, sender told to retry: %s", alias, exc)
        else:
            log.error("message for %s not archived, sender told to retry", alias,
                      exc_info=(type(exc), exc, exc.__traceback__))


def tls_context(config: SmtpConfig, resolve: Any) -> ssl.SSLContext | None:
    """The server-side context for STARTTLS, or None when no certificate is configured."""
    if not config.tls_cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(resolve(config.tls_cert_file), resolve(config.tls_key_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"smtp.tls_cert_file/tls_key_file: cannot load the certificate "
                          f"({exc})") from exc
    return context


class SmtpIntake:
    """The Intake for ``[smtp]``: an aiosmtpd SMTP or LMTP server on the running loop."""

    def __init__(self, app: App, config: SmtpConfig, committer: GroupCommitter) -> None:
        self.config = config
        self.name = config.protocol
        self.tls = tls_context(config, app.settings.resolve)
        self.handler = AliasHandler(frozenset(app.settings.alias_addresses), committer,
                                    config.protocol, require_tls=config.require_starttls)
        self.sessions: set[_Tracked] = set()
        self._server: asyncio.Server | None = None
        self._no_sessions = asyncio.Event()
        self._state = "not started"

    @property
    def port(self) -> int:
        """The port actually bound (``port = 0`` in the configuration picks a free one)."""
        if self._server is None or not self._server.sockets:
            return self.config.port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # aiosmtpd logs every command line at INFO (addresses included); our own log says what
        # matters. An operator who set its level explicitly keeps it.
        if logging.getLogger("mail.log").level == logging.NOTSET:
            logging.getLogger("mail.log").setLevel(logging.WARNING)
        hostname = self.config.hostname or await asyncio.to_thread(socket.getfqdn)
        self.handler.server_name = hostname
        self.handler.closing = False
        session_class = _LmtpSession if self.config.protocol == "lmtp" else _SmtpSession

        def new_session() -> _Tracked:
            session = session_class(
                self.handler, data_size_limit=self.config.max_message_bytes,
                enable_SMTPUTF8=True, hostname=hostname, ident="commgate",
                tls_context=self.tls, loop=loop)
            session.intake = self
            self.sessions.add(session)
            self._no_sessions.clear()
            return session

        try:
            self._server = await loop.create_server(new_session, self.config.listen,
                                                    self.config.port)
        except OSError as exc:
            raise ConfigError(f"smtp: cannot listen on {self.config.listen}:{self.config.port} "
                              f"({exc.strerror or exc})") from exc
        tls = ", STARTTLS required" if self.config.require_starttls else (
            ", STARTTLS" if self.tls else "")
        self._state = f"listening on {self.config.listen}:{self.port} ({self.name}{tls})"
        log.info("%s: %s", self.name, self._state)

    async def stop(self) -> None:
        """Refuse new connections, let archive writes in progress answer, then 421 the rest."""
        if self._server is None:
            return
        self.handler.closing = True
        self._server.close()
        waiting = [s.archiving for s in self.sessions if s.archiving is not None]
        if waiting:
            await asyncio.wait(waiting, timeout=STOP_GRACE_SECONDS)
        for session in list(self.sessions):
            transport = session.transport  # type: ignore[attr-defined]
            if transport is None or transport.is_closing():
                continue
            # RFC 5321 §3.8: the server may send 421 at any time and close when shutting down.
            transport.write(SHUTTING_DOWN.encode() + b"\r\n")
            transport.close()
        if self.sessions:
            try:
                await asyncio.wait_for(self._no_sessions.wait(), CLOSE_WAIT_SECONDS)
            except TimeoutError:
                for session in list(self.sessions):
                    transport = session.transport  # type: ignore[attr-defined]
                    if transport is not None:
                        transport.abort()
        await self._server.wait_closed()
        self._server = None
        self._state = (f"stopped ({self.handler.counts['archived']} archived, "
                       f"{self.handler.counts['refused']} refused with 4xx)")
        log.info("%s: %s", self.name, self._state)

    def status(self) -> str:
        return self._state

    def _forget(self, session: _Tracked) -> None:
        self.sessions.discard(session)
        if not self.sessions:
            self._no_sessions.set()
