"""``commgate run``: every configured intake on one asyncio loop, and the processing workers.

The intakes only archive and acknowledge; parsing, classification and filing run in worker
processes (``[worker] processes``, one per core by default; gateway/daemon/workers.py), which
this loop wakes when mail is queued and supervises; with ``processes = 0`` a thread of the
daemon files instead. Blocking work (fsync, database) runs in threads so the loop stays
responsive. SIGTERM and SIGINT stop intakes first, let every worker finish the batch in
progress (drain), and return; whatever was
archived but not yet processed is picked up at the next start (the queue is in the database,
and ``catch_up`` re-queues anything the ledger has that the database missed). SIGHUP reads the
configuration and the classifier rules again, as mail daemons do, and never stops the daemon.
"""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import logging
import math
import os
import signal
import socket
import sys
import time
from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from archive import ArchiveReplacedError, ArchiveWriteError, write_checkpoint
from classifiers import RuleSet
from gateway.bootstrap import App
from gateway.config import Settings, load_settings
from gateway.core.errors import ConfigError, GatewayError
from gateway.daemon.health import Stall, stalls, status_line
from gateway.daemon.live import apply_live
from gateway.daemon.sdnotify import notify, watchdog_seconds
from gateway.daemon.shared_storage import shared_storage_warning
from gateway.daemon.workers import WorkerPool
from gateway.db.nodelock import NodeLock
from gateway.evidence.integrity import describe, verify_installation
from gateway.installation import claim_archive
from gateway.intake.dropfolder import DropFolder
from gateway.intake.handoff import GroupCommitter, Intake, first_line
from gateway.processing.claims import release_dead_here
from gateway.processing.pipeline import Outcome
from gateway.processing.preflight import (
    RulesChecked,
    check_filing_config,
    check_filing_config_apart,
)

if TYPE_CHECKING:
    import uvicorn

    from gateway.daemon.metrics import MetricsServer

log = logging.getLogger(__name__)
WEB_STOP_SECONDS = 10.0  # how long requests in progress may take to finish at shutdown
# How long worker processes may take to finish their batches at shutdown (systemd's default
# stop timeout is 90 s); a worker still busy then is killed and its batch stays queued.
DRAIN_SECONDS = 60.0


class _Wake(FileSystemEventHandler):
    """Turns watchdog's thread callbacks into a wake-up of an asyncio task."""

    def __init__(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
        self.loop = loop
        self.event = event

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.loop.call_soon_threadsafe(self.event.set)


STATUS_EVERY_SECONDS = 300.0
LOOP_ANSWER_SECONDS = 5.0  # /readyz: how long the loop may take to say how the intakes are
# Without a watchdog, systemd's STATUS= is refreshed this often; and a filing part silent this
# long with mail waiting is named in it (with WatchdogSec= set, that is the limit instead).
NOTIFY_STATUS_SECONDS = 30.0
STALL_SECONDS = 120.0
# While the recorder holds archived entries it has yet to queue, the gap scan waits (it would
# find them missing and queue them itself); it runs at least this often all the same.
SCAN_EVERY_SECONDS = 30.0
# Due outbound mail (retries) is looked for at least this often, besides after every filing.
DELIVER_EVERY_SECONDS = 30.0
# The worker's back-off while the database does not answer: doubling from the first to the
# last, so a long outage costs a connection attempt every half minute, not five a second.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait for ``event`` at most ``seconds``; True if it was set.

    Not ``asyncio.wait_for``: on Python 3.11 it can swallow a cancellation that coincides with
    the event being set, and a task that ignores its cancellation hangs the shutdown (seen in
    tests/gateway/test_daemon.py). ``asyncio.timeout`` does not have that race.
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


def build_intakes(app: App, committer: GroupCommitter) -> list[Intake]:
    """The network intakes the configuration asks for (drop folders are run by the daemon)."""
    intakes: list[Intake] = []
    config = app.settings.config
    if config.smtp.enabled:
        from gateway.intake.smtp import SmtpIntake

        intakes.append(SmtpIntake(app, config.smtp, committer))
    for mailbox in config.imap:
        from gateway.intake.imap import ImapIntake

        intakes.append(ImapIntake(app, mailbox, committer))
    return intakes


def check_daemon_config(settings: Settings) -> RuleSet | RulesChecked:
    """What the daemon would otherwise trip over only later (its first message to classify or
    to thread by our signed ids, its first scheduled checkpoint), checked at start and on
    SIGHUP; the classifier rules, read afresh. Every problem is one ConfigError line.

    With worker processes, which classify, the rules are read in a child process and only
    their version comes back: the daemon's own process never imports spaCy (48 MB)."""
    if settings.config.worker.process_count:
        checked: RuleSet | RulesChecked = check_filing_config_apart(settings)
    else:
        checked = check_filing_config(settings, fresh=True)
    settings.checkpoint_key_path()
    return checked


class Daemon:
    def __init__(self, app: App, fixed_log_level: str | None = None) -> None:
        self.app = app
        self.fixed_log_level = fixed_log_level  # from the command line: wins over reloads
        self.hup = asyncio.Event()
        self.stop = asyncio.Event()
        self.work = asyncio.Event()  # set when something was archived
        self.deliver = asyncio.Event()  # set when something was filed (acknowledgements)
        self.folders = [DropFolder(cfg, app.settings.resolve(cfg.path))
                        for cfg in app.settings.config.dropfolders]
        self.committer = GroupCommitter(app, on_archived=self.work.set)
        self.intakes = build_intakes(app, self.committer)
        self.fatal: ArchiveReplacedError | None = None  # why the daemon stopped on its own
        # The worker processes ([worker] processes); None: the worker is a thread of ours.
        self.pool: WorkerPool | None = None
        self._paused_by = ""  # the configuration fault a worker process last reported
        # One signer of checkpoints among the nodes sharing the database and the archive
        # (docs/two-nodes.md): the others stand by and take over when it goes away.
        self.signer = NodeLock(app.db, "archive-checkpoints")
        self._signing: bool | None = None  # whether this node signed at the last interval
        self._signed_size = -1  # the tree size of the checkpoint last logged
        self._intakes_started = False  # for /readyz
        self._folder_tasks: list[asyncio.Task[None]] = []
        # Since when (time.monotonic()) the worker round is busy; None while it waits.
        self._round_since: float | None = None
        self._backlog: int | None = None  # as last counted for STATUS= (None: unknown)
        verify_hours = app.settings.config.archive.verify_hours
        self._last_verify = (f"none yet (every {verify_hours:g} h)" if verify_hours
                             else "not scheduled ([archive] verify_hours = 0)")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        # Refuses a database filed from another archive; afterwards, a write that finds another
        # archive at the path stops the daemon instead (and is answered with a 4xx).
        await asyncio.to_thread(claim_archive, self.app.archive, self.app.db)
        self.app.archive.on_replaced = lambda exc: self._call_soon(loop, exc)
        storage = shared_storage_warning(self.app.settings.archive_path, self.app.db.dialect)
        if storage:
            log.warning("%s", storage)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.hup.set)
        loop.add_signal_handler(signal.SIGUSR1, self.log_tasks)
        cleaned = await asyncio.to_thread(self.app.archive.clean_tmp)
        if cleaned:
            log.info("removed %d temporary file(s) left by interrupted archive writes", cleaned)
        # Anything found now was left by a crash or a database outage: worth a warning.
        queued = await asyncio.to_thread(self.app.processor.catch_up, logging.WARNING)
        freed = await asyncio.to_thread(release_dead_here, self.app.db)
        if freed:
            log.warning("freed %d receipt(s) claimed by worker processes that are gone", freed)
        backlog = await asyncio.to_thread(self.app.processor.backlog)
        # Bound before anything starts: an address in use is the one line 'run' exits with.
        web = self._web_server()
        metrics = self._metrics_server(loop)
        await asyncio.to_thread(self._start_pool, loop)
        observer = Observer()
        tasks = [asyncio.create_task(self._worker(), name="worker")]
        for folder in self.folders:
            folder.watched_path.mkdir(parents=True, exist_ok=True)
            wake = asyncio.Event()
            observer.schedule(_Wake(loop, wake), str(folder.watched_path), recursive=False)
            tasks.append(asyncio.create_task(self._watch(folder, wake), name=folder.name))
            self._folder_tasks.append(tasks[-1])
        observer.start()
        for intake in self.intakes:
            await intake.start()
        self._intakes_started = True
        if web is not None:
            server, sock = web
            tasks.append(asyncio.create_task(server.serve(sockets=[sock]), name="web"))
        if metrics is not None:
            metrics.start()
        tasks.append(asyncio.create_task(self._report(), name="status"))
        tasks.append(asyncio.create_task(self._reloads(), name="reload"))
        tasks.append(asyncio.create_task(self._integrity(), name="integrity"))
        if self.app.settings.config.outbound.enabled:
            tasks.append(asyncio.create_task(self._deliveries(), name="outbound"))
        tasks.append(asyncio.create_task(self._escalations(), name="escalations"))
        if self.app.settings.config.retention.expire_every_hours:
            tasks.append(asyncio.create_task(self._expiry(), name="retention"))
        log.info("commgate running: %d drop folder(s) %s; backlog %d (%d re-queued)",
                 len(self.folders), [str(f.watched_path) for f in self.folders], backlog, queued)
        for intake in self.intakes:
            log.info("%s: %s", intake.name, intake.status())
        self._backlog = backlog
        freeze_startup_heap()
        notify("READY=1")
        tasks.append(asyncio.create_task(self._health(), name="health"))
        self.work.set()
        try:
            await self.stop.wait()
        finally:
            notify("STOPPING=1")
            if metrics is not None:
                metrics.stopping = True  # /readyz answers 503 "stopping" from now on
            log.info("stopping: finishing the batch in progress")
            for intake in self.intakes:
                try:
                    await intake.stop()
                except Exception:
                    log.exception("%s: did not stop cleanly", intake.name)
            await self.committer.drain()
            if self.pool is not None:
                log.info("draining %d worker process(es)", len(self.pool))
                if await asyncio.to_thread(self.pool.drain, DRAIN_SECONDS):
                    log.info("worker processes drained")
            if web is not None:
                await self._stop_web(*web, tasks)
            observer.stop()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task
            await asyncio.to_thread(observer.join, 5)
            await asyncio.to_thread(self.signer.release)
            if metrics is not None:
                await asyncio.to_thread(metrics.stop)
            log.info("stopped")
        if self.fatal is not None:
            raise self.fatal  # 'commgate run' prints its one line and exits 1

    def _start_pool(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the worker processes ``[worker] processes`` asks for (none: file in a thread
        of the daemon, as ``_worker`` does then)."""
        count = self.app.settings.config.worker.process_count
        if not count:
            return
        level = self.fixed_log_level or logging.getLevelName(logging.getLogger().level)
        self.pool = WorkerPool(
            self.app.settings.home, count, self.app.db, log_level=level,
            log_format=self.app.settings.config.log_format,
            nice=self.app.settings.config.worker.nice,
            stop_fork_server=not self.app.settings.config.worker.keep_fork_server,
            on_outcomes=lambda outcomes: loop.call_soon_threadsafe(self._filed, outcomes),
            on_error=lambda message, config: loop.call_soon_threadsafe(
                self._worker_failed, message, config))
        self.pool.start()  # logs the workers' pids once they have started

    def _filed(self, outcomes: list[Outcome]) -> None:
        """A batch was processed (here or by a worker process)."""
        if not outcomes:
            return
        filed = sum(o.status == "filed" for o in outcomes)
        log.info("processed %d receipt(s): %d filed", len(outcomes), filed)
        self._paused_by = ""
        if filed:
            self.deliver.set()

    def _worker_failed(self, message: str, config_error: bool) -> None:
        """A worker process found a configuration fault: said once, not once per worker and
        retry (database faults each worker logs itself, once per outage)."""
        if config_error and message != self._paused_by:
            self._paused_by = message
            log.error("processing paused: %s; %s", message,
                      _paused_until(ConfigError(message)))

    def _web_server(self) -> tuple[uvicorn.Server, socket.socket] | None:
        """The web application's server and its bound socket, when ``[web] listen`` is set."""
        listen = self.app.settings.config.web.listen
        if not listen:
            return None
        # Imported here: the web stack (FastAPI, Starlette, Jinja2, uvicorn) costs the daemon
        # about 20 MB of memory, which an installation without [web] listen does not pay.
        from gateway.web.serve import bind, server

        sock = bind(listen)
        log.info("web application on http://%s/", listen)
        return server(self.app, embedded=True), sock

    def _metrics_server(self, loop: asyncio.AbstractEventLoop) -> MetricsServer | None:
        """The /metrics, /healthz and /readyz endpoint, bound, when ``[metrics] listen`` is
        set (gateway/daemon/metrics.py); it serves once the intakes are started."""
        listen = self.app.settings.config.metrics.listen
        if not listen:
            return None
        from gateway.daemon.metrics import (
            DatabaseCollector,
            MetricsServer,
            Readiness,
            metrics_engine,
            scrape_registry,
        )

        engine = metrics_engine(self.app.db.engine.url)
        collector = DatabaseCollector(engine, self.app.settings.home, self.app.archive)
        readiness = Readiness(engine, self.app.archive, lambda: asyncio.run_coroutine_threadsafe(
            self._intake_problems(), loop).result(LOOP_ANSWER_SECONDS))
        server = MetricsServer(listen, scrape_registry(collector), readiness, loop)
        log.info("metrics on http://%s/metrics (and /healthz, /readyz)", listen)
        return server

    async def _intake_problems(self) -> list[str]:
        """What keeps this node from taking mail: an SMTP intake not listening, a drop
        folder's watcher that ended (asked on the loop, which owns both)."""
        if not self._intakes_started:
            return ["intakes not started yet"]
        problems = [f"{intake.name}: not listening ({intake.status()})"
                    for intake in self.intakes if not getattr(intake, "serving", lambda: True)()]
        problems += [f"{task.get_name()}: watcher ended" for task in self._folder_tasks
                     if task.done()]
        return problems

    async def _stop_web(self, web: uvicorn.Server, sock: socket.socket,
                        tasks: list[asyncio.Task[None]]) -> None:
        """Let the requests in progress finish (uvicorn's graceful exit), then close."""
        web.should_exit = True
        task = next(t for t in tasks if t.get_name() == "web")
        with suppress(asyncio.CancelledError, TimeoutError):
            async with asyncio.timeout(WEB_STOP_SECONDS):  # not wait_for: see wait_event
                await asyncio.shield(task)
        sock.close()

    def request_stop(self) -> None:
        self.stop.set()

    async def _reloads(self) -> None:
        """One reload per SIGHUP (several HUPs during a reload make one more)."""
        while True:
            await self.hup.wait()
            self.hup.clear()
            try:
                await asyncio.to_thread(self.reload)
            except Exception:
                log.exception("reload failed; still running with the previous configuration")

    def reload(self) -> None:
        """Read commgate.toml and the classifier rules again; apply what can change live (log
        level, rules, aliases, review templates: gateway/daemon/live.py) and name what needs a
        restart. An invalid new configuration is refused in one line and the running one
        kept."""
        path = self.app.settings.config_path
        notify("RELOADING=1")
        try:
            settings = load_settings(self.app.settings.home)
            rules = check_daemon_config(settings)
        except GatewayError as exc:
            log.error("reload refused, still running with the previous configuration: %s", exc)
            return
        finally:
            notify("READY=1")
        new = settings.config
        level = self.fixed_log_level or new.log_level
        logging.getLogger().setLevel(level)
        later = apply_live(self.app.settings, new)
        if isinstance(rules, RuleSet):
            self.app.processor.use_rules(rules)
        else:  # read again from the settings if this process ever classifies
            self.app.processor.forget_rules()
        for intake in self.intakes:
            intake.reconfigure(self.app.settings)
        if self.pool is not None:
            self.pool.reload(rules.version, self.fixed_log_level)  # from its next batch on
        if later:
            log.warning("reload: %s changed in %s; restart the daemon to apply that",
                        ", ".join(later), path)
        log.info("reloaded %s: log level %s, classifier rules %s, aliases %s", path, level,
                 rules.version[:12], ", ".join(self.app.settings.alias_addresses) or "none")
        log.debug("classifier rules: %d files: %s", len(rules.source_files),
                  ", ".join(rules.source_files))

    def give_up(self, error: ArchiveReplacedError) -> None:
        """Stop: the archive at the path is not the one opened (nothing more is written)."""
        if self.fatal is None:
            self.fatal = error
            log.error("%s", error)
        self.stop.set()

    def _call_soon(self, loop: asyncio.AbstractEventLoop, error: ArchiveReplacedError) -> None:
        with suppress(RuntimeError):  # the loop is closed: the daemon has stopped already
            loop.call_soon_threadsafe(self.give_up, error)

    def log_tasks(self) -> None:
        """SIGUSR1: log what every task is waiting for (for an operator whose daemon hangs)."""
        for task in asyncio.all_tasks():
            frames = task.get_stack(limit=3)
            where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in frames) or "-"
            log.warning("task %s: %s", task.get_name(), where)
        for intake in self.intakes:
            log.warning("%s: %s", intake.name, intake.status())

    async def _watch(self, folder: DropFolder, wake: asyncio.Event) -> None:
        config = folder.config
        while not self.stop.is_set():
            try:
                taken = await asyncio.to_thread(folder.take, self.app)
            except ArchiveWriteError as exc:
                log.error("%s: %s; the files stay and are retried", folder.name, exc)
                taken = 0
            except Exception:
                log.exception("%s: scan failed; retrying", folder.name)
                taken = 0
            if taken:
                log.info("%s: archived %d file(s)", folder.name, taken)
                self.work.set()
            # Files waiting to settle need another look soon; otherwise wait for an event.
            timeout = config.settle_seconds / 2 + 0.05 if folder.seen else config.rescan_seconds
            await wait_event(wake, timeout)
            wake.clear()

    async def _integrity(self) -> None:
        """Sign checkpoints and re-verify the archive on the configured schedule."""
        config = self.app.settings.config.archive
        checkpoint_every = config.checkpoint_minutes * 60 if config.checkpoint_key else 0
        verify_every = config.verify_hours * 3600
        if not (checkpoint_every or verify_every):
            return
        loop = asyncio.get_running_loop()
        next_checkpoint = loop.time() + checkpoint_every if checkpoint_every else None
        next_verify = loop.time() + verify_every if verify_every else None
        while not self.stop.is_set():
            due = min(t for t in (next_checkpoint, next_verify) if t is not None)
            if await wait_event(self.stop, max(0.0, due - loop.time())):
                return
            now = loop.time()
            if next_checkpoint is not None and now >= next_checkpoint:
                await asyncio.to_thread(self._checkpoint)
                next_checkpoint = now + checkpoint_every
            if next_verify is not None and now >= next_verify:
                await asyncio.to_thread(self._verify)
                next_verify = now + verify_every

    async def _escalations(self) -> None:
        """Escalate overdue cases (gateway/workflows/lifecycle.py) and replies waiting too
        long for approval (gateway/workflows/outbound/approval_wait.py) every
        lifecycle.escalate_every_minutes."""
        from gateway.workflows.lifecycle import escalate_overdue
        from gateway.workflows.outbound.approval_wait import escalate_waiting

        every = self.app.settings.config.lifecycle.escalate_every_minutes * 60
        while not await wait_event(self.stop, every):
            try:
                done = await asyncio.to_thread(escalate_overdue, self.app)
                waiting = await asyncio.to_thread(escalate_waiting, self.app)
            except Exception as exc:
                log.error("escalation run failed: %s; retrying in %.0f s", exc, every)
                continue
            if done:
                log.info("escalated %d overdue breach(es): %s", len(done),
                         ", ".join(f"{e.case_ref} {e.breach}" for e in done))
            if waiting:
                log.info("escalated %d repl(ies) waiting for approval: %s", len(waiting),
                         ", ".join(f"{e.case_ref} outbound {e.outbound_id}" for e in waiting))
            if done or waiting:
                self.deliver.set()  # the escalation mail leaves now, not at the next poll

    async def _expiry(self) -> None:
        """Remove content past retention every retention.expire_every_hours (unless held)."""
        from gateway.workflows.retention import expire

        every = self.app.settings.config.retention.expire_every_hours * 3600
        while not await wait_event(self.stop, every):
            try:
                report = await asyncio.to_thread(expire, self.app)
            except Exception as exc:
                log.error("retention expiry failed: %s; retrying in %.0f s", exc, every)
                continue
            log.info("retention: removed %d blob(s) of %d expired message(s); %d held",
                     report.removed_blobs, report.expired_messages, report.held_messages)

    async def _deliveries(self) -> None:
        """Relay due outbound mail after each filed batch and periodically (retries)."""
        from gateway.workflows.outbound.delivery import deliver_due

        every = min(DELIVER_EVERY_SECONDS, self.app.settings.config.outbound.retry_base_seconds)
        while not self.stop.is_set():
            self.deliver.clear()
            try:
                # Shielded: a stop request lets the messages being handed over be recorded.
                report = await asyncio.shield(asyncio.to_thread(deliver_due, self.app))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("outbound delivery failed: %s; retrying in %.0f s", exc, every)
            else:
                if report.sent or report.deferred or report.failed:
                    log.info("outbound: %d sent, %d deferred, %d failed", len(report.sent),
                             len(report.deferred), len(report.failed))
            await wait_event(self.deliver, every)

    def _checkpoint(self) -> None:
        """Sign a checkpoint if this node is the signer. Two signers could not fork the chain
        (each signs under the checkpoint log's lock, and only a ledger extending the last
        checkpoint), but one signer keeps the log to one line per interval and the takeover
        visible in the log."""
        try:
            signer = self.signer.hold()
        except Exception as exc:
            log.error("checkpoint skipped: cannot reach the database for the signer lock: %s",
                      first_line(exc))
            return
        if signer != self._signing:
            self._signing = signer
            log.info("checkpoints: %s", "this node signs them" if signer
                     else "another node signs them; standing by")
        if not signer:
            return
        key = self.app.settings.resolve(self.app.settings.config.archive.checkpoint_key)
        try:
            checkpoint = write_checkpoint(self.app.archive, key, only_if_grown=True)
        except Exception as exc:
            log.error("checkpoint failed: %s", exc)
            return
        if checkpoint.tree_size != self._signed_size:  # an unchanged ledger signs nothing new
            self._signed_size = checkpoint.tree_size
            log.info("checkpoint: %d entries, root %s", checkpoint.tree_size,
                     checkpoint.root_hash)

    def _verify(self) -> None:
        try:
            report = verify_installation(self.app)
        except Exception as exc:  # the database is down, say: the next scheduled run verifies
            log.error("scheduled verify could not run: %s; next try at the next interval",
                      first_line(exc))
            self._last_verify = (f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC} could not run "
                                 "(see the log)")
            return
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        if report["ok"]:
            log.info("scheduled verify: archive intact (%d entries, %d blobs)",
                     report["entries"], report["blobs"])
            self._last_verify = f"{when} intact ({report['entries']} entries)"
        else:
            for line in describe(report):
                log.error("scheduled verify: %s", line)
            self._last_verify = f"{when} FAILED (see the log)"

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(STATUS_EVERY_SECONDS)
            try:
                backlog = str(await asyncio.to_thread(self.app.processor.backlog))
            except Exception:  # the database is down: the worker reports that, once
                backlog = "unknown"
            states = "; ".join(f"{i.name}: {i.status()}" for i in self.intakes) or "no intakes"
            log.info("status: backlog %s; %s", backlog, states)

    async def _health(self) -> None:
        """systemd's STATUS= every half WatchdogSec= (else every NOTIFY_STATUS_SECONDS), and
        WATCHDOG=1 with it while the filing side makes progress (gateway/daemon/health.py).
        Nothing outside systemd (no $NOTIFY_SOCKET)."""
        if not os.environ.get("NOTIFY_SOCKET"):
            return
        watchdog = watchdog_seconds()
        every = watchdog / 2 if watchdog else NOTIFY_STATUS_SECONDS
        limit = watchdog or STALL_SECONDS
        probe: asyncio.Task[None] | None = None
        withheld: list[Stall] = []
        while True:
            if probe is not None and not probe.done():
                self._backlog = None  # the count has not answered for a whole interval
            else:
                probe = asyncio.create_task(self._count_backlog(), name="backlog count")
                await asyncio.wait({probe}, timeout=every / 2)
            stalled = stalls(time.monotonic(), limit, self._busy_since(),
                             None if self._backlog is None else self._backlog
                             + self.committer.unrecorded + self.committer.unarchived)
            line = status_line([f"{i.name}: {i.status()}" for i in self.intakes]
                               + ([f"{len(self.folders)} drop folder(s)"] if self.folders
                                  else []),
                               self._backlog, self.committer.unrecorded, self._last_verify,
                               stalled)
            notify(f"STATUS={line}" + ("" if stalled or not watchdog else "\nWATCHDOG=1"))
            if stalled and not withheld:
                log.error("watchdog: not telling systemd we are alive: %s; it restarts the "
                          "daemon unless that part answers again", ", ".join(
                              f"{s.part} silent for {s.seconds:.0f} s" for s in stalled))
            elif withheld and not stalled:
                log.warning("watchdog: the filing side answers again; pings resumed")
            withheld = stalled
            await asyncio.sleep(every)

    async def _count_backlog(self) -> None:
        try:
            self._backlog = await asyncio.to_thread(self.app.processor.backlog)
        except Exception:  # the database is down: the worker reports that, once
            self._backlog = None

    def _busy_since(self) -> dict[str, float]:
        """Each part of the filing side: since when it is busy or silent (time.monotonic())."""
        busy: dict[str, float] = {}
        if self.committer.writing_since is not None:
            busy["the archive write"] = self.committer.writing_since
        if self.committer.recording is not None:
            busy["the recorder"] = self.committer.recording[0]
        if self._round_since is not None:
            busy["the worker round"] = self._round_since
        if self.pool is not None:
            # An idle worker process reports every poll_seconds: silence counts after that.
            poll = self.app.settings.config.worker.poll_seconds
            busy.update((name, heard + poll) for name, heard in self.pool.last_heard().items())
        return busy

    async def _worker(self) -> None:
        """Queue what the database lacks, then file pending receipts; back off while it fails.

        A round starts with the gap scan (``catch_up``), cheap once the ledger up to the last
        round is known to be mirrored: entries the recorder could not queue during a database
        outage are filed in the first round the database answers again. While SMTP keeps the
        recorder busy the scan waits (:meth:`_scan_due`), and the round only wakes the workers.
        """
        poll = self.app.settings.config.worker.poll_seconds
        backoff: _Backoff | None = None  # set while the database does not answer
        seen_record_failures = 0
        scanned = -math.inf  # when the last gap scan began (time.monotonic())
        while not self.stop.is_set():
            if backoff is None:
                await wait_event(self.work, poll)
                self.work.clear()
            else:
                await self._wait_out(backoff)
            record_failures = self.committer.record_failures
            # Repairing after an outage (ours, or the recorder's): what is queued is a gap.
            repairing = backoff is not None or record_failures != seen_record_failures
            self._round_since = time.monotonic()
            try:
                queued = 0
                if repairing or self._scan_due(scanned):
                    scanned = time.monotonic()
                    queued = await asyncio.to_thread(self.app.processor.catch_up,
                                                     logging.WARNING if repairing
                                                     else logging.DEBUG)
                if self.pool is not None:
                    self.pool.wake()  # the worker processes claim and file
                    outcomes: list[Outcome] = []
                else:
                    # Shielded: a stop request lets the batch in progress commit.
                    outcomes = await asyncio.shield(asyncio.to_thread(
                        self.app.processor.process_pending,
                        self.app.settings.config.worker.batch_size))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # One line per outage, not one per attempt: the cause is usually the database
                # being unreachable, which the operator fixes outside.
                if backoff is None:
                    backoff = _Backoff(asyncio.get_running_loop().time(), record_failures)
                    log.error("processing paused: %s; retrying with back-off (%.1f s up to "
                              "%.0f s) until %s", first_line(exc), RETRY_FIRST_SECONDS,
                              RETRY_MAX_SECONDS, _paused_until(exc))
                log.debug("processing failure (attempt %d)", backoff.attempts, exc_info=True)
                continue
            finally:
                self._round_since = None
            seen_record_failures = record_failures
            if backoff is not None:
                log.warning("processing resumed after %.0f s: %d archived entries that had no "
                            "database row were queued", asyncio.get_running_loop().time()
                            - backoff.since, queued)
                backoff = None
            if outcomes:
                self._filed(outcomes)
                self.work.set()  # there may be more

    def _scan_due(self, scanned: float) -> bool:
        """Whether this round scans for gaps (``scanned``: when the last scan began).

        Not while the recorder holds archived entries it has yet to queue: the scan would find
        them missing and queue them itself, and the recorder again a moment later. Under SMTP
        load that doubled the daemon's database work (every round found the recorder's
        gathering window as a gap), which takes the interpreter from the sessions and the
        database's write lock from the workers. At least every ``SCAN_EVERY_SECONDS`` all the
        same: mail another process archived is not left waiting behind an endless stream.
        """
        return (not self.committer.unrecorded
                or time.monotonic() - scanned >= SCAN_EVERY_SECONDS)

    async def _wait_out(self, backoff: _Backoff) -> None:
        """Wait the back-off's next delay, or less once the recorder, having failed during
        this outage, reaches the database again; new mail alone does not cut it short
        (during an outage it arrives every moment)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + backoff.next_delay()
        while (left := deadline - loop.time()) > 0:
            woken = await wait_event(self.work, left)
            self.work.clear()
            if (woken and self.committer.database_answers
                    and self.committer.record_failures != backoff.record_failures):
                return


def freeze_startup_heap() -> None:
    """Move everything start-up made (modules, the rules, SQLAlchemy's mappers: millions of
    objects) out of the garbage collector's sight. A full collection walks every tracked
    object while holding the interpreter, so with the start-up heap in view each one stopped
    the event loop, and every SMTP session waiting on it, for 0.1-1.3 s under load (measured
    with ``gc.callbacks`` in the daemon during ``bench/smtp_accept.py``); frozen, they walk
    only what was made since. The start-up objects live as long as the daemon anyway."""
    gc.collect()
    gc.freeze()


def _paused_until(exc: Exception) -> str:
    """What the operator waits for: a configuration fault (found only while filing, say a key
    file changed since the start) leaves the mail queued until it is fixed."""
    if isinstance(exc, ConfigError):
        return "the configuration is fixed; the mail waits in the queue, none is quarantined"
    return "the database answers"


class _Backoff:
    """Exponential back-off of the worker during a database outage."""

    def __init__(self, since: float, record_failures: int) -> None:
        self.since = since
        self.record_failures = record_failures  # the recorder's count when it began
        self.attempts = 0

    def next_delay(self) -> float:
        self.attempts += 1
        delay: float = min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** (self.attempts - 1))
        return delay


def run_daemon(app: App, fixed_log_level: str | None = None,
               rules: RuleSet | RulesChecked | None = None) -> None:
    """Run until SIGTERM/SIGINT; a configuration the daemon could only fail on later (broken
    rules, an unusable checkpoint or threading key) is refused now with one ConfigError line.
    ``rules``: what :func:`check_daemon_config` returned for ``app.settings``, if the caller
    checked them already (before opening the database)."""
    checked = rules if rules is not None else check_daemon_config(app.settings)
    if isinstance(checked, RuleSet):  # a thread of this process files: it classifies here
        app.processor.use_rules(checked)
    # systemd's watchdog ends a hung daemon with SIGABRT (WatchdogSignal=): the traceback of
    # every thread then goes to the journal, saying where it hung.
    # To the process's own stderr (file descriptor 2), which is the journal under systemd, even
    # when sys.stderr was replaced (the CLI run in-process by tests).
    if sys.__stderr__ is not None:
        faulthandler.enable(file=sys.__stderr__, all_threads=True)
    # Archive writes finish in worker threads that must get the interpreter back quickly to
    # release the waiting SMTP sessions; Python's default 5 ms switch interval would add up to
    # 5 ms to every acknowledgement while the loop is busy (measured by bench/smtp_ingest.py).
    sys.setswitchinterval(0.0005)
    asyncio.run(Daemon(app, fixed_log_level).run())
