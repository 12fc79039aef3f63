"""Profiles every Python process started with this folder on ``PYTHONPATH`` and
``COMMGATE_PROFILE_DIR`` set (``bench/profile_ingest.py`` does both): cProfile from the first
import to the exit, written to ``$COMMGATE_PROFILE_DIR/<pid>.prof``. A process that Python's
``site`` module starts (the command, a spawned worker) profiles itself; a forked child starts
a profile of its own and writes it when multiprocessing ends it. Profiles the main thread of
each process only (cProfile's limit before Python 3.12)."""

from __future__ import annotations

import atexit
import cProfile
import os

_FOLDER = os.environ.get("COMMGATE_PROFILE_DIR")


def _start() -> cProfile.Profile:
    profile = cProfile.Profile()
    profile.enable()
    return profile


def _write(profile: cProfile.Profile) -> None:
    profile.disable()
    assert _FOLDER is not None
    profile.dump_stats(os.path.join(_FOLDER, f"{os.getpid()}.prof"))


def _forked() -> None:
    """A forked child leaves by os._exit (no atexit): multiprocessing's finalizers run."""
    global _PROFILE
    _PROFILE.disable()
    _PROFILE = _start()
    from multiprocessing import util

    util.Finalize(None, lambda: _write(_PROFILE), exitpriority=0)


if _FOLDER:
    _PROFILE = _start()
    atexit.register(lambda: _write(_PROFILE))
    os.register_at_fork(after_in_child=_forked)
