"""systemd's side of sd_notify for tests: a unix datagram socket bound by the test, passed to
the daemon as NOTIFY_SOCKET, read datagram by datagram."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path


class NotifySocket:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.received: list[dict[str, str]] = []  # every datagram read, as KEY=value pairs

    def close(self) -> None:
        self.sock.close()

    def next(self, timeout: float = 30.0) -> dict[str, str]:
        """The next datagram (fails after ``timeout`` seconds without one)."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"no sd_notify datagram within {timeout:.0f} s; got "
                                 f"{self.received[-5:]}") from None
        message = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        self.received.append(message)
        return message

    def wait(self, condition: Callable[[dict[str, str]], bool], what: str,
             timeout: float = 120.0) -> dict[str, str]:
        """Read datagrams until one satisfies ``condition``; it is returned."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.next(left)
            if condition(message):
                return message
        raise AssertionError(f"timed out waiting for {what}; last: {self.received[-5:]}")
