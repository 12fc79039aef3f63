"""One installation, one ``commgate web`` process and one Chromium for the whole session; a
fresh browser context (no cookies) with its request and dialog record per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.config import DATABASE_URL_ENV
from gateway.installation import init_home
from gateway.services.archive import sign_checkpoint, verify_archive
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PageWatch,
    Site,
    web_process,
)
from tests.support.checkpoints import configure_checkpoint_key, pub
from tests.support.mail import ALIASES, make_message
from tests.support.triage import UNDECIDED
from tests.support.web import TEST_HASHING, account, configure_web, file_mail, xss_message

SALES, SUPPORT = "sales@northpoint.example", "support@northpoint.example"
PEOPLE = (("anna", "staff", (SALES,)), ("sam", "staff", (SUPPORT,)),
          ("cora", "compliance", ()), ("ada", "admin", ()))


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("browser")
    home = root / "home"
    url = f"sqlite+pysqlite:///{home / 'commgate.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DATABASE_URL_ENV, url)
        init_home(str(home), "NPC", ALIASES)
    configure_web(home, password_hashing=TEST_HASHING)
    key = configure_checkpoint_key(home, root / "keys")
    prepared = Site(home, "", url, {}, pub(key))
    env = {**os.environ, DATABASE_URL_ENV: url}
    # The server loads while the accounts and mail are made: it reads them per request.
    with web_process(home, root / "web.log", env) as server, prepared.app() as app:
        for name, role, aliases in PEOPLE:
            account(app, name, role, aliases)
        refs = {}
        for label, raw in (("enquiry", make_message(subject="Quote for 20 pump housings")),
                           ("triage", make_message(**UNDECIDED)),
                           ("xss", xss_message(SALES))):
            refs[label] = file_mail(app, root / label, raw)[-1]
        sign_checkpoint(app, actor="test")
        assert verify_archive(app, actor="test").ok
        yield Site(home, server.ready(), url, refs, pub(key))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium (.ci/setup)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def watch(site: Site) -> PageWatch:
    return PageWatch(site.base)


@pytest.fixture
def page(browser: Any, watch: PageWatch) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  accept_downloads=True)
    watch.attach(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
