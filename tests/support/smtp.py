"""The product's SMTP intake on an asyncio loop in a background thread, so blocking clients
(smtplib, swaks) can talk to it; the addresses the SMTP tests use."""

from __future__ import annotations

import asyncio
import smtplib
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from archive import LedgerEntry
from gateway.bootstrap import App
from gateway.intake.smtp import SmtpIntake

SALES, SUPPORT, RETURNS = ("sales@northpoint.example", "support@northpoint.example",
                           "returns@northpoint.example")
SENDER = "anna@customer.example"
T = TypeVar("T")


class LoopThread:
    """An asyncio loop in a background thread: the daemon's loop, as far as the test cares."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="smtp-loop",
                                       daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.run(self.loop.shutdown_default_executor())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class Server:
    """A running SmtpIntake (started by the ``serve`` fixture) and the app it files into."""

    intake: SmtpIntake
    app: App
    loop: LoopThread

    @property
    def port(self) -> int:
        return self.intake.port

    def stop(self) -> None:
        self.loop.run(self.intake.stop())

    def session_count(self) -> int:
        async def count() -> int:
            return len(self.intake.sessions)
        return self.loop.run(count())

    def client(self, lmtp: bool = False) -> smtplib.SMTP:
        factory = smtplib.LMTP if lmtp else smtplib.SMTP
        client = factory("127.0.0.1", self.port, local_hostname="client.test", timeout=60)
        client.ehlo()
        return client


def entries(app: App) -> list[LedgerEntry]:
    return list(app.archive.entries())
