"""Run a list of independent CPU-bound tasks on every core: this process plus forked helpers.

Meant for ``archive verify``: parsing ledger lines, recomputing entry hashes and re-hashing
blobs are independent per chunk, and a pure-Python loop uses one core at a time.

How: the task list is known before the fork, so a helper sees it without any transfer. Task
numbers wait in a pipe; this process and each helper read four bytes at a time (a pipe read
is atomic, so every task is taken exactly once, by whoever is free first: the load balances
itself even when some chunks name large blobs). A helper pickles each result back through a
second pipe as soon as it has it, and leaves with ``os._exit`` (no atexit handlers, no
finalisers of the parent's objects, no flush of buffers it inherited). Anything a helper
failed to deliver is run here.

Forking is only done where it is safe and worth it: on POSIX, when this process runs no other
thread (a fork copies only the calling thread, and a lock another thread held would stay locked
in the helper), when the caller says there is enough work and when there are idle cores to run
helpers on. Otherwise everything runs in this process, with the same code.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import pickle
import statistics
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

_TOKEN = struct.Struct("<I")
_FRAME = struct.Struct("<Q")  # the length of one pickled (task, result) frame
# Tokens are written in one write of at most PIPE_BUF bytes, which POSIX makes atomic; every
# read then takes exactly one whole token.
MAX_TASKS = 4096 // _TOKEN.size
_F_SETPIPE_SZ = 1031  # Linux: let a helper write its results and exit without waiting for us
_RESULT_PIPE_BYTES = 1 << 20
_CPU_CAP = 8


def available_cpus() -> int:
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    return max(1, min(count, _CPU_CAP))


def idle_helpers() -> int:
    """How many helpers can run beside this process on cores that are idle right now.

    On a machine whose cores are already busy, a helper only competes with this process for
    the same cores and costs its fork: none is started. Busy means both the 1-minute load
    average and the tasks runnable now say so: the average alone still counts a burst that
    has just ended (this very program filing mail a moment ago, say), one look at the tasks
    runnable now can catch a passing kernel thread, so it is the median of three looks a
    tenth of a millisecond apart."""
    cpus = available_cpus()
    if cpus == 1:
        return 0
    busy = min(_load_average(), _runnable_now())
    # This process is running, so it is part of the load already.
    return max(0, min(cpus - 1, round(cpus - max(busy, 1.0))))


def _load_average() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def _runnable_now(looks: int = 3, apart: float = 0.0001) -> float:
    """Tasks running or waiting for a core (Linux), this process included: the median of a
    few looks."""
    seen = []
    try:
        for look in range(looks):
            if look:
                time.sleep(apart)
            with open("/proc/loadavg", "rb") as stats:
                seen.append(float(stats.read().split()[3].split(b"/")[0]))
    except (OSError, IndexError, ValueError):
        return float("inf")  # unknown: the load average decides alone
    return statistics.median(seen)


def can_fork() -> bool:
    return hasattr(os, "fork") and sys.platform != "win32" and threading.active_count() == 1


def run_tasks(count: int, task: Callable[[int], T], helpers: int,
              meanwhile: Callable[[], object] | None = None,
              in_order: Callable[[int, T], object] | None = None) -> list[T]:
    """``[task(0), ..., task(count - 1)]``, computed here and in up to ``helpers`` forks.

    ``task`` must depend only on state that exists before this call (a helper sees the
    parent's memory as it was at the fork) and return a picklable value. ``meanwhile`` runs
    here once the helpers are started, before this process takes its share of the tasks.
    ``in_order(n, result)`` is called here for each task in task order as soon as the results
    up to it are in, so a caller walking them in order does so while the helpers still work.
    """
    if count > MAX_TASKS:
        raise ValueError(f"at most {MAX_TASKS} tasks per call, not {count}")
    results = _InOrder(in_order)
    helpers = min(helpers, count - 1)
    if helpers <= 0 or not can_fork():
        if meanwhile is not None:
            meanwhile()
        for n in range(count):
            results.add(n, task(n))
        return results.all(count, task)
    token_r, token_w = os.pipe()
    os.write(token_w, b"".join(_TOKEN.pack(n) for n in range(count)))
    children: list[tuple[int, int]] = []  # (pid, read end of its result pipe)
    try:
        for _ in range(helpers):
            result_r, result_w = os.pipe()
            with contextlib.suppress(OSError):
                fcntl.fcntl(result_w, _F_SETPIPE_SZ, _RESULT_PIPE_BYTES)
            try:
                pid = os.fork()
            except OSError:
                os.close(result_r)
                os.close(result_w)
                raise
            if pid == 0:  # the helper: never returns
                _helper(task, token_r, (token_w, result_r, *(fd for _, fd in children)),
                        result_w)
            os.close(result_w)
            os.set_blocking(result_r, False)
            children.append((pid, result_r))
    except OSError:
        pass  # fewer helpers than asked for: this process takes up the rest
    finally:
        os.close(token_w)  # once every copy is closed, an empty pipe reads as the end
    pending: dict[int, bytearray | None] = {fd: bytearray() for _, fd in children}
    try:
        if meanwhile is not None:
            meanwhile()

        def mine(n: int, result: T) -> None:
            results.add(n, result)
            _collect(pending, results, wait=False)  # what the helpers sent meanwhile

        _work(task, token_r, mine)
        _collect(pending, results, wait=True)
    finally:
        os.close(token_r)
        for pid, result_r in children:
            os.close(result_r)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    # A helper that died took its claimed tasks with it: they run here.
    return results.all(count, task)


class _InOrder:
    """Results by task number, handed to ``in_order`` in task order as they complete."""

    def __init__(self, in_order: Callable[[int, Any], object] | None) -> None:
        self.results: dict[int, Any] = {}
        self.in_order = in_order
        self.next = 0

    def add(self, n: int, result: Any) -> None:
        self.results[n] = result
        if self.in_order is not None:
            while self.next in self.results:
                self.in_order(self.next, self.results[self.next])
                self.next += 1

    def all(self, count: int, task: Callable[[int], Any]) -> list[Any]:
        for n in range(count):
            if n not in self.results:
                self.add(n, task(n))
        return [self.results[n] for n in range(count)]


def _collect(pending: dict[int, bytearray | None], results: _InOrder, wait: bool) -> None:
    """Read what the helpers have written: everything there is now, or (``wait``) until each
    has closed its pipe. Complete frames become results; a partial one waits for the rest. A
    helper whose stream is damaged is not read any further (its tasks run here)."""
    for fd, buffer in pending.items():
        if buffer is None:
            continue
        if wait:
            os.set_blocking(fd, True)
        while True:
            try:
                chunk = os.read(fd, _RESULT_PIPE_BYTES)
            except BlockingIOError:
                break
            if not chunk:
                break
            buffer += chunk
        frames, intact = _frames(buffer)
        if not intact:
            pending[fd] = None
        for n, result in frames:
            results.add(n, result)


def _work(task: Callable[[int], T], token_r: int, deliver: Callable[[int, T], object]
          ) -> None:
    while token := os.read(token_r, _TOKEN.size):
        (n,) = _TOKEN.unpack(token)
        deliver(n, task(n))


def _helper(task: Callable[[int], Any], token_r: int, inherited: Sequence[int],
            result_w: int) -> None:
    code = 1
    try:
        gc.disable()  # collecting would touch (and so copy) the whole inherited heap
        for fd in inherited:
            os.close(fd)

        def deliver(n: int, result: Any) -> None:
            # One frame per task as it is done: the pickling of the last result is all that
            # is left when the tokens run out, and a helper that dies keeps what it sent.
            frame = pickle.dumps((n, result), protocol=pickle.HIGHEST_PROTOCOL)
            view = memoryview(_FRAME.pack(len(frame)) + frame)
            while view:
                view = view[os.write(result_w, view):]

        _work(task, token_r, deliver)
        code = 0
    except BaseException:
        pass  # the parent runs whatever this helper did not deliver
    finally:
        os._exit(code)


def _frames(buffer: bytearray) -> tuple[list[tuple[int, Any]], bool]:
    """The complete ``(task, result)`` frames at the start of ``buffer``, removed from it, and
    whether the stream is intact. A frame cut short stays (the rest may follow, or the helper
    died writing it: then its task runs here)."""
    frames: list[tuple[int, Any]] = []
    offset = 0
    while offset + _FRAME.size <= len(buffer):
        (length,) = _FRAME.unpack_from(buffer, offset)
        start = offset + _FRAME.size
        if start + length > len(buffer):
            break
        try:
            frames.append(pickle.loads(buffer[start:start + length]))
        except Exception:  # a damaged frame: its task and those after it run here
            return frames, False
        offset = start + length
    del buffer[:offset]
    return frames, True
