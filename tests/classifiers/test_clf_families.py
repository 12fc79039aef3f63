"""One small test per rule family and per new mechanism, on spacy.blank pipelines.

The sentences are written in general business wording (none is taken from a corpus), so they
check that each family recognises what a quality manager would call that kind of message.
"""

from __future__ import annotations

import pytest

from classifiers import Classification, MessageInput, classify, load_rules
from classifiers.matching import negated
from classifiers.prepare import prepare

RULES = load_rules()


def run(subject: str, body: str, **kw: object) -> Classification:
    return classify(MessageInput(subject=subject, body_text=body, **kw), RULES)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("subject", "body", "category"),
    [
        ("Brackets", "Could you please quote 200 pcs of the attached bracket?", "enquiry"),
        ("Question", "Do you have a data sheet for the 316L version?", "enquiry"),
        ("PO 7781", "Please find attached our purchase order 7781 for 40 brackets.", "order"),
        ("Quote 55", "We accept your quotation, please proceed with the order.", "order"),
        ("Call-off", "Please deliver the following under our blanket order.", "order"),
        ("Housings", "We have rejected the last lot: the bores are out of tolerance.", "feedback"),
        ("Thank you", "Just a note to say thank you, the parts arrived early.", "feedback"),
        ("Survey", "Overall 8 out of 10. One suggestion: send tracking links.", "feedback"),
        ("Gauges", "We shipped our two gauges to you today for the first-article check.",
         "property"),
        ("Data room", "Access details for our data room.\nUsername: abc\nPassword: xyz",
         "property"),
        ("Our fixture", "Please return our fixture to us once the job is finished.", "property"),
        ("Newsletter", "Read our news.\nUnsubscribe | Manage preferences", "other"),
        ("Your mailbox", "Your mailbox is full. Verify your account now: click the link.",
         "other"),
    ],
)
def test_each_family_recognises_general_wording(subject: str, body: str, category: str) -> None:
    assert run(subject, body).category == category


def test_handover_rule_needs_the_item_within_the_window() -> None:
    hit = run("Repair", "Yesterday we sent our three old pumps to your workshop.")
    assert any(e.rule_id == "en.property.item_handed_over" for e in hit.evidence)
    miss = run("Repair", "We sent the order last week; the pumps are still not here.")
    assert not any(e.rule_id == "en.property.item_handed_over" for e in miss.evidence)


def test_erp_purchase_order_with_auto_submitted_is_an_order() -> None:
    body = (
        "*** This message was generated automatically. Please do not reply. ***\n"
        "PURCHASE ORDER 4500123456\nOrder date 03.11.2026\nVendor no. 100478\n"
        "Payment terms 30 days net\nPlease confirm this order within 3 days."
    )
    result = run(
        "Purchase Order 4500123456",
        body,
        headers=(("Auto-Submitted", "auto-generated"),),
        from_addr="erp-noreply@customer.example",
    )
    assert result.category == "order"


def test_change_to_an_existing_order_is_an_order_with_scope_change() -> None:
    result = run(
        "PO 4500123456",
        "Regarding our order 4500123456: could you please deliver it two weeks earlier than "
        "planned and postpone the second line?",
    )
    assert (result.category, result.scope_change) == ("order", True)
    assert any(e.rule_id == "clf.change_order" for e in result.evidence)


def test_complaint_demanding_a_credit_note_is_feedback_with_scope_change() -> None:
    result = run(
        "Nonconformance on the last delivery",
        "We have rejected 40 housings: heavy burrs and out of tolerance bores. We expect a "
        "credit note for the rejected parts and an 8D report.",
    )
    assert (result.category, result.scope_change) == ("feedback", True)


def test_html_only_praise_is_feedback() -> None:
    result = run(
        "Thanks - plates arrived early",
        "Hi all,\n\nJust a quick note to say thank you. Special thanks to your inspection team.",
        content_type="text/html",
    )
    assert result.category == "feedback"


def test_phishing_from_noreply_sender_is_other() -> None:
    result = run(
        "Action required: mailbox 98% full",
        "Your mailbox has reached its storage quota. Verify your account now.",
        from_addr="noreply-1@verify.example",
    )
    assert result.category == "other"


def test_attachment_name_is_a_signal() -> None:
    result = run("Documents", "See attachment.", attachment_names=("Purchase_Order_7781.pdf",))
    assert any(e.field == "attachment" for e in result.evidence)


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        ("we do not ", True), ("we don\u2019t ", True), ("no, ", False), ("please ", False),
        ("we now know nothing, so ", False),  # "no" inside words only: no negator word
        ("we cannot ", False),  # "not" inside a word that is none
        ("we have not yet ", True),
        ("we haven't ", True),
        ("not that one; ", False),  # the clause ends before the match
    ],
)
def test_negation_looks_at_the_words_before_a_match(before: str, expected: bool) -> None:
    text = before + "cancel line 3"
    assert negated(text, len(before), frozenset({"not", "don't", "no"})) is expected


def test_legal_footer_and_signature_are_not_new_text() -> None:
    body = (
        "Please quote 20 valves.\n\nKind regards\nJane Doe\nBuyer\n\n"
        "This e-mail is confidential and may be privileged. If you are not the intended "
        "recipient, delete it."
    )
    assert prepare(body).text == "Please quote 20 valves.\n\nKind regards"


def test_footer_confidentiality_does_not_make_property() -> None:
    body = (
        "Can you send a price for 10 pcs?\n\nThis email and any attachments are confidential "
        "and intended solely for the addressee."
    )
    assert run("Price", body).category == "enquiry"


def test_wrapped_lines_are_joined_for_matching() -> None:
    assert prepare("Please find attached\nour purchase order 1234.").text == (
        "Please find attached our purchase order 1234."
    )


def test_forward_is_recognised() -> None:
    result = run("FW: pump sizing", "Can you help?\n\nFrom: A <a@x.example>\nSent: Monday\nHi")
    assert result.forwarded is True


def test_bounce_links_the_returned_message_id() -> None:
    body = (
        "This is the mail system at host mx.example.\nI'm sorry to have to inform you that "
        "your message could not be delivered.\n\nReporting-MTA: dns; mx.example\n\n"
        "From: sales@us.example\nMessage-ID: <q-2026-0327.123@us.example>\nSubject: Quote"
    )
    result = run(
        "Undelivered Mail Returned to Sender",
        body,
        from_addr="mailer-daemon@mx.example",
        content_type="multipart/report",
        report_type="delivery-status",
    )
    assert result.category == "other"
    assert result.bounced_message_id == "q-2026-0327.123@us.example"
    assert result.to_dict()["bounced_message_id"] == "q-2026-0327.123@us.example"


def test_no_bounced_message_id_for_ordinary_mail() -> None:
    assert run("Hello", "Message-ID: <x@y>").bounced_message_id is None


def test_company_serial_format_comes_from_configuration_not_rules() -> None:
    plain = load_rules()
    text = "The unit ZX24-000123 leaks."
    assert not classify(MessageInput("Leak", text), plain).identifiers
    own = load_rules(extra_identifier_patterns=[("serial", r"ZX\d{2}-\d{6}")])
    assert [(i.kind, i.value) for i in classify(MessageInput("Leak", text), own).identifiers] == [
        ("serial", "ZX24-000123")
    ]


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('near = [["we sent"]]\n', "near must be two non-empty phrase lists"),
        ('near = [["we sent"], ["pump"]]\nwindow = 99\n', "window must be an integer"),
    ],
)
def test_bad_near_rule_is_refused(tmp_path, entry: str, problem: str) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from classifiers import RulesError
    from classifiers.rules import DEFAULT_RULES_DIR

    dest = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, dest)
    path = dest / "en" / "property.toml"
    path.write_text(
        path.read_text("utf-8") + f'\n[[rules]]\nid = "en.property.bad"\nweight = 2\n{entry}',
        "utf-8",
    )
    with pytest.raises(RulesError, match=problem):
        load_rules(dest)
