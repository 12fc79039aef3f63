"""Auditor: "Show me how this enquiry became an accepted order." (ISO 9001 8.2.2, 8.2.3)

Driven end to end through the CLI on a real database: the customer's request for quotation and
their purchase order are filed as two cases, sales links them, quality completes the
requirement review, and the order is accepted on the customer's purchase-order message. The
final assertion is the order record an auditor is shown.
"""

from __future__ import annotations

from tests.support.cli import claimed, who
from tests.support.mail import make_message, write_messages

RFQ = make_message(
    subject="Quotation for 200 pump housings PH-40", message_id="<rfq-7731@customer.example>",
    body="Hello,\nplease send us a quotation for 200 pump housings PH-40 to drawing D-4471 "
         "rev B, delivery in January.\n\nRegards\nAnna Buyer")
PURCHASE_ORDER = make_message(
    subject="Purchase order 4500871234", message_id="<po-4500871234@customer.example>",
    date="Mon, 30 Nov 2026 08:02:00 +0100",
    body="Hello,\nplease find attached our purchase order 4500871234 for 200 pump housings "
         "PH-40 as quoted.\nDelivery date 15 January 2027.\n\nRegards\nAnna Buyer")


def test_an_enquiry_becomes_an_accepted_order(cli, tmp_path):
    paths = write_messages(tmp_path / "mail", [RFQ, PURCHASE_ORDER])
    assert cli("ingest", str(paths[0])).code == 0
    assert cli("ingest", str(paths[1])).code == 0
    cases = {c["ref"]: c["category"] for c in cli("cases", "list", "--json").json()}
    assert cases == {"NPC-000001": "enquiry", "NPC-000002": "order"}

    linked = cli("cases", "link", "NPC-000001", "NPC-000002", "--kind", "enquiry-order",
                 "--as", "sales.ben")
    assert linked.code == 0, linked.err
    po_pk = next(m["pk"] for m in cli("order", "show", "NPC-000002", "--json").json()["messages"]
                 if m["message_id"] == "po-4500871234@customer.example")

    # Nobody may accept before the requirement review is complete.
    refused = cli("order", "accept", "NPC-000002", "--message", str(po_pk), "--as", "sales.ben")
    assert refused.code == 1
    assert "not allowed to accept NPC-000002 because the requirement review is incomplete " \
           "(not checked: scope, requirements, delivery-date, special-handling, " \
           "customer-property)" in refused.err

    review = cli("review", "checklist", "NPC-000002",
                 "--item", "scope=ok:200 x PH-40 as quoted",
                 "--item", "requirements=ok:drawing D-4471 rev B, material as quoted",
                 "--item", "delivery-date=ok:15 Jan 2027 confirmed by planning",
                 "--item", "special-handling=n/a",
                 "--item", "customer-property=n/a:no free-issue material",
                 "--as", "qa.lena", "--json")
    assert review.code == 0, review.err
    assert review.json()["gaps"] == []

    accepted = cli("order", "accept", "NPC-000002", "--message", str(po_pk),
                   "--note", "accepted as quoted", "--as", "sales.ben", "--json")
    assert accepted.code == 0, accepted.err

    record = cli("order", "show", "NPC-000002", "--json").json()
    (decision,) = record["decisions"]
    assert decision["at"] > record["checklist"]["customer-property"]["at"]
    history = [(e["kind"], who(e)) for e in cli("cases", "show", "NPC-000002", "--json")
               .json()["events"] if e["kind"] in ("case_linked", "checklist_updated",
                                                   "order_accepted")]
    evidence = {
        "order": record["ref"],
        "from_enquiry": [(c["ref"], c["category"], c["subject"]) for c in record["linked"]],
        "checklist": {item: (v["state"], v["by"]) for item, v in record["checklist"].items()},
        "decision": (decision["decision"], decision["actor"], decision["note"]),
        "on_message": (decision["message"]["pk"], decision["message"]["message_id"],
                       decision["message"]["from"], decision["message"]["subject"]),
        "case_events": history,
    }
    assert evidence == {
        "order": "NPC-000002",
        "from_enquiry": [("NPC-000001", "enquiry", "Quotation for 200 pump housings PH-40")],
        "checklist": {"scope": ("ok", "qa.lena"), "requirements": ("ok", "qa.lena"),
                      "delivery-date": ("ok", "qa.lena"), "special-handling": ("n/a", "qa.lena"),
                      "customer-property": ("n/a", "qa.lena")},
        "decision": ("accepted", "sales.ben", "accepted as quoted"),
        "on_message": (po_pk, "po-4500871234@customer.example", "anna@customer.example",
                       "Purchase order 4500871234"),
        "case_events": [("case_linked", claimed("sales.ben")),
                        ("checklist_updated", claimed("qa.lena")),
                        ("order_accepted", claimed("sales.ben"))],
    }
