"""IMAP intake: each configured mailbox runs on its own thread, connected, IDLE or polling.

A mailbox gets a dedicated thread rather than ``asyncio.to_thread``: its session blocks for
minutes in IDLE, and parking that in the default executor would starve the daemon's short
blocking calls (fsync, database). One mailbox failing (wrong password, host down) is reported
once in one line, retried with exponential backoff and jitter, and never touches the others.
The fetch/archive/act order that keeps contract 1 lives in :mod:`gateway.intake.imap_session`.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import random
import socket
import ssl
import threading
from dataclasses import dataclass

from imapclient.exceptions import LoginError
from sqlalchemy.exc import SQLAlchemyError

from archive import ArchiveWriteError
from gateway.config import ImapMailboxConfig, Settings
from gateway.core.context import Context
from gateway.core.errors import ConfigError, DatabaseError
from gateway.db.nodelock import NodeLock
from gateway.intake.handoff import GroupCommitter
from gateway.intake.imap_session import Checkpoint, MailboxSession, Tuning, Waker

log = logging.getLogger(__name__)

START_WAIT_SECONDS = 5.0  # start() waits this long for the first connection attempt
STOP_WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: base * 2**(n-1), capped, scaled by 50-100 %.

    Jitter keeps several nodes (or mailboxes on one server) from retrying in lock-step.
    """

    base_seconds: float = 2.0
    max_seconds: float = 300.0

    def delay(self, failures: int) -> float:
        ceiling: float = min(self.max_seconds, self.base_seconds * 2 ** max(0, failures - 1))
        return ceiling * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Failure:
    """Why a mailbox is not working: ``reason`` for the status line, ``check`` for the fix."""

    reason: str
    check: str


def describe_failure(exc: BaseException, config: ImapMailboxConfig) -> Failure:
    """Turn an exception from connecting or working into words an operator can act on."""
    where = f"{config.host}:{config.port}"
    secret = (f"environment variable {config.password_env}" if config.password_env
              else f"file {config.password_file}")
    text = _first_line(exc)
    if isinstance(exc, ConfigError):
        return Failure(f"no password ({text})", f"imap {config.name!r} password_env/password_file")
    if isinstance(exc, LoginError):
        return Failure("authentication failed",
                       f"user {config.user!r} and the password in {secret} (server said: {text})")
    if isinstance(exc, socket.gaierror):
        return Failure(f"host {config.host} not found", "host (DNS name or address)")
    if isinstance(exc, ConnectionRefusedError):
        return Failure(f"connection to {where} refused",
                       "host, port, and that the IMAP server is running")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Failure(f"TLS certificate of {where} not trusted ({exc.verify_message})",
                       "ca_file (the CA that signed the server certificate) and host")
    if isinstance(exc, ssl.SSLError):
        return Failure(f"TLS with {where} failed ({text})",
                       "security (tls for port 993, starttls for 143) and port")
    if isinstance(exc, TimeoutError):
        return Failure(f"{where} timed out", "host, port and firewalls")
    if isinstance(exc, ArchiveWriteError):
        return Failure(f"archive write failed ({text})",
                       "the archive disk; the messages stay on the server meanwhile")
    if isinstance(exc, DatabaseError | SQLAlchemyError):
        return Failure(f"database unavailable ({text})",
                       "the database; the messages stay on the server meanwhile")
    if isinstance(exc, imaplib.IMAP4.abort | ConnectionError | EOFError):
        return Failure(f"connection to {where} lost ({text})", "the IMAP server and network")
    if isinstance(exc, imaplib.IMAP4.error):
        if "select" in text.lower() or "doesn't exist" in text.lower():
            return Failure(f"folder {config.folder!r} cannot be opened ({text})", "folder")
        return Failure(f"server refused a command ({text})", "the IMAP server's log")
    if isinstance(exc, OSError):
        return Failure(f"network error with {where} ({text})", "host, port and network")
    return Failure(f"unexpected {type(exc).__name__} ({text})", "the debug log")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if text.startswith(("b'", 'b"')):
        text = text[2:-1]
    return text.splitlines()[0] if text else type(exc).__name__


class ImapIntake:
    """One IMAP mailbox (Intake protocol); archives through ``accept`` with sha256 dedup.

    It calls ``accept`` itself instead of the shared ``GroupCommitter``: a mailbox already
    hands over whole batches (one fsync round each) and needs ``skip_known`` to deduplicate
    what a crash or a UIDVALIDITY reset makes it fetch again. The committer is used to wake
    the processing worker.
    """

    def __init__(self, app: Context, config: ImapMailboxConfig, committer: GroupCommitter,
                 tuning: Tuning | None = None, backoff: Backoff | None = None) -> None:
        self.app = app
        self.config = config
        self.committer = committer
        self.tuning = tuning or Tuning()
        self.backoff = backoff or Backoff()
        self.name = f"imap:{config.name}"
        self.archived = 0
        self._waker = Waker()
        self._attempted = threading.Event()
        self._state = "not started"
        self._session: MailboxSession | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = NodeLock(app.db, self.name)

    async def start(self) -> None:
        """Start the mailbox thread; returns after its first connection attempt (or 5 s)."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        await asyncio.to_thread(self._attempted.wait, START_WAIT_SECONDS)

    async def stop(self) -> None:
        """Leave IDLE at once (the waker interrupts it), finish the batch in hand, log out."""
        self._waker.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, STOP_WAIT_SECONDS)
            if self._thread.is_alive():
                log.warning("%s: still busy after %.0f s; abandoning it (the messages stay on "
                            "the server and are deduplicated next time)", self.name,
                            STOP_WAIT_SECONDS)
        self._waker.close()

    def reconfigure(self, settings: Settings) -> None:
        """SIGHUP: nothing; a mailbox's alias and server are [[imap]], changed by a restart."""

    def status(self) -> str:
        session = self._session
        if session is not None and self._state.startswith("connected"):
            checkpoint: Checkpoint = session.checkpoint
            return (f"{self._state} (UIDVALIDITY {checkpoint.uidvalidity}, "
                    f"last UID {checkpoint.last_uid})")
        return self._state

    @property
    def connected(self) -> bool:
        return self._state.startswith("connected")

    # -- the mailbox thread -----------------------------------------------------------------
    def _run(self) -> None:
        failures = 0
        reported = ""
        lost_lock = False
        while not self._waker.is_set():
            session: MailboxSession | None = None
            if lost_lock:
                # The node that took the mailbox over (or is taking it now) keeps it: trying
                # again at once would race it for a free lock and make the mailbox flap.
                lost_lock = False
                self._set_state("standing by: this node lost the mailbox's lock")
                self._attempted.set()
                if self._waker.wait(self.config.poll_seconds):
                    break
            try:
                if not self._lock.acquire():
                    self._set_state("standing by: another node polls this mailbox")
                    self._attempted.set()
                    self._waker.wait(self.config.poll_seconds)
                    continue
                password = self.app.settings.secret(
                    f"imap {self.config.name!r}", self.config.password_env,
                    self.config.password_file)
                session = MailboxSession(self.app, self.config, password, self._waker,
                                         self.tuning, self._set_state, self._archived,
                                         still_ours=self._lock.still_held)
                session.connect()
                self._session = session
                if failures:
                    log.info("%s: connected again after %d failed attempt(s)", self.name,
                             failures)
                failures, reported = 0, ""
                self._set_state(f"connected to {self.config.folder}")
                self._attempted.set()
                session.run()  # returns when stopped, the folder was replaced or the lock lost
                lost_lock = not self._lock.held
            except Exception as exc:
                if self._waker.is_set():
                    break
                failures += 1
                failure = describe_failure(exc, self.config)
                delay = self.backoff.delay(failures)
                if failure.reason != reported:
                    # Once per distinct cause, one line: which mailbox, what, what to check.
                    log.error("%s (%s@%s:%d, folder %s): %s; check %s. Retrying with backoff, "
                              "next attempt in %.0f s", self.name, self.config.user,
                              self.config.host, self.config.port, self.config.folder,
                              failure.reason, failure.check, delay)
                    reported = failure.reason
                log.debug("%s: attempt %d failed", self.name, failures, exc_info=True)
                self._set_state(f"retrying in {delay:.0f} s: {failure.reason}")
                self._attempted.set()
                self._waker.wait(delay)
            finally:
                self._session = None
                if session is not None:
                    session.close()
        self._lock.release()
        self._set_state("stopped")
        self._attempted.set()

    def _set_state(self, state: str) -> None:
        self._state = state

    def _archived(self, count: int) -> None:
        self.archived += count
        loop = self._loop
        if loop is not None and not loop.is_closed():
            # RuntimeError: the loop closed meanwhile; the worker catches up at the next start.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.committer.on_archived)
