"""The real daemon in a subprocess, and the check that its SMTP intake answers."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.support.waiting import DEADLINE_SECONDS


@contextmanager
def daemon_process(home: Path, log_path: Path,
                   env: Mapping[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """``commgate run`` for ``home`` in a subprocess, its output in ``log_path``; ``env``:
    variables besides the test's own (systemd's NOTIFY_SOCKET, say).

    On leaving, a daemon still running is stopped with SIGTERM; one that does not stop within
    :data:`DEADLINE_SECONDS` is killed and the test fails with the end of its log.
    """
    with open(log_path, "w") as log:
        daemon = subprocess.Popen([sys.executable, "-m", "gateway.cli.main", "run"],
                                  env={**os.environ, **(env or {}), "COMMGATE_HOME": str(home)},
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            yield daemon
        finally:
            stop_with_sigterm(daemon, "the daemon", log_path)


def stop_with_sigterm(process: subprocess.Popen[bytes], what: str, log_path: Path) -> None:
    """SIGTERM a process still running; one that does not stop within ``DEADLINE_SECONDS`` is
    killed and the test fails with the end of its log. The bound is above the daemon's own
    (it gives its workers DRAIN_SECONDS, 60 s, to finish their batches on a loaded machine):
    a stop that takes long but succeeds is not a failure."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
        raise AssertionError(f"{what} did not stop on SIGTERM:\n"
                             + log_path.read_text()[-3000:]) from None


def smtp_ready(port: int) -> bool:
    """Whether an SMTP server on loopback ``port`` answers NOOP (for ``wait_for``)."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
            return client.noop()[0] == 250
    except OSError:
        return False
