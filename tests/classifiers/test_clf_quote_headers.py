"""The header block of a quoted message cuts the history off in the 11 languages, with or
without its date line; a customer's own "From:" / "To:" lines do not."""

from __future__ import annotations

import pytest

from classifiers.prepare import prepare

REPLY = "Great, cheers"


@pytest.mark.parametrize(
    "block",
    [
        # Outlook / Exchange without a "Sent:" line
        "From: Jo Bloggs <jo@example.com>\nTo: Sales <sales@example.org>\nSubject: Complaint",
        "From: Jo Bloggs\nTo: Sales\nSubject: RE: Order 4471",  # display names only
        "*From:* Jo Bloggs\n*To:* Sales\n*Cc:* Ann\n*Subject:* Order",
        # with a date line, as before
        "From: Jo Bloggs\nSent: Monday, 3 March 2025 10:15\nTo: Sales\nSubject: Order",
        "Von: Jo Bloggs <jo@example.com>\nAn: Vertrieb <v@example.org>\nBetreff: Reklamation",
        "De : Jo Bloggs <jo@example.com>\nÀ : Ventes\nObjet : Réclamation",
        "De: Jo Bloggs\nPara: Ventas\nAsunto: Reclamación",
        "Da: Jo Bloggs <jo@example.com>\nA: Vendite\nOggetto: Reclamo",
        "Van: Jo Bloggs <jo@example.com>\nAan: Verkoop\nOnderwerp: Klacht",
        "Od: Jo Bloggs <jo@example.com>\nDo: Sprzedaż\nTemat: Reklamacja",
        "Od: Jo Bloggs\nWysłano: poniedziałek, 3 marca 2025 10:15\nDo: Sprzedaż",
        "Från: Jo Bloggs <jo@example.com>\nTill: Försäljning\nÄmne: Reklamation",
        "Fra: Jo Bloggs <jo@example.com>\nTil: Salg\nEmne: Reklamation",
        "Od: Jo Bloggs\nOdesláno: pondělí 3. března 2025 10:15\nKomu: Prodej",
        "Od: Jo Bloggs <jo@example.com>\nKomu: Prodej\nPředmět: Reklamace",
        "De: Jo Bloggs <jo@example.com>\nPara: Vendas\nAssunto: Reclamação",
    ],
)
def test_a_quoted_header_block_cuts_the_history(block: str) -> None:
    body = f"{REPLY}\n\n{block}\n\nThe pump arrived broken and we are very unhappy.\n"
    prepared = prepare(body)
    assert prepared.text == REPLY
    assert prepared.quoted


@pytest.mark.parametrize(
    "body",
    [
        "Please collect the pallet.\nFrom: our warehouse\nThe pump arrived broken.",
        "Please collect the pallet.\nFrom: our warehouse in Leeds\nTo: your depot\n"
        "The pump arrived broken.",
        "Route for the delivery:\nVon: Hamburg\nAn: Köln\nThe pump arrived broken.",
        "Subject: pump\nFrom: Jo\nThe pump arrived broken.",  # a header line above, none below
    ],
)
def test_a_customers_own_from_line_does_not_cut(body: str) -> None:
    assert prepare(body).text.endswith("The pump arrived broken.")
