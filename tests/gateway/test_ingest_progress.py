"""How far ``commgate ingest`` is (issue 18, item 6): log lines with count, total, rate and time
left when stderr is no terminal, a bar that stays when it is (a real pseudo-terminal), and the
outcomes of worker processes counted as they arrive."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

from gateway.cli.progress import LineProgress
from gateway.daemon.workers import WorkerPool
from gateway.processing.ingest import ingest
from tests.support.mail import make_message, write_messages

PROGRESS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ingest: (\d+)/(\d+) messages \((\d+)%\), "
                      r"[\d.]+ msg/s, ETA (\S+)$")


def add_worker_section(home: Path, **options: int) -> None:
    with open(home / "commgate.toml", "a") as fh:
        fh.write("\n[worker]\n" + "".join(f"{k} = {v}\n" for k, v in options.items()))


def test_off_a_terminal_a_line_every_n_messages_and_a_last_one(cli, home, tmp_path):
    """Filed in this process two at a time ([worker] batch_size), a line every 2 messages."""
    add_worker_section(home, batch_size=2, processes=0)
    write_messages(tmp_path / "mail", [make_message(subject=f"Question {n}") for n in range(7)])
    result = cli("ingest", str(tmp_path / "mail"), "--progress-every", "2",
                 "--progress-seconds", "0")
    assert result.code == 0, result.err
    lines = result.err.splitlines()
    assert lines[0].endswith(" ingest: 7 messages to import")
    progress = [PROGRESS.match(line) for line in lines[1:-1]]
    assert all(progress), lines
    assert [(int(m[1]), int(m[2])) for m in progress if m] == [(2, 7), (4, 7), (6, 7)]
    assert re.search(r" ingest: 7/7 messages done in \d+:\d\d:\d\d \([\d.]+ msg/s\)$", lines[-1])
    assert "filed in cases:  7 (7 new cases)" in result.out


def test_progress_off_a_terminal_can_be_silenced(cli, tmp_path):
    write_messages(tmp_path / "mail", [make_message(subject="Question")])
    result = cli("ingest", str(tmp_path / "mail"), "--progress", "none")
    assert result.code == 0 and result.err == ""


def test_a_quiet_stretch_gets_a_line_after_the_interval():
    """By time as well as by count: a line once the interval passed since the last, also
    while nothing finishes (a tick); the clock is the test's."""
    now = [0.0]
    out = io.StringIO()
    progress = LineProgress(out, every=1000, seconds=30, clock=lambda: now[0], ticking=False)
    progress.start(10)
    now[0] = 10
    progress.advance(2)
    now[0] = 31
    progress.advance(1)
    now[0] = 50
    progress.tick()
    now[0] = 61
    progress.tick()
    now[0] = 70
    progress.advance(7)
    progress.close()
    lines = [line.split(" ingest: ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == ["10 messages to import",
                     "3/10 messages (30%), 0.1 msg/s, ETA 0:01:12",
                     "3/10 messages (30%), 0.0 msg/s, ETA 0:02:22",
                     "10/10 messages done in 0:01:10 (0.1 msg/s)"]


def test_worker_processes_report_progress_as_they_file(app, home, tmp_path):
    """Past the threshold (0 here) worker processes file; each batch they report moves the
    progress, from the pool's reader threads; the duplicate counts at once."""
    add_worker_section(home, batch_size=5)
    good = [make_message(subject=f"import {n}") for n in range(35)]
    files = write_messages(tmp_path / "import", [*good, b"not a message at all\r\n", good[0]])

    class Recorder:
        total = -1
        advances: list[tuple[bool, int]] = []

        def start(self, total: int) -> None:
            self.total = total

        def advance(self, count: int) -> None:
            self.advances.append((threading.current_thread() is threading.main_thread(), count))

    recorder = Recorder()
    summary = ingest(app, files, progress=recorder, workers_after=0,
                     workers=lambda on_outcomes, on_error: WorkerPool(
                         home, 2, app.db, log_level="WARNING", on_outcomes=on_outcomes,
                         on_error=on_error))
    assert (summary.archived, summary.duplicates, summary.filed) == (36, 1, 35)
    assert recorder.total == 37
    from_workers = [count for in_main, count in recorder.advances if not in_main]
    assert sum(from_workers) == 36 and len(from_workers) >= 36 // 5
    assert sum(count for _, count in recorder.advances) == 37


def test_on_a_terminal_the_bar_shows_the_total_and_stays(home, tmp_path):
    """Run on a pseudo-terminal, as an operator's shell runs it: the bar knows the total from
    the start, and its last state is still on the screen when the summary follows."""
    write_messages(tmp_path / "mail", [make_message(subject=f"Question {n}") for n in range(5)])
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "gateway.cli.main", "--home", str(home),
                                "ingest", str(tmp_path / "mail")],
                               stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    screen = b""
    try:
        while select.select([controller], [], [], 300)[0]:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the process and its terminal are gone
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(controller)
        assert process.wait(timeout=60) == 0, screen
    text = screen.decode()
    bar, summary = text.split("messages seen:", 1)
    states = [s for s in bar.replace("\n", "\r").split("\r") if s.strip()]
    assert states[0].startswith("ingest:   0%|") and " 0/5 [" in states[0], states
    # Kept: the last thing written on the bar's line is its final state, not a blank.
    last = bar.rstrip("\r\n").rsplit("\r", 1)[-1]
    assert last.startswith("ingest: 100%|") and " 5/5 [" in last, repr(bar)
    assert re.search(r"\[\d\d:\d\d<00:00, ", last), last  # elapsed<remaining: the ETA
    assert "filed in cases:  5 (5 new cases)" in summary
