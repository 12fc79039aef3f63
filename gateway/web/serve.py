"""Serving the application with uvicorn: alone (``commgate web``, until SIGTERM) or inside the
daemon (``commgate run`` with ``[web] listen``), on the daemon's own event loop.

The listening socket is bound here, before anything is served, so an address in use or not
allowed is one ``ConfigError`` line instead of uvicorn's exit. Forwarded headers are read by
the application itself (only from ``[web] trusted_proxies``), not by uvicorn; uvicorn's own
access log is off, since query strings hold customer data: the application's access log
records what was read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Generator

import uvicorn

from gateway.config import parse_listen
from gateway.core.context import Context
from gateway.core.errors import ConfigError
from gateway.web.app import create_app

log = logging.getLogger(__name__)


def bind(listen: str, key: str = "web.listen") -> socket.socket:
    """A listening socket on ``HOST:PORT``; ``key`` names the setting in errors."""
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise ConfigError(f"{key}: cannot listen on {listen} ({exc.strerror or exc}); choose "
                          "a free port or an address of this machine") from None
    sock.set_inheritable(True)
    return sock


def server(ctx: Context, *, embedded: bool = False) -> uvicorn.Server:
    """A uvicorn server of the application; ``embedded``: leaves the signals to the caller,
    which stops it with ``should_exit``."""
    config = uvicorn.Config(create_app(ctx), lifespan="off", access_log=False,
                            proxy_headers=False, server_header=False, log_config=None)
    return _Embedded(config) if embedded else uvicorn.Server(config)


def serve(ctx: Context, listen: str, key: str = "--listen") -> None:
    """Serve until SIGTERM or SIGINT: uvicorn lets the requests in progress finish, then this
    returns (the command exits 0, as a service manager expects of a requested stop)."""
    sock = bind(listen, key)
    log.info("serving the web application on http://%s/", listen)
    try:
        asyncio.run(_serve_until_signal(server(ctx, embedded=True), sock))
    finally:
        sock.close()


async def _serve_until_signal(web: uvicorn.Server, sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, setattr, web, "should_exit", True)
    await web.serve(sockets=[sock])


class _Embedded(uvicorn.Server):
    """A server that leaves SIGTERM and SIGINT to the daemon that runs it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield
