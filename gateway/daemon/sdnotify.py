"""A tiny sd_notify: tells systemd we are ready, how we are, alive, or stopping; does nothing
outside systemd. Twenty lines of socket code instead of a dependency (the protocol is one
datagram of ``KEY=value`` lines to ``$NOTIFY_SOCKET``; sd_notify(3))."""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True


def watchdog_seconds() -> float | None:
    """systemd's ``WatchdogSec=`` as the service sees it (``$WATCHDOG_USEC``), or None when
    the watchdog is off or meant for another process (``$WATCHDOG_PID``, sd_watchdog_enabled(3))."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or not os.environ.get("NOTIFY_SOCKET"):
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000
