"""The two findings an auditor looks for, made through the command line as staff would make
them: an order accepted over a scope change the customer never confirmed, and a complaint
closed without corrective action after an admin retyped it."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.mail import make_message, write_messages

PO = make_message(
    subject="Purchase order 4500871234", message_id="<po-4500871234@customer.example>",
    body="Hello,\nplease find attached our purchase order 4500871234 for 200 pump housings "
         "PH-40 as quoted.\nDelivery date 15 January 2027.\n\nRegards\nAnna Buyer")
CHANGE = make_message(
    subject="Change to PO 4500871234", message_id="<chg-1@customer.example>",
    in_reply_to="<po-4500871234@customer.example>",
    body="Hello,\nplease increase the quantity on PO 4500871234 to 260 pieces, same delivery "
         "date.\n\nRegards\nAnna Buyer")
COMPLAINT = make_message(
    subject="Burrs on pump housings", to="support@northpoint.example",
    sender="Sam Quigley <sam@dunmore.example>",
    body="Hello,\n\nthis is a formal complaint: the housings of delivery 4711 arrived with "
         "burrs in the bore. This is unacceptable.\n\nSam")
TEMPLATE = ("Dear ${customer_name},\n\nwe have ${decision} your change on ${case_ref}: "
            "${note}\n\nPlease reply to confirm.\n")
CHECKS = ("scope", "requirements", "delivery-date", "special-handling", "customer-property")

Run = Callable[..., Any]


def ok(result: Any) -> Any:
    assert result.code == 0, result.err
    return result


def publish_confirmation_template(run: Run, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    body = folder / "confirmation.txt"
    body.write_text(TEMPLATE, encoding="utf-8")
    ok(run("templates", "create", "scope-change-approved", "--subject",
           "Your change request on ${case_ref}", "--body-file", str(body), "--as", "doc.writer"))
    ok(run("templates", "approve", "scope-change-approved", "--version", "1", "--as", "qm"))
    ok(run("templates", "publish", "scope-change-approved", "--version", "1", "--as", "qm"))


def order_accepted_over_an_unconfirmed_change(run: Run, folder: Path) -> str:
    """NPC order case: change approved and confirmation queued, no reply, order accepted."""
    publish_confirmation_template(run, folder / "template")
    po, change = write_messages(folder / "order", [PO, CHANGE])
    ok(run("ingest", str(po)))
    ref = ok(run("cases", "list", "--json")).json()[-1]["ref"]
    ok(run("review", "checklist", ref, *[arg for item in CHECKS
                                         for arg in ("--item", f"{item}=ok")],
           "--as", "qa.lena"))
    ok(run("ingest", str(change)))
    ok(run("review", "approve", ref, "--note", "260 pcs feasible", "--as", "qa.lena"))
    record = ok(run("order", "show", ref, "--json")).json()
    change_pk = next(m["pk"] for m in record["messages"]
                     if m["message_id"] == "chg-1@customer.example")
    ok(run("order", "accept", ref, "--message", str(change_pk), "--as", "sales.ben"))
    return str(ref)


def complaint_closed_without_corrective_action(run: Run, folder: Path,
                                               note: str = "a wish for deburring, not a "
                                               "complaint") -> str:
    """A complaint an admin retypes to a suggestion (allowed, with a note), then closed."""
    (mail,) = write_messages(folder / "complaint", [COMPLAINT])
    ok(run("ingest", str(mail)))
    ref = str(ok(run("feedback", "list", "--json")).json()[-1]["ref"])
    ok(run("feedback", "set", ref, "--type", "complaint", "--severity", "high",
           "--as", "qa.lena"))
    stdin = sys.stdin
    sys.stdin = io.StringIO("correct-horse-battery\n")
    try:
        ok(run("users", "add", "qm.petra", "--role", "admin", "--as", "root"))
    finally:
        sys.stdin = stdin
    ok(run("feedback", "set", ref, "--type", "suggestion", "--note", note, "--as", "qm.petra"))
    ok(run("cases", "status", ref, "resolved", "--as", "qa.lena"))
    ok(run("cases", "status", ref, "closed", "--as", "qa.lena"))
    return ref
