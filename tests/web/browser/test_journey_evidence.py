"""Journey: a quality lead sees why a complaint was filed as feedback (each rule and its words
marked in the mail), then finds it again among the overdue cases of the quality role."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from gateway.core.clock import utcnow
from gateway.db.models import Case
from tests.support.browser import log_in, screenshot
from tests.support.mail import make_message
from tests.support.web import file_mail


@pytest.fixture(scope="module")
def complaint(site, tmp_path_factory):
    """A complaint whose first response was due an hour ago, owned by quality."""
    with site.app() as app:
        ref = file_mail(app, tmp_path_factory.mktemp("complaint"), make_message(
            subject="Complaint: PO 4500012345 damaged",
            body="Hello,\nthis is a formal complaint: the bearings arrived damaged.\nAnna"))[-1]
        with app.db.session() as session:
            session.execute(update(Case).where(Case.ref == ref).values(
                owner_role="quality", first_response_due=utcnow() - timedelta(hours=1)))
    return ref


def test_the_evidence_shows_each_rule_and_marks_its_words(page, site, watch, complaint,
                                                         tmp_path):
    log_in(page, site.base, "anna", path=f"/cases/{complaint}")
    assert "formal complaint" in page.locator("pre.text mark").all_inner_texts()
    evidence = page.locator("details.evidence").first
    assert not evidence.locator("table.evidence").is_visible()
    evidence.locator("summary").click()
    row = evidence.locator("tr", has_text="en.feedback.escalation_threat")
    assert row.locator("mark").inner_text() == "formal complaint"
    assert evidence.locator("dd.subject mark").first.inner_text() == "Complaint"
    assert "po 4500012345" in evidence.locator(".identifier").all_inner_texts()
    screenshot(page, tmp_path, "case-evidence")
    assert watch.dialogs == [] and watch.outside() == []


def test_the_overdue_filter_of_a_role_finds_the_complaint(page, site, complaint):
    log_in(page, site.base, "cora")
    form = page.locator("form.filters")
    form.locator("input[name=owner]").fill("quality")
    form.locator("input[name=overdue]").check()
    form.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/cases?*overdue=yes*")
    rows = page.locator("table.cases tbody tr")
    assert rows.count() == 1 and complaint in rows.first.inner_text()
