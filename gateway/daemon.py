"""``commgate run``: every configured intake and the processing worker on one asyncio loop.

Blocking work (fsync, database) runs in worker threads so the loop stays responsive. SIGTERM
and SIGINT stop intakes first, let the batch in progress finish, and return; whatever was
archived but not yet processed is picked up at the next start (the queue is in the database,
and ``catch_up`` re-queues anything the ledger has that the database missed).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import suppress

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from archive import ArchiveWriteError
from gateway.app import App
from gateway.dropfolder import DropFolder
from gateway.sdnotify import notify

log = logging.getLogger(__name__)


class _Wake(FileSystemEventHandler):
    """Turns watchdog's thread callbacks into a wake-up of an asyncio task."""

    def __init__(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
        self.loop = loop
        self.event = event

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.loop.call_soon_threadsafe(self.event.set)


class Daemon:
    def __init__(self, app: App) -> None:
        self.app = app
        self.stop = asyncio.Event()
        self.work = asyncio.Event()  # set when something was archived
        self.folders = [DropFolder(cfg, app.settings.resolve(cfg.path))
                        for cfg in app.settings.config.dropfolders]

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        cleaned = await asyncio.to_thread(self.app.archive.clean_tmp)
        if cleaned:
            log.info("removed %d temporary file(s) left by interrupted archive writes", cleaned)
        queued = await asyncio.to_thread(self.app.processor.catch_up)
        backlog = await asyncio.to_thread(self.app.processor.backlog)
        observer = Observer()
        tasks = [asyncio.create_task(self._worker(), name="worker")]
        for folder in self.folders:
            folder.watched_path.mkdir(parents=True, exist_ok=True)
            wake = asyncio.Event()
            observer.schedule(_Wake(loop, wake), str(folder.watched_path), recursive=False)
            tasks.append(asyncio.create_task(self._watch(folder, wake), name=folder.name))
        observer.start()
        log.info("commgate running: %d drop folder(s) %s; backlog %d (%d re-queued)",
                 len(self.folders), [str(f.watched_path) for f in self.folders], backlog, queued)
        notify("READY=1")
        self.work.set()
        try:
            await self.stop.wait()
        finally:
            notify("STOPPING=1")
            log.info("stopping: finishing the batch in progress")
            observer.stop()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task
            await asyncio.to_thread(observer.join, 5)
            log.info("stopped")

    def request_stop(self) -> None:
        self.stop.set()

    async def _watch(self, folder: DropFolder, wake: asyncio.Event) -> None:
        config = folder.config
        while True:
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
            with suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)
            wake.clear()

    async def _worker(self) -> None:
        poll = self.app.settings.config.worker.poll_seconds
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self.work.wait(), poll)
            self.work.clear()
            try:
                # Shielded: a stop request lets the batch in progress commit.
                outcomes = await asyncio.shield(asyncio.to_thread(
                    self.app.processor.process_pending, self.app.settings.config.worker.batch_size))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("processing failed; retrying")
                continue
            if outcomes:
                filed = sum(o.status == "filed" for o in outcomes)
                log.info("processed %d receipt(s): %d filed", len(outcomes), filed)
                self.work.set()  # there may be more


def run_daemon(app: App) -> None:
    asyncio.run(Daemon(app).run())
