"""The SMTP/LMTP intake: the company's mail server delivers the aliases to commgate.

aiosmtpd speaks the protocol on the daemon's own asyncio loop (``loop.create_server``, not
aiosmtpd's threaded Controller). :class:`AliasHandler` decides every reply; the only thing it
knows of storage is ``GroupCommitter.submit``, which returns once a message is durable.

Replies are chosen on purpose: permanent (5xx) only where a retry cannot help (unknown alias,
message too big); temporary (4xx) whenever commgate itself is the problem (archive full or
unwritable, shutting down), so the sending server keeps the message and tries again.

Limits keep one client from starving the others (issue 11: 19,990 idle connections exhausted
the file descriptors): total and per-peer session caps checked before a session is even built,
a per-command timeout before DATA, a stall (not total) timeout during DATA, and a budget for the
message bytes all sessions hold in memory at once.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import math
import re
import resource
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email._header_value_parser import AddrSpec, AngleAddr, get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

from archive import ArchiveWriteError, LedgerEntry, Receipt
from gateway.config import Settings, SmtpConfig
from gateway.core import metrics
from gateway.core.context import Context
from gateway.core.errors import ConfigError
from gateway.intake.handoff import Delivery, GroupCommitter

log = logging.getLogger(__name__)

# Replies (RFC 5321 §4.2 codes, RFC 3463 enhanced status codes).
SENDER_OK = "250 2.1.0 Sender OK"
RECIPIENT_OK = "250 2.1.5 Recipient OK"
ARCHIVED = "250 2.0.0 Archived as ledger entry {seqs}"
ARCHIVED_FOR = "250 2.0.0 <{alias}> archived as ledger entry {seq}"
NO_SUCH_ALIAS = "550 5.1.1 <{address}>: no such alias here (this server relays nothing)"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
MESSAGE_TOO_BIG = "552 5.3.4 Message size exceeds fixed maximum message size"
COMMAND_TOO_LONG = "500 5.5.2 Command line too long"
STARTTLS_FIRST = "530 5.7.0 Must issue a STARTTLS command first"
ARCHIVE_FAILED = "451 4.3.0 Archive write failed; please try again later"
ARCHIVE_FULL = "452 4.3.1 Insufficient archive storage; please try again later"
INTERNAL_ERROR = "451 4.3.0 Internal error; please try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, closing connection"
# RFC 5321 §3.8 and §4.2.3: a server that cannot take a connection answers 421 and closes.
TOO_MANY_SESSIONS = b"421 4.3.2 Too many connections; please try again later\r\n"
TIMED_OUT = b"421 4.4.2 Timeout waiting for the client; closing connection\r\n"
# RFC 1870 §6.1 (SIZE) and RFC 5321 §4.2.2: 452 is "insufficient system storage", temporary.
MEMORY_FULL = "452 4.3.1 Too much mail in progress; please try again later"

# RFC 5321 §4.5.3.1.8: a server must buffer at least 100 recipients. Counted per transaction,
# refused ones included, so the alias list cannot be probed with one long RCPT run.
MAX_RECIPIENTS = 100
# The stream buffer: command lines longer than this are drained and refused (RFC 5321
# §4.5.3.1.4 needs 512 octets; aiosmtpd checks that limit itself). Message lines have no limit at
# all (§4.5.3.1.6 asks servers not to impose one where they can avoid it; senders and relays
# that do not fold exceed 998 octets, and contract 5 archives bad input rather than bouncing
# it): DATA is read in pieces of up to this size, whatever the line length.
STREAM_BUFFER_BYTES = 64 * 1024
# A DATA without a SIZE reservation waits this long for room in the memory budget before the
# sender is told to retry (RFC 5321 §4.5.3.2.4 gives the sender 2 minutes for the DATA reply).
DATA_ROOM_WAIT_SECONDS = 10.0
# Open files the rest of the daemon may need besides the SMTP sessions (database connections,
# archive writes, IMAP, connections accepted only to be refused); each session needs two (its
# socket and, while archiving, its blob file).
FD_RESERVE = 400
# How long stop() lets a message already handed to the archive finish before closing anyway.
STOP_GRACE_SECONDS = 20.0
CLOSE_WAIT_SECONDS = 5.0

# aiosmtpd answers these itself; they are re-worded to carry enhanced status codes.
_AIOSMTPD_REPLIES = {
    "552 Error: message size exceeds fixed maximum message size": MESSAGE_TOO_BIG,
    "500 Command line too long": COMMAND_TOO_LONG,
}
_ACCEPT_OUT_OF_RESOURCES = "socket.accept() out of system resource"  # asyncio's context message


def failure_reply(exc: BaseException) -> str:
    """The temporary reply for a delivery that could not be made durable."""
    if isinstance(exc, ArchiveWriteError):
        cause = exc.__cause__
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return ARCHIVE_FULL
        return ARCHIVE_FAILED
    return INTERNAL_ERROR


def _declared_size(mail_options: list[str]) -> int:
    """The SIZE= of MAIL FROM (RFC 1870), 0 when none; aiosmtpd has checked its syntax."""
    for option in mail_options:
        name, _, value = option.partition("=")
        if name.upper() == "SIZE" and value.isdigit():
            return int(value)
    return 0


def _text(value: str) -> str:
    """Arguments are decoded with surrogateescape; the ledger needs valid UTF-8."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class _Transaction(Envelope):
    def __init__(self) -> None:
        super().__init__()
        self.rcpt_attempts = 0


class MemoryBudget:
    """The message bytes all sessions together may hold in memory (``max_bytes_in_flight``).

    Issue 11: six concurrent 36 MB messages took the daemon past 1 GB. A session takes what it
    holds (or what its SIZE= declared) before holding it, and gives it back when the
    transaction ends; a sender that does not fit is told to retry (452), nothing is lost.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._waiters: list[asyncio.Future[None]] = []

    def take(self, amount: int) -> bool:
        if self.used + amount > self.limit:
            return False
        self.used += amount
        return True

    def give(self, amount: int) -> None:
        self.used -= amount
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def room(self, seconds: float) -> bool:
        """Wait up to ``seconds`` until some of the budget is free; False if it never was."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.used >= self.limit:
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except TimeoutError:
                return False
        return True


async def read_data(reader: asyncio.StreamReader, take: Callable[[bytes], object]) -> None:
    """Read a message after DATA up to the lone dot, undoing dot-stuffing; each piece to ``take``.

    RFC 5321 §4.1.1.4 and §4.5.2: the data ends at CRLF "." CRLF, and a line that begins with a
    dot lost that dot. Only CRLF ends a line (a bare LF does not: SMTP smuggling). Unlike
    aiosmtpd's line-by-line reader, line length is unlimited and most of a message goes through
    in pieces of up to ``STREAM_BUFFER_BYTES``: ``readuntil(CRLF ".")`` finds the only places
    where something must be done. The states say what was consumed last: a line end
    (``start``), a CR that may begin one (``cr``), or anything else (``mid``); in ``mid`` no
    CRLF "." can begin in consumed bytes, so the reader may search for it.
    """
    state = "start"  # the DATA command's CRLF came just before
    while True:
        if state == "mid":
            try:
                piece = await reader.readuntil(b"\r\n.")
            except asyncio.LimitOverrunError as exc:
                # The reader leaves any partial CRLF "." unconsumed (exc.consumed stops before).
                take(await reader.readexactly(exc.consumed))
                continue
            take(piece[:-1])
        else:
            first = await reader.readexactly(1)
            if first != b".":
                take(first)
                state = "cr" if first == b"\r" else ("start" if state == "cr" and first == b"\n"
                                                    else "mid")
                continue
            if state == "cr":  # a dot after a bare CR: content
                take(first)
                state = "mid"
                continue
        # A dot began a line: it is either the end of the data or a stuffed dot to drop.
        if await _rest_of_line(reader, take):
            return
        state = "start"


async def _rest_of_line(reader: asyncio.StreamReader, take: Callable[[bytes], object]) -> bool:
    """The line after a leading dot, given to ``take``; True when it was just CRLF (the end)."""
    first = True
    while True:
        try:
            piece = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError as exc:
            take(await reader.readexactly(exc.consumed))
            first = False
            continue
        if first and piece == b"\r\n":
            return True
        take(piece)
        return False


class _Tracked:
    """What both protocol classes add: admission and limits, typed replies, our DATA reader."""

    # A mixin of aiosmtpd's SMTP and LMTP (the sessions below): mypy checks it alone, so what
    # it uses of SMTP (super(), transport, limits) carries a "type: ignore" naming the mixin.
    intake: SmtpIntake
    peer_host = ""
    archiving: asyncio.Future[None] | None = None
    held = 0  # bytes of the memory budget this transaction holds
    in_data = False
    data_seen = 0.0  # loop time at which bytes last arrived
    loop: asyncio.AbstractEventLoop
    _timeout_handle: asyncio.TimerHandle | None  # SMTP's session timer
    _timeout_duration: float  # SMTP's: the command timeout
    # The session times out at ``_deadline`` (loop time; inf while commgate itself makes the
    # client wait); the one timer scheduled fires at ``_armed`` (inf: none is scheduled).
    _deadline = math.inf
    _armed = math.inf

    def _create_envelope(self) -> Envelope:
        return _Transaction()

    def _set_post_data_state(self) -> None:
        self._release()  # after DATA, RSET, EHLO: the transaction's bytes are gone
        super()._set_post_data_state()  # type: ignore[misc]  # mixin: SMTP's

    def _release(self) -> None:
        if self.held:
            self.intake.budget.give(self.held)
            self.held = 0

    async def push(self, status: Any) -> None:
        replacement = _AIOSMTPD_REPLIES.get(status) if isinstance(status, str) else None
        await super().push(replacement or status)  # type: ignore[misc]  # mixin: SMTP's

    def data_received(self, data: bytes) -> None:
        self.data_seen = self.loop.time()
        super().data_received(data)  # type: ignore[misc]  # mixin: SMTP's

    def _reset_timeout(self, duration: float | None = None) -> None:
        """The session times out ``duration`` (default: the command timeout) from now.

        aiosmtpd cancels its timer and schedules a new one on every command, five or more per
        message: a timer object, a push onto the loop's heap (Python-level comparisons) and a
        cancelled entry left in it each time. Here the deadline only moves; the timer is
        rescheduled only when it would fire too late, and when it fires early it looks at the
        deadline and waits again (:meth:`_timeout_cb`).
        """
        self._deadline = self.loop.time() + (duration or self._timeout_duration)
        if self._deadline < self._armed:
            self._arm(self._deadline)

    def _pause_timeout(self) -> None:
        """No timeout while commgate makes the client wait (budget room, the archive write);
        the next ``_reset_timeout`` starts it again."""
        self._deadline = math.inf

    def _arm(self, when: float) -> None:
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
        self._timeout_handle = self.loop.call_at(when, self._timeout_cb)
        self._armed = when

    def _timeout_cb(self) -> None:
        """The session timer ran out: 421 and close (RFC 5321 §4.5.3.2, §3.8).

        Before DATA it runs from each command (``command_timeout_seconds``, aiosmtpd resets it);
        during DATA it only fires once no bytes came for ``data_timeout_seconds``, so a slow
        but steady transfer is never cut off (§4.5.3.2.6 counts the time between data blocks).
        A timer that fires before the deadline (which later commands moved) waits again.
        """
        self._armed = math.inf
        now = self.loop.time()
        if self.in_data:
            left = self.data_seen + self.intake.config.data_timeout_seconds - now
            if left > 0:
                self._arm(now + left)
                return
        elif now < self._deadline:
            if self._deadline != math.inf:
                self._arm(self._deadline)
            return
        transport: asyncio.BaseTransport | None = self.transport  # type: ignore[attr-defined]
        if transport is None or transport.is_closing():
            return
        log.debug("%s: %s timed out %s", self.intake.name, self.peer_host,
                  "during DATA" if self.in_data else "waiting for a command")
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(TIMED_OUT)
        transport.close()

    def _data_reply(self, reply: str) -> str:
        """RFC 2033 §4.2: after the data, LMTP answers once per accepted recipient."""
        if isinstance(self, LMTP):
            assert self.envelope is not None  # DATA is inside a transaction
            return "\r\n".join([reply] * max(1, len(self.envelope.rcpt_tos)))
        return reply

    @syntax("DATA")
    async def smtp_DATA(self, arg: str | None) -> None:
        """aiosmtpd's DATA (1.4) with our reader: no line limit, one copy, stall timeout, budget."""
        server: Any = self
        if await server.check_helo_needed() or await server.check_auth_needed("DATA"):
            return
        if not server.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        self._pause_timeout()  # waiting for room is our delay, not the client's
        if not self.held and not await self.intake.budget.room(DATA_ROOM_WAIT_SECONDS):
            server._reset_timeout()
            await self.push(MEMORY_FULL)
            return
        server._reset_timeout(self.intake.config.data_timeout_seconds)
        self.in_data, self.data_seen = True, self.loop.time()
        try:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            raw, refusal = await self._receive()
        finally:
            self.in_data = False
            self._pause_timeout()  # archiving is our delay, not the client's
        try:
            if refusal is not None:
                reply = self._data_reply(refusal)
                server._set_post_data_state()
                await self.push(reply)
                return
            server.envelope.original_content = server.envelope.content = raw
            status = await server._call_handler_hook("DATA")
            server._set_post_data_state()
            await self.push(status)
        finally:
            # The reply has been written: stop() may close this connection now.
            if self.archiving is not None and not self.archiving.done():
                self.archiving.set_result(None)
            self.archiving = None
            if server.transport is not None:
                server._reset_timeout()

    async def _receive(self) -> tuple[bytes, str | None]:
        """The message, or the reason it was dropped (read to its end all the same, as RFC
        5321 §4.2.5 implies, so the session stays in step)."""
        limit: int = self.data_size_limit  # type: ignore[attr-defined]  # mixin: SMTP's
        budget = self.intake.budget
        data = bytearray()
        refusal: str | None = None

        def take(piece: bytes) -> None:
            nonlocal data, refusal
            if refusal is not None:
                return
            data += piece
            size = len(data)
            if limit and size > limit:
                refusal = MESSAGE_TOO_BIG
            elif size <= self.held:
                return
            elif budget.take(size - self.held):
                self.held = size
                return
            else:
                refusal = MEMORY_FULL
            data = bytearray()  # dropped at once: memory is what the limits protect
            self._release()

        await read_data(self._reader, take)  # type: ignore[attr-defined]  # mixin: SMTP's
        return bytes(data), refusal

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)  # type: ignore[misc]  # mixin: SMTP's
        self._release()
        self.intake._forget(self)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        limit: int = self.local_part_limit  # type: ignore[attr-defined]  # mixin: SMTP's
        if (plain := plain_address(arg, limit)) is not None:
            return plain
        if len(arg) > _CACHED_ADDRESS_CHARS:  # the cache must not hold what a sender makes up
            return _parse_address.__wrapped__(arg, limit)
        return _parse_address(arg, limit)


_CACHED_ADDRESS_CHARS = 320
# RFC 5322 §3.2.3 atext (ASCII), dot-atoms on both sides of the @, inside angle brackets.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ANGLE_ADDR = re.compile(rf"<({_ATEXT}(?:\.{_ATEXT})*@{_ATEXT}(?:\.{_ATEXT})*)>")


def plain_address(arg: str, local_part_limit: int) -> tuple[str | None, str | None] | None:
    """What :func:`_parse_address` returns for the usual MAIL FROM / RCPT TO argument,
    ``<dot-atom@dot-atom>`` and its parameters, or None for anything else (the email package's
    parser reads that). Senders are mostly distinct, so the cache rarely answers MAIL FROM, and
    the parser took more of the loop's time per message than the archive write (74 us a call).
    The same address and rest: the parser's addr-spec of a plain dot-atom is its text, and
    after the ">" it skips white space (``lstrip``) unless a comment follows."""
    match = _PLAIN_ANGLE_ADDR.match(arg)
    if match is None:
        return None
    addr = match[1]
    rest = arg[match.end():]
    if "=?" in addr or rest[:1] == "(":  # an encoded word or a comment: the parser's
        return None
    if rest[:1] in (" ", "\t"):
        rest = rest.lstrip()
        if rest[:1] == "(":
            return None
    if local_part_limit and addr.rindex("@") > local_part_limit:
        return None, None
    return addr, rest


@functools.lru_cache(maxsize=4096)
def _parse_address(arg: str, local_part_limit: int) -> tuple[str | None, str | None]:
    """aiosmtpd's ``SMTP._getaddr`` (1.4), remembered: the same MAIL FROM or RCPT TO argument
    (an alias, a regular sender) is parsed once, not on every transaction. The email package's
    parser costs more interpreter time than anything else in a MAIL or RCPT command, and
    aiosmtpd's version also builds a ``typing.Protocol`` class on each call."""
    if not arg:
        return "", ""
    address: AngleAddr | AddrSpec
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
    line_length_limit = STREAM_BUFFER_BYTES


class _LmtpSession(_Tracked, LMTP):
    line_length_limit = STREAM_BUFFER_BYTES


@dataclass
class AliasHandler:
    """aiosmtpd hooks: take mail for the aliases only, and say 250 only once it is durable."""

    aliases: frozenset[str]
    committer: GroupCommitter
    protocol: str  # "smtp" or "lmtp"
    require_tls: bool = False
    closing: bool = False
    server_name: str = ""
    node_name: str = ""  # which node took the message (docs/two-nodes.md)
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
        declared = _declared_size(mail_options)
        if declared:
            assert isinstance(server, _Tracked)
            # RFC 1870 §6.1: a size that does not fit now is a temporary 452, not a 552.
            if not server.intake.budget.take(declared):
                return MEMORY_FULL
            server.held = declared
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
        started = time.perf_counter()
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
        failures = [r for r in results if isinstance(r, BaseException)]
        if not failures:  # the time until the 250 (a refusal is counted as a failure instead)
            metrics.observe_accept(self.protocol, time.perf_counter() - started)
        if self.protocol == "lmtp":
            # RFC 2033 §4.2: one status per accepted RCPT, in order, each for its recipient.
            return "\r\n".join(self._reply_for(alias, outcome[alias])
                               for alias in envelope.rcpt_tos)
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
            "node": self.node_name,
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


def open_files_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards the hard one when it is below ``wanted``; returns
    the soft limit in force. Distributions start services with a soft limit of 1024 and a far
    higher hard one; the process may raise it itself, no root needed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return int(soft) if soft != resource.RLIM_INFINITY else wanted
    new = wanted if hard == resource.RLIM_INFINITY else min(wanted, int(hard))
    if new > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError):
            pass
    return int(soft)


def session_cap(max_sessions: int, open_files: int) -> int:
    """How many sessions may run at once without the process running out of file descriptors
    (which made real deliveries fail with 451 in issue 11): two per session, and a reserve."""
    return max(1, min(max_sessions, (open_files - FD_RESERVE) // 2))


class _Gate(asyncio.Protocol):
    """What the server makes for each accepted connection: it admits a session or answers 421
    and closes, before reading anything and without building aiosmtpd's (costly) session."""

    def __init__(self, intake: SmtpIntake) -> None:
        self.intake = intake

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        session = self.intake._admit(host)
        if session is None:
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(TOO_MANY_SESSIONS)
            transport.close()
            return
        # The session is an SMTP or LMTP mixed with _Tracked (mypy sees the mixin alone).
        transport.set_protocol(session)  # type: ignore[arg-type]
        session.connection_made(transport)  # type: ignore[attr-defined]


class SmtpIntake:
    """The Intake for ``[smtp]``: an aiosmtpd SMTP or LMTP server on the running loop."""

    def __init__(self, app: Context, config: SmtpConfig, committer: GroupCommitter) -> None:
        self.config = config
        self.name: str = config.protocol
        self.tls = tls_context(config, app.settings.resolve)
        self.handler = AliasHandler(frozenset(app.settings.alias_addresses), committer,
                                    config.protocol, require_tls=config.require_starttls,
                                    node_name=app.settings.node_name)
        self.sessions: set[_Tracked] = set()
        self.peers: Counter[str] = Counter()  # open sessions per client address
        self.budget = MemoryBudget(config.max_bytes_in_flight)
        self.max_sessions = config.max_sessions
        self._server: asyncio.Server | None = None
        self._new_session: Callable[[str], _Tracked] | None = None
        self._no_sessions = asyncio.Event()
        self._state = "not started"
        # Conditions logged once when they begin and once when they end, with what was refused.
        self._full_refused: int | None = None  # connections refused since the total cap hit
        self._peer_refused: dict[str, int] = {}
        self._accept_failing = False
        self.accept_failures = 0  # accept() calls that failed for want of descriptors
        self._previous_handler: Any = None

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
        self._limit_sessions_to_open_files()

        def new_session(host: str) -> _Tracked:
            session = session_class(
                self.handler, data_size_limit=self.config.max_message_bytes,
                enable_SMTPUTF8=True, hostname=hostname, ident="commgate",
                tls_context=self.tls, timeout=self.config.command_timeout_seconds, loop=loop)
            session.intake = self
            session.peer_host = host
            return session

        self._new_session = new_session
        try:
            self._server = await loop.create_server(lambda: _Gate(self), self.config.listen,
                                                    self.config.port)
        except OSError as exc:
            raise ConfigError(f"smtp: cannot listen on {self.config.listen}:{self.config.port} "
                              f"({exc.strerror or exc})") from exc
        self._previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._loop_exception)
        tls = ", STARTTLS required" if self.config.require_starttls else (
            ", STARTTLS" if self.tls else "")
        self._state = f"listening on {self.config.listen}:{self.port} ({self.name}{tls})"
        log.info("%s: %s", self.name, self._state)

    def _limit_sessions_to_open_files(self) -> None:
        wanted = self.config.max_sessions * 2 + FD_RESERVE
        open_files = open_files_limit(wanted)
        self.max_sessions = session_cap(self.config.max_sessions, open_files)
        if self.max_sessions < self.config.max_sessions:
            log.warning("%s: at most %d sessions at once, not max_sessions = %d: the process may "
                        "open only %d files (raise LimitNOFILE / ulimit -n to %d)", self.name,
                        self.max_sessions, self.config.max_sessions, open_files, wanted)

    def _admit(self, host: str) -> _Tracked | None:
        """A new session for a connection from ``host``, or None when a limit is reached."""
        if self._accept_failing:
            self._accept_failing = False
            log.info("%s: accepting connections again", self.name)
        if len(self.sessions) >= self.max_sessions:
            if self._full_refused is None:
                self._full_refused = 0
                log.warning("%s: session limit reached (%d), refusing new connections with 421",
                            self.name, self.max_sessions)
            self._full_refused += 1
            return None
        if self.peers[host] >= self.config.max_sessions_per_peer:
            if host not in self._peer_refused:
                self._peer_refused[host] = 0
                log.warning("%s: %s has %d sessions open (max_sessions_per_peer), refusing its "
                            "new connections with 421", self.name, host, self.peers[host])
            self._peer_refused[host] += 1
            return None
        assert self._new_session is not None
        session = self._new_session(host)
        self.sessions.add(session)
        self.peers[host] += 1
        self._no_sessions.clear()
        return session

    def _forget(self, session: _Tracked) -> None:
        if session not in self.sessions:
            return
        self.sessions.discard(session)
        host = session.peer_host
        self.peers[host] -= 1
        if not self.peers[host]:
            del self.peers[host]
        refused = self._peer_refused.pop(host, None)
        if refused is not None:
            log.info("%s: %s is below max_sessions_per_peer again (%d connection(s) refused "
                     "meanwhile)", self.name, host, refused)
        if self._full_refused is not None:
            log.info("%s: below the session limit again, accepting (%d connection(s) refused "
                     "meanwhile)", self.name, self._full_refused)
            self._full_refused = None
        if not self.sessions:
            self._no_sessions.set()

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio logs a traceback each second while ``accept()`` fails for want of file
        descriptors (EMFILE); that is one condition, logged once (and its end once)."""
        sock = context.get("socket")
        ours = self._server is not None and sock is not None and any(
            sock.fileno() == listening.fileno() for listening in self._server.sockets)
        if ours and context.get("message") == _ACCEPT_OUT_OF_RESOURCES:
            self.accept_failures += 1
            if not self._accept_failing:
                self._accept_failing = True
                exc = context.get("exception")
                log.error("%s: cannot accept connections (%s); retrying every second. Is the "
                          "open-files limit (LimitNOFILE / ulimit -n) too low?", self.name,
                          getattr(exc, "strerror", None) or exc)
            return
        if self._previous_handler is not None:
            self._previous_handler(loop, context)
        else:
            loop.default_exception_handler(context)

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
            transport = session.transport  # type: ignore[attr-defined]  # mixin: SMTP's
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
                    transport = session.transport  # type: ignore[attr-defined]  # mixin
                    if transport is not None:
                        transport.abort()
        await self._server.wait_closed()
        self._server = None
        loop = asyncio.get_running_loop()
        if loop.get_exception_handler() == self._loop_exception:
            loop.set_exception_handler(self._previous_handler)
        self._state = (f"stopped ({self.handler.counts['archived']} archived, "
                       f"{self.handler.counts['refused']} refused with 4xx)")
        log.info("%s: %s", self.name, self._state)

    def status(self) -> str:
        return self._state

    def serving(self) -> bool:
        """Whether the server socket takes connections (for the daemon's /readyz)."""
        return self._server is not None and self._server.is_serving()

    def reconfigure(self, settings: Settings) -> None:
        """SIGHUP: the aliases as now configured (the next RCPT TO is checked against them)."""
        self.handler.aliases = frozenset(settings.alias_addresses)
