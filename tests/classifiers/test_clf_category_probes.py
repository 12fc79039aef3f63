"""Probe mails of branch i12-cat: category decisions on wording no corpus had.

Each was written for the probe batches of docs/classifier.md ("Category decisions on other
companies' mail") and scored once before rules were written from it; the rules generalise
them through ``c3_*`` concepts. The mail must be decided by a rule (or a header verdict), not
by the fallback.
"""

from __future__ import annotations

import pytest

from classifiers import MessageInput, classify, load_rules

RULES = load_rules()

PROBES = [
    ("enquiry", "Invitation: RFQ Event 0000451",
     "You have been invited to participate in sourcing event 0000451 by Helix Pharma. "
     "Click the link below to review the event and submit your quote.", (("Precedence", "bulk"),)),
    ("order", "Helix Pharma Purchase Order #PO-88213",
     "Helix Pharma has sent you a purchase order.\nOrder total: 2,340.00 EUR",
     (("Auto-Submitted", "auto-generated"),)),
    ("order", "Orden de compra OC-22871",
     "Se ha emitido una nueva orden de compra a su empresa. Consulte el portal.",
     (("Precedence", "bulk"),)),
    ("order", "Re: quote 8812", "ok lets do it. 5 units. send invoice", ()),
    ("order", "bestelling", "graag weer 10 dozen handschoenen, zelfde als vorige keer", ()),
    ("order", "zamówienie", "proszę o kolejne 5 opakowań jak ostatnio", ()),
    ("order", "AW: Angebot 2281", "Passt so, wir nehmen die Variante B.", ()),
    ("order", "SV: offert 442", "Låter bra, vi kör på alternativ 2.", ()),
    ("order", "oprava", "Schvalujeme cenovou nabídku na opravu, přístroj prosím opravte.", ()),
    ("feedback", "Re: facture", "Toujours pas d'avoir après trois relances.", ()),
    ("feedback", "Re: pedido 4412", "Es la tercera vez que os escribo. Esto es una vergüenza.", ()),
    ("feedback", "Survey", "On a scale of 0-10 I'd give you 6.", ()),
    ("property", "monsters",
     "De monsters die we vorige week stuurden, kunt u die na de test vernietigen?", ()),
    ("property", "inloggegevens",
     "Hierbij de inloggegevens: gebruiker svc01, wachtwoord Ab!2026.", ()),
    ("property", "prøver",
     "I morgen ankommer 10 flasker fra batch 33 til jer til analyse. Kassér resten bagefter.", ()),
    ("enquiry", "pytanie", "Czy macie na stanie filtry F20? Ile kosztuje dostawa?", ()),
    ("enquiry", "školení", "Nabízíte školení k novému přístroji?", ()),
    ("other", "Accepted: Service visit", "Mark Jones has accepted this meeting.", ()),
    ("other", "Geaccepteerd: Onderhoudsbezoek",
     "Jan de Vries heeft deze vergadering geaccepteerd.", ()),
    ("other", "Autosvar", "Jag är på semester till den 5 januari och läser inte min e-post.", ()),
]


@pytest.mark.parametrize(("category", "subject", "body", "headers"), PROBES)
def test_probe_is_decided_by_a_rule(
    category: str, subject: str, body: str, headers: tuple[tuple[str, str], ...]
) -> None:
    result = classify(MessageInput(subject=subject, body_text=body, headers=headers), RULES)
    assert (result.category, result.decided_by in ("rule", "header")) == (category, True), (
        [e.rule_id for e in result.evidence]
    )


NEAR_MISSES = [
    ("fr", "Merci de nous envoyer un devis pour 200 roulements 6204.", "order"),
    ("pl", "Proszę o ofertę na 200 sztuk łożysk 6205.", "order"),
    ("en", "You are invited to our webinar event on 15 January.", "enquiry"),
    ("en", "We returned the faulty units two months ago and still no credit. Very poor.",
     "property"),
]


@pytest.mark.parametrize(("lang", "body", "not_category"), NEAR_MISSES)
def test_near_misses_keep_their_category(lang: str, body: str, not_category: str) -> None:
    result = classify(MessageInput(subject="", body_text=body), RULES)
    assert result.category != not_category, [e.rule_id for e in result.evidence]
