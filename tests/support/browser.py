"""End-to-end web tests: a real ``commgate web`` process on loopback and Debian's Chromium
driven by Playwright (never a downloaded browser), with a record of every request the pages
make and every dialog they open."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.daemon import stop_with_sigterm
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing the browser itself would fetch (updates, field trials, safe browsing).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-default-apps", "--disable-sync",
                 "--no-first-run"]
SCREENSHOTS_ENV = "COMMGATE_SCREENSHOTS"  # a folder: keep the screenshots there (docs/screenshots)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@dataclass(frozen=True)
class WebServer:
    """A started ``commgate web`` process; :meth:`ready` waits until it answers."""

    process: subprocess.Popen[bytes]
    base: str
    log_path: Path

    def ready(self) -> str:
        """The base URL, once the login page answers (fails if the process exits first)."""
        wait_for(lambda: self.process.poll() is not None or _answers(f"{self.base}/login"),
                 what="the web server to answer")
        if self.process.poll() is not None:
            raise AssertionError("commgate web exited:\n" + self.log_path.read_text()[-3000:])
        return self.base


@contextmanager
def web_process(home: Path, log_path: Path, env: dict[str, str]) -> Iterator[WebServer]:
    """``commgate --home HOME web --listen 127.0.0.1:PORT`` until the block ends (SIGTERM).
    Started at once; the caller may prepare data while it loads, then waits with ``ready``."""
    port = free_port()
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli.main", "--home", str(home), "web",
             "--listen", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield WebServer(server, f"http://127.0.0.1:{port}", log_path)
        finally:
            stop_with_sigterm(server, "commgate web", log_path)


@dataclass
class PageWatch:
    """Every URL a browser context requested and every dialog (alert, confirm, prompt) a page
    opened. Requests leaving ``base`` are recorded and aborted, never sent."""

    base: str
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def attach(self, context: Any) -> None:
        context.route("**/*", self._route)
        context.on("page", self._page)

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.requests.append(url)
        if url.startswith(self.base + "/"):
            route.continue_()
        else:
            route.abort()

    def _page(self, page: Any) -> None:
        def dialog(d: Any) -> None:
            self.dialogs.append(d.message)
            d.dismiss()
        page.on("dialog", dialog)

    def outside(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(self.base + "/")]


def log_in(page: Any, base: str, name: str, password: str = PASSWORD, path: str = "/cases"
           ) -> None:
    """Open ``path``, get sent to the login form, fill it in and come back to ``path``."""
    page.goto(base + path)
    assert "/login?next=" in page.url
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]:has-text('Sign in')")
    page.wait_for_url(base + path)


def screenshot(page: Any, folder: Path, name: str) -> Path:
    """A full-page screenshot, kept in $COMMGATE_SCREENSHOTS when set (docs/screenshots)."""
    target = Path(os.environ.get(SCREENSHOTS_ENV) or folder)
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@dataclass(frozen=True)
class Site:
    """The installation the browser tests share, and its running web server."""

    home: Path
    base: str
    database_url: str
    refs: dict[str, str]  # what each prepared mail became: "enquiry", "triage", "xss"
    public_key: Path

    @contextmanager
    def app(self) -> Iterator[Any]:
        """The installation opened in the test process (to check what a page did)."""
        import pytest

        from gateway.bootstrap import App
        from gateway.config import DATABASE_URL_ENV

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(DATABASE_URL_ENV, self.database_url)
            application = App.open(self.home)
            try:
                yield application
            finally:
                application.close()
