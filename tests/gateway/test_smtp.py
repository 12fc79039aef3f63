"""The SMTP/LMTP intake against real clients (smtplib, swaks) on loopback.

The server under test is the product's own ``SmtpIntake`` on an asyncio loop; only the test
runs that loop in a background thread so the blocking clients can talk to it. Archive faults
are real: a tmpfs filled up or remounted read-only (``small_fs``).
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from archive import Archive, ArchiveWriteError, LedgerEntry, Receipt, sha256_hex
from gateway.bootstrap import App
from gateway.config import CONFIG_NAME
from gateway.db.models import LedgerReceipt
from gateway.intake.handoff import Delivery, GroupCommitter
from tests.support.filesystems import remount_read_only
from tests.support.mail import make_message
from tests.support.smtp import RETURNS, SALES, SENDER, SUPPORT, entries
from tests.support.waiting import wait_for


def tmp_leftovers(app: App) -> list[Path]:
    return list((app.settings.archive_path / "tmp").iterdir())


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throw-away self-signed certificate for localhost, made with the openssl CLI."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def app_with_archive_on(home: Path, folder: Path) -> App:
    """Re-point the home's archive at ``folder`` (a small tmpfs) and open the app."""
    config = home / CONFIG_NAME
    config.write_text(config.read_text().replace('path = "archive"',
                                                 f'path = "{folder / "archive"}"'))
    app = App.open(home)
    app.archive.ensure()
    return app


# --- delivery ----------------------------------------------------------------------------------


def test_250_means_blob_ledger_entry_and_receipt_with_envelope(app: App, serve) -> None:
    server = serve()
    raw = make_message(subject="RFQ 20 manifold blocks")
    with server.client() as client:
        refused = client.sendmail(SENDER, [SALES], raw)
        assert refused == {}
    [entry] = entries(app)
    assert app.archive.read(entry.sha256) == raw
    assert entry.sha256 == sha256_hex(raw)
    assert entry.transport == "smtp"
    envelope = dict(entry.envelope)
    assert envelope == {
        "alias": SALES, "mail_from": SENDER, "rcpt_to": [SALES], "peer": "127.0.0.1",
        "peer_port": envelope["peer_port"], "helo": "client.test", "tls": False,
        "protocol": "smtp", "smtputf8": False, "8bitmime": False, "server": "mx.northpoint.test",
        "node": socket.gethostname(),
    }
    # Queueing for the worker happens after the 250 (it is not part of durability).
    def queued() -> list[LedgerReceipt]:
        with app.db.session() as session:
            return list(session.scalars(select(LedgerReceipt)))

    wait_for(lambda: bool(queued()), what="the receipt to be queued")
    [receipt] = queued()
    assert (receipt.seq, receipt.alias, receipt.transport) == (entry.seq, SALES, "smtp")
    assert receipt.envelope["mail_from"] == SENDER


def test_reply_250_names_the_ledger_entry(app: App, serve) -> None:
    server = serve()
    with server.client() as client:
        client.mail(SENDER)
        client.rcpt(SALES)
        code, text = client.data(make_message())
    assert (code, text) == (250, b"2.0.0 Archived as ledger entry 1")


def test_two_aliases_one_blob_two_receipts(app: App, serve) -> None:
    server = serve()
    raw = make_message(to=f"{SALES}, {SUPPORT}")
    with server.client() as client:
        client.sendmail(SENDER, [SALES, "Support@Northpoint.example"], raw)
    first, second = entries(app)
    assert (first.alias, second.alias) == (SALES, SUPPORT)
    assert first.sha256 == second.sha256 == sha256_hex(raw)
    assert first.envelope["rcpt_to"] == second.envelope["rcpt_to"] == [SALES, SUPPORT]
    blobs = [p for p in (app.settings.archive_path / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1


def test_null_sender_bounce_is_accepted(app: App, serve) -> None:
    server = serve()
    with server.client() as client:
        client.sendmail("<>", [RETURNS], make_message(sender="MAILER-DAEMON <mx@customer.example>"))
    [entry] = entries(app)
    assert entry.envelope["mail_from"] == ""


# --- refusals ---------------------------------------------------------------------------------


def test_unknown_recipient_550_and_nothing_archived(app: App, serve) -> None:
    server = serve()
    with server.client() as client, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        client.sendmail(SENDER, ["nobody@northpoint.example", "victim@elsewhere.example"],
                        make_message())
    codes = {rcpt: (code, text[:5]) for rcpt, (code, text) in refused.value.recipients.items()}
    assert codes == {"nobody@northpoint.example": (550, b"5.1.1"),
                     "victim@elsewhere.example": (550, b"5.1.1")}
    assert entries(app) == []


def test_mixed_recipients_archive_for_the_alias_only(app: App, serve) -> None:
    server = serve()
    with server.client() as client:
        refused = client.sendmail(SENDER, ["victim@elsewhere.example", SALES], make_message())
    assert refused["victim@elsewhere.example"][0] == 550
    [entry] = entries(app)
    assert entry.envelope["rcpt_to"] == [SALES]


def test_recipient_limit(app: App, serve) -> None:
    server = serve()
    with server.client() as client:
        client.mail(SENDER)
        answers = [client.rcpt(f"probe{n}@northpoint.example")[0] for n in range(100)]
        assert set(answers) == {550}
        code, text = client.rcpt(SALES)
    assert (code, text[:5]) == (452, b"4.5.3")


def test_size_declared_above_limit_refused_at_mail(app: App, serve) -> None:
    server = serve(max_message_bytes=64 * 1024)
    with server.client() as client:
        assert client.has_extn("size") and client.esmtp_features["size"] == str(64 * 1024)
        code, text = client.mail(SENDER, ["SIZE=100000"])
    assert (code, text[:5]) == (552, b"5.3.4")
    assert entries(app) == []


def test_oversized_data_drained_then_552_and_session_still_usable(app: App, serve) -> None:
    server = serve(max_message_bytes=64 * 1024)
    big = make_message() + b"".join(b"filler line %06d %s\r\n" % (n, b"y" * 60)
                                    for n in range(2000))
    small = make_message()
    with server.client() as client:
        client.mail(SENDER)  # no SIZE: the limit is found while reading DATA
        client.rcpt(SALES)
        code, text = client.data(big)
        assert (code, text[:5]) == (552, b"5.3.4")
        assert client.sendmail(SENDER, [SALES], small) == {}
    [entry] = entries(app)
    assert app.archive.read(entry.sha256) == small


def test_require_starttls_refuses_mail_in_clear(app: App, serve, certificate) -> None:
    cert, key = certificate
    server = serve(tls_cert_file=str(cert), tls_key_file=str(key), require_starttls=True)
    with server.client() as client:
        code, text = client.mail(SENDER)
        assert (code, text[:5]) == (530, b"5.7.0")
        client.starttls(context=unverified())
        client.ehlo()
        assert client.sendmail(SENDER, [SALES], make_message()) == {}
    [entry] = entries(app)
    assert entry.envelope["tls"] is True


# --- encodings and sizes ------------------------------------------------------------------------


def test_8bitmime_and_smtputf8_archived_byte_exact(app: App, serve) -> None:
    server = serve()
    raw = make_message(sender="Jörg Müller <jörg@kunde.example>", subject="Lieferzeit für Block",
                       body="Grüße aus Köln, ¿qué tal? 日本語\n")
    with server.client() as client:
        assert client.has_extn("smtputf8") and client.has_extn("8bitmime")
        client.sendmail("jörg@kunde.example", [SALES], raw,
                        mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    [entry] = entries(app)
    assert app.archive.read(entry.sha256) == raw
    assert entry.envelope["mail_from"] == "jörg@kunde.example"
    assert (entry.envelope["smtputf8"], entry.envelope["8bitmime"]) == (True, True)


def test_30_mb_message_byte_exact(app: App, serve) -> None:
    server = serve()
    head = make_message(subject="drawings", body="see below\n")
    # Lines starting with a dot exercise dot-stuffing on the way in and out.
    lines = b"".join((b".%07d " if n % 97 == 0 else b"%08d ") % n + b"z" * 69 + b"\r\n"
                     for n in range(30 * 1024 * 1024 // 80))
    raw = head + lines
    assert len(raw) >= 30 * 1024 * 1024 - 100
    with server.client() as client:
        assert client.sendmail(SENDER, [SALES], raw) == {}
    [entry] = entries(app)
    assert entry.size == len(raw)
    assert app.archive.read(entry.sha256) == raw


# --- swaks ------------------------------------------------------------------------------------


def swaks(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("swaks") is None:
        pytest.fail("swaks is not installed (apt-get install -y swaks)")
    return subprocess.run(["swaks", "--server", "127.0.0.1", "--helo", "client.test", *args],
                          capture_output=True, text=True, timeout=60)


def test_swaks_pipelining(app: App, serve, tmp_path: Path) -> None:
    server = serve()
    raw = make_message(subject="pipelined")
    message = tmp_path / "m.eml"
    message.write_bytes(raw.removesuffix(b"\r\n"))  # swaks ends the data with its own CRLF
    done = swaks("--port", str(server.port), "--pipeline", "--from", SENDER,
                 "--to", f"{SALES},{SUPPORT}", "--data", f"@{message}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "250-PIPELINING" in done.stdout
    # Pipelined: MAIL, both RCPTs and DATA went out before any of their replies came back.
    talk = [line[:8] for line in done.stdout.splitlines() if line.startswith((" -> ", "<-  "))]
    start = talk.index(" -> MAIL")
    assert talk[start:start + 8] == [" -> MAIL", " -> RCPT", " -> RCPT", " -> DATA",
                                     "<-  250 ", "<-  250 ", "<-  250 ", "<-  354 "], talk
    first, second = entries(app)
    assert app.archive.read(first.sha256) == raw
    assert (first.alias, second.alias) == (SALES, SUPPORT)


def test_swaks_lmtp_reports_each_recipient(app: App, serve) -> None:
    server = serve(protocol="lmtp")
    done = swaks("--port", str(server.port), "--protocol", "LMTP", "--from", SENDER,
                 "--to", f"{SALES},{RETURNS}")
    assert done.returncode == 0, done.stdout + done.stderr
    replies = [line for line in done.stdout.splitlines() if "archived as ledger entry" in line]
    assert len(replies) == 2 and SALES in replies[0] and RETURNS in replies[1]
    assert [e.transport for e in entries(app)] == ["lmtp", "lmtp"]


# --- LMTP -------------------------------------------------------------------------------------


def test_lmtp_one_status_per_recipient_one_blob_two_receipts(app: App, serve) -> None:
    server = serve(protocol="lmtp")
    raw = make_message()
    with server.client(lmtp=True) as client:
        assert client.mail(SENDER)[0] == 250
        assert client.rcpt(SALES)[0] == 250
        assert client.rcpt("nobody@northpoint.example")[0] == 550
        assert client.rcpt(SUPPORT)[0] == 250
        first = client.data(raw)
        second = client.getreply()  # smtplib reads one reply; LMTP sends one per recipient
    assert first == (250, f"2.0.0 <{SALES}> archived as ledger entry 1".encode())
    assert second == (250, f"2.0.0 <{SUPPORT}> archived as ledger entry 2".encode())
    one, two = entries(app)
    assert one.sha256 == two.sha256 == sha256_hex(raw)
    assert (one.alias, two.alias, one.transport) == (SALES, SUPPORT, "lmtp")
    assert one.envelope["protocol"] == "lmtp" and one.envelope["helo"] == "client.test"


def test_lmtp_oversized_answers_552_for_each_recipient(app: App, serve) -> None:
    server = serve(protocol="lmtp", max_message_bytes=4096)
    with server.client(lmtp=True) as client:
        client.mail(SENDER)
        client.rcpt(SALES)
        client.rcpt(SUPPORT)
        first = client.data(make_message(body=("q" * 70 + "\n") * 100))
        second = client.getreply()
        assert client.noop()[0] == 250  # in step: no reply left unread
    assert (first[0], first[1][:5], second[0], second[1][:5]) == (552, b"5.3.4", 552, b"5.3.4")
    assert entries(app) == []


# --- TLS --------------------------------------------------------------------------------------


def test_starttls_records_tls(app: App, serve, certificate) -> None:
    cert, key = certificate
    server = serve(tls_cert_file=str(cert), tls_key_file=str(key))
    assert server.intake.status() == f"listening on 127.0.0.1:{server.port} (smtp, STARTTLS)"
    with server.client() as client:
        assert client.has_extn("starttls")
        client.starttls(context=unverified())
        client.ehlo()
        assert not client.has_extn("starttls")
        client.sendmail(SENDER, [SALES], make_message())
    [entry] = entries(app)
    assert entry.envelope["tls"] is True


# --- failures ---------------------------------------------------------------------------------


def test_dropped_connection_mid_data_archives_nothing(app: App, serve) -> None:
    server = serve()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw_socket:
        reader = raw_socket.makefile("rb")
        assert reader.readline().startswith(b"220 ")
        raw_socket.sendall(b"EHLO client.test\r\n")
        while not reader.readline().startswith(b"250 "):
            pass
        for command, expected in ((f"MAIL FROM:<{SENDER}>", b"250"), (f"RCPT TO:<{SALES}>",
                                  b"250"), ("DATA", b"354")):
            raw_socket.sendall(command.encode() + b"\r\n")
            assert reader.readline().startswith(expected)
        raw_socket.sendall(make_message()[:200])
        reader.close()
    wait_for(lambda: server.session_count() == 0, 10.0,
             "the server to notice the dropped client")
    assert entries(app) == []
    assert tmp_leftovers(app) == []
    with server.client() as client:
        assert client.sendmail(SENDER, [SALES], make_message()) == {}
    assert len(entries(app)) == 1


def test_full_archive_disk_answers_4xx_then_retry_succeeds(home: Path, serve, small_fs) -> None:
    folder = small_fs(4096)
    app = app_with_archive_on(home, folder)
    try:
        server = serve(app)
        filler = folder / "filler"
        with open(filler, "wb", buffering=0) as fh:  # nothing left to flush at close
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        raw = make_message(body="drawing data\n" * 4000)
        with server.client() as client, pytest.raises(smtplib.SMTPDataError) as failed:
            client.sendmail(SENDER, [SALES], raw)
        assert (failed.value.smtp_code, failed.value.smtp_error[:5]) == (452, b"4.3.1")
        assert entries(app) == []
        assert tmp_leftovers(app) == []
        filler.unlink()
        with server.client() as client:
            assert client.sendmail(SENDER, [SALES], raw) == {}
        [entry] = entries(app)
        assert app.archive.read(entry.sha256) == raw
        assert app.archive.verify().ok
    finally:
        app.close()


def test_read_only_archive_answers_451(home: Path, serve, small_fs) -> None:
    folder = small_fs(4096)
    app = app_with_archive_on(home, folder)
    try:
        server = serve(app)
        remount_read_only(folder)
        with server.client() as client, pytest.raises(smtplib.SMTPDataError) as failed:
            client.sendmail(SENDER, [SALES], make_message())
        assert (failed.value.smtp_code, failed.value.smtp_error[:5]) == (451, b"4.3.0")
        assert entries(app) == []
    finally:
        app.close()


# --- lifecycle --------------------------------------------------------------------------------


def test_stop_sends_421_to_a_client_mid_session(app: App, serve) -> None:
    server = serve()
    port = server.port
    client = server.client()
    assert client.mail(SENDER)[0] == 250
    server.stop()
    code, text = client.getreply()
    assert (code, text[:5]) == (421, b"4.3.2")
    client.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert server.intake.status().startswith("stopped")
    assert entries(app) == []


def test_status_line(app: App, serve) -> None:
    server = serve(protocol="lmtp")
    assert server.intake.status() == f"listening on 127.0.0.1:{server.port} (lmtp)"


# --- the group committer ----------------------------------------------------------------------


class _Recorded:
    """A Context stand-in for the committer: a real archive, a queue that only counts."""

    def __init__(self, root: Path) -> None:
        self.archive = Archive.open(root)
        self.recorded: list[int] = []

    def queue(self, batch: list[LedgerEntry]) -> None:
        self.recorded += [entry.seq for entry in batch]


def _delivery(n: int) -> Delivery:
    return Delivery(make_message(subject=f"RFQ {n}"), Receipt("smtp", {"alias": SALES}))


def test_committer_acknowledges_only_after_blob_folder_and_ledger_are_fsynced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_write = os.fsync, os.write

    def name(fd: int) -> str:
        return os.readlink(f"/proc/self/fd/{fd}").removeprefix(str(tmp_path))

    def fsync(fd: int) -> None:
        real_fsync(fd)
        events.append(f"fsync {name(fd)}")

    def write(fd: int, data: Any) -> int:
        if name(fd).endswith("ledger.jsonl"):
            events.append("write ledger")
        return real_write(fd, data)

    app = _Recorded(tmp_path)
    app.archive.ensure()  # folders and empty ledger: not part of a delivery
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "write", write)
    committer = GroupCommitter(app)  # type: ignore[arg-type]

    async def deliver() -> LedgerEntry:
        entry = await committer.submit(_delivery(1))
        events.append("acknowledged")
        await committer.drain()
        return entry

    entry = asyncio.run(deliver())
    shard = f"/blobs/{entry.sha256[:2]}"
    # The blob and its folder are fsynced together (in either order), then the entry is written.
    assert sorted(events[:2]) == [f"fsync {shard}", f"fsync {shard}/{entry.sha256}"]
    assert events[2:] == ["write ledger", "fsync /ledger/ledger.jsonl", "acknowledged"]
    assert app.recorded == [1]


def test_committer_starts_a_lone_delivery_at_once_and_groups_those_arriving_meanwhile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _Recorded(tmp_path)
    committer = GroupCommitter(app, max_writers=1)  # type: ignore[arg-type]
    ledger_writes: list[int] = []
    real_write_entries = app.archive.write_entries

    def write_entries(hashes: Any, items: Any, wait: bool = True) -> Any:
        ledger_writes.append(len(items))
        return real_write_entries(hashes, items, wait)

    monkeypatch.setattr(app.archive, "write_entries", write_entries)

    async def deliver() -> list[LedgerEntry]:
        first = committer.submit_many([_delivery(0)])
        assert len(committer._writers) == 1  # no gathering delay before the first write
        rest = committer.submit_many([_delivery(n) for n in range(1, 6)])
        results = await asyncio.gather(*first, *rest)
        await committer.drain()
        return results

    results = asyncio.run(deliver())
    assert [entry.seq for entry in results] == [1, 2, 3, 4, 5, 6]
    assert ledger_writes == [1, 5]  # those who waited for the first write share the next one
    assert app.recorded == [1, 2, 3, 4, 5, 6]
    assert app.archive.verify().ok


def test_committer_failure_reaches_every_delivery_of_the_batch(tmp_path: Path) -> None:
    app = _Recorded(tmp_path / "archive")
    app.archive.ensure()
    (tmp_path / "archive" / "blobs").chmod(0o500)  # folders exist, new blobs cannot be placed
    (tmp_path / "archive" / "tmp").chmod(0o500)
    committer = GroupCommitter(app)  # type: ignore[arg-type]

    async def deliver() -> list[Any]:
        return await asyncio.gather(*committer.submit_many([_delivery(1), _delivery(2)]),
                                    return_exceptions=True)

    try:
        results = asyncio.run(deliver())
    finally:
        (tmp_path / "archive" / "blobs").chmod(0o700)
        (tmp_path / "archive" / "tmp").chmod(0o700)
    if os.geteuid() == 0:  # root writes anyway: then both are simply archived
        assert [entry.seq for entry in results] == [1, 2]
    else:
        assert all(isinstance(result, ArchiveWriteError) for result in results)
    assert app.archive.verify().ok
