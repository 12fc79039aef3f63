"""IMAP intake benchmark: commgate's ImapIntake against a plain imapclient loop, same mailbox.

One private Dovecot (``tests.support.dovecot``) on loopback holds one INBOX of N (default
2,000) ~5 KB messages, appended once; the Maildir is then copied aside and restored before each
measurement, so every measurement starts from the identical mailbox (same UIDs, no flags).

1. fetch only: one imapclient connection fetches every message (BODY.PEEK[], 100 UIDs per
   FETCH) and discards it: the network/server side, not a durability figure.
2. baseline: a plain imapclient loop that fetches each message on its own and writes it to its
   own new file, fsynced (the simplest durable IMAP archiver).
3. commgate: ``ImapIntake`` in flag mode on a fresh SQLite home, from start() until the
   checkpoint in ``intake_checkpoints`` reaches the last UID: every message archived (blob and
   ledger fsynced, queued in the database), the checkpoint saved per batch and the
   $CommgateArchived flag stored on the server after each durable batch.

Prints messages/s of each and the ratio commgate/baseline (target >= 0.8).
Run: ``/tmp/probe/bin/python bench/imap_ingest.py [--messages 2000] [--mode flag|move]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Literal

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from imapclient import IMAPClient  # noqa: E402

from gateway.bootstrap import App  # noqa: E402
from gateway.config import DATABASE_URL_ENV, ImapMailboxConfig  # noqa: E402
from gateway.installation import init_home  # noqa: E402
from gateway.intake.handoff import GroupCommitter  # noqa: E402
from gateway.intake.imap import ImapIntake  # noqa: E402
from gateway.intake.imap_session import load_checkpoint  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402

PASSWORD = "bench-secret"
ALIAS = "sales@northpoint.example"


def make_messages(count: int, size: int = 5000) -> list[bytes]:
    filler = ("Please quote 20 pieces of part 4711-B, anodised, drawing rev C. " * 100)
    messages = []
    for n in range(count):
        head = (f"From: Anna Buyer <anna{n % 97}@customer.example>\r\nTo: {ALIAS}\r\n"
                f"Subject: RFQ {n}\r\nDate: Mon, 23 Nov 2026 09:15:00 +0100\r\n"
                f"Message-ID: <bench-{n}@customer.example>\r\nMIME-Version: 1.0\r\n"
                f"Content-Type: text/plain; charset=utf-8\r\n\r\n")
        body = filler[: max(0, size - len(head) - 2)]
        messages.append((head + body + "\r\n").encode())
    return messages


def connect(server: Dovecot) -> IMAPClient:
    imap = IMAPClient("127.0.0.1", server.port, ssl=False, timeout=30)
    imap.login("sales", PASSWORD)
    return imap


def reset(server: Dovecot, prepared: Path) -> None:
    """Put back the identical mailbox (same UIDVALIDITY and UIDs, no flags)."""
    server.stop()
    maildir = server.maildir("sales")
    shutil.rmtree(maildir)
    shutil.copytree(prepared, maildir, symlinks=True)
    server.chown_mail(maildir)
    server.start()
    os.sync()


def fetch_only(server: Dovecot) -> int:
    imap = connect(server)
    imap.select_folder("INBOX", readonly=True)
    uids = imap.search(["ALL"])
    count = 0
    for start in range(0, len(uids), 100):
        count += len(imap.fetch(uids[start:start + 100], ["BODY.PEEK[]"]))
    imap.logout()
    return count


def baseline(server: Dovecot, out: Path) -> int:
    imap = connect(server)
    imap.select_folder("INBOX", readonly=True)
    count = 0
    for uid in imap.search(["ALL"]):
        raw = imap.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
        fd = os.open(out / f"{uid}.eml", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, raw)
            os.fsync(fd)
        finally:
            os.close(fd)
        count += 1
    imap.logout()
    return count


def commgate(server: Dovecot, work: Path, mode: Literal["move", "flag"], last_uid: int
             ) -> float:
    """Seconds from ImapIntake.start() until the checkpoint covers ``last_uid`` (home set-up,
    migrations and App.open are not timed)."""
    home = work / "home"
    os.environ.pop(DATABASE_URL_ENV, None)  # SQLite in the home
    init_home(str(home), "NPC", [ALIAS])
    app = App.open(home)
    os.environ["BENCH_IMAP_PASSWORD"] = PASSWORD
    config = ImapMailboxConfig(name="bench", host="127.0.0.1", port=server.port,
                               security="none", user="sales", password_env="BENCH_IMAP_PASSWORD",
                               alias=ALIAS, after_archive=mode)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    intake = ImapIntake(app, config, GroupCommitter(app))
    os.sync()
    try:
        began = time.perf_counter()
        asyncio.run_coroutine_threadsafe(intake.start(), loop).result(60)
        while True:
            checkpoint = load_checkpoint(app, "imap:bench", "INBOX")
            if checkpoint is not None and checkpoint.last_uid >= last_uid:
                return time.perf_counter() - began
            time.sleep(0.01)
    finally:
        asyncio.run_coroutine_threadsafe(intake.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        app.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--mode", choices=("flag", "move"), default="flag")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="commgate-imap-bench-"))
    server = Dovecot(users={"sales": PASSWORD})
    try:
        server.start()
        setup = time.perf_counter()
        messages = make_messages(args.messages)
        imap = connect(server)
        for start in range(0, len(messages), 200):
            imap.multiappend("INBOX", messages[start:start + 200])
        imap.select_folder("INBOX")
        uids = imap.search(["ALL"])
        imap.logout()
        assert len(uids) == args.messages, len(uids)
        server.stop()
        prepared = work / "prepared-Maildir"
        shutil.copytree(server.maildir("sales"), prepared, symlinks=True)
        server.start()
        size = sum(len(m) for m in messages) / len(messages)
        print(f"mailbox: {len(uids)} messages of {size:.0f} bytes on average in a private Dovecot "
              f"on 127.0.0.1:{server.port} (setup {time.perf_counter() - setup:.1f} s)")

        results: dict[str, float] = {}

        reset(server, prepared)
        began = time.perf_counter()
        assert fetch_only(server) == args.messages
        results["fetch only (100 UIDs per FETCH, discarded)"] = time.perf_counter() - began

        reset(server, prepared)
        out = work / "baseline"
        out.mkdir()
        began = time.perf_counter()
        assert baseline(server, out) == args.messages
        results["baseline: fetch each + write + fsync a file"] = time.perf_counter() - began

        reset(server, prepared)
        label = f"commgate ImapIntake ({args.mode} mode, SQLite, checkpoints)"
        results[label] = commgate(server, work, args.mode, max(uids))

        for name, seconds in results.items():
            print(f"{name:<58} {args.messages / seconds:8.0f} messages/s  ({seconds:.2f} s)")
        base = args.messages / results["baseline: fetch each + write + fsync a file"]
        ours = args.messages / results[label]
        print(f"ratio commgate/baseline: {ours / base:.2f} (target >= 0.8)")
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
