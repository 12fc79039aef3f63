"""IMAP intake against a real Dovecot on loopback, on both database backends.

Each test polls the database (or the server) for its condition with a deadline; nothing
sleeps for timing. Dovecot is started per test by ``tests.support.dovecot`` with its own Maildir.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.bootstrap import App
from gateway.config import ImapMailboxConfig
from gateway.db.models import LedgerReceipt
from gateway.intake.handoff import Delivery, GroupCommitter, accept
from gateway.intake.imap import Backoff, ImapIntake
from gateway.intake.imap_session import (
    Checkpoint,
    Tuning,
    load_checkpoint,
    plan_batches,
    save_checkpoint,
)
from tests.support.dovecot import Dovecot
from tests.support.imap import USERS, append, client
from tests.support.mail import make_message
from tests.support.waiting import wait_for

FAST = Tuning(batch_messages=50, idle_renew_seconds=30.0, timeout_seconds=10.0)
QUICK_RETRY = Backoff(base_seconds=0.05, max_seconds=0.5)


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with Dovecot(users=dict(USERS)) as server:
        yield server


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The daemon's event loop, run on a thread so the test body can stay synchronous."""
    event_loop = asyncio.new_event_loop()
    thread = threading.Thread(target=event_loop.run_forever, daemon=True)
    thread.start()
    yield event_loop
    event_loop.call_soon_threadsafe(event_loop.stop)
    thread.join(5)
    event_loop.close()


@pytest.fixture
def intakes(app: App, loop: asyncio.AbstractEventLoop) -> Iterator[Callable[..., ImapIntake]]:
    """Start ImapIntakes on the loop; every one still running is stopped afterwards."""
    started: list[ImapIntake] = []
    committer = GroupCommitter(app)

    def start(config: ImapMailboxConfig, tuning: Tuning = FAST,
              backoff: Backoff = QUICK_RETRY) -> ImapIntake:
        intake = ImapIntake(app, config, committer, tuning=tuning, backoff=backoff)
        asyncio.run_coroutine_threadsafe(intake.start(), loop).result(30)
        started.append(intake)
        return intake

    yield start
    for intake in started:
        stop(intake, loop)


def stop(intake: ImapIntake, loop: asyncio.AbstractEventLoop) -> float:
    began = time.monotonic()
    asyncio.run_coroutine_threadsafe(intake.stop(), loop).result(30)
    return time.monotonic() - began


def mailbox(dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch, user: str = "sales",
            password: str | None = None, **options: Any) -> ImapMailboxConfig:
    env = f"TEST_IMAP_{user.upper()}_PASSWORD"
    monkeypatch.setenv(env, USERS[user] if password is None else password)
    values: dict[str, Any] = {"name": user, "host": "127.0.0.1", "port": dovecot.port,
                              "security": "none", "user": user, "password_env": env}
    return ImapMailboxConfig(**(values | options))


def folder_flags(dovecot: Dovecot, folder: str, user: str = "sales") -> dict[int, tuple]:
    imap = client(dovecot, user)
    imap.select_folder(folder, readonly=True)
    uids = imap.search(["ALL"])
    flags = {uid: data[b"FLAGS"] for uid, data in imap.fetch(uids, ["FLAGS"]).items()}
    imap.logout()
    return flags


def receipts(app: App, mailbox_name: str | None = None) -> list[LedgerReceipt]:
    with app.db.session() as session:
        rows = list(session.scalars(select(LedgerReceipt).where(
            LedgerReceipt.transport == "imap").order_by(LedgerReceipt.seq)))
    if mailbox_name is not None:
        rows = [r for r in rows if r.envelope["mailbox"] == mailbox_name]
    return rows


def assert_each_archived_once(app: App, expected: int) -> None:
    with app.db.session() as session:
        total, distinct = session.execute(select(
            func.count(), func.count(func.distinct(LedgerReceipt.sha256 + LedgerReceipt.alias))
        ).where(LedgerReceipt.transport == "imap")).one()
    assert (total, distinct) == (expected, expected)


def messages(count: int, prefix: str = "Order") -> list[bytes]:
    return [make_message(subject=f"{prefix} {n}", body=f"Please ship item {n}.\n" * 20)
            for n in range(count)]


def test_messages_appended_by_another_client_arrive_through_idle_and_are_moved(
        app, dovecot, intakes, monkeypatch):
    intake = intakes(mailbox(dovecot, monkeypatch, alias="sales@northpoint.example"))
    wait_for(lambda: "IDLE on INBOX" in intake.status(), what="IDLE")
    sent = messages(3)
    append(dovecot, sent)
    rows = wait_for(lambda: len(receipts(app)) == 3 and receipts(app), what="3 receipts")
    wait_for(lambda: not folder_flags(dovecot, "INBOX"), what="INBOX to empty")
    moved = wait_for(lambda: len(folder_flags(dovecot, "commgate-archived")) == 3 and
                     folder_flags(dovecot, "commgate-archived"), what="3 moved messages")
    assert all(b"\\Seen" not in flags for flags in moved.values())
    assert [app.archive.read(r.sha256) for r in rows] == sent  # the exact bytes
    uidvalidity = load_checkpoint(app, "imap:sales", "INBOX").uidvalidity
    assert rows[0].envelope == {"alias": "sales@northpoint.example", "mailbox": "sales",
                                "host": "127.0.0.1", "folder": "INBOX",
                                "uidvalidity": uidvalidity, "uid": 1,
                                "node": socket.gethostname()}
    assert load_checkpoint(app, "imap:sales", "INBOX") == Checkpoint(uidvalidity, 3)
    assert intake.status().startswith(f"connected, IDLE on INBOX (UIDVALIDITY {uidvalidity}, "
                                      f"last UID 3)")


def test_flag_mode_flags_after_archive_and_never_sets_seen(app, dovecot, intakes, monkeypatch):
    append(dovecot, [*messages(5), make_message(to="support@northpoint.example")])
    intakes(mailbox(dovecot, monkeypatch, after_archive="flag"))
    wait_for(lambda: len(receipts(app)) == 6, what="6 receipts")
    flags = wait_for(lambda: all(b"$CommgateArchived" in f for f in
                                 folder_flags(dovecot, "INBOX").values()) and
                     folder_flags(dovecot, "INBOX"), what="flags")
    assert len(flags) == 6
    assert all(b"\\Seen" not in f for f in flags.values())
    # No alias configured: taken from the headers.
    assert [r.alias for r in receipts(app)][-1] == "support@northpoint.example"


def test_polling_without_idle_finds_new_messages(app, dovecot, intakes, monkeypatch):
    intake = intakes(mailbox(dovecot, monkeypatch, idle=False, poll_seconds=0.2))
    wait_for(lambda: "polling INBOX" in intake.status(), what="polling")
    append(dovecot, messages(2))
    wait_for(lambda: len(receipts(app)) == 2, what="2 receipts")


def test_dovecot_restart_mid_fetch_loses_and_duplicates_nothing(
        app, dovecot, intakes, monkeypatch):
    sent = messages(300, prefix="Backlog")
    append(dovecot, sent)
    intake = intakes(mailbox(dovecot, monkeypatch),
                     tuning=Tuning(batch_messages=1, timeout_seconds=5.0))
    wait_for(lambda: len(receipts(app)) >= 20, what="the first batches")
    dovecot.stop()
    at_stop = len(receipts(app))
    assert at_stop < 300, "the intake finished before Dovecot stopped; nothing was interrupted"
    wait_for(lambda: intake.status().startswith("retrying in"), what="the retry state")
    dovecot.start()
    wait_for(lambda: len(receipts(app)) == 300, what="all 300 receipts")
    wait_for(lambda: not folder_flags(dovecot, "INBOX"), what="INBOX to empty")
    assert len(folder_flags(dovecot, "commgate-archived")) == 300
    # Exactly once per message: no duplicate sha256 and no UID received twice. (The ledger holds
    # no duplicates at all: a re-fetched message is recognised by sha256 before it is stored.)
    assert_each_archived_once(app, 300)
    assert len({r.envelope["uid"] for r in receipts(app)}) == 300
    assert sorted(app.archive.read(r.sha256) for r in receipts(app)) == sorted(sent)
    assert load_checkpoint(app, "imap:sales", "INBOX").last_uid == 300


def test_uidvalidity_reset_rescans_without_importing_twice(app, dovecot, intakes, monkeypatch,
                                                           caplog):
    caplog.set_level(logging.WARNING, logger="gateway.intake.imap_session")
    first = messages(4, prefix="First")
    append(dovecot, first, folder="Sales")
    intake = intakes(mailbox(dovecot, monkeypatch, folder="Sales", after_archive="flag"))
    wait_for(lambda: len(receipts(app)) == 4, what="4 receipts")
    old = load_checkpoint(app, "imap:sales", "Sales")
    # The server loses its UID list (a restore, a migration, a rebuilt index): the same mail is
    # still there under a new UIDVALIDITY. Two new messages arrive afterwards.
    dovecot.stop()
    wait_for(lambda: intake.status().startswith("retrying in"), what="the retry state")
    folder = dovecot.maildir("sales") / ".Sales"
    for state in folder.glob("dovecot*"):
        state.unlink()
    dovecot.start()
    new = messages(2, prefix="New")
    append(dovecot, new, folder="Sales")
    wait_for(lambda: len(receipts(app)) == 6, what="6 receipts")
    checkpoint = wait_for(lambda: (c := load_checkpoint(app, "imap:sales", "Sales")).last_uid == 6
                          and c, what="the new checkpoint")
    assert checkpoint.uidvalidity != old.uidvalidity
    wait_for(lambda: all(b"$CommgateArchived" in f for f in folder_flags(dovecot, "Sales")
                         .values()), what="all 6 flagged")
    assert_each_archived_once(app, 6)
    assert [r.envelope["uidvalidity"] for r in receipts(app)] == [old.uidvalidity] * 4 + [
        checkpoint.uidvalidity] * 2
    assert "UIDVALIDITY of Sales changed" in caplog.text
    assert intake.connected


def test_wrong_password_is_reported_once_and_the_other_mailbox_keeps_working(
        app, dovecot, intakes, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG, logger="gateway.intake.imap")
    bad = intakes(mailbox(dovecot, monkeypatch, user="sales", password="wrong"))
    good = intakes(mailbox(dovecot, monkeypatch, user="support"))
    append(dovecot, messages(3), user="support")
    wait_for(lambda: len(receipts(app, "support")) == 3, what="support's 3 receipts")
    attempts = wait_for(lambda: len([r for r in caplog.records if "attempt" in r.getMessage()
                                     and r.levelno == logging.DEBUG]) >= 2 and
                        caplog.records, what="two failed attempts")
    errors = [r.getMessage() for r in attempts if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert errors[0].startswith("imap:sales (sales@127.0.0.1:")
    assert "authentication failed; check user 'sales' and the password in environment " \
           "variable TEST_IMAP_SALES_PASSWORD" in errors[0]
    assert bad.status().startswith("retrying in ")
    assert bad.status().endswith(": authentication failed")
    assert good.connected
    assert receipts(app, "sales") == []


def test_stop_during_idle_returns_promptly_and_logs_out(app, dovecot, intakes, loop,
                                                        monkeypatch):
    intake = intakes(mailbox(dovecot, monkeypatch))
    wait_for(lambda: "IDLE" in intake.status(), what="IDLE")
    assert stop(intake, loop) < 1.0
    assert intake.status() == "stopped"
    wait_for(lambda: "Logged out" in dovecot.log_path.read_text(), what="LOGOUT in Dovecot's log")


def test_crash_between_archive_and_move_refetches_and_deduplicates(app, dovecot, intakes,
                                                                   monkeypatch):
    sent = messages(3)
    append(dovecot, sent)
    # What a crash right after the archive write and checkpoint, before MOVE, leaves behind:
    # the messages archived and checkpointed, still in INBOX.
    imap = client(dovecot)
    uidvalidity = imap.select_folder("INBOX")[b"UIDVALIDITY"]
    imap.logout()
    accept(app, [Delivery(raw, _receipt(uid, uidvalidity)) for uid, raw in enumerate(sent, 1)])
    save_checkpoint(app, "imap:sales", "INBOX", Checkpoint(uidvalidity, 3))
    intakes(mailbox(dovecot, monkeypatch))
    wait_for(lambda: len(folder_flags(dovecot, "commgate-archived")) == 3, what="the MOVE")
    assert folder_flags(dovecot, "INBOX") == {}
    assert_each_archived_once(app, 3)


def _receipt(uid: int, uidvalidity: int):  # type: ignore[no-untyped-def]
    from archive import Receipt

    return Receipt(transport="imap", envelope={
        "alias": "sales@northpoint.example", "mailbox": "sales", "host": "127.0.0.1",
        "folder": "INBOX", "uidvalidity": uidvalidity, "uid": uid})


def test_tls_and_starttls_with_a_private_ca(app, intakes, monkeypatch):
    with Dovecot(users=dict(USERS), tls=True) as server:
        append(server, messages(1), user="sales")
        append(server, messages(1), user="support")
        assert server.ca_file is not None
        intakes(mailbox(server, monkeypatch, user="sales", security="tls",
                        port=server.tls_port, ca_file=str(server.ca_file)))
        intakes(mailbox(server, monkeypatch, user="support", security="starttls",
                        ca_file=str(server.ca_file)))
        wait_for(lambda: len(receipts(app)) == 2, what="a receipt over TLS and STARTTLS")


def test_an_untrusted_certificate_says_to_set_ca_file(app, intakes, monkeypatch):
    with Dovecot(users=dict(USERS), tls=True) as server:
        intake = intakes(mailbox(server, monkeypatch, security="tls", port=server.tls_port))
        wait_for(lambda: "not trusted" in intake.status(), what="the TLS failure")


def test_batches_are_bounded_by_count_and_bytes() -> None:
    sizes = [(1, 10), (2, 10), (3, 10), (4, 500), (5, 10), (6, 10)]
    assert list(plan_batches(sizes, max_messages=2, max_bytes=100)) == [
        [1, 2], [3], [4], [5, 6]]


def test_only_one_node_polls_a_mailbox_and_another_takes_over(app, db_url, dovecot, intakes,
                                                               loop, monkeypatch):
    """Two nodes on one PostgreSQL: the advisory lock lets exactly one of them poll."""
    if not db_url.startswith("postgresql"):
        pytest.skip("one machine (SQLite) has one node: the lock is always granted")
    config = mailbox(dovecot, monkeypatch, poll_seconds=0.2)
    first = intakes(config)
    second = intakes(config)
    wait_for(lambda: first.connected, what="the first node to connect")
    wait_for(lambda: second.status().startswith("standing by"), what="the second to stand by")
    append(dovecot, messages(2))
    wait_for(lambda: len(receipts(app)) == 2, what="the first node to archive")
    stop(first, loop)
    wait_for(lambda: second.connected, what="the second node to take over")
    append(dovecot, messages(1, prefix="After takeover"))
    wait_for(lambda: len(receipts(app)) == 3, what="the second node to archive")
    assert_each_archived_once(app, 3)


def test_a_poller_that_lost_its_node_lock_stands_by_instead_of_polling(
        app, dovecot, intakes, monkeypatch):
    """The server dropped the poller's lock connection and another node took the mailbox:
    the poller notices at its next wake-up and leaves the new mail to that node."""
    if app.db.dialect != "postgresql":
        pytest.skip("node locks are PostgreSQL advisory locks (SQLite: one node)")
    from gateway.db.nodelock import NodeLock
    from gateway.db.session import Database

    intake = intakes(mailbox(dovecot, monkeypatch))  # IDLE: it wakes only for news
    wait_for(lambda: "IDLE on INBOX" in intake.status(), what="IDLE")
    held = intake._lock._connection
    assert held is not None
    pid = held.execute(select(func.pg_backend_pid())).scalar_one()
    held.commit()
    other_node = Database.open(app.db.engine.url, schema="unchecked")
    other = NodeLock(other_node, intake.name)
    try:
        with other_node.engine.connect() as admin:
            assert admin.execute(select(func.pg_terminate_backend(pid))).scalar_one()
        wait_for(other.hold, what="the other node to take the mailbox")
        append(dovecot, messages(1))
        wait_for(lambda: intake.status().startswith("standing by"),
                 what="the poller to stand by")
        assert len(folder_flags(dovecot, "INBOX")) == 1  # left for the node holding the lock
        assert receipts(app) == []
    finally:
        other.release()
        other_node.close()
