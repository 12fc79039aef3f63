"""Waiting for a state instead of sleeping for an assumed duration."""

from __future__ import annotations

import time

# How long a wait may take before the test fails: an upper bound, never slept. Sized for CI
# (two cores, ``pytest -n 2``, each daemon test starting worker processes that load the
# classifier: tens of seconds on a loaded machine), not for a quiet one. A wait that names a
# shorter deadline only turns a slow machine into a failure.
DEADLINE_SECONDS = 180.0


def wait_for(condition, timeout: float = DEADLINE_SECONDS, what: str = "condition"):  # type: ignore
    """Poll ``condition`` until it returns something truthy (returned), or fail after
    ``timeout`` seconds: waiting for a state, never sleeping for an assumed duration."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
