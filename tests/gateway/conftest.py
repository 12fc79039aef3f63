"""Fixtures of the gateway tests that more than one module uses: the SMTP intake on a loop in a
background thread (``loop_thread``, ``serve``) and real aiosmtpd relays (``relays``,
``started``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.bootstrap import App
from gateway.config import SmtpConfig
from gateway.intake.handoff import GroupCommitter
from gateway.intake.smtp import SmtpIntake
from tests.support.outbound import RelayHandler, Relays, RelayServer, configure, publish
from tests.support.smtp import LoopThread, Server


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture
def serve(app: App, loop_thread: LoopThread) -> Iterator[Callable[..., Server]]:
    """Start an SmtpIntake on a free loopback port; ``serve(other_app, protocol="lmtp")``."""
    running: list[Server] = []

    def start(target: App | None = None, **options: Any) -> Server:
        options = {"enabled": True, "listen": "127.0.0.1", "port": 0,
                   "hostname": "mx.northpoint.test", **options}
        target = target or app
        intake = SmtpIntake(target, SmtpConfig(**options), GroupCommitter(target))
        loop_thread.run(intake.start())
        server = Server(intake, target, loop_thread)
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()


@pytest.fixture
def relays() -> Iterator[Relays]:
    thread = LoopThread()
    servers = Relays(thread)
    yield servers
    servers.close()
    thread.close()


@pytest.fixture
def started(home: Path, relays: Relays):  # type: ignore[no-untyped-def]
    """``started(handler, **configure options)`` -> (App, RelayServer) with the ack template
    published; apps are closed after the test."""
    opened: list[App] = []

    def start(handler: RelayHandler | None = None, **options: Any) -> tuple[App, RelayServer]:
        relay = relays.start(handler)
        configure(home, relay.port, **options)
        app = App.open(home)
        opened.append(app)
        publish(app)
        return app, relay

    yield start
    for app in opened:
        app.close()
