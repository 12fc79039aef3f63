"""Journeys in a real browser (Debian's Chromium through Playwright) against a real
``commgate web`` process: signing in, triage, the hostile mail shown inert, a staff account
refused the audit desk, and an evidence package downloaded and verified offline. The pages
are photographed on the way (docs/screenshots/ when COMMGATE_SCREENSHOTS names it)."""

from __future__ import annotations

import subprocess
import sys

from gateway.services.cases import show_case
from gateway.services.compliance import audit_log
from tests.support.browser import log_in, screenshot


def test_signing_in_leads_back_to_the_page_asked_for(page, site, tmp_path):
    page.goto(site.base + "/cases")
    assert "/login?next=" in page.url
    screenshot(page, tmp_path, "login")
    log_in(page, site.base, "anna")
    assert page.locator("table.cases").get_by_text(site.refs["enquiry"]).count() == 1
    assert page.locator(".who").inner_text() == "anna (staff)"
    screenshot(page, tmp_path, "cases")


def test_a_wrong_password_stays_on_the_form(page, site):
    page.goto(site.base + "/login")
    page.fill("#username", "anna")
    page.fill("#password", "not it")
    page.click("button:has-text('Sign in')")
    assert page.get_by_role("alert").inner_text() == "Wrong name or password."


def test_triage_corrects_a_message_as_the_person(page, site, tmp_path):
    ref = site.refs["triage"]
    log_in(page, site.base, "anna", path="/triage")
    row = page.locator(f"#triage-{ref}")
    assert row.count() == 1
    screenshot(page, tmp_path, "triage")
    correct = row.locator("form.correct")
    correct.locator("select[name=category]").select_option("order")
    correct.locator("input[name=note]").fill("the customer orders after the fair")
    correct.get_by_role("button", name="Correct").click()
    page.wait_for_url("**/triage?done=*")
    assert page.get_by_role("status").inner_text() == f"{ref} corrected."
    assert page.locator(f"#triage-{ref}").count() == 0
    with site.app() as app:
        case = show_case(app, actor="test", ref=ref)
    assert case.category == "order"
    (event,) = [e for e in case.events if e.kind == "case_classified"]
    assert event.actor == "anna" and event.data["note"] == "the customer orders after the fair"


def test_the_hostile_mail_runs_nothing_and_loads_nothing(page, site, watch, tmp_path):
    ref = site.refs["xss"]
    log_in(page, site.base, "ada", path=f"/cases/{ref}")
    page.locator("li.message details summary").first.click()
    frame = page.frame_locator("iframe").first
    assert "Please order 20 pieces." in frame.locator("body").inner_text()
    assert "<script>alert('xss')</script>" in page.locator("h1 + dl").inner_text()
    # The file name is shown as text (the parser kept its last path part: 'script>"; ...').
    assert page.locator("ul.attachments a").inner_text() == 'script>"; evil=1.pdf'
    screenshot(page, tmp_path, "case")
    for path in ("/cases", "/triage", "/audit", "/search?q=order"):
        page.goto(site.base + path)
        page.wait_for_load_state("load")
        assert "alert(" not in page.evaluate("document.title"), path
    assert page.locator("table.hits").get_by_text(ref).count() == 1
    screenshot(page, tmp_path, "search")
    assert watch.dialogs == []
    assert watch.outside() == []
    assert any(url.startswith(f"{site.base}/cases/{ref}/messages/") and url.endswith("/html")
               for url in watch.requests), "the HTML part was never shown"
    # The record can see what it must catch: a dialog and a request leaving loopback.
    probe = page.context.new_page()
    probe.set_content('<img src="http://198.51.100.7/pixel.png">')
    probe.evaluate("alert('probe')")
    assert watch.dialogs == ["probe"] and watch.outside() == ["http://198.51.100.7/pixel.png"]


def test_a_staff_account_without_the_right_gets_403(page, site):
    log_in(page, site.base, "sam")
    for path in ("/audit", f"/cases/{site.refs['enquiry']}"):
        answer = page.goto(site.base + path)
        assert answer.status == 403, path
        assert page.locator("h1").inner_text() == "Not allowed"
    assert page.get_by_role("link", name="Audit").count() == 0


def test_an_evidence_package_from_the_audit_page_verifies(page, site, tmp_path):
    ref = site.refs["enquiry"]
    log_in(page, site.base, "cora", path="/audit")
    assert "Last verify" in page.locator("dl.archive-status").inner_text()
    screenshot(page, tmp_path, "audit")
    page.fill("form.export input[name=cases]", ref)
    with page.expect_download() as pending:
        page.click("form.export button")
    package = tmp_path / "evidence.zip"
    pending.value.save_as(package)
    checked = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "audit", "verify-package", str(package),
         "--public-key", str(site.public_key)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("package verified: 1 message(s)")
    with site.app() as app:
        exports = [r for r in audit_log(app, actor="test").rows if r["action"] == "export"]
    assert [r["actor"] for r in exports] == ["cora"]
