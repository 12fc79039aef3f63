"""How far ``commgate ingest`` is, on stderr: a bar on a terminal, log lines otherwise.

On a terminal, tqdm's bar with the total, the rate and the time left; it stays on the screen
when the import ends. Anywhere else (a pipe, a file, the journal) a bar is noise, so a line is
written every ``every`` messages or ``seconds`` seconds, whichever comes first (a ticker thread
writes one after ``seconds`` even while nothing finishes, so a stalled import shows as one), and
a last line when the import ends. Both are thread-safe: worker outcomes arrive on the pool's
reader threads.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Never, TextIO

if TYPE_CHECKING:
    from tqdm import tqdm

Mode = Literal["auto", "bar", "lines", "none"]
MODES: tuple[Mode, ...] = ("auto", "bar", "lines", "none")
EVERY_MESSAGES = 1000
EVERY_SECONDS = 30.0


class BarProgress:
    """tqdm's bar with total and ETA, left in place at the end."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._bar: tqdm[Never] | None = None
        self._lock = threading.Lock()

    def start(self, total: int) -> None:
        from tqdm import tqdm

        # A terminal that reports no width (a pty nobody sized) would get an empty bar.
        width = _columns(self._stream)
        self._bar = tqdm(total=total, desc="ingest", unit="msg", file=self._stream,
                         leave=True, dynamic_ncols=width is not None,
                         ncols=None if width else 80)

    def advance(self, count: int) -> None:
        with self._lock:
            if self._bar is not None:
                # Never past the total: workers also file mail queued before this import.
                self._bar.update(min(count, max(0, (self._bar.total or 0) - self._bar.n)))

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()


class LineProgress:
    """A line every ``every`` messages or ``seconds`` seconds: count, total, rate, time left."""

    def __init__(self, stream: TextIO, every: int = EVERY_MESSAGES,
                 seconds: float = EVERY_SECONDS,
                 clock: Callable[[], float] = time.monotonic, ticking: bool = True) -> None:
        """``ticking``: False leaves the quiet-stretch lines to whoever calls :meth:`tick`."""
        self._stream, self._every, self._seconds, self._clock = stream, every, seconds, clock
        self._ticking = ticking
        self._lock = threading.Lock()
        self._total = self._done = self._done_at_line = 0
        self._started = self._line_at = 0.0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def start(self, total: int) -> None:
        with self._lock:
            self._total = total
            self._started = self._line_at = self._clock()
            self._write(f"{total} messages to import")
        if self._seconds > 0 and self._ticking:
            self._ticker = threading.Thread(target=self._tick_until_closed,
                                            name="ingest-progress", daemon=True)
            self._ticker.start()

    def advance(self, count: int) -> None:
        with self._lock:
            self._done = min(self._total, self._done + count)
            if self._done - self._done_at_line >= self._every or self._quiet_too_long():
                self._progress_line()

    def tick(self) -> None:
        """The line a quiet stretch gets: written when ``seconds`` passed since the last."""
        with self._lock:
            if self._quiet_too_long():
                self._progress_line()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            elapsed = self._clock() - self._started
            self._write(f"{self._done}/{self._total} messages done in {_duration(elapsed)} "
                        f"({_rate(self._done, elapsed)})")

    def _tick_until_closed(self) -> None:
        while not self._stop.wait(self._seconds / 4):
            self.tick()

    def _quiet_too_long(self) -> bool:
        return self._seconds > 0 and self._clock() - self._line_at >= self._seconds

    def _progress_line(self) -> None:
        elapsed = self._clock() - self._started
        percent = 100 * self._done // self._total if self._total else 100
        left = self._total - self._done
        eta = (_duration(left * elapsed / self._done) if self._done else "unknown")
        self._write(f"{self._done}/{self._total} messages ({percent}%), "
                    f"{_rate(self._done, elapsed)}, ETA {eta}")
        self._done_at_line, self._line_at = self._done, self._clock()

    def _write(self, text: str) -> None:
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        self._stream.write(f"{stamp} ingest: {text}\n")
        self._stream.flush()


class NoProgress:
    def start(self, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def close(self) -> None:
        pass


def ingest_progress(mode: Mode, every: int = EVERY_MESSAGES, seconds: float = EVERY_SECONDS,
                    stream: TextIO | None = None) -> BarProgress | LineProgress | NoProgress:
    """``auto``: the bar when ``stream`` (stderr) is a terminal, else lines."""
    out = stream or sys.stderr
    if mode == "auto":
        mode = "bar" if out.isatty() else "lines"
    if mode == "bar":
        return BarProgress(out)
    if mode == "lines":
        return LineProgress(out, every, seconds)
    return NoProgress()


def _columns(stream: TextIO) -> int | None:
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (OSError, ValueError):
        return None


def _rate(done: int, elapsed: float) -> str:
    return f"{done / elapsed:.1f} msg/s" if elapsed > 0 else "- msg/s"


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))
