"""Probe mails of branch i12-prop2: the boundaries of customer property, enquiry and feedback.

Batches in ``tests/classifiers/data/boundary_probes_N.jsonl``, each written and labelled before
it was scored once (docs/classifier.md, "Customer property that asks a question"): customer
property notices that also ask something, enquiries about equipment that is not in the
supplier's care, complaints phrased as questions, machine mail with business words. Batch 1
was scored on main and the ``c5_*`` rules were written from its misses; batch 2 was first
scored after round 1, batch 3 (feedback, "other" and order near misses) after round 2. The
floors are accuracies a little under the measured ones, not per-message results: a later
rule may trade one probe for another, it must not lose ground.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers import MessageInput, classify, load_rules
from tests.support.probes import load_labelled_mails, misclassified

RULES = load_rules()
DATA = Path(__file__).parent / "data"

# batch -> minimum share of probes with the right category. Measured at commit time:
# 1: 66/69 (60/69 on main, written from), 2: 34/35 (29/35 when first scored, after round 1;
# main 29/35), 3: 32/32 (27/32 when first scored, after round 2; main 27/32).
FLOORS = {1: 0.93, 2: 0.94, 3: 0.93}


def _probes(batch: int) -> list[dict[str, object]]:
    return load_labelled_mails(DATA / f"boundary_probes_{batch}.jsonl")


@pytest.mark.parametrize("batch", sorted(FLOORS))
def test_probe_batch_keeps_its_accuracy(batch: int) -> None:
    probes = _probes(batch)
    wrong = misclassified(probes, RULES)
    assert 1 - len(wrong) / len(probes) >= FLOORS[batch], wrong


def test_probe_batch_one_covers_eleven_languages() -> None:
    languages = {p["language"] for p in _probes(1)}
    assert languages == {"en", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "da", "cs"}


def _classify(body: str, subject: str = "") -> tuple[str, list[str]]:
    result = classify(MessageInput(subject=subject, body_text=body), RULES)
    return result.category, [e.rule_id for e in result.evidence]


# A customer asking about its own item in the supplier's care is a property matter, however
# many question words come with it; the item may have any name (the purpose or the receipt
# says it is the customer's).
PROPERTY_QUESTIONS = [
    ("en", "Hi, we sent three torque wrenches to your lab for calibration last week. "
           "When can we expect them back?"),
    ("en", "Please confirm receipt of our 12 resin samples. Who has them now?"),
    ("en", "Is our check fixture still in your tool room? We may need it next week."),
    ("de", "Können Sie bitte bestätigen, dass unsere Prüfvorrichtung bei Ihnen eingetroffen ist?"),
    ("fr", "Avez-vous bien reçu nos échantillons ? Merci de nous les retourner après essai."),
    ("it", "Buongiorno, avete ricevuto i nostri campioni? Grazie."),
    ("nl", "Hallo, hebben jullie onze boormal inmiddels ontvangen?"),
    ("pt", "Olá, o nosso equipamento está convosco para reparação há um mês. "
           "Quando o podemos ir buscar?"),
    ("pl", "Dzień dobry, czy otrzymali Państwo nasze próbki?"),
    ("sv", "Hej, har ni fått våra prover? Hur lång tid tar det?"),
    ("da", "Hej, har I modtaget vores prøver? Hvornår kan vi forvente svar?"),
    ("cs", "Dobrý den, poslali jsme vám náš měřák ke kalibraci. Kdy ho dostaneme zpět?"),
]


@pytest.mark.parametrize(("lang", "body"), PROPERTY_QUESTIONS)
def test_question_about_own_item_in_care_is_property(lang: str, body: str) -> None:
    category, evidence = _classify(body)
    assert category == "property", (lang, evidence)
    assert any(".property.c5_" in e for e in evidence), evidence


# Near misses: the same words about an order, money, a hypothetical hand-over or the
# customer's own delivery are no property.
NOT_PROPERTY = [
    ("en", "Have you received our purchase order 4471? Please confirm.", "property"),
    ("en", "If we send our meters to you for calibration, how long does it take?", "property"),
    ("en", "When we send you CAD data for quotation, how do you store it and who can see it?",
     "property"),
    ("en", "The card was declined. When do I get my money back?", "property"),
    ("de", "Haben Sie unsere Bestellung erhalten? Bitte kurz bestätigen.", "property"),
    ("nl", "Hebben jullie onze bestelling ontvangen?", "property"),
    ("pl", "Czy otrzymali Państwo nasze zamówienie?", "property"),
    ("da", "Vi har i dag modtaget vores dele. Tak!", "property"),
]


@pytest.mark.parametrize(("lang", "body", "not_category"), NOT_PROPERTY)
def test_near_misses_are_no_property(lang: str, body: str, not_category: str) -> None:
    category, evidence = _classify(body)
    assert category != not_category, (lang, evidence)
    assert not any(".property.c5_" in e for e in evidence if not e.endswith("generic_hand_over")), \
        evidence


def test_considering_an_order_is_no_order() -> None:
    for body in ("Bonjour, nous envisageons de commander 50 capteurs. Pourriez-vous nous "
                 "indiquer vos tarifs dégressifs ?",
                 "Estamos pensando en encargar 50 sensores, ¿qué precio tendrían?"):
        category, evidence = _classify(body)
        assert category == "enquiry", evidence


def test_a_recurring_fault_asked_as_a_question_is_feedback() -> None:
    category, evidence = _classify(
        "Can someone explain why we were charged for freight again when the order was over "
        "the free-delivery limit? This keeps happening and it's getting tiresome.")
    assert category == "feedback", evidence
    category, evidence = _classify(
        "Warum dauert eine einfache Gutschrift bei Ihnen sechs Wochen? "
        "Das ist so nicht akzeptabel.")
    assert category == "feedback", evidence


def test_lent_items_and_items_we_sent_named_in_a_relative_clause_are_property() -> None:
    for body in ("We lent you 40 of our plastic pallets for the November shipments. Where are "
                 "they now?",
                 "Hola, ¿han llegado ya las 5 piezas de muestra que les enviamos para el ensayo?"):
        category, evidence = _classify(body)
        assert category == "property", evidence


def test_generic_when_clause_outweighs_the_hand_over() -> None:
    category, evidence = _classify(
        "When we send you CAD data for quotation, how do you store it and who can see it?")
    assert category == "enquiry", evidence
    assert "en.property.c5_generic_hand_over" in evidence


def test_damage_on_the_suppliers_premises_is_property_not_a_complaint() -> None:
    category, evidence = _classify(
        "Your driver collected our injection mould yesterday and the photos show a cracked "
        "insert. Was it damaged in transit or on your premises? We need an answer for our "
        "insurer.", subject="Damaged mould?")
    assert category == "property", evidence
    assert "en.property.c5_damaged_on_your_premises" in evidence
