"""Category, header rules, priority, scope change, confidence and robustness."""

from __future__ import annotations

import json
import random

import pytest

from classifiers import CATEGORIES, Classification, MessageInput, classify, load_rules

RULES = load_rules()


def run(subject: str, body: str, **kw: object) -> Classification:
    return classify(MessageInput(subject=subject, body_text=body, **kw), RULES)  # type: ignore[arg-type]


PO_BODY = (
    "Please find attached our purchase order 4500933120 for 2 pumps. Please confirm the order."
)


@pytest.mark.parametrize(
    "kw",
    [
        {"headers": (("Auto-Submitted", "auto-replied"),)},
        {"headers": (("X-Autoreply", "yes"),)},
        {"content_type": "multipart/report", "report_type": "delivery-status"},
        {"content_type": "multipart/report", "report_type": "disposition-notification"},
        {"attachment_types": ("text/plain", "message/delivery-status")},
        {"from_addr": "mailer-daemon@mx.example"},
        {"from_addr": "postmaster@mx.example"},
    ],
)
def test_final_header_rules_make_other_even_with_business_content(kw: dict) -> None:
    result = run("Your order", PO_BODY, **kw)
    assert result.category == "other"
    assert result.scope_change is False
    assert any(e.field in ("header", "attachment") for e in result.evidence)


def test_bounce_still_lists_identifiers_of_returned_message() -> None:
    result = run(
        "Undelivered Mail Returned to Sender",
        "could not be delivered\n\nplease find attached our quotation Q-2024-1249",
        from_addr="mailer-daemon@mx.example",
    )
    assert result.category == "other"
    assert [i.value for i in result.identifiers] == ["Q-2024-1249"]


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: your quote",
        "Automatische Antwort: Anfrage",
        "Automatic reply: PO 4500958870",
        "Réponse automatique : commande",
    ],
)
def test_out_of_office_subjects_are_other(subject: str) -> None:
    assert run(subject, "I will be back on Monday.").category == "other"


def test_calendar_response_needs_both_subject_and_calendar_part() -> None:
    cal = run("Accepted: Pump review", "", attachment_types=("text/plain", "text/calendar"))
    assert cal.category == "other"
    human = run("Accepted: your proposal", "We accept your offer, please send the contract?")
    assert human.category != "other"


def test_bulk_and_list_headers_make_other() -> None:
    headers = (("Precedence", "bulk"), ("List-Unsubscribe", "<https://x.example/u>"))
    assert run("Autumn news", "New products this month.", headers=headers).category == "other"


def test_auto_submitted_negative_value_is_not_machine_mail() -> None:
    result = run("Order", PO_BODY, headers=(("Auto-Submitted", "no"),))
    assert result.category == "order"


def test_machine_generated_purchase_order_is_classified_by_content() -> None:
    result = run(
        "Bestellung 4500933120",
        "Anbei erhalten Sie unsere Bestellung 4500933120. Bitte senden Sie uns eine "
        "Auftragsbestätigung.",
        headers=(("Auto-Submitted", "auto-generated"),),
        from_addr="noreply@erp.example",
    )
    assert result.category == "order"
    assert result.language == "de"


def test_machine_generated_notification_without_content_is_other() -> None:
    result = run(
        "Your ticket",
        "Your request has been logged. This is an automated message.",
        headers=(("Auto-Submitted", "auto-generated"),),
    )
    assert result.category == "other"


PROCUREMENT_PO = (
    "Globex Corp has sent you a new purchase order.\n\nPurchase order number: 4500123456\n"
    "Line 1: 10 x Pump housing PH-200\nRequested delivery date: 2026-01-15\n\n"
    "Please confirm the order in the supplier portal.\n"
    "This message was sent automatically. Please do not reply to this email."
)


@pytest.mark.parametrize("sender", ["do_not_reply@buy.example", "no-reply@buy.example",
                                    "noreply@buy.example", "donotreply@buy.example"])
def test_procurement_po_beats_bulk_and_no_reply_noise(sender: str) -> None:
    result = run(
        "Purchase Order 4500123456 from Globex Corp",
        PROCUREMENT_PO,
        from_addr=sender,
        headers=(("Precedence", "bulk"), ("Auto-Submitted", "auto-generated")),
    )
    assert "hdr.from.noreply" in {e.rule_id for e in result.evidence}
    assert (result.category, result.decided_by, result.needs_triage) == ("order", "rule", False)
    # Noise is not evidence against the order: the decision is not a low-confidence one.
    assert result.confidence > 0.5


@pytest.mark.parametrize(("subject", "body"), [
    ("Contact request: Service",
     "Name: Lena Hoff\nComments: Our pH meter doesn't calibrate anymore. What would a repair "
     "cost and how long does it take?"),
    ("Nouvelle demande de contact",
     "Nom : Julie Petit\nMessage : Proposez-vous des contrats de maintenance pour les hottes ?"),
])
def test_web_form_enquiry_beats_header_noise_alone(subject: str, body: str) -> None:
    # Bulk precedence and a no-reply sender are all the headers say: a person's words in a
    # web form decide at the ordinary MIN_SCORE, as they would without those headers.
    result = run(subject, body, from_addr="no-reply@forms.example",
                 headers=(("Precedence", "bulk"),))
    assert (result.category, result.decided_by) == ("enquiry", "rule")


def test_list_headers_still_outweigh_business_words_of_a_digest() -> None:
    result = run(
        "pump-users Digest, Vol 12, Issue 6",
        "Message: 1\nWe lost two seals last week and are not happy with the supplier. "
        "We are very disappointed with the quality.",
        headers=(("Precedence", "list"), ("List-Id", "<pump-users.lists.example>"),
                 ("List-Unsubscribe", "<https://lists.example/u>")),
    )
    assert (result.category, result.decided_by) == ("other", "header")


def test_real_auto_reply_is_other_by_header_and_needs_no_triage() -> None:
    result = run("Automatic reply: PO 4500958870", PO_BODY,
                 headers=(("Auto-Submitted", "auto-replied"),))
    assert (result.category, result.decided_by, result.needs_triage) == ("other", "header",
                                                                         False)


def test_nothing_decided_needs_triage_and_says_so() -> None:
    human = run("Hello", "Hi Tom, see you at the fair next week. Best, Anna")
    assert (human.category, human.decided_by, human.needs_triage) == ("other", "fallback", True)
    assert human.confidence == pytest.approx(0.3)
    assert human.to_dict()["needs_triage"] is True
    decided = run("Order", PO_BODY)
    assert (decided.decided_by, decided.needs_triage) == ("rule", False)


def test_property_outranks_order_when_clear() -> None:
    body = (
        "For our PO 4500936641 we will provide the motors ourselves. Today we shipped the "
        "three motors to your works; they are our property. Please confirm the order."
    )
    assert run("Free-issue motors", body).category == "property"


def test_faint_property_hint_does_not_outrank_clear_order() -> None:
    body = (
        "Please find attached our purchase order 4500871234 for 6 pumps. We would like to "
        "order the spare seal kits as well. Please send an order confirmation. The pumps "
        "need a decontamination declaration form in the box."
    )
    result = run("Purchase order 4500871234", body)
    assert result.category == "order"


def test_order_outranks_enquiry_and_feedback_outranks_enquiry() -> None:
    assert (
        run(
            "Order",
            "We'll go ahead with the two pumps. Please take this mail as our order. "
            "Can you also tell me the lead time?",
        ).category
        == "order"
    )
    assert (
        run(
            "Great service",
            "Just wanted to say thank you, great service! Do you also make small pumps?",
        ).category
        == "feedback"
    )


def test_asking_for_our_drawing_is_enquiry_not_property() -> None:
    result = run(
        "Drawing request",
        "Could you please send us the dimensional drawings and the "
        "3D models of your MV-25 valve (DWG-20817)?",
    )
    assert result.category == "enquiry"
    assert [i.value for i in result.identifiers] == ["DWG-20817"]


def test_how_to_return_without_shipment_is_enquiry() -> None:
    body = (
        "One of the valves leaks. How do I get an RMA? We haven't sent anything yet and "
        "won't until we hear from you."
    )
    assert run("RMA for leaking valve?", body).category == "enquiry"


def test_shared_credentials_are_property() -> None:
    body = (
        "Here is the access to our SFTP server with the plant model.\nHost: sftp.x.example\n"
        "User: guest\nPassword: secret-1\nPlease don't forward the credentials."
    )
    assert run("SFTP access", body).category == "property"


def test_nothing_matched_question_is_enquiry_else_other() -> None:
    q = run("hm", "zzz qqq?")
    assert q.category == "enquiry"
    assert q.confidence == pytest.approx(0.3)
    assert run("", "").category == "other"


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ("Please cancel line 30 of our PO 4500930455.", "cancellation"),
        ("Could you please postpone delivery of PO 4500901277 from week 43 to week 49?", "date"),
        (
            "Management approved the second cellar, so we need 6 pumps instead of 4 on "
            "SO-24-05512.",
            "quantity",
        ),
        ("For order SO-24-05401 please deliver to our new distribution centre.", "address"),
        ("Please correct the confirmation to EUR 1,150.00 per unit.", "price"),
        ("We expect Acme to extend the warranty for this pump by 12 months.", "obligation"),
        ("Bitte verschieben Sie die Lieferung zu unserer Bestellung 4500927719 auf KW 3.", "date"),
    ],
)
def test_scope_change_positive_names_what_changes(body: str, what: str) -> None:
    result = run("Change", body)
    assert result.scope_change is True
    assert any(
        e.rule_id.split(".")[1] == "scope" and e.text.startswith(what + ":")
        for e in result.evidence
    )


@pytest.mark.parametrize(
    "body",
    [
        "Could you give me an update on our PO 4500918832? No change needed on our side.",
        "Can you confirm Q-2024-1290 still applies? No changes on our side.",
        "Please find below our new purchase order 4500968840. Our PO 4500951203 stays exactly "
        "as it is.",
        "Please do not cancel the order, we still need the pumps.",
        "Please don't postpone delivery of PO 4500901277, we need the pumps on time.",
        "Thank you for the fast delivery.",
    ],
)
def test_scope_change_negative(body: str) -> None:
    assert run("PO", body).scope_change is False


def test_out_of_office_talking_about_changes_has_no_scope_change() -> None:
    result = run(
        "Automatic reply: PO 4500958870",
        "I am on holiday. For changes to existing "
        "orders or to cancel an order please contact my colleague.",
        headers=(("Auto-Submitted", "auto-replied"),),
    )
    assert (result.category, result.scope_change) == ("other", False)


def test_quoted_history_does_not_decide_category() -> None:
    body = (
        "Thanks, the pumps arrived and work great - thank you for the fast delivery!\n\n"
        "On Mon, 1 Jan 2024, Sales <s@x.example> wrote:\n> please find attached our purchase"
        " order confirmation\n> we hereby cancel\n"
    )
    result = run("Re: delivery", body)
    assert result.category == "feedback"
    assert result.scope_change is False


def test_to_dict_is_json_ready_and_confidence_in_range() -> None:
    result = run("PO 4500871234", PO_BODY)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["category"] == "order" and 0.0 <= data["confidence"] <= 1.0
    assert data["identifiers"] == [
        {"kind": "po", "value": "4500871234"},
        {"kind": "po", "value": "4500933120"},
    ]
    assert set(data["evidence"][0]) == {"rule_id", "text", "field"}
    assert data["rules_version"] == RULES.version


def test_default_rules_are_used_when_none_given() -> None:
    result = classify(MessageInput(subject="PO 4500871234", body_text=PO_BODY))
    assert result.category == "order"
    assert result.rules_version == RULES.version


def test_robustness_never_raises() -> None:
    rng = random.Random(4)
    garbage = bytes(rng.randrange(256) for _ in range(50_000)).decode("latin-1")
    huge = ("Please find attached our purchase order. " * 30_000) + "?"
    cases = [
        MessageInput(subject="", body_text=""),
        MessageInput(
            subject="\x00\x01",
            body_text=garbage,
            from_addr="\udcff@x",
            headers=(("Auto-Submitted", garbage[:500]), ("", "")),
            attachment_types=("",),
            attachment_names=(garbage[:50],),
        ),
        MessageInput(subject=garbage[:5000], body_text=huge),
        MessageInput(subject="> > >", body_text="\n".join(["> q"] * 10_000)),
        MessageInput(subject="x", body_text="-- \n" * 1000 + "\r\r\n\n" * 1000),
    ]
    for msg in cases:
        result = classify(msg, RULES)
        assert result.category in CATEGORIES
        assert 0.0 <= result.confidence <= 1.0
        json.dumps(result.to_dict())

