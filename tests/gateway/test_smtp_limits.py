"""The SMTP intake's limits (issue 11) against real clients on loopback: session caps, timeouts,
the memory budget for message bytes, unlimited DATA lines, and running out of file descriptors.

Floods come from other loopback addresses (127.0.0.2 ...; Linux routes all of 127/8 to lo), so
"another peer" is real. Timeouts are configured small; the tests wait for states, and sleep only
to pace a deliberately slow sender.
"""

from __future__ import annotations

import asyncio
import logging
import random
import resource
import smtplib
import socket
import time
from collections.abc import Iterator

import pytest

from gateway.bootstrap import App
from gateway.config import parse_config
from gateway.core.errors import ConfigError
from gateway.intake.smtp import (
    _parse_address,
    open_files_limit,
    plain_address,
    read_data,
    session_cap,
)
from tests.support.mail import make_message
from tests.support.smtp import SALES, SENDER, entries
from tests.support.waiting import wait_for

SMTP_LOG = "gateway.intake.smtp"


class RawClient:
    """A plain socket speaking SMTP by hand: for what smtplib will not do (stall, flood)."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30,
                                             source_address=(source, 0))
        self.reader = self.sock.makefile("rb")

    def reply(self) -> bytes:
        """One reply (the last line of a multi-line one); b"" once the server closed."""
        while True:
            line = self.reader.readline()
            if line[3:4] != b"-":
                return line

    def command(self, text: str) -> bytes:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()

    def start_data(self, rcpt: str = SALES, mail_options: str = "") -> None:
        assert self.reply().startswith(b"220 ")
        assert self.command("EHLO client.test").startswith(b"250 ")
        assert self.command(f"MAIL FROM:<{SENDER}>{mail_options}").startswith(b"250 ")
        assert self.command(f"RCPT TO:<{rcpt}>").startswith(b"250 ")
        assert self.command("DATA").startswith(b"354 ")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@pytest.fixture
def raw_clients() -> Iterator[list[RawClient]]:
    opened: list[RawClient] = []
    yield opened
    for client in opened:
        client.close()


def smtp_from(port: int, source: str = "127.0.0.1") -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30,
                          source_address=(source, 0))
    client.ehlo()
    return client


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == SMTP_LOG and text in r.getMessage()]


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> bool:
    return not [r for r in caplog.records if r.exc_info or r.levelno >= logging.CRITICAL]


# --- session caps -----------------------------------------------------------------------------


def test_a_flood_from_one_peer_stops_at_its_cap_and_real_mail_still_gets_250(
        app: App, serve, raw_clients, caplog) -> None:
    caplog.set_level(logging.INFO, logger=SMTP_LOG)
    server = serve(max_sessions=10, max_sessions_per_peer=4)
    greetings = []
    for _ in range(30):
        client = RawClient(server.port, source="127.0.0.2")
        raw_clients.append(client)
        greetings.append(client.reply()[:9])
    assert greetings == [b"220 mx.no"] * 4 + [b"421 4.3.2"] * 26
    assert all(client.reader.readline() == b"" for client in raw_clients[4:])  # closed
    with smtp_from(server.port) as client:  # the company's mail server, while the flood idles
        assert client.sendmail(SENDER, [SALES], make_message()) == {}
    assert len(entries(app)) == 1
    assert len(messages(caplog, "max_sessions_per_peer), refusing")) == 1
    for client in raw_clients[:4]:
        client.close()
    wait_for(lambda: messages(caplog, "below max_sessions_per_peer again (26 connection"),
             what="the end of the per-peer refusals to be logged")
    assert no_tracebacks(caplog)


def test_total_cap_refuses_with_421_until_idle_sessions_time_out(
        app: App, serve, raw_clients, caplog) -> None:
    caplog.set_level(logging.INFO, logger=SMTP_LOG)
    server = serve(max_sessions=6, max_sessions_per_peer=2, command_timeout_seconds=1.0)
    for number in range(24):  # 12 peers, two connections each
        raw_clients.append(RawClient(server.port, source=f"127.0.0.{2 + number // 2}"))
    firsts = [client.reply()[:9] for client in raw_clients]
    assert firsts.count(b"220 mx.no") == 6 and firsts.count(b"421 4.3.2") == 18
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        smtp_from(server.port)
    assert (refused.value.smtp_code, refused.value.smtp_error[:5]) == (421, b"4.3.2")
    # The idle sessions are told why and closed once command_timeout_seconds passed.
    admitted = [c for c, first in zip(raw_clients, firsts, strict=True) if first[:3] == b"220"]
    assert [client.reply()[:9] for client in admitted] == [b"421 4.4.2"] * 6
    wait_for(lambda: server.session_count() == 0, what="the idle sessions to be closed")
    with smtp_from(server.port) as client:
        assert client.sendmail(SENDER, [SALES], make_message()) == {}
    assert len(messages(caplog, "session limit reached (6)")) == 1
    assert len(messages(caplog, "below the session limit again")) == 1
    assert no_tracebacks(caplog)


def test_idle_session_closed_with_421_after_the_command_timeout(app: App, serve,
                                                                raw_clients) -> None:
    server = serve(command_timeout_seconds=0.5)
    client = RawClient(server.port)
    raw_clients.append(client)
    assert client.reply().startswith(b"220 ")
    assert client.command("EHLO client.test").startswith(b"250 ")
    assert client.command(f"MAIL FROM:<{SENDER}>").startswith(b"250 ")
    client.sock.sendall(b"RCPT TO:<sales@north")  # half a command does not keep it alive
    assert client.reply()[:9] == b"421 4.4.2"
    assert client.reader.readline() == b""
    wait_for(lambda: server.session_count() == 0, what="the session to be gone")
    assert entries(app) == []


def test_each_command_moves_the_timeout_and_mail_after_it_is_archived(app: App, serve,
                                                                      raw_clients) -> None:
    # The session keeps one timer and moves only its deadline: a timer set by an earlier
    # command fires before the later deadline, finds it moved and waits again.
    server = serve(command_timeout_seconds=0.5)
    client = RawClient(server.port)
    raw_clients.append(client)
    assert client.reply().startswith(b"220 ")
    assert client.command("EHLO client.test").startswith(b"250 ")
    for _ in range(12):  # 2.4 s in all, each command 0.2 s after the one before
        time.sleep(0.2)
        assert client.command("NOOP").startswith(b"250 ")
    assert client.command(f"MAIL FROM:<{SENDER}>").startswith(b"250 ")
    assert client.command(f"RCPT TO:<{SALES}>").startswith(b"250 ")
    assert client.command("DATA").startswith(b"354 ")
    raw = make_message()
    client.sock.sendall(raw if raw.endswith(b"\r\n") else raw + b"\r\n")
    assert client.command(".")[:9] == b"250 2.0.0"
    assert client.reply()[:9] == b"421 4.4.2"  # idle again: the command timeout applies
    wait_for(lambda: server.session_count() == 0, what="the session to be gone")
    assert len(entries(app)) == 1


# --- DATA timing --------------------------------------------------------------------------------


def test_slow_steady_data_outlasts_the_data_timeout(app: App, serve, raw_clients) -> None:
    server = serve(command_timeout_seconds=0.5, data_timeout_seconds=0.5)
    raw = make_message(body="".join(f"line {n} of a slow link\n" for n in range(60)))
    client = RawClient(server.port)
    raw_clients.append(client)
    client.start_data()
    pieces = [raw[n:n + 64] for n in range(0, len(raw), 64)]
    assert len(pieces) * 0.1 > 4 * 0.5  # the whole transfer takes far longer than either timeout
    for piece in pieces:
        client.sock.sendall(piece)
        time.sleep(0.1)  # pacing the sender, well inside the 0.5 s between data blocks
    assert client.command(".")[:9] == b"250 2.0.0"
    [entry] = entries(app)
    assert app.archive.read(entry.sha256) == raw


def test_stalled_data_is_cut_with_421_and_nothing_archived(app: App, serve, raw_clients) -> None:
    server = serve(data_timeout_seconds=0.5)
    client = RawClient(server.port)
    raw_clients.append(client)
    client.start_data()
    client.sock.sendall(make_message()[:100])
    assert client.reply()[:9] == b"421 4.4.2"
    assert client.reader.readline() == b""
    wait_for(lambda: server.session_count() == 0, what="the session to be gone")
    assert entries(app) == []


# --- the memory budget ------------------------------------------------------------------------


def filler(kib: int, subject: str = "drawings") -> bytes:
    return make_message(subject=subject,
                        body="".join(f"{n:06d} {'m' * 70}\n" for n in range(kib * 1024 // 78)))


def test_size_reservation_beyond_the_budget_gets_452_and_the_retry_works(app: App,
                                                                         serve) -> None:
    server = serve(max_message_bytes=100_000, max_bytes_in_flight=100_000)
    raw = filler(70)
    with smtp_from(server.port) as first, smtp_from(server.port) as second:
        assert first.mail(SENDER, [f"SIZE={len(raw)}"])[0] == 250
        code, text = second.mail(SENDER, [f"SIZE={len(raw)}"])
        assert (code, text[:5]) == (452, b"4.3.1")  # RFC 1870: temporary, the sender retries
        assert first.rcpt(SALES)[0] == 250
        assert first.data(raw)[0] == 250
        assert second.sendmail(SENDER, [SALES], raw) == {}  # the retry, budget free again
    assert [app.archive.read(e.sha256) for e in entries(app)] == [raw, raw]


def test_data_beyond_the_budget_is_drained_then_452_and_the_retry_works(
        app: App, serve, raw_clients) -> None:
    server = serve(max_message_bytes=400_000, max_bytes_in_flight=400_000)
    held, other = filler(300), filler(250, subject="more drawings")
    slow = RawClient(server.port)
    raw_clients.append(slow)
    slow.start_data()
    slow.sock.sendall(held[:-200])  # 300 KB held in memory, the end still to come
    # Counted as the reader takes it: all but what waits in the stream buffer (< 64 KiB).
    wait_for(lambda: server.intake.budget.used > 240_000, what="the data to be read")
    with smtp_from(server.port) as client:
        client.mail(SENDER)  # no SIZE: the budget is found full while reading
        client.rcpt(SALES)
        code, text = client.data(other)
        assert (code, text[:5]) == (452, b"4.3.1")
        assert client.noop()[0] == 250  # still in step
        slow.sock.sendall(held[-200:])
        assert slow.command(".")[:3] == b"250"
        assert client.sendmail(SENDER, [SALES], other) == {}
    assert sorted(app.archive.read(e.sha256) for e in entries(app)) == sorted([held, other])


def test_data_waits_for_room_then_452(app: App, serve, monkeypatch) -> None:
    monkeypatch.setattr("gateway.intake.smtp.DATA_ROOM_WAIT_SECONDS", 0.3)
    server = serve(max_message_bytes=100_000, max_bytes_in_flight=100_000)
    raw = filler(20)
    with smtp_from(server.port) as first, smtp_from(server.port) as second:
        assert first.mail(SENDER, ["SIZE=100000"])[0] == 250  # all of the budget
        second.mail(SENDER)
        second.rcpt(SALES)
        code, text = second.docmd("DATA")
        assert (code, text[:5]) == (452, b"4.3.1")
        first.rset()  # gives the reservation back
        code, _ = second.docmd("DATA")
        assert code == 354
        second.send(raw + b".\r\n")
        assert second.getreply()[0] == 250
    [entry] = entries(app)
    assert app.archive.read(entry.sha256) == raw


# --- line length --------------------------------------------------------------------------------


def test_100_kib_line_archived_byte_exact(app: App, serve) -> None:
    server = serve()
    long_line = b"A" * (100 * 1024)
    raw = (make_message(subject="one very long line").rstrip(b"\r\n") + b"\r\n" + long_line
           + b"\r\n." + b"B" * (70 * 1024) + b"\r\n..\r\n")
    with smtp_from(server.port) as client:
        assert client.sendmail(SENDER, [SALES], raw) == {}  # smtplib stuffs the leading dots
    [entry] = entries(app)
    assert app.archive.read(entry.sha256) == raw


def test_over_long_command_line_500_and_session_usable(app: App, serve) -> None:
    server = serve()
    with smtp_from(server.port) as client:
        code, text = client.docmd("NOOP", "x" * 600)  # RFC 5321 §4.5.3.1.4: 512 octets
        assert (code, text[:5]) == (500, b"5.5.2")
        code, text = client.docmd("NOOP", "x" * 100_000)  # longer than the stream buffer
        assert (code, text[:5]) == (500, b"5.5.2")
        assert client.sendmail(SENDER, [SALES], make_message()) == {}


def reference_unstuff(stream: bytes) -> tuple[bytes, bytes]:
    """The message and what follows it, line by line as RFC 5321 §4.5.2 describes."""
    lines = stream.split(b"\r\n")
    message = []
    for number, line in enumerate(lines):
        if line == b".":
            return b"".join(message), b"\r\n".join(lines[number + 1:])
        message.append((line[1:] if line.startswith(b".") else line) + b"\r\n")
    raise AssertionError("no end of data")


def test_read_data_matches_the_line_by_line_rule_for_any_chunking() -> None:
    rng = random.Random(11)
    atoms = [b".", b"..", b"\r", b"\n", b"\r\n", b"x", b"yz" * 40, b"\r\n.", b".\n", b"\r\r\n",
             b"\r\n.\r\n"]

    async def read(stream: bytes, cuts: list[int]) -> tuple[bytes, bytes]:
        reader = asyncio.StreamReader(limit=16)  # tiny: every path through LimitOverrunError
        pieces: list[bytes] = []
        task = asyncio.ensure_future(read_data(reader, pieces.append))
        start = 0
        for cut in [*cuts, len(stream)]:
            reader.feed_data(stream[start:cut])
            start = cut
            await asyncio.sleep(0)
        reader.feed_eof()
        await task
        return b"".join(pieces), await reader.read()  # the rest is left for the commands

    for _ in range(500):
        body = b"".join(rng.choice(atoms) for _ in range(rng.randrange(0, 40)))
        stream = body + b"\r\n.\r\nMAIL FROM:<next@example.com>\r\n"
        cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randrange(8))))
        assert asyncio.run(read(stream, cuts)) == reference_unstuff(stream), stream


def test_plain_address_reads_what_the_email_parser_reads_or_leaves_it_to_it() -> None:
    rng = random.Random(11)
    text = "aab..=?-_~'`{}|#Z"
    rests = ["", " SIZE=1", "  (c) Y", "\t\tSIZE=1 BODY=8BITMIME", "(z)", " \u00a0X", "x",
             "\n X", "\u00a0 X", " (a(b)) K", "  ", ">", " <x@y>"]
    args = ["<a@b>", "<a..b@c>", "<a@[1.2.3.4]>", "<>", "a@b", "<a@b", "<\u00e9@b>",
            "<=?utf-8?q?x?=@b>", "<" + "x" * 70 + "@b>"]
    for _ in range(3000):
        local, domain = ("".join(rng.choice(text) for _ in range(rng.randint(1, 8)))
                         for _ in range(2))
        args.append(f"<{local}@{domain}>{rng.choice(rests)}")
    read = 0
    for arg in args:
        for limit in (0, 4, 64):
            plain = plain_address(arg, limit)
            if plain is not None:
                read += 1
                assert plain == _parse_address.__wrapped__(arg, limit), (arg, limit)
    assert plain_address("<john.smith@mail.example.com> SIZE=4521", 64) == (
        "john.smith@mail.example.com", "SIZE=4521")
    assert read > 1000  # the usual forms take the short way


# --- file descriptors ---------------------------------------------------------------------------


def test_session_cap_keeps_two_descriptors_per_session_and_a_reserve() -> None:
    assert session_cap(100, 20000) == 100
    assert session_cap(500, 1024) == (1024 - 400) // 2
    assert session_cap(100, 300) == 1


def test_soft_open_files_limit_is_raised_towards_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"the hard open-files limit here ({hard}) leaves nothing to raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        assert open_files_limit(2000) == 2000
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (2000, hard)
        assert open_files_limit(1500) == 2000  # never lowered
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_out_of_descriptors_on_accept_is_one_log_line_then_accepting_again(
        app: App, serve, raw_clients, caplog) -> None:
    caplog.set_level(logging.INFO)
    server = serve()
    waiting = [socket.socket() for _ in range(3)]  # their descriptors exist before the limit
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    probe = socket.socket()
    lowest_free = probe.fileno()
    probe.close()
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
    try:
        for sock in waiting:
            sock.settimeout(30)
            sock.connect(("127.0.0.1", server.port))  # queued; accept() fails with EMFILE
        wait_for(lambda: messages(caplog, "cannot accept connections (Too many open files)"),
                 10.0, "the accept failure to be logged")
        # asyncio tries up to 100 accepts per wake-up (a traceback each, before this change)
        # and again a second later: more than 100 failures means a retry failed too.
        wait_for(lambda: server.intake.accept_failures > 100, what="a retry a second later")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert all(sock.recv(4)[:3] == b"220" for sock in waiting)  # accepted once files are free
    wait_for(lambda: messages(caplog, "accepting connections again"), what="the recovery")
    assert len(messages(caplog, "cannot accept connections")) == 1
    assert [r for r in caplog.records if "accept" in r.getMessage() and r.name != SMTP_LOG] == []
    assert no_tracebacks(caplog)
    for sock in waiting:
        sock.close()
    with smtp_from(server.port) as client:
        assert client.sendmail(SENDER, [SALES], make_message()) == {}


# --- configuration ------------------------------------------------------------------------------


def test_budget_smaller_than_the_largest_message_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_bytes_in_flight must be at least"):
        parse_config('[smtp]\nmax_message_bytes = 2000000\nmax_bytes_in_flight = 1000000\n')
