"""A daemon's start as each daemon test pays it (issue 17): ``commgate run`` with two worker
processes on a fresh SQLite home with a drop folder; one English message is dropped, and the
run is timed from the start to the message filed, then stopped with SIGTERM. Prints the wall
time to the first filed message and the CPU of the daemon's whole process tree (this process
is the reaper of orphaned descendants: the workers' fork server outlives the daemon a moment).

Give it checkouts to compare (this one and a baseline); they alternate their order by round::

    python bench/daemon_start.py /path/to/baseline $PWD --rounds 3
"""

from __future__ import annotations

import argparse
import mailbox
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MESSAGE = ("From: anna@customer.example\r\nTo: sales@northpoint.example\r\n"
           "Subject: order 4711\r\nMessage-ID: <{n}@customer.example>\r\n\r\n"
           "Please send 20 pieces of part 1234 by Friday.\r\n\r\nAnna\r\n")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _become_subreaper() -> None:
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _reap() -> None:
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


def one_start(checkout: str, number: int, workers: int) -> tuple[float, float]:
    """(wall seconds to the first filed message, CPU seconds of the daemon's tree)."""
    root = Path(tempfile.mkdtemp(prefix="commgate-daemon-start-"))
    try:
        home, drop = root / "home", root / "Maildir"
        env = {k: v for k, v in os.environ.items()
               if k not in ("COMMGATE_HOME", "COMMGATE_DATABASE_URL")}
        env["PYTHONPATH"] = checkout
        command = [sys.executable, "-m", "gateway.cli.main", "--home", str(home)]
        subprocess.run([*command, "init", "--case-prefix", "NP", "--alias",
                        "sales@northpoint.example"], env=env, cwd=checkout, check=True,
                       capture_output=True)
        mailbox.Maildir(str(drop))
        with open(home / "commgate.toml", "a") as fh:
            fh.write(f'\n[[dropfolders]]\npath = "{drop}"\n\n[worker]\nprocesses = {workers}\n')
        cpu_before, began = _children_cpu(), time.monotonic()
        with open(root / "daemon.log", "w") as log:
            daemon = subprocess.Popen([*command, "run"], env=env, cwd=checkout, stdout=log,
                                      stderr=subprocess.STDOUT)
            mailbox.Maildir(str(drop)).add(MESSAGE.format(n=number).encode())
            while not _filed(home / "commgate.db"):
                if time.monotonic() - began > 900:
                    daemon.kill()
                    raise SystemExit(f"nothing filed in 900 s; see {root / 'daemon.log'}")
                time.sleep(0.1)
            filed = time.monotonic() - began
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(300)
        _reap()
        return filed, _children_cpu() - cpu_before
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _filed(db: Path) -> bool:
    try:
        with sqlite3.connect(db) as conn:
            return bool(conn.execute("select count(*) from messages").fetchone()[0])
    except sqlite3.Error:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkouts", nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    _become_subreaper()
    for number in range(args.rounds):
        order = args.checkouts if number % 2 == 0 else args.checkouts[::-1]
        for checkout in order:
            filed, cpu = one_start(checkout, number, args.workers)
            print(f"round {number + 1} {checkout}: first filed after {filed:.1f} s wall; "
                  f"daemon tree CPU {cpu:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
