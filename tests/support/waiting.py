"""Waiting for a state instead of sleeping for an assumed duration."""

from __future__ import annotations

import time


def wait_for(condition, timeout: float = 120.0, what: str = "condition"):  # type: ignore
    """Poll ``condition`` until it returns something truthy (returned), or fail after
    ``timeout`` seconds: waiting for a state, never sleeping for an assumed duration."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
