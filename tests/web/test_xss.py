"""A mail that tries every usual trick (script, event handlers, ``javascript:`` URLs, SVG,
remote images; in the subject, the sender's name, the text, the HTML part and an attachment's
name) is shown as text: nothing of it can run or load anything."""

from __future__ import annotations

import re

import pytest

from gateway.services.compliance import audit_log
from gateway.web.security import MESSAGE_CSP
from tests.support.web import (
    REMOTE_IMAGE,
    account,
    active_content,
    file_mail,
    log_in,
    web_client,
    xss_message,
)


@pytest.fixture(scope="module")
def reader(module_app, tmp_path_factory):
    """An admin signed in, and the reference of the filed XSS mail (one installation for the
    module: the tests only read it, and the access-log test counts from its own first view)."""
    (ref,) = file_mail(module_app, tmp_path_factory.mktemp("in"), xss_message())
    account(module_app, "anna", "admin")
    client = web_client(module_app)
    log_in(client, "anna")
    with client:
        yield client, ref


def _links(html: str, ref: str, kind: str) -> list[str]:
    return re.findall(rf'(/cases/{ref}/messages/\d+/{kind}[^"]*)"', html)


def test_the_case_page_shows_every_payload_as_text(reader):
    client, ref = reader
    page = client.get(f"/cases/{ref}")
    assert page.status_code == 200
    html = page.text
    assert active_content(html) == []
    # The subject, the sender's name and the text are there, as text.
    assert html.count("&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;") >= 3
    assert f"&lt;img src=&#39;{REMOTE_IMAGE}&#39;&gt;" in html
    # The only frame is the sandboxed one of our own HTML endpoint.
    frames = re.findall(r"<iframe[^>]*>", html)
    assert len(frames) == 1 and 'sandbox=""' in frames[0]


def test_the_list_shows_the_subject_as_text(reader):
    client, ref = reader
    html = client.get("/cases").text
    assert ref in html and active_content(html) == []
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in html


def test_the_html_part_is_sanitised_and_served_under_a_csp_that_loads_nothing(reader):
    client, ref = reader
    (link,) = _links(client.get(f"/cases/{ref}").text, ref, "html")
    part = client.get(link)
    assert part.status_code == 200
    assert part.headers["content-security-policy"] == MESSAGE_CSP
    assert "sandbox" in MESSAGE_CSP and "default-src 'none'" in MESSAGE_CSP
    body = part.text.lower()
    assert "please order 20 pieces." in body
    assert active_content(part.text) == []
    for payload in ("<script", "<svg", "<iframe", "<form", "<style", "tracker.evil.example",
                    "alert("):
        assert payload not in body, payload
    assert '<img alt="logo">' in body  # the image stays as its alt text, without its source


def test_the_attachment_downloads_under_a_safe_name_and_is_never_rendered(reader):
    client, ref = reader
    page = client.get(f"/cases/{ref}").text
    assert "&lt;script&gt;" in page  # the file name is shown as text
    (link,) = _links(page, ref, "attachments")
    download = client.get(link)
    assert download.status_code == 200
    assert download.content == b"%PDF-1.4 not really\n"
    assert download.headers["content-type"] == "application/octet-stream"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=\"")
    fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert re.fullmatch(r"[A-Za-z0-9._ -]+", fallback)
    assert "filename*=UTF-8''" in disposition and ";" not in disposition.split("''", 1)[1]


def test_each_view_and_download_is_in_the_access_log(reader):
    client, ref = reader
    ctx = client.app.state.web.ctx
    before = len(audit_log(ctx, actor="test").rows)
    page = client.get(f"/cases/{ref}").text
    client.get(_links(page, ref, "html")[0])
    client.get(_links(page, ref, "attachments")[0])
    records = [(r["actor"], r["action"], r["detail"].get("reason") or r["detail"].get("what"))
               for r in audit_log(ctx, actor="test").rows[before:]]
    assert records == [("anna", "view-raw", "case page"), ("anna", "view-raw", "HTML part"),
                       ("anna", "export", "attachment")]


def test_the_check_finds_the_payloads_in_the_mail_as_sent():
    """The checks above can fail: the mail's own HTML part is full of live content."""
    import email

    message = email.message_from_bytes(xss_message())
    html = next(part.get_payload(decode=True).decode() for part in message.walk()
                if part.get_content_type() == "text/html")
    found = active_content(html)
    for item in ("<script>", "<img onerror>", "<svg>", "<a href=javascript:alert(4)>",
                 f"<img src={REMOTE_IMAGE}>", "<iframe> without sandbox"):
        assert item in found
