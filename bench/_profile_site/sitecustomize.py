"""Profiles every Python process started with this folder on ``PYTHONPATH`` and
``COMMGATE_PROFILE_DIR`` set (``bench/profile_ingest.py`` does both): cProfile from the first
import to the exit, written to ``$COMMGATE_PROFILE_DIR/<pid>.prof``. A process that Python's
``site`` module starts (the command, a spawned worker) profiles itself; a forked child starts
a profile of its own and writes it when it leaves by ``os._exit`` (how a forked
``multiprocessing`` child ends; its finalizer registry is cleared after the fork, so a
finalizer would never run). Profiles the main thread of
each process only (cProfile's limit before Python 3.12). With ``COMMGATE_PROFILE_CLOCK=cpu`` the
clock is the thread's CPU time, so waiting (a lock, a poll, SQLite's busy wait for the other
worker's write) counts nothing: what is left is what the issue's CPU per message is made of."""

from __future__ import annotations

import atexit
import cProfile
import os
import time
from typing import NoReturn

_FOLDER = os.environ.get("COMMGATE_PROFILE_DIR")
_CPU = os.environ.get("COMMGATE_PROFILE_CLOCK") == "cpu"


def _start() -> cProfile.Profile:
    profile = cProfile.Profile(time.thread_time) if _CPU else cProfile.Profile()
    profile.enable()
    return profile


def _write(profile: cProfile.Profile) -> None:
    profile.disable()
    assert _FOLDER is not None
    profile.dump_stats(os.path.join(_FOLDER, f"{os.getpid()}.prof"))


def _forked() -> None:
    """A forked child leaves by os._exit (no atexit): its profile is written just before."""
    global _PROFILE
    _PROFILE.disable()
    _PROFILE = _start()
    leave = os._exit

    def _exit(status: int) -> NoReturn:
        _write(_PROFILE)
        leave(status)

    os._exit = _exit


if _FOLDER:
    _PROFILE = _start()
    atexit.register(lambda: _write(_PROFILE))
    os.register_at_fork(after_in_child=_forked)
