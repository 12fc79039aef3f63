"""Auditor: "How do you confirm requirement changes with the customer?" (ISO 9001 8.2.4)

Driven end to end through the CLI on a real database: the customer's change order is flagged,
the case needs a review and the order cannot be accepted; a reviewer approves the change with a
note; the confirmation goes to the customer from a controlled (published) template; the
customer's reply to that confirmation is linked to the review. The final assertion is the review
record with its trail of case events, as an auditor is shown it.
"""

from __future__ import annotations

from tests.support.cli import claimed, who
from tests.support.mail import make_message, write_messages

PURCHASE_ORDER = make_message(
    subject="Purchase order 4500871234", message_id="<po-4500871234@customer.example>",
    body="Hello,\nplease find attached our purchase order 4500871234 for 200 pump housings "
         "PH-40 as quoted.\nDelivery date 15 January 2027.\n\nRegards\nAnna Buyer")
CHANGE_ORDER = make_message(
    subject="Change to PO 4500871234", message_id="<chg-1@customer.example>",
    in_reply_to="<po-4500871234@customer.example>", date="Tue, 01 Dec 2026 10:30:00 +0100",
    body="Hello,\nplease increase the quantity on PO 4500871234 to 260 pieces, same delivery "
         "date.\n\nRegards\nAnna Buyer")
CONFIRMATION_TEMPLATE = (
    "Dear ${customer_name},\n\nwe have reviewed your change request on ${case_ref} and "
    "${decision} it: ${note}\n\nPlease reply to confirm.\n\nNorthpoint sales\n")
TRAIL = ("scope_change_flagged", "review_opened", "review_approved", "outbound_queued",
         "review_confirmation_queued", "review_confirmed", "order_accepted")


def test_a_change_order_is_reviewed_confirmed_from_a_template_and_the_reply_linked(
        cli, tmp_path):
    body = tmp_path / "confirmation.txt"
    body.write_text(CONFIRMATION_TEMPLATE, encoding="utf-8")
    for args in (("create", "scope-change-approved", "--subject",
                  "Your change request on ${case_ref}", "--body-file", str(body),
                  "--as", "doc.writer"),
                 ("approve", "scope-change-approved", "--version", "1", "--as", "qm.petra"),
                 ("publish", "scope-change-approved", "--version", "1", "--as", "qm.petra")):
        done = cli("templates", *args)
        assert done.code == 0, done.err

    mail = write_messages(tmp_path / "mail", [PURCHASE_ORDER, CHANGE_ORDER])
    assert cli("ingest", str(mail[0])).code == 0
    checklist = cli("review", "checklist", "NPC-000001", *[
        arg for item in ("scope", "requirements", "delivery-date", "special-handling",
                         "customer-property") for arg in ("--item", f"{item}=ok")],
        "--as", "qa.lena")
    assert checklist.code == 0, checklist.err
    assert cli("ingest", str(mail[1])).code == 0

    # The flagged change puts the case into review; the order cannot be accepted meanwhile.
    (pending,) = cli("review", "list", "--pending", "--json").json()
    assert (pending["case"], pending["kind"]) == ("NPC-000001", "scope-change")
    record = cli("order", "show", "NPC-000001", "--json").json()
    assert record["review_required"] is True
    change_pk = next(m["pk"] for m in record["messages"]
                     if m["message_id"] == "chg-1@customer.example")
    assert pending["trigger_message_pk"] == change_pk
    refused = cli("order", "accept", "NPC-000001", "--message", str(change_pk),
                  "--as", "sales.ben")
    assert refused.code == 1
    assert (f"not allowed to accept NPC-000001 because review {pending['id']} (scope-change) "
            f"is pending") in refused.err

    approved = cli("review", "approve", "NPC-000001", "--note",
                   "260 pcs feasible, same date confirmed by planning", "--as", "qa.lena",
                   "--json")
    assert approved.code == 0, approved.err
    confirmation_id = approved.json()["confirmation_message_id"]
    (queued,) = [m for m in cli("outbound", "list", "--case", "NPC-000001", "--json").json()
                 if m["kind"] == "confirmation"]

    reply = make_message(
        subject="Re: Your change request on NPC-000001 [NPC-000001]",
        message_id="<ok-1@customer.example>", in_reply_to=f"<{confirmation_id}>",
        references=f"<chg-1@customer.example> <{confirmation_id}>",
        date="Wed, 02 Dec 2026 08:10:00 +0100",
        body="Hello,\nconfirmed, thank you.\n\nRegards\nAnna Buyer")
    (reply_path,) = write_messages(tmp_path / "reply", [reply])
    assert cli("ingest", str(reply_path)).code == 0
    accepted = cli("order", "accept", "NPC-000001", "--message", str(change_pk),
                   "--note", "change order accepted", "--as", "sales.ben")
    assert accepted.code == 0, accepted.err

    (review,) = cli("review", "list", "--case", "NPC-000001", "--json").json()
    case = cli("cases", "show", "NPC-000001", "--json").json()
    reply_pk = next(m["pk"] for m in cli("order", "show", "NPC-000001", "--json").json()
                    ["messages"] if m["message_id"] == "ok-1@customer.example")
    events = {e["kind"]: e for e in case["events"]}
    evidence = {
        "flagged_by": (review["trigger_message_pk"], review["summary"]),
        "decision": (review["status"], review["decided_by"], review["decision_note"]),
        "confirmation": (queued["template_name"], queued["template_version"],
                         queued["message_id"], queued["to"], queued["actor"]),
        "customer_reply": (review["confirmed_by_message_pk"],
                           events["review_confirmed"]["data"]["from"]),
        "trail": [(e["kind"], who(e)) for e in case["events"] if e["kind"] in TRAIL],
    }
    assert evidence == {
        "flagged_by": (change_pk, "quantity, reference (Change to PO 4500871234)"),
        "decision": ("approved", "qa.lena", "260 pcs feasible, same date confirmed by planning"),
        "confirmation": ("scope-change-approved", 1, confirmation_id,
                         ["anna@customer.example"], "qa.lena"),
        "customer_reply": (reply_pk, "anna@customer.example"),
        "trail": [("scope_change_flagged", "system"), ("review_opened", "system"),
                  ("review_approved", claimed("qa.lena")),
                  ("outbound_queued", claimed("qa.lena")),
                  ("review_confirmation_queued", claimed("qa.lena")),
                  ("review_confirmed", "system"),
                  ("order_accepted", claimed("sales.ben"))],
    }
