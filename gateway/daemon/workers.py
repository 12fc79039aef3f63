"""Worker processes: parsing, classification and filing on every core, beside the intakes.

The daemon's event loop only archives and acknowledges; ``[worker] processes`` processes (one
per core unless configured) claim batches of the queue and file them
(:mod:`gateway.processing.claims` says how two of them never file the same entry). A
:class:`WorkerPool` starts them with the ``forkserver`` method (never a fork of a process that
runs threads and an event loop: a single-threaded server that loaded the classifier once,
:mod:`gateway.daemon.worker_preload`, forks each worker), supervises them and talks to each
over one pipe. ``commgate run`` forks that server from itself at start, before any thread or
database connection exists (:func:`fork_server_from_here`), so the workers share the pages of
the modules the daemon imported; ``commgate ingest`` forks its server from itself the same way
(:func:`start_fork_server_early`, before it opens the installation), which spares the server
the interpreter's start and the imports the command made already; a server started later
(after a worker crashed) is a new interpreter:

- parent -> worker: ``wake`` (mail was queued; sent only to an idle worker, at most once per
  idle report, so a burst of mail never fills a pipe), ``reload`` (read the configuration and
  rules again before the next batch: no batch is dropped), ``drain`` (finish the batch in
  progress, then exit), ``finish`` (file everything pending, then exit: ``commgate ingest``).
- worker -> parent: ``outcomes`` after each batch, ``idle`` when the queue had nothing for it,
  ``error`` (one line; a configuration fault is marked as such), ``bye`` before it exits.

A worker that dies (a crash, SIGKILL, the OOM killer) is seen by its pipe's end: the pool logs
one line, frees the batch it held (SQLite; on PostgreSQL its connection's end did) so another
worker files it, and starts a new one after a back-off (1 s doubling to 60 s while workers keep
dying without filing anything). A worker ignores SIGINT and SIGHUP (the daemon decides and
tells it) and takes SIGTERM as ``drain``, so a SIGTERM sent to the whole control group (systemd's
default) drains too.

Once every worker has started, the pool stops the fork server (``[worker] keep_fork_server``,
false by default under ``commgate run``): its own copies of the pages the workers have written
to (45-60 MB once mail in every language was filed) and its share of the rest go away. A
worker started later (a restart after a crash) starts a new fork server first (about 4 s of
CPU, on the restarting worker's reader thread: the intakes keep answering), which is stopped
again once that worker runs. The daemon is made the workers' subreaper, so a worker whose
fork server has ended stays its child (``ps``, its exit code); each worker is watched through
a pidfd (:class:`_Worker`), not through the fork server.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
import os
import select
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing import forkserver, resource_tracker, util
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from gateway.core import logs
from gateway.core.errors import ConfigError
from gateway.db.session import Database
from gateway.processing.claims import release_worker, worker_name
from gateway.processing.pipeline import Outcome

log = logging.getLogger(__name__)
RESTART_FIRST_SECONDS = 1.0
RESTART_MAX_SECONDS = 60.0
ERROR_FIRST_SECONDS = 0.5  # a worker's back-off while the database fails
ERROR_MAX_SECONDS = 30.0
# Test hook: a worker that claimed a batch creates "<path>.claimed" and waits for <path> to
# exist before it files; a test kills it meanwhile (deterministic, no timing).
HOLD_ENV = "COMMGATE_TEST_WORKER_HOLD"
# What the fork server imports before it forks any worker (gateway/daemon/worker_preload.py).
PRELOAD = "gateway.daemon.worker_preload"
# A folder of messages the fork server classifies once before it forks (the languages of a bulk
# import built once, not by every worker): set only while the pool starts the server.
WARM_ENV = "COMMGATE_WORKER_WARM_FOLDER"


# -- the worker process -------------------------------------------------------------------------


def worker_main(home: str, name: str, conn: Connection, log_level: str,
                log_format: str = "text", environ: dict[str, str] | None = None,
                nice: int = 0, batch_size: int | None = None) -> None:
    """A worker process's life: build its own installation, then claim and file until told to
    stop. Runs in the child, forked by the fork server; ``environ`` is the pool's environment
    when it started this worker (the fork server's is the one it had when it started); ``nice``
    its CPU priority (:func:`lower_priority`); ``batch_size`` the receipts it claims at a time
    (None: ``[worker] batch_size``). It logs to the stderr it shares with the daemon."""
    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    lower_priority(nice)
    logs.configure(log_level, log_format, worker=name.rsplit(":", 1)[-1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    state = _State()
    signal.signal(signal.SIGTERM, lambda *_: state.stop("drain"))
    from gateway.bootstrap import App
    from gateway.processing.classification import rules_for

    app = App.open(Path(home), worker=name)
    try:
        if not _pin_archive(app):
            conn.send(("bye",))
            return
        processor = app.processor
        if os.environ.get(HOLD_ENV):
            _hold_after_claim(processor, Path(os.environ[HOLD_ENV]))
        processor.use_rules(rules_for(app.settings))
        batch_size = batch_size or app.settings.config.worker.batch_size
        poll = app.settings.config.worker.poll_seconds
        delay = 0.0  # the back-off while filing fails
        busy = False  # filed a batch since it last went idle

        def handle(message: tuple[Any, ...]) -> None:
            if message[0] == "reload":
                _reload(app, message[1], message[2])
            elif message[0] in ("drain", "finish"):
                state.stop(message[0])

        while not state.told("drain"):
            while conn.poll():
                handle(conn.recv())
            if state.told("drain"):
                break
            try:
                outcomes = processor.process_batch(batch_size)
            except ConfigError as exc:
                conn.send(("error", str(exc), True))
                if state.told("finish"):
                    break
                delay = min(ERROR_MAX_SECONDS, max(ERROR_FIRST_SECONDS, delay * 2))
                if conn.poll(delay):
                    handle(conn.recv())
                continue
            except Exception as exc:
                if not delay:
                    log.error("filing failed: %s; retrying with back-off", exc)
                conn.send(("error", str(exc).splitlines()[0] if str(exc) else repr(exc), False))
                delay = min(ERROR_MAX_SECONDS, max(ERROR_FIRST_SECONDS, delay * 2))
                if conn.poll(delay):
                    handle(conn.recv())
                continue
            delay = 0.0
            if outcomes:
                conn.send(("outcomes", outcomes))
                busy = True
                continue
            if state.told("finish"):
                break
            if busy:  # the batches' freed heap back to the system while nothing comes
                release_heap()
                busy = False
            conn.send(("idle",))
            if conn.poll(poll):
                handle(conn.recv())
        conn.send(("bye",))
    finally:
        app.close()


def release_heap() -> None:
    """Hand the heap pages a worker's batches freed back to the system when it goes idle:
    glibc keeps them mapped otherwise, and a worker's private pages are most of the daemon's
    memory. One call per busy spell (a few ms); elsewhere than glibc a no-op."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _pin_archive(app: Any) -> bool:
    """Make the archive at the path now the only one this worker writes to, before its first
    batch; False (said in one line) if it is not the archive the database is filed from.

    Unpinned, a worker's archive pinned itself at its first write (a batch's events entry): a
    worker that filed its first batch after the archive at the path was replaced read the
    mail from the new archive, quarantined it as missing and wrote its events entry there.
    Pinned here, each of its writes into a replaced archive is refused instead
    (ArchiveReplacedError, inside the filing transaction: nothing is committed), as the
    daemon's are; the daemon stops at its own next write. The daemon and ``ingest`` check the
    archive against the database (``claim_archive``) before they start any worker; a worker
    started later (a restart) checks the id again, unless the database does not answer (its
    batches then fail and are retried anyway)."""
    from sqlalchemy.exc import SQLAlchemyError

    from gateway.installation import recorded_archive_id

    pinned = app.archive.pin()
    try:
        recorded = recorded_archive_id(app.db)
    except SQLAlchemyError:
        return True
    if recorded is not None and (pinned is None or pinned.id != recorded):
        log.error("the archive at %s is %s, not %s that the database is filed from; this "
                  "worker files nothing", app.archive.root,
                  pinned.id if pinned else "without an id", recorded)
        return False
    return True


def lower_priority(nice: int) -> None:
    """Run this process (and the threads it starts later) at niceness ``nice`` and, above 0,
    under Linux's SCHED_BATCH policy (never preempts a running task on waking; fairness by
    niceness unchanged). A worker below the daemon in priority leaves a core to the intakes'
    event loop whenever a sending server waits for its 250: on a machine with as many
    workers as cores, filing otherwise takes every core while SMTP answers late. A niceness
    already higher (the daemon's own, inherited) is kept: a process may only lower itself."""
    if nice <= 0:
        return
    with suppress(AttributeError, OSError):  # not Linux: the niceness alone
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    if os.getpriority(os.PRIO_PROCESS, 0) < nice:
        os.setpriority(os.PRIO_PROCESS, 0, nice)


class _State:
    """What a worker was told: ``drain`` (stop after this batch), ``finish`` (stop when the
    queue has nothing left)."""

    def __init__(self) -> None:
        self._told: set[str] = set()

    def stop(self, how: str) -> None:
        self._told.add(how)

    def told(self, how: str) -> bool:
        return how in self._told


def _reload(app: Any, fixed_level: str | None, checked_version: str) -> None:
    """New classifier rules, aliases, review templates and log level (``fixed_level``, the
    command line's, wins) from the next batch on (gateway/daemon/live.py).

    The daemon checked the rules a moment ago (``checked_version``); this worker reads them
    again, as its own process holds them. Rules that no longer load, or that load as another
    version (the files were edited, or were being written, after the daemon's check), are
    refused: the worker keeps the previous ones rather than classify with rules nobody
    checked, and says so; the next SIGHUP checks and applies the files as they are then."""
    from gateway.config import load_settings
    from gateway.daemon.live import apply_live
    from gateway.processing.classification import rules_for

    try:
        settings = load_settings(app.settings.home)
        rules = rules_for(settings, fresh=True)
    except Exception as exc:
        log.error("reload refused, keeping the previous rules: %s", exc)
        return
    if rules.version != checked_version:
        log.error("reload refused, keeping the previous rules %s: the rule files changed "
                  "after the daemon checked them (read %s, checked %s); send SIGHUP again",
                  app.processor.rules.version[:12], rules.version[:12], checked_version[:12])
        return
    apply_live(app.settings, settings.config)
    app.processor.use_rules(rules)
    logging.getLogger().setLevel(fixed_level or settings.config.log_level)
    log.info("reloaded: classifier rules %s", app.processor.rules.version[:12])


def _hold_after_claim(processor: Any, path: Path) -> None:
    """The test hook of :data:`HOLD_ENV`: the first worker of the installation to claim a
    batch writes its pid and the batch's seqs to ``<path>.claimed`` and waits for ``path`` to
    exist before it files; every other worker (and this one's later batches) runs as usual."""
    claims = processor.claims
    original = claims.claim
    marker = path.with_name(path.name + ".claimed")

    @contextmanager
    def claim(size: int) -> Any:
        with original(size) as (batch, turn):
            if batch.receipts and not marker.exists():
                try:
                    with open(marker, "x") as fh:
                        fh.write(" ".join(map(str, [os.getpid()]
                                              + [r.seq for r in batch.receipts])) + "\n")
                except FileExistsError:
                    pass
                else:
                    while not path.exists():
                        time.sleep(0.01)
            yield batch, turn

    claims.claim = claim


# -- the pool in the parent ------------------------------------------------------------------------


def _without_resource_tracker() -> None:
    """Start no resource tracker process for the pool (13 MB RSS, 6 MB of its own).

    ``multiprocessing`` starts one with the fork server, to unlink the named semaphores and
    shared memory segments that processes register with it if they die without doing so.
    The pool makes none: its ``Pipe`` is a socket pair, its processes are forked by the
    server, and the workers use no ``multiprocessing`` object; the tracker would only ever
    answer the fork server's liveness probes. Its descriptor is given ``/dev/null``, which
    the standard library takes for a running tracker. A tracker already running (another
    user of ``multiprocessing`` in this process) is kept; a Python whose tracker lacks
    these attributes starts its own as before."""
    tracker: Any = getattr(resource_tracker, "_resource_tracker", None)
    lock = getattr(tracker, "_lock", None)
    if lock is None or getattr(tracker, "_fd", 0) is not None:
        return
    with lock:
        if tracker._fd is None and getattr(tracker, "_pid", None) is None:
            tracker._fd = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)


def _fork_server_running() -> bool:
    """Whether this process has started its fork server (a pool started before)."""
    server = forkserver._forkserver  # the module's one server
    return getattr(server, "_forkserver_pid", None) is not None


def _start_warm_fork_server(warm_with: Sequence[bytes], fork: bool = False) -> Path:
    """Start this process's fork server with ``warm_with`` written to a new folder named in
    its environment (:data:`WARM_ENV`); returns the folder, which the caller removes once
    the workers run (the server reads it during its preload). ``fork``: as a fork of this
    process where :func:`fork_server_from_here` can (else a new interpreter, as without)."""
    folder = Path(tempfile.mkdtemp(prefix="commgate-warm-"))
    for number, raw in enumerate(warm_with):
        (folder / f"{number:04d}.eml").write_bytes(raw)
    os.environ[WARM_ENV] = str(folder)
    try:
        # Started now, with the folder in its environment (a fork copies it too).
        if not (fork and fork_server_from_here()):
            forkserver.ensure_running()
    finally:
        os.environ.pop(WARM_ENV, None)
    return folder


def start_fork_server_early(warm_with: Sequence[bytes]) -> Path | None:
    """Start the fork server a :class:`WorkerPool` of this process will fork its workers
    from, now, before the pool exists: its preload (seconds of CPU, which every worker waits
    for) then runs on the other core while the caller does what comes before the pool
    (``commgate ingest``: opening the database and the archive, checking the filing
    configuration, archiving its first batch). Returns the sample's folder, for the caller
    to remove once its pool has finished; None if the server runs already (nothing done).
    The pool's own start then finds the server running and uses it. The server is a fork of
    this process (:func:`fork_server_from_here`) when it is single-threaded, as ``commgate
    ingest`` is before it opens the installation: the modules it imported are not imported
    again; otherwise a new interpreter."""
    if _fork_server_running():
        return None
    _without_resource_tracker()
    multiprocessing.get_context("forkserver").set_forkserver_preload([PRELOAD])
    return _start_warm_fork_server(warm_with, fork=True)


def _kill_fork_server() -> None:
    """End this process's fork server now; ``multiprocessing`` starts a new one for the next
    process started. Not ``ForkServer._stop``: that closes the server's "alive" pipe and waits
    for it to exit, but every process it forked holds that pipe too (so the server lives as
    long as its workers). The server holds nothing to clean up; SIGKILL cannot be refused."""
    server: Any = forkserver._forkserver
    with server._lock:
        pid = server._forkserver_pid
        if pid is None:
            return
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with suppress(ChildProcessError):
            os.waitpid(pid, 0)
        os.close(server._forkserver_alive_fd)
        address = server._forkserver_address
        if not util.is_abstract_socket_namespace(address):
            with suppress(FileNotFoundError):
                os.unlink(address)
        server._forkserver_pid = server._forkserver_alive_fd = None
        server._forkserver_address = None


def fork_server_from_here() -> bool:
    """Start this process's fork server as a fork of this process, not as a new interpreter;
    True if it did. Call it only while the process is single-threaded, before it opens a
    database or a socket (``commgate run`` calls it once its modules are imported, before it
    opens the installation); with another thread running it does nothing (False), and the
    pool starts the usual server (a new interpreter) when it first starts a worker.

    What for: the modules the daemon imported (SQLAlchemy, pydantic, the gateway's own; 52 MB
    of the daemon's pages at this point) are the ones a worker imports too. A server started
    as a new interpreter imports them again, so the daemon held its copy and the workers
    theirs; forked, the server (and every worker it forks) starts with the daemon's pages,
    which stay shared until written. The server then loads the classifier
    (:mod:`worker_preload`) as before. The objects are frozen first (``gc.freeze``): the
    daemon's collector then never writes to them, so neither side copies a page for it.
    Measured with 2 workers (``bench/daemon_memory.py``): the daemon's private pages 58 ->
    40 MB, the tree's PSS 0.954 of a new interpreter's (README, branch mem4); about 14 MB of
    the shared pages are copied anyway as the server's preload writes to them (reference
    counts).

    The server is the one ``multiprocessing``'s ``forkserver`` would start (its ``main``,
    the same listener, "alive" pipe and attributes), so starting workers, stopping it
    (:func:`_kill_fork_server`) and starting a new one after a worker's crash (then a new
    interpreter, as the daemon runs threads by then) work as before."""
    server: Any = forkserver._forkserver
    if threading.active_count() != 1 or not all(hasattr(server, name) for name in (
            "_lock", "_forkserver_pid", "_forkserver_alive_fd", "_forkserver_address")):
        return False
    from multiprocessing import connection

    with server._lock:
        if server._forkserver_pid is not None:
            return False
        _without_resource_tracker()
        gc.collect()
        gc.freeze()
        with socket.socket(socket.AF_UNIX) as listener:
            address = connection.arbitrary_address("AF_UNIX")  # type: ignore[attr-defined]
            listener.bind(address)
            if not util.is_abstract_socket_namespace(address):
                os.chmod(address, 0o600)
            listener.listen()
            alive_r, alive_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the server: never returns into the daemon's code
                code = 0
                try:
                    os.close(alive_w)
                    forkserver.main(listener.fileno(), alive_r, [PRELOAD])
                except SystemExit:  # its clients are gone
                    pass
                except BaseException:
                    code = 1
                finally:
                    os._exit(code)
            os.close(alive_r)
        server._forkserver_address = address
        server._forkserver_alive_fd = alive_w
        server._forkserver_pid = pid
    return True


def stop_fork_server() -> None:
    """End this process's fork server if one runs (:func:`_kill_fork_server`): ``commgate
    run`` calls it when it fails to start after :func:`fork_server_from_here`, ``commgate
    ingest`` when it fails after :func:`start_fork_server_early`, so no server goes on
    preloading for nobody, holding the command's stdout and stderr open."""
    _kill_fork_server()


_PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux's
    ``PR_SET_CHILD_SUBREAPER``): a worker whose fork server stopped becomes this process's
    child, not init's, so the pool reaps it and reads its exit code. False where unsupported.
    (Any other orphan below the daemon would also become its child and stay a zombie until
    the daemon exits; none is known: its other children are waited for by pid.)"""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def can_outlive_fork_server() -> bool:
    """Whether this process can supervise workers without the fork server that forked them:
    pidfds (Linux 5.3) and a subreaper (Linux 3.4). Makes this process a subreaper."""
    if not all(hasattr(os, name) for name in ("pidfd_open", "P_PIDFD", "waitid")):
        return False
    server = forkserver._forkserver  # the attributes _kill_fork_server uses (CPython 3.4+)
    if not all(hasattr(server, name) for name in (
            "_lock", "_forkserver_pid", "_forkserver_alive_fd", "_forkserver_address")):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # a kernel without pidfds
        return False
    return _become_subreaper()


class _Worker:
    """A started worker process, watched through a pidfd.

    ``multiprocessing``'s ``Process`` learns whether a worker runs, and its exit code, from
    the fork server that forked it, and takes a fork server that stopped for a worker that
    ended (exit code 255, ``kill`` a no-op). A pidfd answers whoever forked it: whether the
    process runs, a signal to it (never to another process that reused its pid), and, once the
    fork server has stopped and this process (a subreaper) inherited it, its exit code."""

    def __init__(self, process: BaseProcess) -> None:
        self.process = process
        self.pid = process.pid
        self.fd: int | None = None
        self._code: int | None = None
        pidfd_open = getattr(os, "pidfd_open", None)  # Linux only
        with suppress(OSError):  # it ended already (the fork server reports it), or no pidfds
            self.fd = pidfd_open(self.pid) if pidfd_open and self.pid else None

    def is_alive(self) -> bool:
        if self.fd is None:
            return self._code is None and self.process.is_alive()
        return not self._ended(0)

    def join(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds for it to end (and reap it if it is this process's
        child)."""
        if self.fd is None:
            self.process.join(timeout)
        elif self._ended(timeout):
            self._reap()

    def _ended(self, timeout: float | None) -> bool:
        """Whether it ended, waiting up to ``timeout`` seconds (None: for ever). ``poll``, not
        ``select``: the daemon's descriptors (SMTP sessions) may pass select's 1024."""
        assert self.fd is not None
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        return bool(poller.poll(None if timeout is None else timeout * 1000))

    def kill(self) -> None:
        if self.fd is None:
            self.process.kill()
            return
        with suppress(ProcessLookupError):
            signal.pidfd_send_signal(self.fd, signal.SIGKILL)

    @property
    def exitcode(self) -> int | None:
        """Its exit code (``-N``: killed by signal N) once it ended, else None."""
        if self.fd is not None and not self.is_alive():
            self._reap()
        if self.fd is not None:  # running
            return None
        return self._code if self._code is not None else self.process.exitcode

    def _reap(self) -> None:
        assert self.fd is not None
        try:
            info = os.waitid(os.P_PIDFD, self.fd, os.WEXITED | os.WNOHANG)
        except ChildProcessError:  # the fork server's child: the server reaped it
            self.process.join(5)  # and sends its exit code (255 if it stopped meanwhile)
            self._code = self.process.exitcode
        else:
            if info is None:  # ended, not yet waitable: asked again later
                return
            self._code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        os.close(self.fd)
        self.fd = None


@dataclass
class _Slot:
    index: int
    name: str = ""
    process: _Worker | None = None
    conn: Connection | None = None
    idle: bool = False
    dirty: bool = False  # woken while busy: wake it when it next reports idle
    lock: threading.Lock = field(default_factory=threading.Lock)
    reader: threading.Thread | None = None
    started: int = 0
    # When it last said anything (time.monotonic()); None until its first word (it is
    # starting: loading the spaCy models takes seconds) and while it waits to be restarted.
    # An idle worker says "idle" every poll_seconds, so a long silence means it hangs.
    heard: float | None = None


class WorkerPool:
    """``count`` worker processes for the installation in ``home``, supervised.

    ``on_outcomes`` and ``on_error(message, is_config_error)`` are called on the pool's reader
    threads (one per worker). ``stop_fork_server``: stop the fork server whenever every worker
    runs (see the module's docstring; ignored where :func:`can_outlive_fork_server` is not).
    ``batch_size``: the receipts each worker claims at a time (None: ``[worker] batch_size``;
    ``commgate ingest`` claims larger ones, gateway.processing.ingest.WORKER_BATCH)."""

    def __init__(self, home: Path, count: int, db: Database, *, log_level: str,
                 on_outcomes: Callable[[list[Outcome]], object] = lambda _: None,
                 on_error: Callable[[str, bool], object] = lambda *_: None,
                 log_format: str = "text", nice: int = 0,
                 stop_fork_server: bool = False, batch_size: int | None = None) -> None:
        if count < 1:
            raise ValueError("a worker pool needs at least one process")
        self.home = home
        self.db = db
        self.log_level = log_level
        self.log_format = log_format  # [log_format]: the workers write as the daemon does
        self.nice = nice  # [worker] nice: the workers' CPU priority (lower_priority)
        self.batch_size = batch_size  # None: [worker] batch_size (worker_main)
        self.on_outcomes = on_outcomes
        self.on_error = on_error
        self.context = multiprocessing.get_context("forkserver")
        _without_resource_tracker()
        self.context.set_forkserver_preload([PRELOAD])  # used when the server first starts
        self.slots = [_Slot(i) for i in range(count)]
        self.stopping = threading.Event()
        self._stop_message: tuple[str] | None = None  # what a worker started late is told
        self._killed = False  # kill(): a worker started late is killed
        self._count_lock = threading.Lock()
        self._unstarted = 0
        self._crashes = 0
        self._warm_folder: Path | None = None  # removed once the workers have stopped
        self.stop_fork_server = stop_fork_server and can_outlive_fork_server()
        # Held while a worker is forked and while the fork server is stopped: never both.
        self._server_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.slots)

    def start(self, warm_with: Sequence[bytes] = ()) -> None:
        """Start the workers, each from its reader thread: the first start of a pool waits
        while the fork server loads (seconds of CPU), which must not hold up the caller (the
        daemon's event loop, which must listen and answer meanwhile). Logs one line with the
        pids once all have started.

        ``warm_with``: messages (raw) like those the workers will file (``commgate ingest``
        gives a sample of the import), classified once by the fork server before it forks
        them, so the languages they are in (spaCy's tokenizers, the rules' matchers: up to
        seconds of CPU each, French 3 s) are built once and not by every worker. Ignored
        when this process's fork server runs already."""
        if warm_with and not _fork_server_running():
            self._warm_folder = _start_warm_fork_server(warm_with)
        self._unstarted = len(self.slots)
        for slot in self.slots:
            slot.reader = threading.Thread(target=self._run, args=(slot,),
                                           name=f"worker-{slot.index}-reader", daemon=True)
            slot.reader.start()

    def _run(self, slot: _Slot) -> None:
        if self.stopping.is_set():
            return
        self._spawn(slot)
        with self._count_lock:
            self._unstarted -= 1
            if not self._unstarted:
                log.info("started %d worker process(es): pid %s", len(self.slots),
                         ", ".join(map(str, self.pids())))
        self._read(slot)

    def pids(self) -> list[int]:
        return [s.process.pid for s in self.slots if s.process and s.process.pid]

    def last_heard(self) -> dict[str, float]:
        """When each running worker last reported (time.monotonic()), by a name for the log."""
        return {f"worker {s.index} (pid {s.process.pid if s.process else '-'})": s.heard
                for s in self.slots if s.heard is not None}

    def wake(self) -> None:
        """Mail was queued: idle workers look now, busy ones when they next would idle."""
        for slot in self.slots:
            with slot.lock:
                if slot.idle:
                    self._send(slot, ("wake",))
                    slot.idle = False
                else:
                    slot.dirty = True

    def reload(self, rules_version: str, fixed_level: str | None = None) -> None:
        """Every worker reads the configuration and the rules again before its next batch
        and applies them if the rules are the ``rules_version`` the daemon checked
        (``fixed_level``: the command line's log level, which wins over the configuration's)."""
        for slot in self.slots:
            with slot.lock:
                self._send(slot, ("reload", fixed_level, rules_version))

    def drain(self, timeout: float) -> bool:
        """Each worker finishes its batch and exits; True if all did within ``timeout``
        (the rest are killed: their batches stay pending, nothing is lost). A worker still
        waiting for the fork server is not waited for: it has no batch, and exits once it
        starts."""
        return self._stop(("drain",), timeout)

    def finish(self, timeout: float | None = None) -> bool:
        """Each worker files everything pending, then exits (``commgate ingest``)."""
        return self._stop(("finish",), timeout)

    def kill(self) -> None:
        """Kill every worker now, and any still starting once it has started (their batches
        stay claimed until released or their leases end: for tests and emergencies)."""
        self.stopping.set()
        self._killed = True
        for slot in self.slots:
            with slot.lock:
                process = slot.process
            if process is not None and process.is_alive():
                process.kill()
                process.join(5)

    def _stop(self, message: tuple[str], timeout: float | None) -> bool:
        self.stopping.set()
        self._stop_message = message
        for slot in self.slots:
            with slot.lock:
                self._send(slot, message)
        deadline = None if timeout is None else time.monotonic() + timeout
        clean = True
        for slot in self.slots:
            with slot.lock:
                starting = slot.process is None
            if starting and message == ("drain",):
                # Still waiting for the fork server: it holds no batch, and it exits as soon
                # as it starts (it is told to drain, or finds its pipe closed).
                continue
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if slot.reader is not None:
                slot.reader.join(left)
            process = slot.process
            if process is not None and process.is_alive():
                log.error("worker %d (pid %s) did not stop in time; killed", slot.index,
                          process.pid)
                process.kill()
                process.join(5)
                release_worker(self.db, slot.name)
                clean = False
        if self._warm_folder is not None:
            shutil.rmtree(self._warm_folder, ignore_errors=True)
            self._warm_folder = None
        return clean

    # -- supervision ----------------------------------------------------------------------------

    def _spawn(self, slot: _Slot) -> None:
        parent, child = self.context.Pipe(duplex=True)
        slot.started += 1
        slot.name = worker_name(f"w{slot.index}.{slot.started}")
        process = self.context.Process(
            target=worker_main, name=f"commgate-worker-{slot.index}",
            args=(str(self.home), slot.name, child, self.log_level, self.log_format,
                  dict(os.environ), self.nice, self.batch_size),
            daemon=False)
        with self._server_lock:
            process.start()  # waits while the fork server (re)starts and loads
        child.close()
        worker = _Worker(process)
        with slot.lock:
            slot.process, slot.conn, slot.idle, slot.dirty = worker, parent, False, False
            if self._killed:
                worker.kill()
            elif self._stop_message is not None:  # told to stop while it was starting
                self._send(slot, self._stop_message)
            slot.heard = None
        if self.stop_fork_server:
            self._stop_fork_server()

    def _stop_fork_server(self) -> None:
        """Stop the fork server if every worker runs (none waits to be started or restarted,
        which would need it): its pages are then the workers' alone. A worker started later
        starts a new one (``multiprocessing`` does when a process is started)."""
        with self._server_lock:
            workers = [slot.process for slot in self.slots]
            if not _fork_server_running() or not all(
                    w is not None and w.fd is not None and w.is_alive() for w in workers):
                return
            _kill_fork_server()
        log.info("fork server stopped: %d worker process(es) running; a restarted worker "
                 "starts a new one", len(workers))

    def _send(self, slot: _Slot, message: tuple[Any, ...]) -> None:
        if slot.conn is None:
            return
        with suppress(OSError):  # it died: its reader sees the pipe's end and restarts it
            slot.conn.send(message)

    def _read(self, slot: _Slot) -> None:
        """One worker's messages, until it is gone for good."""
        while True:
            conn = slot.conn
            assert conn is not None
            try:
                message = conn.recv()
            except (EOFError, OSError):
                if not self._ended(slot):
                    return
                continue
            slot.heard = time.monotonic()
            kind = message[0]
            if kind == "outcomes":
                self._crashes = 0
                with slot.lock:
                    slot.idle = False
                self.on_outcomes(message[1])
            elif kind == "idle":
                with slot.lock:
                    if slot.dirty and not self.stopping.is_set():
                        slot.dirty = False
                        self._send(slot, ("wake",))
                    else:
                        slot.idle = True
            elif kind == "error":
                self.on_error(message[1], message[2])

    def _ended(self, slot: _Slot) -> bool:
        """The worker's pipe ended: True if a new worker took its place."""
        process = slot.process
        assert process is not None and slot.conn is not None
        slot.heard = None
        process.join(10)
        slot.conn.close()
        if self.stopping.is_set():
            return False
        freed = release_worker(self.db, slot.name)
        delay = min(RESTART_MAX_SECONDS, RESTART_FIRST_SECONDS * 2 ** self._crashes)
        self._crashes += 1
        log.error("worker %d (pid %s) ended with exit code %s; %d claimed receipt(s) freed; "
                  "restarting in %.0f s", slot.index, process.pid, process.exitcode, freed, delay)
        if self.stopping.wait(delay):
            return False
        self._spawn(slot)
        log.info("worker %d restarted: pid %s", slot.index, slot.process and slot.process.pid)
        self.wake()  # the freed batch (or, on PostgreSQL, the rows its end unlocked)
        return True
