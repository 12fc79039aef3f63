"""Journeys in a real browser through the enquiry → order workflow: a customer's change to
an order opens a scope review that staff decide from the review list; an order is accepted
once its requirement checklist is complete. Each test files its own mail into the shared
installation (unique Message-IDs) and checks the events the pages recorded."""

from __future__ import annotations

import uuid

from gateway.services.cases import show_case
from gateway.services.orders import list_orders
from tests.support.browser import log_in, screenshot
from tests.support.cases import CHANGE, ORDER
from tests.support.mail import make_message
from tests.support.web import file_mail


def file_order(site, folder, *, change: bool) -> str:
    """A purchase order in the sales queue (and the customer's change to it): its case."""
    po_id = f"<po-{uuid.uuid4().hex}@customer.example>"
    with site.app() as app:
        ref = file_mail(app, folder / "po", make_message(**{**ORDER, "message_id": po_id}))[-1]
        if change:
            file_mail(app, folder / "change", make_message(**{
                **CHANGE, "message_id": f"<chg-{uuid.uuid4().hex}@customer.example>",
                "in_reply_to": po_id}))
    return ref


def events_by(site, ref, actor):
    with site.app() as app:
        return [e for e in show_case(app, actor="test", ref=ref).events if e.actor == actor]


def test_a_scope_review_is_decided_from_the_review_list(page, site, tmp_path):
    ref = file_order(site, tmp_path, change=True)
    log_in(page, site.base, "anna", path="/reviews")
    link = page.locator("table.reviews").get_by_role("link", name=ref)
    assert link.count() == 1
    screenshot(page, tmp_path, "reviews")
    link.click()
    review = page.locator("ol.reviews li", has_text="pending")
    assert "quantity" in review.inner_text()
    form = review.locator("form.review-decision")
    form.get_by_label("Note (why)").fill("260 pieces fit the line plan")
    form.get_by_label("confirm to the customer").uncheck()  # told by phone: no template mail
    form.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"**/cases/{ref}#review-*")
    decided = page.locator("ol.reviews li").first
    assert "approved by anna" in decided.inner_text()
    assert "260 pieces fit the line plan" in decided.inner_text()
    assert page.locator("#order .note", has_text="A review is pending").count() == 0
    screenshot(page, tmp_path, "case-review")
    page.goto(site.base + "/reviews")
    assert page.locator("table.reviews").get_by_role("link", name=ref).count() == 0
    (event,) = [e for e in events_by(site, ref, "anna") if e.kind == "review_approved"]
    assert event.data["note"] == "260 pieces fit the line plan"


def test_an_order_is_accepted_with_its_checklist(page, site, tmp_path):
    ref = file_order(site, tmp_path, change=False)
    log_in(page, site.base, "anna", path=f"/cases/{ref}")
    checklist = page.locator("form.checklist")
    assert checklist.locator("p.gaps").inner_text().startswith("Incomplete: not checked:")
    for item in ("scope", "requirements", "delivery-date", "special-handling"):
        checklist.get_by_label(f"{item} state").select_option("ok")
    checklist.get_by_label("customer-property state").select_option("n/a")
    checklist.get_by_label("customer-property note").fill("nothing of theirs is used")
    checklist.get_by_role("button", name="Save checklist").click()
    page.wait_for_url(f"**/cases/{ref}#checklist")
    assert page.locator("form.checklist p.gaps").inner_text() == "Complete."
    order = page.locator("form.order-decision")
    assert "Purchase order 4500871234" in order.locator("select[name=message]").inner_text()
    order.get_by_label("Note").fill("as quoted")
    order.get_by_role("button", name="Accept order").click()
    page.wait_for_url(f"**/cases/{ref}#order")
    assert "accepted by anna" in page.locator("ol.decisions").inner_text()
    screenshot(page, tmp_path, "case-order")
    page.goto(site.base + "/orders?decision=accepted")
    row = page.locator("table.orders tr", has=page.get_by_role("link", name=ref))
    assert "as quoted" in row.inner_text() and "customer-property: n/a" in row.inner_text()
    screenshot(page, tmp_path, "orders")
    assert [e.kind for e in events_by(site, ref, "anna")] == ["checklist_updated",
                                                              "order_accepted"]
    with site.app() as app:
        (decision,) = [d for d in list_orders(app, actor="test").items if d.case == ref]
    assert decision.checklist["customer-property"]["note"] == "nothing of theirs is used"
