"""Worker processes (gateway/daemon/workers.py, gateway/processing/claims.py), on SQLite and
PostgreSQL: two workers never file the same entry, a worker killed mid-batch loses and
duplicates nothing, SIGTERM drains every worker of the daemon.

Real processes throughout. What a test must catch in the middle of a batch it catches with
the workers' test hook (``COMMGATE_TEST_WORKER_HOLD``): the first worker to claim a batch
writes its pid and seqs to ``<hold>.claimed`` and waits until ``<hold>`` exists, so "mid-batch"
is a state the test waits for, not a moment it hopes to hit.
"""

from __future__ import annotations

import argparse
import logging
import mailbox
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from archive import Receipt
from gateway.bootstrap import App
from gateway.daemon.workers import HOLD_ENV, WARM_ENV, WorkerPool
from gateway.db.models import LedgerReceipt, Message
from gateway.intake.handoff import Delivery, accept
from gateway.processing.claims import Claims, release_dead_here
from gateway.processing.ingest import ingest
from gateway.processing.pipeline import Outcome
from tests.support.daemon import daemon_process
from tests.support.mail import make_message, write_messages
from tests.support.waiting import DEADLINE_SECONDS, wait_for

ROOT = Path(__file__).resolve().parents[2]
BATCH = 10


def set_worker(home: Path, **options: object) -> None:
    config = home / "commgate.toml"
    text = config.read_text()
    lines = "".join(f"{key} = {value!r}\n".replace("'", '"') for key, value in options.items())
    if "[worker]" in text:
        text = text.replace("[worker]\n", "[worker]\n" + lines, 1)
    else:
        text += "\n[worker]\n" + lines
    config.write_text(text)


def queue_mail(app: App, count: int, copies: int = 0) -> list[bytes]:
    """``count`` distinct messages archived and queued (not filed), then the first ``copies``
    of them delivered again (same bytes, same alias: filing must call them duplicates)."""
    messages = [make_message(subject=f"order {n}", body=f"Please send {n} pieces of part "
                             f"{1000 + n}.\n\nAnna") for n in range(count)]
    for raws in (messages, messages[:copies]):
        deliveries = [Delivery(raw, Receipt(transport="smtp",
                                            envelope={"alias": "sales@northpoint.example"}))
                      for raw in raws]
        assert len(accept(app, deliveries, skip_known=False).entries) == len(raws)
    return messages


def pending_seqs(app: App) -> list[int]:
    """The ledger seqs of the mail waiting to be filed."""
    with app.db.session() as session:
        return list(session.scalars(select(LedgerReceipt.seq)
                                    .where(LedgerReceipt.status == "pending")
                                    .order_by(LedgerReceipt.seq)))


def statuses(app: App) -> Counter[str]:
    """The statuses of the receipts of mail (the filing batches' events entries are
    ``recorded``, never processed)."""
    with app.db.session() as session:
        return Counter(dict(session.execute(
            select(LedgerReceipt.status, func.count()).where(LedgerReceipt.kind == "receipt")
            .group_by(LedgerReceipt.status)).all()))


def messages_filed(app: App) -> Counter[tuple[str, str]]:
    with app.db.session() as session:
        return Counter(session.execute(select(Message.sha256, Message.alias)).all())


def children_of(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()]


def child_cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def held(hold: Path) -> tuple[int, list[int]] | None:
    """The pid of the worker holding its batch and the batch's seqs, once it holds."""
    marker = hold.with_name(hold.name + ".claimed")
    if not marker.exists() or not marker.read_text().endswith("\n"):
        return None
    pid, *seqs = map(int, marker.read_text().split())
    return pid, seqs


@pytest.fixture
def hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "release-the-held-worker"
    monkeypatch.setenv(HOLD_ENV, str(path))  # the pool hands its environment to each worker
    return path


@pytest.fixture
def outcomes() -> list[Outcome]:
    return []


@pytest.fixture
def pool(app: App, home: Path, outcomes: list[Outcome]) -> Iterator[WorkerPool]:
    set_worker(home, batch_size=BATCH)
    workers = WorkerPool(home, 2, app.db, log_level="INFO", on_outcomes=outcomes.extend)
    yield workers
    workers.kill()


def test_two_workers_never_take_the_same_entries(app, home, hold, pool, outcomes):
    queue_mail(app, 40, copies=5)
    pool.start()
    pid, first = wait_for(lambda: held(hold), what="a worker holding its batch")
    assert len(first) == BATCH
    # A pool not asked to lower its workers' priority (commgate ingest) leaves it as it is.
    assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0)
    assert os.sched_getscheduler(pid) == os.sched_getscheduler(0)
    # While one worker holds its batch, the other files everything else and none of the held.
    wait_for(lambda: statuses(app)["pending"] == BATCH,
             what="the other worker filing all but the held batch")
    with app.db.session() as session:
        pending = list(session.scalars(select(LedgerReceipt.seq).where(
            LedgerReceipt.status == "pending").order_by(LedgerReceipt.seq)))
    assert pending == first
    hold.touch()
    assert pool.finish(timeout=DEADLINE_SECONDS)
    seqs = Counter(o.seq for o in outcomes)
    assert sorted(seqs) == list(range(1, 46)) and set(seqs.values()) == {1}
    assert Counter(o.status for o in outcomes) == {"filed": 40, "duplicate": 5}
    assert statuses(app) == {"filed": 40, "duplicate": 5}
    assert set(messages_filed(app).values()) == {1} and len(messages_filed(app)) == 40


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(app, home, hold, pool,
                                                                outcomes, caplog):
    queue_mail(app, 30)
    with caplog.at_level(logging.ERROR, logger="gateway.daemon.workers"):
        pool.start()
        pid, first = wait_for(lambda: held(hold), what="a worker holding its batch")
        os.kill(pid, signal.SIGKILL)  # between claiming its batch and filing it
        # Its batch is freed (SQLite: by the pool; PostgreSQL: its connection ended) and filed
        # by another worker; nothing is filed twice.
        wait_for(lambda: statuses(app) == {"filed": 30},
                 what="every entry filed after the kill")
        assert pool.finish(timeout=DEADLINE_SECONDS)
    assert any(f"pid {pid}) ended with exit code -9" in r.getMessage() for r in caplog.records)
    assert set(messages_filed(app).values()) == {1} and len(messages_filed(app)) == 30
    seqs = Counter(o.seq for o in outcomes)
    assert sorted(seqs) == list(range(1, 31)) and set(seqs.values()) == {1}
    assert set(first) <= set(seqs)
    with app.db.session() as session:
        assert session.scalar(select(func.count()).where(
            LedgerReceipt.claimed_by.is_not(None))) == 0


def test_a_worker_runs_with_its_pools_environment_not_the_fork_servers(
        app, home, tmp_path, monkeypatch, outcomes):
    # Workers are forked by a fork server that keeps the environment it started with; the
    # pool hands each worker its own environment at the worker's start.
    set_worker(home, batch_size=BATCH)
    monkeypatch.delenv(HOLD_ENV, raising=False)
    queue_mail(app, 3)
    first = WorkerPool(home, 1, app.db, log_level="INFO", on_outcomes=outcomes.extend)
    first.start()  # the fork server runs from here on, without the hook in its environment
    try:
        assert first.finish(timeout=DEADLINE_SECONDS)
    finally:
        first.kill()
    assert statuses(app) == {"filed": 3}
    hold = tmp_path / "hold"
    monkeypatch.setenv(HOLD_ENV, str(hold))
    queue_mail(app, 2)
    second = WorkerPool(home, 1, app.db, log_level="INFO", on_outcomes=outcomes.extend)
    second.start()
    try:
        _pid, seqs = wait_for(lambda: held(hold), what="the worker holding its batch")
        assert seqs == pending_seqs(app)
        hold.touch()
        assert second.finish(timeout=DEADLINE_SECONDS)
    finally:
        second.kill()
    assert sum(statuses(app).values()) == 5 and statuses(app)["pending"] == 0


def test_claims_of_two_workers_are_disjoint_and_an_expired_lease_is_taken_over(app):
    queue_mail(app, 6)
    lease = 60.0
    first, second = Claims(app.db, "a", lease), Claims(app.db, "b", lease)
    with first.claim(4) as (batch_a, turn_a):
        with second.claim(4) as (batch_b, _turn_b):
            taken_a = [r.seq for r in batch_a.receipts]
            taken_b = [r.seq for r in batch_b.receipts]
            assert taken_a == [1, 2, 3, 4] and taken_b == [5, 6]
        if app.db.dialect == "sqlite":
            # A lease that ran out (a hung worker) may be taken over; the first worker then
            # finds its rows no longer its own and files none of them.
            with app.db.session() as session:
                session.execute(update(LedgerReceipt).where(LedgerReceipt.claimed_by == "a")
                                .values(lease_until=LedgerReceipt.received_at))
            with second.claim(4) as (batch_c, _turn_c):
                assert [r.seq for r in batch_c.receipts] == [1, 2, 3, 4]
            with turn_a.file() as (_session, receipts):
                assert receipts == []


def test_sigterm_drains_every_worker_of_the_daemon(home, tmp_path, hold):
    drop = tmp_path / "Maildir"
    mailbox.Maildir(str(drop))
    with open(home / "commgate.toml", "a") as fh:
        fh.write(f'\n[[dropfolders]]\npath = "{drop}"\n')
    set_worker(home, batch_size=BATCH, processes=2, nice=7)
    log_path = tmp_path / "daemon.log"
    with daemon_process(home, log_path) as daemon:
        for n in range(25):
            mailbox.Maildir(str(drop)).add(make_message(subject=f"drain {n}"))
        pid, first = wait_for(lambda: held(hold), what="a worker holding its batch")
        # The daemon's processes once both workers run: itself and the workers (forked by a
        # fork server, now stopped; the daemon is their subreaper), no resource tracker (the
        # pool registers nothing with one).
        wait_for(lambda: "fork server stopped" in log_path.read_text(),
                 what="the fork server stopped")
        children = children_of(daemon.pid)
        assert pid in children and len(children) == 2, children
        # Forked from a fork server that was a fork of the daemon (branch mem4): the daemon's
        # command line, not a new interpreter's.
        assert all(child_cmdline(c) == child_cmdline(daemon.pid) for c in children)
        # [worker] nice: the worker files below the daemon's priority, as a batch task.
        assert os.getpriority(os.PRIO_PROCESS, pid) == max(7, os.getpriority(os.PRIO_PROCESS, 0))
        assert os.sched_getscheduler(pid) == os.SCHED_BATCH
        assert os.sched_getscheduler(daemon.pid) == os.SCHED_OTHER
        daemon.send_signal(signal.SIGTERM)
        wait_for(lambda: "draining 2 worker process(es)" in log_path.read_text(),
                 what="the daemon draining its workers")
        hold.touch()  # the held worker may now file its batch: drain waited for it
        daemon.wait(timeout=120)
    output = log_path.read_text()
    assert daemon.returncode == 0, output[-3000:]
    assert "worker processes drained" in output and "stopped" in output
    started = next(line for line in output.splitlines() if "started 2 worker process(es)" in line)
    pids = [int(p) for p in started.rsplit("pid ", 1)[1].split(", ")]
    assert pid in pids
    for worker in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(worker, 0)
    app = App.open(home)
    try:
        with app.db.session() as session:
            rows = dict(session.execute(select(LedgerReceipt.seq, LedgerReceipt.status)).all())
            claimed = session.scalar(select(func.count()).where(
                LedgerReceipt.claimed_by.is_not(None)))
        assert all(rows[seq] == "filed" for seq in first), rows
        # Nothing claimed is left behind: what was not filed is pending for the next start.
        # (and the filing batches' events entries are recorded, never processed).
        assert set(rows.values()) <= {"filed", "pending", "recorded"}
        assert claimed == 0
        assert set(messages_filed(app).values()) == {1}
    finally:
        app.close()


def test_a_worker_killed_after_the_fork_server_stopped_is_replaced_and_its_batch_filed(
        home, tmp_path, hold):
    drop = tmp_path / "Maildir"
    mailbox.Maildir(str(drop))
    with open(home / "commgate.toml", "a") as fh:
        fh.write(f'\n[[dropfolders]]\npath = "{drop}"\n')
    set_worker(home, batch_size=BATCH, processes=2)
    log_path = tmp_path / "daemon.log"
    with daemon_process(home, log_path) as daemon:
        wait_for(lambda: "fork server stopped" in log_path.read_text(),
                 what="the fork server stopped once both workers ran")
        assert len(children_of(daemon.pid)) == 2  # the workers, the daemon's children now
        for n in range(25):
            mailbox.Maildir(str(drop)).add(make_message(subject=f"restart {n}"))
        pid, _first = wait_for(lambda: held(hold), what="a worker holding its batch")
        os.kill(pid, signal.SIGKILL)
        # The daemon reaps it (its exit code read without the fork server), frees its batch
        # and starts a new worker from a new fork server, stopped again once it runs.
        wait_for(lambda: log_path.read_text().count("fork server stopped") == 2,
                 what="a new worker started and the new fork server stopped")
        app = App.open(home)
        try:
            wait_for(lambda: statuses(app) == {"filed": 25}, what="every entry filed")
            assert set(messages_filed(app).values()) == {1}
        finally:
            app.close()
        children = children_of(daemon.pid)
        assert len(children) == 2 and pid not in children, children
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=120)
    output = log_path.read_text()
    assert daemon.returncode == 0, output[-3000:]
    assert f"pid {pid}) ended with exit code -9;" in output, output[-3000:]
    assert "worker processes drained" in output


@pytest.mark.parametrize("workers_after", [0, 25])
def test_a_bulk_import_files_with_worker_processes_and_reports_as_before(
        app, home, tmp_path, monkeypatch, workers_after):
    set_worker(home, batch_size=BATCH)
    # Archived in batches of 10: with workers_after=25 (37 counted) the first batch is held,
    # not filed here, and the pool starts after it.
    monkeypatch.setattr("gateway.processing.ingest.BATCH_MESSAGES", 10)
    good = [make_message(subject=f"import {n}") for n in range(35)]
    files = write_messages(tmp_path / "import", [*good, b"not a message at all\r\n", good[0]])
    pools: list[WorkerPool] = []
    from_workers: list[Outcome] = []

    def workers(on_outcomes, on_error):  # type: ignore[no-untyped-def]
        def received(outcomes: list[Outcome]) -> None:
            from_workers.extend(outcomes)
            on_outcomes(outcomes)

        pools.append(WorkerPool(home, 2, app.db, log_level="WARNING",
                                on_outcomes=received, on_error=on_error))
        return pools[-1]

    summary = ingest(app, files, workers=workers, workers_after=workers_after)
    assert len(pools) == 1
    assert all(not s.process.is_alive() for s in pools[0].slots if s.process)
    assert (summary.seen, summary.archived, summary.duplicates) == (37, 36, 1)
    assert (summary.filed, summary.new_cases) == (35, 35)
    assert [q["origin"] for q in summary.quarantined] == [str(files[35])]
    assert statuses(app) == {"filed": 35, "quarantined": 1}
    # The worker processes filed it all, the batches archived before they started too (the
    # importing process files only what they left).
    assert len(from_workers) == 36


def test_an_import_counted_large_starts_its_workers_after_its_first_batch(
        app, tmp_path, monkeypatch):
    """Its count known to be past ``workers_after``, the import starts its pool once its first
    batch is archived (the fork server's start then overlaps the rest of the archiving); what
    the workers leave is filed by the importing process."""
    monkeypatch.setattr("gateway.processing.ingest.BATCH_MESSAGES", 10)
    files = write_messages(tmp_path / "import", [make_message(subject=f"import {n}")
                                                 for n in range(35)])
    held_at_start: list[int] = []

    class Pool:  # files nothing: the import files what is left after finish()
        def start(self, warm_with: Sequence[bytes] = ()) -> None:
            held_at_start.append(len(warm_with))

        def wake(self) -> None:
            pass

        def finish(self, timeout: float | None = None) -> bool:
            return True

    summary = ingest(app, files, workers=lambda *_: Pool(), workers_after=25)
    assert held_at_start == [10]
    assert (summary.archived, summary.filed) == (35, 35)
    assert statuses(app) == {"filed": 35}


def test_at_start_the_batches_of_this_hosts_dead_workers_are_freed(app):
    queue_mail(app, 3)
    host = socket.gethostname()
    holders = {1: f"{host}:{os.getpid()}:w0.1", 2: f"{host}:4194305:w1.1",  # above pid_max
               3: "elsewhere:1:w0.1"}
    with app.db.session() as session:
        for seq, holder in holders.items():
            session.execute(update(LedgerReceipt).where(LedgerReceipt.seq == seq)
                            .values(claimed_by=holder, lease_until=LedgerReceipt.received_at))
    freed = release_dead_here(app.db)
    with app.db.session() as session:
        left = dict(session.execute(select(LedgerReceipt.seq, LedgerReceipt.claimed_by)).all())
    if app.db.dialect == "postgresql":  # rows are never leased there: nothing to free
        assert freed == 0
        return
    # A live process's batch and another host's are not this start's to free.
    assert freed == 1 and left == {1: holders[1], 2: None, 3: holders[3]}


def test_the_fork_server_builds_every_language_before_it_forks_a_worker():
    """Workers share the pipelines of every language with rules of their own instead of
    each building its own copy on its first message in that language."""
    code = ("import gateway.daemon.worker_preload\n"
            "from gateway.processing.classification import rules_for\n"
            "rules = rules_for(None)\n"
            "print(sorted(rules._phrase_matchers), sorted(rules._sequence_indexes),"
            " list(rules.languages()))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    matchers, indexes, languages = done.stdout.strip().split("] [")
    assert len(languages.split(",")) == 11
    assert matchers.strip("[]") == indexes.strip("[]") == languages.strip("[]")


def test_the_preload_leaves_the_collector_on_and_no_cyclic_garbage_frozen():
    """The preload runs without the cyclic collector (its passes walked the growing heap
    again and again) and collects what it made once before it freezes it: a worker forked
    from the server collects as usual, and no garbage of the preload sits among the frozen
    (a full collection after unfreezing finds none)."""
    code = ("import gc\n"
            "collected = []\n"
            "gc.callbacks.append(lambda phase, info: phase == 'stop' and collected.append("
            "info['generation']))\n"
            "import gateway.daemon.worker_preload\n"
            "frozen = gc.get_freeze_count()\n"
            "gc.unfreeze()\n"
            "print(gc.isenabled(), frozen > 100_000, collected[-1:], gc.collect())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    enabled, froze, last_pass, garbage = done.stdout.split()
    assert (enabled, froze, garbage) == ("True", "True", "0")
    assert last_pass == "[0]"  # the preload's one pass, over what it made


def test_an_imports_fork_server_builds_english_and_the_languages_of_its_sample(tmp_path):
    """``commgate ingest``'s sample decides which languages its fork server builds: an import
    in German does not wait for the other nine."""
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "0000.eml").write_bytes(
        b"From: einkauf@beispiel.de\r\nTo: vertrieb@example.com\r\nSubject: Bestellung 4711\r\n"
        b"Message-ID: <a1@beispiel.de>\r\n\r\nSehr geehrte Damen und Herren,\r\n\r\nhiermit "
        b"bestellen wir 40 St\xc3\xbcck des Artikels 4711 zur Lieferung bis Freitag. Bitte "
        b"best\xc3\xa4tigen Sie den Auftrag und den Liefertermin.\r\n\r\nMit freundlichen "
        b"Gr\xc3\xbc\xc3\x9fen\r\nAnna Schmidt\r\n")
    code = ("import gateway.daemon.worker_preload\n"
            "from gateway.processing.classification import rules_for\n"
            "rules = rules_for(None)\n"
            "print(sorted(rules._phrase_matchers), sorted(rules._sequence_indexes))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": str(ROOT),
                                           WARM_ENV: str(sample)})
    assert done.stdout.strip() == "['de', 'en'] ['de', 'en']"


def test_an_imports_sample_is_read_ahead_as_the_pool_would_take_it(tmp_path, monkeypatch):
    """``sample_ahead``: the first batch, every n-th message of it, for an import large enough
    for workers; nothing for a smaller one; reading stops once it is known to be large."""
    from gateway.intake import sources
    from gateway.processing import ingest as ingest_module
    from gateway.processing.ingest import sample_ahead

    monkeypatch.setattr(ingest_module, "BATCH_MESSAGES", 10)
    monkeypatch.setattr(ingest_module, "WARM_SAMPLE", 4)
    raws = [make_message(subject=f"import {n}") for n in range(30)]
    files = write_messages(tmp_path / "import", raws)
    assert sample_ahead(files, workers_after=31) == []
    read: list[object] = []

    def counted(paths):  # type: ignore[no-untyped-def]
        for item in sources.iter_messages(paths):
            read.append(item)
            yield item

    monkeypatch.setattr(ingest_module, "iter_messages", counted)
    sample = sample_ahead(files, workers_after=25)
    assert len(read) == 25
    first = [item.raw for item in read[:10]]  # type: ignore[attr-defined]
    assert sample == first[::3]  # ceil(10 / 4) = 3: every third of the first batch


def test_ingest_starts_its_fork_server_before_opening_the_installation(home, tmp_path,
                                                                       monkeypatch):
    """With worker processes configured and enough messages, ``commgate ingest`` starts the
    workers' fork server (with the pool's sample) before it opens the database; without
    workers, or with too few messages, or a broken configuration, it starts none."""
    from gateway.cli import main as cli
    from gateway.daemon import workers as workers_module

    started: list[int] = []
    monkeypatch.setattr(workers_module, "start_fork_server_early",
                        lambda sample: started.append(len(sample)) or None)
    monkeypatch.setattr("gateway.processing.ingest.WORKERS_AFTER", 20)
    files = write_messages(tmp_path / "import",
                           [make_message(subject=f"import {n}") for n in range(25)])
    args = argparse.Namespace(home=str(home), paths=files)
    config = (home / "commgate.toml").read_text()
    set_worker(home, processes=0)
    cli._start_ingest_fork_server(args)
    assert started == []
    (home / "commgate.toml").write_text(config)
    set_worker(home, processes=2)
    cli._start_ingest_fork_server(args)
    assert started == [20]  # read up to WORKERS_AFTER (in use: 300, past the first batch)
    cli._start_ingest_fork_server(argparse.Namespace(home=str(home), paths=files[:19]))
    assert started == [20]
    cli._start_ingest_fork_server(argparse.Namespace(home=str(tmp_path / "nowhere"),
                                                     paths=files))
    assert started == [20]
def test_no_fork_server_is_forked_from_a_process_running_threads(monkeypatch):
    """A fork of a process with another thread running could inherit a lock that thread
    held: the fork server is then left to the pool (a new interpreter), never forked."""
    from multiprocessing import forkserver

    from gateway.daemon.workers import fork_server_from_here

    # A server of its own, not started: earlier tests' pools may have started this process's.
    monkeypatch.setattr(forkserver, "_forkserver", forkserver.ForkServer())
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert fork_server_from_here() is False
        assert forkserver._forkserver._forkserver_pid is None
    finally:
        release.set()
        thread.join()


def test_an_imports_fork_server_is_a_fork_of_the_command_not_a_new_interpreter(tmp_path):
    """``commgate ingest`` forks its workers' fork server from itself (single-threaded, before
    it opens the installation), as ``commgate run`` does: the server does not start an
    interpreter and import the gateway again. Seen from /proc: the server runs the command's
    own command line, where a new interpreter's names ``multiprocessing.forkserver``."""
    code = ("import os\n"
            "from multiprocessing import forkserver\n"
            "from gateway.daemon.workers import start_fork_server_early, stop_fork_server\n"
            "start_fork_server_early([b'Subject: x\\r\\n\\r\\nhello\\r\\n'])\n"
            "pid = forkserver._forkserver._forkserver_pid\n"
            "with open(f'/proc/{pid}/stat') as fh:\n"
            "    parent = int(fh.read().rsplit(')', 1)[1].split()[1])\n"
            "with open(f'/proc/{pid}/cmdline', 'rb') as a, open('/proc/self/cmdline', 'rb') as b:\n"
            "    same = a.read() == b.read()\n"
            "stop_fork_server()\n"
            "print(parent == os.getpid(), same)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.strip() == "True True"


def test_an_imports_workers_claim_larger_batches_than_the_daemons(home):
    """An import's pool claims at least ``WORKER_BATCH`` receipts at a time (per batch,
    filing costs CPU besides its messages'); a larger ``[worker] batch_size`` is kept; the
    daemon's pool uses the setting as it is."""
    from gateway.cli import main as cli
    from gateway.processing.ingest import WORKER_BATCH

    def import_batch() -> int | None:
        app = App.open(home)
        try:
            factory = cli._ingest_workers(app)
            assert factory is not None
            return factory(lambda _: None, lambda *_: None).batch_size  # type: ignore[attr-defined]
        finally:
            app.close()

    config = (home / "commgate.toml").read_text()
    set_worker(home, processes=2, batch_size=20)
    assert import_batch() == WORKER_BATCH
    (home / "commgate.toml").write_text(config)
    set_worker(home, processes=2, batch_size=WORKER_BATCH + 100)
    assert import_batch() == WORKER_BATCH + 100
    assert WorkerPool(home, 1, None, log_level="INFO").batch_size is None  # type: ignore[arg-type]
