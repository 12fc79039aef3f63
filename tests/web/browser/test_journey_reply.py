"""A reply from a published template in a real browser: chosen and filled in on the case page,
queued with the person as actor, then archived and relayed by the gateway's delivery (run here
as the daemon runs it, against a real relay on loopback), and shown in the case's timeline
with the archive's sha256."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from archive import sha256_hex
from gateway.bootstrap import HOOKS, App
from gateway.config import RelayConfig, Settings
from gateway.processing.classification import rules_for
from gateway.processing.pipeline import Processor
from gateway.services.archive import show_raw
from gateway.services.cases import list_cases, show_case
from gateway.services.outbound import (
    approve_template,
    create_template,
    deliver,
    list_mail,
    publish_template,
)
from tests.support.browser import log_in, screenshot
from tests.support.mail import make_message
from tests.support.outbound import CUSTOMER, Relays, RelayServer
from tests.support.smtp import LoopThread
from tests.support.web import file_mail

SUBJECT = "Delivery date for order 5512"
BODY = "Dear ${customer_name},\n\nyour order ${order_no} leaves our works on ${ship_date}.\n"


@pytest.fixture
def relay() -> Iterator[RelayServer]:
    thread = LoopThread()
    relays = Relays(thread)
    yield relays.start()
    relays.close()
    thread.close()


def delivering(app: App, port: int) -> Any:
    """``app`` as the daemon of an installation whose outbound mail goes to ``port`` (the
    shared site's commgate.toml is left as it is)."""
    config = app.settings.config
    outbound = config.outbound.model_copy(update={
        "enabled": True, "message_id_domain": "northpoint.example",
        "relay": RelayConfig(host="127.0.0.1", port=port, security="none")})
    settings = Settings(app.settings.home, config.model_copy(update={"outbound": outbound}))
    return dataclasses.replace(app, settings=settings, processor=Processor(
        app.db, app.archive, settings, lambda: rules_for(settings), hooks=HOOKS))


def test_reply_from_a_template_is_archived_and_shown_in_the_case(page, site, relay, tmp_path):
    with site.app() as app:
        draft = create_template(app, actor="alice", name="delivery-date",
                                subject="Delivery date ${order_no}", body=BODY)
        approve_template(app, actor="ada", name=draft.name, version=draft.version)
        publish_template(app, actor="ada", name=draft.name, version=draft.version)
        file_mail(app, tmp_path / "in", make_message(subject=SUBJECT))
        (ref,) = [c.ref for c in list_cases(app, actor="test").items if c.subject == SUBJECT]
    log_in(page, site.base, "anna", path=f"/cases/{ref}")
    page.get_by_role("link", name="Reply from a published template").click()
    page.select_option("select[name=template]", "delivery-date")
    page.get_by_role("button", name="Use this template").click()
    assert "your order ${order_no} leaves" in page.locator("pre.text").inner_text()
    page.fill("input[data-variable=order_no]", "5512")
    page.fill("input[data-variable=ship_date]", "14 December")
    page.get_by_role("button", name="Send reply").click()
    page.wait_for_url(f"{site.base}/cases/{ref}#outbound-*")
    row = page.locator("table.outbound tbody tr")
    assert row.locator("td .status").inner_text() == "queued"
    assert f"Delivery date 5512 [{ref}]" in row.inner_text()

    with site.app() as app:
        report = deliver(delivering(app, relay.port), actor="test")
        (mail,) = list_mail(app, actor="test", case=ref).items
        archived = show_raw(app, actor="test", sha256=mail.sha256 or "", reason="journey")
        case = show_case(app, actor="test", ref=ref)
    assert report.sent == (mail.id,) and (mail.status, mail.actor) == ("sent", "anna")
    assert sha256_hex(archived.raw) == mail.sha256
    (got,) = relay.handler.received
    assert got.data == archived.raw and got.rcpt_tos == [CUSTOMER]  # what left is archived
    (filed,) = [m for m in case.messages if m["direction"] == "outbound"]
    assert [e.actor for e in case.events if e.kind == "outbound_queued"] == ["anna"]

    page.reload()
    message = page.locator(f"li.message.outbound#message-{filed['id']}")
    assert "your order 5512 leaves our works on 14 December." in message.locator(
        "pre.text").inner_text()
    assert f"sha256 {mail.sha256}" in message.locator(".meta").inner_text()
    assert page.locator("table.outbound td.sha256").inner_text() == mail.sha256
    assert page.locator("table.outbound td .status").inner_text() == "sent"
    screenshot(page, tmp_path, "case-reply")
    page.goto(site.base + "/templates/delivery-date")
    history = page.locator("table.history").inner_text()
    assert "created\talice" in history and "approved\tada" in history
    screenshot(page, tmp_path, "template")
