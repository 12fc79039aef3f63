"""The web application in tests: Starlette's TestClient on a real installation, accounts made
through the services, the login form filled in as a browser would, and mail that tries every
usual trick to run script or load something when shown."""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid
from html.parser import HTMLParser
from pathlib import Path

from starlette.testclient import TestClient

from gateway.bootstrap import App
from gateway.config import CONFIG_NAME, Settings
from gateway.processing.ingest import ingest
from gateway.services.cases import list_cases
from gateway.services.users import add_user
from gateway.web.app import create_app
from tests.support.mail import write_messages

PASSWORD = "correct horse battery staple"
CLIENT_ADDRESS = "127.0.0.7"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


# Test homes hash passwords with argon2-cffi's CHEAPEST profile: every test makes accounts and
# signs in, and the default costs half a second a hash (tests/web/test_users.py checks the
# default and the rehash on its own).
TEST_HASHING = "cheapest"


def configure_web(home: Path, **options: str) -> None:
    """Set ``[web]`` options in the home's commgate.toml (its ``[web]`` table, made if absent),
    as an administrator would edit it."""
    config = home / CONFIG_NAME
    text = config.read_text()
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in options.items())
    if "\n[web]\n" in text:
        text = text.replace("\n[web]\n", f"\n[web]\n{lines}", 1)
    else:
        text += f"\n[web]\n{lines}"
    config.write_text(text)


def web_client(app: App, *, address: str = CLIENT_ADDRESS, **options: object) -> TestClient:
    """A client of the application that does not follow redirects (tests look at them)."""
    return TestClient(create_app(app, **options), base_url="http://commgate.test",  # type: ignore[arg-type]
                      follow_redirects=False, client=(address, 50123))


def with_web(app: App, **options: object) -> App:
    """The installation with other ``[web]`` settings (as if its commgate.toml said so)."""
    config = app.settings.config
    web = config.web.model_copy(update=options)
    settings = Settings(app.settings.home, config.model_copy(update={"web": web}))
    return dataclasses.replace(app, settings=settings)


def account(app: App, name: str, role: str = "staff", aliases: tuple[str, ...] = (),
            password: str = PASSWORD) -> None:
    add_user(app, actor="admin-test", name=name, role=role, aliases=list(aliases),
             password=password)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def log_in(client: TestClient, name: str, password: str = PASSWORD, next_page: str = ""):  # type: ignore[no-untyped-def]
    """Fill in the login form as a browser would: GET it (session and token), then POST."""
    form = client.get("/login")
    return client.post("/login", data={"username": name, "password": password,
                                       "csrf": csrf_of(form.text), "next": next_page})


def signed_in(app: App, name: str, role: str, *aliases: str) -> TestClient:
    """A client signed in as a new account ``name`` with ``role`` and queue rights."""
    account(app, name, role, aliases)
    client = web_client(app)
    assert log_in(client, name).status_code == 303
    return client


def form_token(client: TestClient, path: str) -> str:
    """The CSRF token of the forms on a page."""
    return csrf_of(client.get(path).text)


SCRIPT = "<script>alert('xss')</script>"
ONERROR = "<img src=x onerror=alert(1)>"
SVG = "<svg onload=alert(2)><script>alert(3)</script></svg>"
JS_URL = "javascript:alert(4)"
REMOTE_IMAGE = "https://tracker.evil.example/pixel.png"


def xss_message(to: str = "sales@northpoint.example") -> bytes:
    """A mail with script, event handlers, ``javascript:`` URLs, SVG and remote images in the
    subject, the sender's name, the text, the HTML part and an attachment's name."""
    msg = EmailMessage()
    msg["From"] = f'"{SCRIPT}{ONERROR}" <mallory@evil.example>'
    msg["To"] = to
    msg["Subject"] = f"Order {SCRIPT}{SVG} <img src='{REMOTE_IMAGE}'>"
    msg["Date"] = "Mon, 23 Nov 2026 09:15:00 +0100"
    msg["Message-ID"] = make_msgid(domain="evil.example")
    msg.set_content(f"Please order 20 pieces. {SCRIPT} {ONERROR} <a href=\"{JS_URL}\">x</a>")
    msg.add_alternative(
        f"<html><head><style>body{{background:url({REMOTE_IMAGE})}}</style></head><body>"
        f"<p onclick=\"alert(5)\">Please order 20 pieces.</p>{SCRIPT}{ONERROR}{SVG}"
        f"<a href=\"{JS_URL}\">click</a><img src=\"{REMOTE_IMAGE}\" alt=\"logo\">"
        f"<iframe src=\"https://evil.example/\"></iframe><form action=\"https://evil.example/\">"
        f"<input name=p></form></body></html>", subtype="html")
    msg.add_attachment(b"%PDF-1.4 not really\n", maintype="application", subtype="pdf",
                       filename=f"{SCRIPT}\"; evil=1.pdf")
    return bytes(msg)


def file_mail(app: App, folder: Path, *messages: bytes) -> list[str]:
    """File ``messages`` through the real pipeline; the references of the cases, newest last."""
    ingest(app, write_messages(folder, list(messages)))
    return [case.ref for case in list_cases(app, actor="test").items]


class _ActiveContent(HTMLParser):
    """Collects what in a page could run or load something: script, SVG, style, frames other
    than our sandboxed one, forms posting elsewhere, event handlers, ``javascript:`` URLs and
    images or other resources from another site."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "svg", "object", "embed", "base", "meta") and not (
                tag == "meta" and dict(attrs).keys() <= {"charset", "name", "content"}):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}>")
            if name in ("href", "src", "action", "srcset", "formaction", "style") and (
                    "javascript:" in value or "//" in value or "url(" in value):
                self.found.append(f"<{tag} {name}={value}>")
        if tag == "iframe" and dict(attrs).get("sandbox") != "":
            self.found.append("<iframe> without sandbox")


def active_content(html: str) -> list[str]:
    """What in ``html`` could run or load something (empty: it is inert)."""
    parser = _ActiveContent()
    parser.feed(html)
    parser.close()
    return parser.found


def page_status(url: str) -> int | None:
    """The HTTP status of ``url`` on a real server, or None while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None
