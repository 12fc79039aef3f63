"""List headers against business content: a newsletter whose headline holds one business
word ("complaint") is "other", while a person's complaint or order sent through a list or
helpdesk system, and a procurement system's PO behind bulk headers, keep their category.
Rules are counted as written against list headers, without the subject's extra weight."""

from __future__ import annotations

import pytest

from classifiers import classify
from classifiers.classify import _decide
from classifiers.types import MessageInput

UNSUBSCRIBE = ("List-Unsubscribe", "<mailto:leave@news.example.com>")
LIST_ID = ("List-Id", "<news.example.com>")
BULK = ("Precedence", "bulk")


def _category(subject: str, body: str, headers: tuple[tuple[str, str], ...]) -> str:
    msg = MessageInput(subject=subject, body_text=body, from_addr="news@example.com",
                       headers=headers)
    return classify(msg).category


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Complaint of the month: the late courier",
         "Our newsletter for December.\n\nComplaint of the month: the late courier. Read the "
         "story on our blog.\n\nUpcoming webinars and trade fairs."),
        ("Réclamation du mois : le coursier en retard",
         "Notre lettre d'information de décembre.\n\nRéclamation du mois : le coursier en "
         "retard. Lisez l'histoire sur notre blog.\n\nProchains webinaires et salons."),
        ("Reklamation des Monats: der späte Kurier",
         "Unser Newsletter im Dezember.\n\nReklamation des Monats: der späte Kurier. Lesen Sie "
         "die Geschichte in unserem Blog.\n\nKommende Webinare und Messen."),
    ],
)
@pytest.mark.parametrize("headers", [(UNSUBSCRIBE,), (UNSUBSCRIBE, BULK), (UNSUBSCRIBE, LIST_ID)])
def test_a_newsletter_headline_word_does_not_outweigh_list_headers(
    subject: str, body: str, headers: tuple[tuple[str, str], ...]
) -> None:
    assert _category(subject, body, headers) == "other"


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("[Ticket #4471] pump arrived damaged",
         "The pump we ordered on PO 4471 arrived damaged, the housing is cracked. This is "
         "unacceptable, the second time this happens. Please send a replacement this week.",
         "feedback"),
        ("[Ticket #4471] Pumpe beschädigt angekommen",
         "Die Pumpe aus unserer Bestellung 4471 ist beschädigt angekommen, das Gehäuse ist "
         "gerissen. Das ist inakzeptabel, schon das zweite Mal. Bitte senden Sie diese Woche "
         "Ersatz.", "feedback"),
        ("[Ticket #4471] pompe arrivée endommagée",
         "La pompe de notre commande 4471 est arrivée endommagée, le boîtier est fissuré. "
         "C'est inacceptable, c'est la deuxième fois. Merci d'envoyer un remplacement cette "
         "semaine.", "feedback"),
        ("Purchase Order PO-4471",
         "Please find attached our purchase order PO-4471 for 20 pcs valve V-12. Please "
         "confirm delivery date.", "order"),
        ("Bestellung 4500012345",
         "Anbei unsere Bestellung 4500012345 über 20 Stück Ventil V-12. Bitte bestätigen Sie "
         "den Liefertermin.", "order"),
    ],
)
def test_business_content_sent_through_a_list_system_keeps_its_category(
    subject: str, body: str, expected: str
) -> None:
    assert _category(subject, body, (UNSUBSCRIBE, BULK)) == expected


def test_the_plain_score_counts_only_against_list_headers() -> None:
    scores = {"property": 0.0, "order": 0.0, "feedback": 6.75, "enquiry": 0.0, "other": 4.0}
    plain = {**scores, "feedback": 4.5}
    # list headers (not noise): the rules as written, 4.5, stay below OVERRIDE_MIN
    assert _decide(scores, 3.0, False, False, plain=plain) == ("other", "header")
    # header noise alone (bulk precedence, no-reply): weighed as before
    assert _decide(scores, 4.0, False, False, 4.0, plain=plain) == ("feedback", "rule")
    # no plain scores given: as before
    assert _decide(scores, 3.0, False, False) == ("feedback", "rule")
