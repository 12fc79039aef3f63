"""A journey in a real browser: a staff member registers a customer's tooling on its case,
records its receipt and hands it back, and the register shows the item's chain of custody,
each step with her name (the same custody rows ``commgate property show`` prints)."""

from __future__ import annotations

import re

from gateway.services.property import show_item
from tests.support.browser import log_in, screenshot
from tests.support.mail import make_message
from tests.support.web import file_mail

SUBJECT = "Quote for 40 flanges, our tooling comes along"


def test_a_customers_tooling_is_registered_received_and_returned(page, site, tmp_path):
    with site.app() as app:
        ref = file_mail(app, tmp_path / "mail", make_message(
            subject=SUBJECT, sender="Olga Buyer <olga@flanges.example>"))[-1]
    log_in(page, site.base, "anna", path=f"/cases/{ref}")
    assert page.locator("h1").inner_text().startswith(ref)
    page.locator("details.property-add summary").click()
    add = page.locator("form.property-add")
    add.locator("select[name=kind]").select_option("tooling")
    add.locator("input[name=description]").fill("Drilling jig J-88")
    add.locator("textarea[name=identifiers]").fill("serial=J-88-0042")
    add.get_by_role("button", name="Register item").click()
    page.wait_for_url(re.compile(r".*#item-\d+$"))
    item_id = int(page.url.rsplit("#item-", 1)[1])
    item = page.locator(f"#item-{item_id}")
    assert "announced" in item.locator("h3 span.status").inner_text()

    receive = item.locator("form.property-receive")
    receive.locator("input[name=condition]").fill("complete, no visible damage")
    receive.locator("input[name=location]").fill("tool store, shelf 4")
    receive.get_by_role("button", name="Receive").click()
    page.wait_for_load_state("load")
    assert "received" in page.locator(f"#item-{item_id} h3 span.status").inner_text()
    screenshot(page, tmp_path, "case-property")

    status = page.locator(f"#item-{item_id} form.property-status")
    status.locator("select[name=status]").select_option("returned")
    status.locator("input[name=note]").fill("returned with the first delivery")
    status.locator("input[name=destination]").fill("Flanges GmbH, Linz")
    status.locator("input[name=shipping_ref]").fill("DHL 00340434161094042557")
    status.get_by_role("button", name="Set status").click()
    page.wait_for_load_state("load")
    assert "returned" in page.locator(f"#item-{item_id} h3 span.status").inner_text()
    assert page.locator(f"#item-{item_id} form").count() == 0  # returned is final

    page.get_by_role("link", name="Property", exact=True).click()
    row = page.locator(f"table.property-register #item-{item_id}")
    assert "returned" in row.inner_text() and "Drilling jig J-88" in row.inner_text()
    screenshot(page, tmp_path, "property")
    row.get_by_role("link", name=str(item_id), exact=True).click()
    page.wait_for_url(f"{site.base}/property/{item_id}")
    steps = [[cell.strip() for cell in line.split("\t")] for line in
             page.locator("table.custody tbody tr").all_inner_texts()]
    assert [(s[1], s[2], s[4]) for s in steps] == [
        ("anna", "registered", "announced"), ("anna", "status", "received"),
        ("anna", "status", "returned")]
    assert ("returned to Flanges GmbH, Linz (shipment DHL 00340434161094042557)"
            in page.locator("dl.item").inner_text())
    assert "tool store, shelf 4" in page.locator("table.custody").inner_text()
    screenshot(page, tmp_path, "property-item")
    with site.app() as app:
        detail = show_item(app, actor="test", item_id=item_id)
    assert (detail.case, detail.status, detail.owner) == (ref, "returned", "olga@flanges.example")
    assert [h["actor"] for h in detail.history] == ["anna", "anna", "anna"]
