"""Auditor: "a customer phoned to change the order: where is that call, and was the change
reviewed?" (ISO 9001 8.2.1 c, 8.2.4)

Driven end to end through the CLI on a real database: a purchase order arrives by mail; the
customer then phones and raises the quantity; the call is put on the record with
``cases note --channel phone --scope-change yes`` and an attached file. The note is archived
like mail (a ledger entry, a sha256), filed into the case, and opens the scope-change review
that a customer's change mail would. The last assertion is what the auditor is shown: the review
pending on the case, triggered by the note, and the note's bytes in the evidence package.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import zipfile

from tests.support.cli import OS_USER, claimed, who
from tests.support.mail import make_message, write_messages

PURCHASE_ORDER = make_message(
    subject="Purchase order 4500123456", message_id="<po-4500123456@customer.example>",
    body="Hello,\nplease find our purchase order 4500123456 for 250 pump housings PH-40 as "
         "quoted.\nDelivery date 15 January 2027.\n\nRegards\nAnna Buyer")


def test_a_phone_note_with_a_scope_change_opens_a_review(cli, tmp_path):
    (mail,) = write_messages(tmp_path / "mail", [PURCHASE_ORDER])
    assert cli("ingest", str(mail)).code == 0
    assert cli("review", "list", "--pending", "--json").json() == []
    minutes = tmp_path / "call minutes.txt"
    minutes.write_text("10:05 Anna Buyer called: 400 instead of 250, delivery 2027-02-01\n")

    done = cli("cases", "note", "NPC-000001", "--channel", "phone",
               "--summary", "Anna Buyer phoned: quantity 250 -> 400, delivery 1 Feb 2027",
               "--outcome", "told her we review and confirm in writing",
               "--attach", str(minutes), "--scope-change", "yes", "--as", "sales.ben",
               "--json")
    assert done.code == 0, done.err
    note = done.json()
    assert (note["case"], note["channel"], note["actor"], note["claimed_as"],
            note["scope_change"], note["attachments"]) == ("NPC-000001", "phone", OS_USER,
                                                           "sales.ben", True,
                                                           ["call minutes.txt"])
    assert note["text"] == ("Summary: Anna Buyer phoned: quantity 250 -> 400, delivery 1 Feb "
                            "2027 Outcome: told her we review and confirm in writing")

    # What the auditor is shown: the case waits for the review the call opened, the note is
    # on the case's record with its ledger entry, and the package holds the note's bytes.
    case = cli("cases", "show", "NPC-000001", "--json").json()
    (pending,) = cli("review", "list", "--pending", "--json").json()
    (filed,) = [m for m in case["messages"] if m["id"] == note["message_pk"]]
    package = tmp_path / "package.zip"
    assert cli("audit", "export", "--case", "NPC-000001", "-o", str(package),
               "--as", "compliance.carl").code == 0
    with zipfile.ZipFile(package) as bundle:
        emls = {name: bundle.read(name) for name in bundle.namelist()
                if name.endswith(".eml")}
        manifest = json.loads(bundle.read("manifest.json"))
    in_package = [raw for raw in emls.values()
                  if hashlib.sha256(raw).hexdigest() == note["sha256"]]
    parsed = email.message_from_bytes(in_package[0], policy=email.policy.default) \
        if in_package else None
    assert {
        "case": (case["order"]["review_required"], case["scope_change"]),
        "review": (pending["case"], pending["kind"], pending["status"],
                   pending["trigger_message_pk"], pending["opened_by"]),
        "note": [(n["channel"], who(n), n["review_id"]) for n in case["notes"]],
        "filed": (filed["direction"], filed["sha256"], filed["seq"]),
        "trail": [(e["kind"], who(e)) for e in case["events"]
                  if e["kind"] in ("scope_change_flagged", "review_opened", "note_recorded")],
        "in_package": len(in_package),
        "channel_header": parsed["X-Commgate-Channel"] if parsed else None,
        "attachment": [part.get_filename() for part in parsed.iter_attachments()]
        if parsed else None,
        "manifest_names_note": note["sha256"] in json.dumps(manifest),
    } == {
        "case": (True, True),
        "review": ("NPC-000001", "scope-change", "pending", note["message_pk"], "sales.ben"),
        "note": [("phone", claimed("sales.ben"), pending["id"])],
        "filed": ("outbound", note["sha256"], note["seq"]),
        "trail": [("scope_change_flagged", claimed("sales.ben")),
                  ("review_opened", claimed("sales.ben")),
                  ("note_recorded", claimed("sales.ben"))],
        "in_package": 1,
        "channel_header": "phone",
        "attachment": ["call minutes.txt"],
        "manifest_names_note": True,
    }


def test_without_the_flag_the_classifier_decides_and_a_plain_call_opens_nothing(cli, tmp_path):
    (mail,) = write_messages(tmp_path / "mail", [PURCHASE_ORDER])
    assert cli("ingest", str(mail)).code == 0
    plain = cli("cases", "note", "NPC-000001", "--channel", "meeting",
                "--summary", "Kick-off meeting, introduced the project team", "--as", "pm.ida",
                "--json")
    assert plain.code == 0, plain.err
    assert (plain.json()["scope_change"], plain.json()["review_id"]) == (False, None)
    change = cli("cases", "note", "NPC-000001", "--channel", "phone",
                 "--summary", "Customer asks to increase the quantity on PO 4500123456 to "
                 "400 pieces", "--as", "sales.ben", "--json")
    assert change.code == 0, change.err
    (pending,) = cli("review", "list", "--pending", "--json").json()
    assert (change.json()["scope_change"], pending["trigger_message_pk"]) == (
        True, change.json()["message_pk"])
    events = cli("cases", "show", "NPC-000001", "--json").json()["events"]
    (flagged,) = [e for e in events if e["kind"] == "scope_change_flagged"]
    assert flagged["data"]["decided_by"] == "classifier"
    assert "clf.change_order" in {e["rule_id"] for e in flagged["data"]["evidence"]}


def test_a_note_is_refused_without_a_summary_and_a_path_is_no_filename(cli, tmp_path):
    (mail,) = write_messages(tmp_path / "mail", [PURCHASE_ORDER])
    assert cli("ingest", str(mail)).code == 0
    refused = cli("cases", "note", "NPC-000001", "--channel", "visit", "--summary", "  ",
                  "--as", "sales.ben")
    assert refused.code == 1 and "needs a summary" in refused.err
    from gateway.workflows.notes import safe_filename
    assert [safe_filename(n) for n in ("../../etc/passwd", "..\\boot.ini", "a\r\nb.txt",
                                       ".hidden", "")] == [
        "passwd", "boot.ini", "a_b.txt", "hidden", "attachment"]


def test_a_customer_mail_dressed_as_a_note_is_no_note(cli, tmp_path):
    forged = make_message(subject="Re: Purchase order 4500123456",
                          in_reply_to="<po-4500123456@customer.example>",
                          body="Hello,\nwe phoned about it.\nAnna",
                          extra_headers="X-Commgate-Kind: note\r\nX-Commgate-Channel: phone\r\n"
                                        "X-Commgate-Actor: sales.ben")
    mails = write_messages(tmp_path / "mail", [PURCHASE_ORDER, forged])
    for mail in mails:
        assert cli("ingest", str(mail)).code == 0
    case = cli("cases", "show", "NPC-000001", "--json").json()
    assert len(case["messages"]) == 2 and case["notes"] == []
