"""One connection to one IMAP folder: fetch what is new, archive it, then move or flag it.

Everything here blocks (sockets, fsync, database) and runs on the mailbox's own thread. The
order inside each batch is the durability contract (ARCHITECTURE contract 1): fetch with
BODY.PEEK[] (never sets \\Seen, RFC 3501 6.4.5), ``accept`` (blob and ledger fsynced), save the
checkpoint, and only then MOVE or flag on the server. A crash or a dropped connection at any
point between those steps leaves the message in the folder; the next session fetches it again
and ``accept`` recognises its bytes by sha256, so it is neither lost nor archived twice.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from imapclient import IMAPClient
from sqlalchemy import select as sql_select

from archive import Receipt
from gateway.config import ImapMailboxConfig
from gateway.core.clock import utcnow
from gateway.core.context import Context
from gateway.db.models import IntakeCheckpoint
from gateway.intake.aliases import alias_from_headers
from gateway.intake.handoff import Delivery, accept

log = logging.getLogger(__name__)

# RFC 2177: servers may drop an IDLE after 30 minutes; re-issue well before that.
IDLE_RENEW_SECONDS = 25 * 60.0
BATCH_MESSAGES = 50
BATCH_BYTES = 16 * 1024 * 1024
SIZE_CHUNK = 1000  # UIDs per RFC822.SIZE fetch, so a huge folder is sized in slices too
_BODY = b"BODY[]"


@dataclass(frozen=True)
class Checkpoint:
    """Where a folder stands: a UID is only meaningful together with its UIDVALIDITY."""

    uidvalidity: int
    last_uid: int


@dataclass(frozen=True)
class Tuning:
    """Knobs tests and the benchmark turn; the defaults suit production."""

    batch_messages: int = BATCH_MESSAGES
    batch_bytes: int = BATCH_BYTES
    idle_renew_seconds: float = IDLE_RENEW_SECONDS
    timeout_seconds: float = 60.0


def load_checkpoint(app: Context, intake: str, folder: str) -> Checkpoint | None:
    with app.db.session() as session:
        value = session.scalar(sql_select(IntakeCheckpoint.value).where(
            IntakeCheckpoint.intake == intake, IntakeCheckpoint.key == folder))
    if not value:
        return None
    return Checkpoint(int(value["uidvalidity"]), int(value["last_uid"]))


def save_checkpoint(app: Context, intake: str, folder: str, checkpoint: Checkpoint) -> None:
    value = {"uidvalidity": checkpoint.uidvalidity, "last_uid": checkpoint.last_uid}
    with app.db.session() as session:
        row = session.get(IntakeCheckpoint, (intake, folder))
        if row is None:
            session.add(IntakeCheckpoint(intake=intake, key=folder, value=value,
                                         updated_at=utcnow()))
        else:
            row.value = value
            row.updated_at = utcnow()


def plan_batches(sizes: Sequence[tuple[int, int]], max_messages: int,
                 max_bytes: int) -> Iterator[list[int]]:
    """Group (uid, size) pairs into UID batches bounded by count and bytes.

    A message larger than ``max_bytes`` travels alone, so memory holds at most one batch or
    one large message, never the folder.
    """
    batch: list[int] = []
    total = 0
    for uid, size in sizes:
        if batch and (len(batch) >= max_messages or total + size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


class Waker:
    """A stop flag that also wakes a thread blocked in select() on the IMAP socket."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)

    def set(self) -> None:
        self.event.set()
        with contextlib.suppress(OSError):
            self._write.send(b"x")

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> bool:
        return self.event.wait(seconds)

    def fileno(self) -> int:
        return self._read.fileno()

    def close(self) -> None:
        self._read.close()
        self._write.close()


class MailboxSession:
    """A logged-in connection with the folder selected; ``run`` drains and waits until stopped."""

    def __init__(self, app: Context, config: ImapMailboxConfig, password: str, waker: Waker,
                 tuning: Tuning, on_state: Callable[[str], None],
                 on_archived: Callable[[int], None],
                 still_ours: Callable[[], bool] = lambda: True) -> None:
        self.app = app
        self.config = config
        self.password = password
        self.waker = waker
        self.tuning = tuning
        self.on_state = on_state
        self.on_archived = on_archived
        # Asked before every drain after the first: False once this node lost the mailbox's
        # lock (its database connection dropped), so another node may be polling it now.
        self.still_ours = still_ours
        self.intake = f"imap:{config.name}"
        self.client: IMAPClient | None = None
        self.checkpoint = Checkpoint(0, 0)

    # -- connection -------------------------------------------------------------------------
    def connect(self) -> None:
        config = self.config
        context = ssl.create_default_context(cafile=config.ca_file or None)
        client = IMAPClient(config.host, config.port, ssl=config.security == "tls",
                            ssl_context=context, timeout=self.tuning.timeout_seconds)
        self.client = client
        if config.security == "starttls":
            client.starttls(context)
        client.login(config.user, self.password)
        if config.after_archive == "move" and not client.folder_exists(config.move_to):
            client.create_folder(config.move_to)
        info = client.select_folder(config.folder)
        uidvalidity = int(info[b"UIDVALIDITY"])
        saved = load_checkpoint(self.app, self.intake, config.folder)
        if saved is None:
            self.checkpoint = Checkpoint(uidvalidity, 0)
            save_checkpoint(self.app, self.intake, config.folder, self.checkpoint)
        elif saved.uidvalidity != uidvalidity:
            # RFC 3501 2.3.1.1: the old UIDs mean nothing now. Re-scan everything; bytes we
            # already archived are recognised by sha256 and skipped, new ones are imported.
            log.warning("%s: UIDVALIDITY of %s changed from %d to %d; re-scanning the whole "
                        "folder (already archived messages are recognised and skipped)",
                        self.intake, config.folder, saved.uidvalidity, uidvalidity)
            self.checkpoint = Checkpoint(uidvalidity, 0)
            save_checkpoint(self.app, self.intake, config.folder, self.checkpoint)
        else:
            self.checkpoint = saved

    def close(self) -> None:
        """Leave IDLE if in it and log out; a dead connection is simply dropped."""
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            with contextlib.suppress(Exception):
                client.shutdown()

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        """Drain, then wait for news and drain again, until stopped; returns early when the
        folder was replaced under the session, so the caller reconnects and re-scans, or when
        the mailbox's node lock was lost, so the caller stands by until it gets it again."""
        assert self.client is not None
        self.drain(leftovers=True)
        use_idle = self.config.idle and self.client.has_capability("IDLE")
        while not self.waker.is_set():
            if use_idle:
                self.on_state(f"connected, IDLE on {self.config.folder}")
                self.idle()
            else:
                self.on_state(f"connected, polling {self.config.folder} every "
                              f"{self.config.poll_seconds:g} s")
                if self.waker.wait(self.config.poll_seconds):
                    break
            if self.waker.is_set():
                break
            if self.folder_replaced():
                return
            if not self.still_ours():
                log.warning("%s: lost this node's lock on the mailbox (its database connection "
                            "dropped); standing by until it can be taken again", self.intake)
                return
            self.drain()

    def folder_replaced(self) -> bool:
        """True when the folder now has another UIDVALIDITY than the one selected.

        A session that selected a folder which was then deleted and recreated may keep
        serving the old, empty view without ever saying so (Dovecot does), so each wake-up
        asks STATUS; the cost is one round trip per wake-up.
        """
        assert self.client is not None
        status = self.client.folder_status(self.config.folder, [b"UIDVALIDITY"])
        current = int(status[b"UIDVALIDITY"])
        if current == self.checkpoint.uidvalidity:
            return False
        log.info("%s: %s was replaced (UIDVALIDITY %d, was %d); reconnecting", self.intake,
                 self.config.folder, current, self.checkpoint.uidvalidity)
        return True

    def idle(self) -> None:
        """IDLE until the server reports something, the renew time is up, or stop is asked."""
        client = self.client
        assert client is not None
        client.idle()
        # A message delivered between the last SEARCH and IDLE is announced by an EXISTS that
        # may arrive together with IDLE's continuation, so imaplib has already read it off the
        # socket and select() would never see it: look there first. As a second net the wait
        # is never longer than poll_seconds, so nothing waits for the 25-minute renewal.
        deadline = time.monotonic() + min(self.tuning.idle_renew_seconds,
                                          self.config.poll_seconds)
        if _announced_news(client) or _buffered_input(client):
            client.idle_done()
            return
        try:
            while not self.waker.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                ready, _, _ = select.select([client.socket(), self.waker], [], [], remaining)
                if self.waker.is_set():
                    break
                if ready:
                    # Any untagged response (EXISTS, EXPUNGE, FETCH) means: look again. An
                    # empty answer on a readable socket is usually EOF, which idle_done finds.
                    client.idle_check(timeout=0)
                    break
        finally:
            client.idle_done()

    # -- fetch, archive, act ----------------------------------------------------------------
    def drain(self, leftovers: bool = False) -> int:
        """Archive everything above the checkpoint; with ``leftovers`` also re-handle messages
        at or below it that were archived but not yet moved/flagged (a crash in between)."""
        client = self.client
        assert client is not None
        done = 0
        if leftovers and self.checkpoint.last_uid:
            criteria: list[object] = ["UID", f"1:{self.checkpoint.last_uid}", "NOT", "DELETED"]
            if self.config.after_archive == "flag":
                criteria += ["UNKEYWORD", self.config.flag]
            pending = sorted(client.search(criteria))
            if pending:
                log.info("%s: %d message(s) at or below UID %d are still in %s (archived but "
                         "not yet %s); re-checking them", self.intake, len(pending),
                         self.checkpoint.last_uid, self.config.folder,
                         "moved" if self.config.after_archive == "move" else "flagged")
                done += self._handle(pending)
        while not self.waker.is_set():
            # "n:*" always matches the highest UID even when it is below n (RFC 3501 6.4.8).
            uids = sorted(u for u in client.search(["UID", f"{self.checkpoint.last_uid + 1}:*"])
                          if u > self.checkpoint.last_uid)
            if not uids:
                break
            done += self._handle(uids)
        return done

    def _handle(self, uids: list[int]) -> int:
        client = self.client
        assert client is not None
        done = 0
        for start in range(0, len(uids), SIZE_CHUNK):
            if self.waker.is_set():
                break
            chunk = uids[start:start + SIZE_CHUNK]
            sizes = client.fetch(chunk, ["RFC822.SIZE"])
            pairs = [(uid, int(sizes[uid][b"RFC822.SIZE"])) for uid in chunk if uid in sizes]
            for batch in plan_batches(pairs, self.tuning.batch_messages,
                                      self.tuning.batch_bytes):
                if self.waker.is_set():
                    break
                done += self._archive_batch(batch)
        return done

    def _archive_batch(self, uids: list[int]) -> int:
        client = self.client
        assert client is not None
        fetched = client.fetch(uids, ["BODY.PEEK[]"])
        settings = self.app.settings
        deliveries = []
        present = []
        for uid in uids:
            raw = fetched.get(uid, {}).get(_BODY)
            if raw is None:  # expunged by someone else meanwhile
                continue
            alias = self.config.alias.lower() or alias_from_headers(
                raw, settings.alias_addresses, settings.default_alias)
            deliveries.append(Delivery(raw, Receipt(transport="imap", envelope={
                "alias": alias, "mailbox": self.config.name, "host": self.config.host,
                "folder": self.config.folder, "uidvalidity": self.checkpoint.uidvalidity,
                "uid": uid, "node": settings.node_name})))
            present.append(uid)
        # Durable here (blob and ledger fsynced); a message seen before counts as a duplicate.
        accepted = accept(self.app, deliveries, skip_known=True)
        top = max(uids)
        if top > self.checkpoint.last_uid:
            self.checkpoint = Checkpoint(self.checkpoint.uidvalidity, top)
            save_checkpoint(self.app, self.intake, self.config.folder, self.checkpoint)
        if accepted.entries:
            self.on_archived(len(accepted.entries))
        # Only now may the server forget the message (contract 1): MOVE or flag it.
        if present:
            self._act(present)
        return len(accepted.entries)

    def _act(self, uids: list[int]) -> None:
        client = self.client
        assert client is not None
        if self.config.after_archive == "flag":
            client.add_flags(uids, [self.config.flag], silent=True)
        elif client.has_capability("MOVE"):
            client.move(uids, self.config.move_to)  # RFC 6851 UID MOVE
        else:
            client.copy(uids, self.config.move_to)
            client.add_flags(uids, [b"\\Deleted"], silent=True)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)  # RFC 4315: removes only these UIDs
            else:
                # A plain EXPUNGE would also remove messages someone else marked \Deleted;
                # these stay marked and are skipped by the leftover search.
                log.debug("%s: server has no UIDPLUS; left %d message(s) marked \\Deleted",
                          self.intake, len(uids))


def _announced_news(client: IMAPClient) -> bool:
    """Did the server announce new or changed messages in responses imaplib already read?"""
    pending = getattr(getattr(client, "_imap", None), "untagged_responses", {}) or {}
    return any(key in pending for key in ("EXISTS", "RECENT", "FETCH", "EXPUNGE"))


def _buffered_input(client: IMAPClient) -> bool:
    """Is a server line already sitting in imaplib's read buffer (where select() cannot see it)?

    When IDLE's continuation and an EXISTS arrive in one packet, the buffered reader holds the
    EXISTS after reading the continuation. Peeking with the socket briefly non-blocking reads
    nothing new from the network and never blocks.
    """
    reader = getattr(getattr(client, "_imap", None), "file", None)
    if reader is None or not hasattr(reader, "peek"):
        return False
    sock = client.socket()
    timeout = sock.gettimeout()
    try:
        sock.settimeout(0)
        return bool(reader.peek(1))
    except (BlockingIOError, ssl.SSLWantReadError, OSError):
        return False
    finally:
        sock.settimeout(timeout)
