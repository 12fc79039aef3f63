"""What a worker's restart costs with the fork server stopped or kept (``[worker]
keep_fork_server``), and whether SMTP keeps answering meanwhile.

Each round starts ``commgate run`` (SQLite, 2 workers, its SMTP intake on loopback) once
with ``keep_fork_server = false`` and once with ``true`` (the order alternating), files
``--warm`` distinct generated messages in all 11 languages, then:

1. one SMTP client sends messages one after another while a worker is killed (SIGKILL): the
   time to each 250 in the second before the kill and from the kill until the new worker runs
   (the daemon's log line ``worker N restarted``);
2. with no mail arriving, another worker is killed: the time from the kill until the new
   worker runs (it includes the pool's 1 s back-off) and the CPU seconds the daemon's tree
   spent meanwhile (the new fork server's, once reaped, counted in the daemon's).

Run::

    PYTHONPATH=$PWD python bench/worker_restart.py --rounds 3
"""

from __future__ import annotations

import argparse
import os
import signal
import smtplib
import statistics
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _project_path  # noqa: F401  (must come before gateway)

from bench import paired, smtp_accept
from bench.daemon_memory import messages


def start(folder: Path, keep: bool, port: int) -> tuple[subprocess.Popen[bytes], Path, Path]:
    smtp = (f'\n[smtp]\nenabled = true\nlisten = "127.0.0.1"\nport = {port}\n'
            'hostname = "commgate.test"\n')
    home = paired.Home.create(folder / "home", "sqlite", smtp, 2)
    with open(home.path / "commgate.toml", "a") as fh:  # [worker] is the last section
        fh.write(f"keep_fork_server = {'true' if keep else 'false'}\n")
    log = folder / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(paired.commgate(home.path, "run"), env=paired.child_env(),
                                  stdout=out, stderr=subprocess.STDOUT)
    return daemon, log, home.path


def wait_log(log: Path, text: str, count: int = 1, timeout: float = 300) -> None:
    paired.wait_for(lambda: log.read_text().count(text) >= count, timeout, repr(text))


def worker_pids(log: Path) -> list[int]:
    line = next(x for x in log.read_text().splitlines() if "started 2 worker process(es)" in x)
    return [int(p) for p in line.rsplit("pid ", 1)[1].split(", ")]


def restarted_pid(log: Path, count: int) -> int:
    lines = [x for x in log.read_text().splitlines() if " restarted: pid " in x]
    return int(lines[count - 1].rsplit("pid ", 1)[1])


def settled(log: Path, keep: bool, restarts: int) -> None:
    """Wait until the restart number ``restarts`` is done (and its fork server stopped)."""
    wait_log(log, " restarted: pid ", restarts)
    if not keep:
        wait_log(log, "fork server stopped", restarts + 1)


class Client(threading.Thread):
    """Sends messages one after another, recording (moment of the 250, seconds it took)."""

    def __init__(self, port: int, mails: Sequence[smtp_accept.Mail]) -> None:
        super().__init__(daemon=True)
        self.port, self.mails = port, mails
        self.times: list[tuple[float, float]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test",
                          timeout=120) as conn:
            for mail in self.mails:
                if self.halt.is_set():
                    return
                began = time.perf_counter()
                conn.sendmail(mail.sender, [mail.rcpt], mail.raw)
                ended = time.perf_counter()
                self.times.append((ended, ended - began))


def one(folder: Path, keep: bool, mails: Sequence[smtp_accept.Mail], warm: int
        ) -> dict[str, Any]:
    port = smtp_accept.free_port()
    daemon, log, home = start(folder, keep, port)
    try:
        wait_log(log, "started 2 worker process(es)")
        if not keep:
            wait_log(log, "fork server stopped")
        filed = paired.Filed(f"sqlite+pysqlite:///{home / 'commgate.db'}")
        smtp_accept.send_all(port, mails[:warm], 1, 0.0)
        paired.wait_for(lambda: filed.processed() >= warm, 600, "the warm-up filed")
        first, second = worker_pids(log)
        client = Client(port, mails[warm:])
        client.start()
        paired.wait_for(lambda: len(client.times) >= 20, 120, "20 messages sent")
        killed = time.perf_counter()
        os.kill(first, signal.SIGKILL)
        settled(log, keep, 1)
        back = time.perf_counter()
        client.halt.set()
        client.join()
        before = [t for at, t in client.times if killed - 1.0 <= at < killed]
        during = [t for at, t in client.times if killed <= at <= back]
        paired.wait_for(lambda: filed.processed() >= warm + len(client.times), 600,
                        "the client's mail filed")
        time.sleep(1.0)  # the pool's wake-ups after filing: out of the CPU window
        cpu = paired.tree_cpu_seconds(daemon.pid)
        killed = time.perf_counter()
        os.kill(second, signal.SIGKILL)
        settled(log, keep, 2)
        wall = time.perf_counter() - killed
        cpu = paired.tree_cpu_seconds(daemon.pid) - cpu
        filed.close()
        return {"wall": wall, "cpu": cpu, "during": during, "before": before}
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(120)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    paired.add_common_arguments(parser, messages=2000, rounds=3)
    parser.add_argument("--warm", type=int, default=110,
                        help="messages filed before the first kill (110: 10 per language)")
    args = parser.parse_args(argv)
    corpus = paired.Corpus(args.corpora)
    results: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    print(f"worker_restart: {paired.machine_note()}", flush=True)
    with paired.workspace(args, "commgate-worker-restart-") as root:
        for number in range(args.rounds):
            mails = messages(corpus, args.messages, args.seed + number)
            for keep in ((False, True) if number % 2 == 0 else (True, False)):
                r = one(root / f"{number}-{keep}", keep, mails, args.warm)
                results[keep].append(r)
                print(f"round {number + 1} keep_fork_server={keep}: restart {r['wall']:.2f} s "
                      f"wall, {r['cpu']:.2f} s CPU; SMTP 250 p50/max ms: 1 s before the kill "
                      f"{_ms(r['before'])}, kill to restarted {_ms(r['during'])} "
                      f"({len(r['during'])} messages)", flush=True)
    for keep, rs in results.items():
        print(f"keep_fork_server={keep}: restart "
              f"{paired.spread([r['wall'] for r in rs], '{:.2f}')} s wall, "
              f"{paired.spread([r['cpu'] for r in rs], '{:.2f}')} s CPU; SMTP 250 during it: "
              f"p50 {paired.spread([statistics.median(r['during']) * 1e3 for r in rs], '{:.1f}')}"
              f" ms, max {paired.spread([max(r['during']) * 1e3 for r in rs], '{:.1f}')} ms")
    print(f"\nmachine: {paired.machine_note()}")
    return 0


def _ms(times: Sequence[float]) -> str:
    if not times:
        return "-"
    return f"{statistics.median(times) * 1e3:.1f}/{max(times) * 1e3:.1f}"


if __name__ == "__main__":
    raise SystemExit(main())
