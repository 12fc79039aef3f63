"""Auditor: "Show receipt, protection and return records of customer property." (ISO 9001 8.5.3)

Driven end to end through the CLI on a real database: the customer's notice proposes a register
entry, sales confirms it, stores record receipt (condition, location, handling), the test bay
uses it, shipping returns it; a drawing the customer mailed is registered with its sha256, which
the auditor checks against the archived message itself. The final assertion is the register
with its chain of custody.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
from email.message import EmailMessage

from gateway.bootstrap import App
from tests.support.cli import claimed, who
from tests.support.mail import make_message, write_messages

NOTICE = make_message(
    subject="Test fixture for order 4500871234", message_id="<fx-2291@customer.example>",
    body="Hello,\nwe are sending our test fixture serial no. FX-2291 for the pump housings by "
         "courier. It should arrive on Tuesday. Please handle with care.\n\nRegards\nAnna Buyer")
DRAWING = b"%PDF-1.4\n% Drawing D-4471 rev C, pump housing PH-40\n" + bytes(range(256)) * 8


def drawing_mail() -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"] = "Anna Buyer <anna@customer.example>", "sales@northpoint.example"
    mail["Subject"], mail["Message-ID"] = "Drawing D-4471 rev C", "<dwg-4471@customer.example>"
    mail["Date"] = "Wed, 02 Dec 2026 11:00:00 +0100"
    mail.set_content("Hello,\nattached is drawing D-4471 rev C for the housings.\n\nAnna Buyer")
    mail.add_attachment(DRAWING, maintype="application", subtype="pdf",
                        filename="D-4471-C.pdf")
    return bytes(mail)


def ok(result):
    assert result.code == 0, result.err
    return result.json()


def test_receipt_protection_and_return_of_customer_property(cli, home, tmp_path):
    notice, drawing = write_messages(tmp_path / "mail", [NOTICE, drawing_mail()])
    assert cli("ingest", str(notice)).code == 0

    (proposal,) = ok(cli("property", "list", "--json"))
    assert (proposal["status"], proposal["proposed"]) == ("announced", True)
    item = str(proposal["id"])
    ok(cli("property", "confirm", item, "--kind", "tooling", "--description",
           "Leak-test fixture FX-2291 for PH-40 housings", "--as", "sales.ben", "--json"))
    ok(cli("property", "receive", item, "--condition", "good; crate sealed, no visible damage",
           "--location", "Bonded store, rack B3", "--handling", "keep dry; do not disassemble",
           "--as", "stores.tom", "--json"))
    ok(cli("property", "status", item, "in-use", "--location", "Test bay 2",
           "--note", "leak test of lot 7", "--as", "test.eva", "--json"))
    refused = cli("property", "status", item, "returned", "--note", "crate resealed",
                  "--as", "shipping.joe")
    assert refused.code == 1 and "needs where it went (--destination)" in refused.err
    ok(cli("property", "status", item, "returned", "--note", "crate resealed",
           "--destination", "Anna, Customer GmbH, goods-in dock 2",
           "--shipping-ref", "DHL 1234567890", "--as", "shipping.joe", "--json"))
    refused = cli("property", "status", item, "in-use", "--as", "test.eva")
    assert refused.code == 1 and "cannot go from returned to in-use" in refused.err

    assert cli("ingest", str(drawing)).code == 0
    ref = next(c["ref"] for c in ok(cli("cases", "list", "--json"))
               if c["subject"] == "Drawing D-4471 rev C")
    (message,) = ok(cli("cases", "show", ref, "--json"))["messages"]
    (attachment,) = message["attachments"]
    # The mail hands over a drawing, so the pipeline proposed a register entry for it; the
    # engineer registers the drawing itself with its file and dismisses the generic proposal.
    (generic,) = [p for p in ok(cli("property", "list", "--json"))
                  if p["proposed"] and p["case"] == ref]
    ok(cli("property", "status", str(generic["id"]), "dismissed", "--note",
           "registered below as the drawing file itself", "--as", "eng.kim", "--json"))
    registered = ok(cli("property", "add", ref, "--kind", "drawing", "--description",
                        "Drawing D-4471 rev C (pump housing PH-40)", "--identifier",
                        "drawing=D-4471", "--attachment", attachment["sha256"],
                        "--handling", "confidential: engineering only", "--as", "eng.kim",
                        "--json"))

    # The auditor's own check: hash the attachment cut from the archived bytes.
    app = App.open(home)
    try:
        archived = email.message_from_bytes(app.archive.read(message["sha256"]),
                                            policy=email.policy.default)
    finally:
        app.close()
    (part,) = list(archived.iter_attachments())
    archived_sha256 = hashlib.sha256(part.get_content()).hexdigest()

    register = ok(cli("property", "list", "--customer", "customer.example", "--json"))
    returned = ok(cli("property", "show", item, "--json"))
    assert "Test bay" not in returned["location"]  # no longer in our care
    shipped = returned["history"][-1]["data"]
    assert (shipped["from_location"], shipped["destination"], shipped["shipping_ref"]) == (
        "Test bay 2", "Anna, Customer GmbH, goods-in dock 2", "DHL 1234567890")
    fixture = ok(cli("property", "show", item, "--json"))
    case_events = [(e["kind"], who(e), e["data"].get("to"))
                   for e in ok(cli("cases", "show", fixture["case"], "--json"))["events"]
                   if e["kind"].startswith("property_")]
    evidence = {
        "register": [(r["id"], r["kind"], r["owner"], r["status"]) for r in register],
        "receipt": (fixture["received_at"] is not None, fixture["condition"],
                    fixture["handling"]),
        "custody": [(who(h), h["action"], h["from"], h["to"], h["note"],
                     h["data"].get("location")) for h in fixture["history"]],
        "case_events": case_events,
        "drawing": (registered["sha256"], registered["filename"], registered["status"],
                    registered["identifiers"]),
    }
    assert evidence == {
        "register": [(int(item), "tooling", "anna@customer.example", "returned"),
                     (registered["id"], "drawing", "anna@customer.example", "received")],
        "receipt": (True, "good; crate sealed, no visible damage", "keep dry; do not disassemble"),
        "custody": [
            ("system", "proposed", None, "announced", "", None),
            (claimed("sales.ben"), "confirmed", "announced", "announced", "", None),
            (claimed("stores.tom"), "status", "announced", "received", "", "Bonded store, rack B3"),
            (claimed("test.eva"), "status", "received", "in-use", "leak test of lot 7",
             "Test bay 2"),
            (claimed("shipping.joe"), "status", "in-use", "returned", "crate resealed",
             "returned to Anna, Customer GmbH, goods-in dock 2 (shipment DHL 1234567890)"),
        ],
        "case_events": [("property_proposed", "system", None),
                        ("property_confirmed", claimed("sales.ben"), None),
                        ("property_received", claimed("stores.tom"), "received"),
                        ("property_status_changed", claimed("test.eva"), "in-use"),
                        ("property_status_changed", claimed("shipping.joe"), "returned")],
        "drawing": (archived_sha256, "D-4471-C.pdf", "received",
                    [{"kind": "drawing", "value": "D-4471"}]),
    }
