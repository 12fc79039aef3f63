"""SMTP accept with the worker filing, against an aiosmtpd write + fsync sink (issue 17).

Each round runs, in alternating order, two (or three) servers as real subprocesses, each
fresh: an aiosmtpd sink whose ``handle_DATA`` writes the message to a new file and fsyncs it
in a thread, then answers 250 (the sink issue 17 defines its targets against;
``--sink-folder-fsync`` makes it fsync the file's folder too, as the archive does for each blob
and ``bench/bulk_ingest.py``'s copy for each file, since a new name is durable only then:
a stricter floor, printed as such), and ``commgate run`` on a
fresh home (SQLite; ``--postgres`` adds a side on a new PostgreSQL database) with its SMTP
intake and its worker, which files the messages while they arrive. Both get the same
``--messages`` distinct generated messages (``bench/speed_corpus.py``, a seed per round)
from ``--clients`` smtplib clients, each on one persistent connection:

* without ``--rate``, each client sends as fast as the replies come (throughput): msg/s is
  messages / (last 250 - first MAIL FROM), time-to-250 is one ``sendmail`` (MAIL FROM to the
  250 after DATA);
* with ``--rate R``, message i is due at start + i / R (R msg/s offered, spread over the
  clients; a client that falls behind sends at once and the lag is reported).

For commgate the round then waits until the worker has processed every receipt. "250 to
filed" is measured two ways: from outside, a thread of this harness reads the messages table
every 20 ms and takes the first read that shows a message's Message-ID, committed, minus the
moment its client got the 250 (accurate to the poll interval); and from the database, the
message's ``filed_at`` minus its receipt's ``received_at`` (the ledger time, set just before
the 250; ``filed_at`` is set just before the batch commits, so this misses the commit). Also
reported: the share already filed when the last 250 came (the worker did run alongside),
CPU per message of each server's process tree and of its own process alone (for commgate:
the event loop with its threads, i.e. SMTP, archive writes and recording, without the
workers), and the daemon's peak RSS (VmHWM, summed over
its processes; every language was classified) and its proportional set size when every
message was filed (PSS from ``/proc/PID/smaps_rollup``, summed over the supervisor, the fork
server and the workers: a page the fork server shares with its workers counts once, which
summed RSS counts in each).

Run::

    PYTHONPATH=$PWD python bench/smtp_accept.py --messages 2000 --rounds 5
    PYTHONPATH=$PWD python bench/smtp_accept.py --messages 2000 --rounds 5 --rate 500
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _project_path  # noqa: F401  (must come before gateway)

from bench import paired

TARGET_RATE_RATIO = 0.8  # commgate msg/s >= 0.8 x the sink's
TARGET_P99_RATIO = 2.0  # commgate p99 time-to-250 <= 2 x the sink's
TARGET_FILED_P95 = 1.0  # seconds from 250 to filed, p95, at 500 msg/s offered
POLL_SECONDS = 0.02
READY_SECONDS = 300.0  # a fresh daemon loads the rules (spaCy) before it is ready
DRAIN_SECONDS = 900.0
LINE_LENGTH_LIMIT = 2**16  # gateway.intake.smtp.STREAM_BUFFER_BYTES


# -- the sink (this file run with --sink, in its own process) ----------------------------------



def _root(kind: str, args: argparse.Namespace) -> Path:
    """The checkout whose commgate a side runs: a baseline side's home is also made by its
    own ``init``, so its schema is the one that checkout knows."""
    return args.baseline if kind.startswith("baseline-") else paired.PROJECT_ROOT

class FsyncSink:
    """aiosmtpd handler: each message to its own new file, fsynced in a thread (with its folder
    when ``with_folder``), then 250."""

    def __init__(self, folder: Path, with_folder: bool = False) -> None:
        self.folder = folder
        self.with_folder = with_folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.to_thread(self._write, envelope.original_content)
        return "250 2.0.0 OK"

    def _write(self, raw: bytes) -> None:
        paired.write_fsynced(self.folder / uuid.uuid4().hex, raw)
        if self.with_folder:
            paired.fsync_folder(self.folder)


async def serve_sink(folder: Path, port: int, with_folder: bool = False) -> None:
    from aiosmtpd.smtp import SMTP

    class LongLines(SMTP):  # as commgate's intake: mail clients send 8bit lines > 1,000 bytes
        line_length_limit = LINE_LENGTH_LIMIT

    loop = asyncio.get_running_loop()
    folder.mkdir(parents=True, exist_ok=True)
    handler = FsyncSink(folder, with_folder)
    server = await loop.create_server(
        lambda: LongLines(handler, hostname="sink.test", enable_SMTPUTF8=True), "127.0.0.1",
        port)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    _notify("READY=1")
    await stop.wait()
    server.close()
    await server.wait_closed()


def _notify(state: str) -> None:
    address = os.environ.get("NOTIFY_SOCKET")
    if address:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(state.encode(), address)


# -- servers as subprocesses -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A server subprocess that said READY=1 on its notify socket (as systemd would see)."""

    kind: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    home: paired.Home | None = None

    @classmethod
    def start(cls, kind: str, folder: Path, args: argparse.Namespace) -> Server:
        folder.mkdir(parents=True)
        port = free_port()
        notify_path = folder / "notify.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(str(notify_path))
        log = folder / "server.log"
        home = None
        if kind == "sink":
            cmd = [sys.executable, str(Path(__file__).resolve()), "--sink", str(folder / "mail"),
                   str(port), *(["--sink-folder-fsync"] if args.sink_folder_fsync else [])]
        else:
            smtp = (f'\n[smtp]\nenabled = true\nlisten = "127.0.0.1"\nport = {port}\n'
                    'hostname = "commgate.test"\n')
            home = paired.Home.create(folder / "home", kind.split("-", 1)[1], smtp,
                                      args.worker_processes, root=_root(kind, args))
            cmd = paired.commgate(home.path, "run")
        root = _root(kind, args)  # a baseline: the same daemon command, another checkout's code
        env = paired.child_env(root, NOTIFY_SOCKET=str(notify_path))
        with log.open("wb") as out:
            process = subprocess.Popen(cmd, env=env, cwd=root, stdout=out,
                                       stderr=subprocess.STDOUT)
        server = cls(kind, process, port, log, home)
        listener.settimeout(1.0)
        deadline = time.monotonic() + READY_SECONDS
        try:
            while True:
                try:
                    if b"READY=1" in listener.recv(4096).split(b"\n"):
                        break
                except TimeoutError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    server.stop()
                    raise SystemExit(f"{kind} did not become ready:\n{server.log_tail()}")
        finally:
            listener.close()
        return server

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """SIGTERM (the daemon drains), killed after 60 s; the home's database dropped."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                print(f"WARNING: {self.kind} did not stop on SIGTERM", file=sys.stderr)
        if self.home is not None:
            self.home.close()


# -- clients -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    sender: str
    rcpt: str
    key: str  # Message-ID without brackets
    raw: bytes


@dataclass
class Sent:
    """What the clients saw: per message the moment of its 250 and the time it took."""

    began: float
    ended: float
    accepted_at: dict[str, float]
    to_250: list[float]
    lag: float  # paced: the most a message was sent after it was due


def send_all(port: int, mails: Sequence[Mail], clients: int, rate: float) -> Sent:
    connections = [smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=120)
                   for _ in range(clients)]
    for conn in connections:
        conn.ehlo()
    accepted: list[dict[str, float]] = [{} for _ in range(clients)]
    took: list[list[float]] = [[] for _ in range(clients)]
    lags = [0.0] * clients
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients + 1)
    start = [0.0]

    def client(number: int) -> None:
        conn, mine, times = connections[number], accepted[number], took[number]
        barrier.wait()
        try:
            for i in range(number, len(mails), clients):
                if rate:
                    due = start[0] + i / rate
                    delay = due - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    else:
                        lags[number] = max(lags[number], -delay)
                mail = mails[i]
                began = time.perf_counter()
                conn.sendmail(mail.sender, [mail.rcpt], mail.raw)
                now = time.perf_counter()
                mine[mail.key] = now
                times.append(now - began)
        except BaseException as exc:  # reported below: a refused message spoils the round
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    start[0] = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    ended = time.perf_counter()
    for conn in connections:
        with contextlib.suppress(smtplib.SMTPException):
            conn.quit()
    if errors:
        raise SystemExit(f"a client failed: {errors[0]!r}")
    return Sent(start[0], ended, {k: v for d in accepted for k, v in d.items()},
                [t for ts in took for t in ts], max(lags))


class Poller(threading.Thread):
    """Reads the messages table every POLL_SECONDS: when was each Message-ID first seen
    filed (committed), as anyone reading the database would see it."""

    def __init__(self, filed: paired.Filed) -> None:
        super().__init__(daemon=True)
        self.filed = filed
        self.seen: dict[str, float] = {}
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        last = 0
        try:
            while not self.halt.is_set():
                rows = self.filed.new_since(last)
                now = time.perf_counter()
                for row_id, key in rows:
                    self.seen.setdefault(key, now)
                    last = max(last, row_id)
                self.halt.wait(POLL_SECONDS)
        except BaseException as exc:  # shown by the round
            self.error = exc


# -- one side of one round ---------------------------------------------------------------------


@dataclass
class Side:
    """One server's figures over the rounds."""

    kind: str
    rates: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # per message, process tree
    own_cpu_ms: list[float] = field(default_factory=list)  # per message, the server's process
    lag: list[float] = field(default_factory=list)
    # commgate only
    filed_share: list[float] = field(default_factory=list)  # filed when the last 250 came
    all_filed_rates: list[float] = field(default_factory=list)
    outside_p50: list[float] = field(default_factory=list)
    outside_p95: list[float] = field(default_factory=list)
    outside_p99: list[float] = field(default_factory=list)
    db_p50: list[float] = field(default_factory=list)
    db_p95: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    pss_mb: list[float] = field(default_factory=list)  # current, when all was filed
    pss_each: list[list[float]] = field(default_factory=list)  # per process, parents first
    warmup_s: list[float] = field(default_factory=list)  # ready to the warm-up set filed


def run_side(side: Side, folder: Path, mails: Sequence[Mail], warm: Sequence[Mail],
             args: argparse.Namespace) -> str:
    server = Server.start(side.kind, folder, args)
    filed = paired.Filed(server.home.url) if server.home else None
    poller = Poller(filed) if filed else None
    note = ""
    try:
        if warm:  # not timed: a running daemon has built every language's pipeline
            began = time.perf_counter()
            send_all(server.port, warm, 1, 0.0)
            if filed is not None:
                paired.wait_for(lambda: filed.processed() >= len(warm), DRAIN_SECONDS,
                                "the warm-up messages to be filed")
                side.warmup_s.append(time.perf_counter() - began)
                note = f"; warm-up {side.warmup_s[-1]:.0f} s"
        if poller:
            poller.start()
        pid = server.process.pid
        cpu0, own0 = paired.tree_cpu_seconds(pid), paired.process_cpu_seconds(pid)
        sent = send_all(server.port, mails, args.clients, args.rate)
        cpu = paired.tree_cpu_seconds(pid) - cpu0
        own = paired.process_cpu_seconds(pid) - own0
        count = len(mails)
        side.rates.append(count / (sent.ended - sent.began))
        side.p50.append(paired.percentile(sent.to_250, 0.5) * 1000)
        side.p99.append(paired.percentile(sent.to_250, 0.99) * 1000)
        side.cpu_ms.append(cpu / count * 1000)
        side.own_cpu_ms.append(own / count * 1000)
        side.lag.append(sent.lag)
        if filed is not None and poller is not None:
            side.filed_share.append((filed.processed() - len(warm)) / count)
            paired.wait_for(lambda: filed.processed() >= len(warm) + count, DRAIN_SECONDS,
                            "the worker to process every receipt", poll=POLL_SECONDS)
            side.all_filed_rates.append(count / (time.perf_counter() - sent.began))
            side.rss_mb.append(paired.tree_peak_rss_mb(pid))
            side.pss_each.append(paired.tree_pss_mb(pid))
            side.pss_mb.append(sum(side.pss_each[-1]))
            paired.wait_for(lambda: len(poller.seen) >= count or poller.error is not None,
                            30, "the poller to see every message")
            poller.halt.set()
            poller.join()
            if poller.error is not None:
                raise SystemExit(f"reading the database failed: {poller.error!r}")
            outside = [poller.seen[k] - sent.accepted_at[k] for k in sent.accepted_at
                       if k in poller.seen]
            side.outside_p50.append(paired.percentile(outside, 0.5))
            side.outside_p95.append(paired.percentile(outside, 0.95))
            side.outside_p99.append(paired.percentile(outside, 0.99))
            inside = filed.receipt_to_filed(after_seq=len(warm))
            side.db_p50.append(paired.percentile(inside, 0.5))
            side.db_p95.append(paired.percentile(inside, 0.95))
            note += (f"; {side.filed_share[-1]:.0%} filed at the last 250, all filed "
                    f"{side.all_filed_rates[-1]:.0f} msg/s; 250->filed p50 "
                    f"{side.outside_p50[-1]:.2f} s p95 {side.outside_p95[-1]:.2f} s; "
                    f"RSS {side.rss_mb[-1]:.0f} MB, PSS {side.pss_mb[-1]:.0f} MB = "
                    + " + ".join(f"{p:.0f}" for p in side.pss_each[-1]))
            if len(outside) != count:
                note += f"; WARNING: {count - len(outside)} never seen filed"
    finally:
        if poller is not None:
            poller.halt.set()
        server.stop()
        if filed is not None:
            filed.close()
    if side.kind == "sink":
        stored = sum(1 for _ in (folder / "mail").iterdir())
        if stored != len(mails) + len(warm):
            note += f"; WARNING: the sink holds {stored} of {len(mails) + len(warm)}"
    lag = f", lag {sent.lag:.2f} s" if args.rate else ""
    return (f"{side.rates[-1]:6.0f} msg/s  p50 {side.p50[-1]:6.1f} ms  p99 {side.p99[-1]:6.1f} ms"
            f"  CPU {side.cpu_ms[-1]:5.2f} ms/msg (server process {side.own_cpu_ms[-1]:4.2f})"
            f"{lag}{note}")


# -- the report --------------------------------------------------------------------------------


def report(sides: Sequence[Side], args: argparse.Namespace) -> None:
    sink = sides[0]
    load = f"offered {args.rate:g} msg/s" if args.rate else "as fast as the replies come"
    durable = "file and folder fsync" if args.sink_folder_fsync else "file fsync only"
    print(f"\n{args.rounds} interleaved rounds x {args.messages} distinct messages per side, "
          f"{args.clients} clients, {load}; sink: {durable}; median (range) over the rounds")
    for side in sides:
        print(f"  {side.kind:<20} {paired.spread(side.rates)} msg/s   p50 "
              f"{paired.spread(side.p50, '{:.1f}')} ms   p99 {paired.spread(side.p99, '{:.1f}')}"
              f" ms   CPU {paired.spread(side.cpu_ms, '{:.2f}')} ms/msg, server process "
              f"{paired.spread(side.own_cpu_ms, '{:.2f}')}")
    for side in sides[1:]:
        rate = paired.ratios(side.rates, sink.rates)
        p99 = paired.ratios(side.p99, sink.p99)
        print(f"\n{side.kind} / sink, per round:")
        target = (paired.verdict(statistics.median(rate), TARGET_RATE_RATIO) if not args.rate
                  else f"(of {args.rate:g} msg/s offered to each)")
        print(f"  msg/s ratio   {paired.spread(rate, '{:.2f}')}   {target}")
        print(f"  p99 ratio     {paired.spread(p99, '{:.2f}')}   "
              f"{paired.verdict(statistics.median(p99), TARGET_P99_RATIO, False)}")
        print(f"  filed when the last 250 came: {paired.spread(side.filed_share, '{:.0%}')}; "
              f"start to all filed {paired.spread(side.all_filed_rates)} msg/s")
        p95 = statistics.median(side.outside_p95)
        at_rate = (f"   {paired.verdict(p95, TARGET_FILED_P95, False)} (at {args.rate:g} msg/s)"
                   if args.rate else "")
        print(f"  250 -> filed, seen from outside: p50 {paired.spread(side.outside_p50, '{:.2f}')}"
              f" s  p95 {paired.spread(side.outside_p95, '{:.2f}')} s  p99 "
              f"{paired.spread(side.outside_p99, '{:.2f}')} s{at_rate}")
        print(f"  receipt -> filed_at in the database: p50 {paired.spread(side.db_p50, '{:.2f}')}"
              f" s  p95 {paired.spread(side.db_p95, '{:.2f}')} s")
        if side.warmup_s:
            print(f"  a fresh daemon, ready to its first {args.warmup} message(s) per language "
                  f"filed (not timed above): {paired.spread(side.warmup_s)} s")
        print(f"  daemon peak RSS (all its processes): {paired.spread(side.rss_mb)} MB   "
              f"{paired.verdict(statistics.median(side.rss_mb), 300, False)}")
        print(f"  daemon PSS when all was filed (all its processes, shared pages counted "
              f"once): {paired.spread(side.pss_mb)} MB   "
              f"{paired.verdict(statistics.median(side.pss_mb), 300, False)}")
        if args.rate:
            print(f"  most a message was sent late: sink {max(sink.lag):.2f} s, "
                  f"{side.kind} {max(side.lag):.2f} s")
    for side in sides[1:]:
        if side.kind.startswith("baseline-"):
            ours = next(s for s in sides if s.kind == "commgate-" + side.kind.split("-", 1)[1])
            filed = paired.ratios(ours.outside_p95, side.outside_p95)
            print(f"\n{ours.kind} / {side.kind}, per round: msg/s "
                  f"{paired.spread(paired.ratios(ours.rates, side.rates), '{:.2f}')}   p99 "
                  f"{paired.spread(paired.ratios(ours.p99, side.p99), '{:.2f}')}   250->filed "
                  f"p95 {paired.spread(filed, '{:.2f}')}   server process CPU per message "
                  f"{paired.spread(paired.ratios(ours.own_cpu_ms, side.own_cpu_ms), '{:.3f}')}")
    print(f"\nmachine: {paired.machine_note()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    paired.add_common_arguments(parser)
    parser.add_argument("--clients", type=int, default=4, help="SMTP connections at once (4)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="offered load in msg/s over all clients (0: as fast as possible)")
    parser.add_argument("--warmup", type=int, default=2, metavar="K",
                        help="K messages per language sent and filed before the clock starts, "
                             "not timed (2; 0: time a cold daemon)")
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="also run DIR's commgate (another checkout, same database schema) "
                             "as a side of every round, for before/after ratios in one run")
    parser.add_argument("--sink-folder-fsync", action="store_true",
                        help="the sink also fsyncs each new file's folder (its name is durable "
                             "only then; issue 17's sink fsyncs the file alone)")
    parser.add_argument("--sink", nargs=2, metavar=("FOLDER", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sink:
        asyncio.run(serve_sink(Path(args.sink[0]), int(args.sink[1]),
                               args.sink_folder_fsync))
        return 0
    paired.check_counts(args)
    sides = [Side("sink"), *(Side(f"commgate-{b}") for b in paired.backends(args))]
    if args.baseline is not None:
        args.baseline = args.baseline.resolve()
        sides += [Side(f"baseline-{b}") for b in paired.backends(args)]
    corpus = paired.Corpus(args.corpora)
    print(f"smtp_accept: {paired.machine_note()}", flush=True)
    with paired.workspace(args, "commgate-smtp-accept-") as root:
        for number in range(args.rounds):
            raws = corpus.messages(args.messages, args.seed + number)
            mails = [Mail(*paired.envelope(raw), raw) for raw in raws]
            warm = [Mail(*paired.envelope(raw), raw)
                    for raw in corpus.warmup(args.warmup, args.seed + 1_000 + number)]
            if len({m.key for m in mails}) != len(mails):
                raise SystemExit("the generator made two messages with one Message-ID")
            for side in paired.round_order(number, sides):
                line = run_side(side, root / f"round{number + 1}-{side.kind}", mails, warm,
                                args)
                print(f"round {number + 1} {side.kind:<20} {line}", flush=True)
    report(sides, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
