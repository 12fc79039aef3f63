"""Polish and Czech mail through the whole classifier: language, category and scope change.

Neither language has a labelled corpus, so these are short business mails written for this
test in the styles customers use (formal, terse, from a phone), one per category plus scope
changes in statement, question and imperative form, and negatives (a condition, "no changes").
Polish has no spaCy lookup lemmas and Czech a thin table: the rules are stems, and these mails
use inflected forms the stems must carry.
"""

from __future__ import annotations

import pytest

from classifiers import MessageInput, classify
from tests.support.language_mail import (
    RULES,
    Mail,
    assert_classified_in_its_language,
    assert_own_rule_folders,
)

POLISH = [
    ("Zapytanie ofertowe - tuleje",
     "Dzień dobry,\nprosimy o przesłanie oferty na 200 szt. tulei ze stali nierdzewnej "
     "według załączonego opisu. Jaki jest czas realizacji?\nPozdrawiam\nAnna Nowak",
     "enquiry", False),
    ("Zamówienie 4500881234",
     "Dzień dobry,\nw załączeniu przesyłamy zamówienie nr 4500881234 na 300 szt. wałków. "
     "Prosimy o potwierdzenie zamówienia i terminu dostawy.\nZ poważaniem\nPiotr Zieliński",
     "order", False),
    ("Re: Zamówienie 4500881234",
     "Dzień dobry,\nczy możemy przesunąć termin dostawy na tydzień 48? Nasz magazyn jest "
     "pełny do końca listopada.\nPozdrawiam",
     "order", True),
    ("anulowanie poz. 2",
     "prosze anulowac poz. 2 z zamowienia 4500881234, reszta bez zmian\nwysłane z telefonu",
     "order", True),
    ("Reklamacja - partia 07/25",
     "Dzień dobry,\nskładamy reklamację na ostatnią dostawę: połowa tulei ma wadliwe "
     "gwinty. To już kolejne opóźnienie i kolejny problem w tym kwartale. Jesteśmy bardzo "
     "niezadowoleni.\nZ poważaniem",
     "feedback", False),
    ("Podziękowanie",
     "Dzień dobry,\nświetna robota - części pasują idealnie, a dostawa była przed czasem. "
     "Bardzo profesjonalna obsługa.\nPozdrawiam",
     "feedback", False),
    ("Sprawdziany do kalibracji",
     "Dzień dobry,\nwczoraj wysłaliśmy kurierem nasze sprawdziany do kalibracji. Po "
     "wzorcowaniu prosimy o zwrot przyrządów na adres zakładu.\nPozdrawiam",
     "property", False),
    ("Pytanie o kalibrację",
     "Dzień dobry,\nzanim wyślemy nasze sprawdziany, prosimy o informację o cenie i "
     "czasie wzorcowania.\nPozdrawiam",
     "enquiry", False),
    ("Automatyczna odpowiedź: Zamówienie 4500881234",
     "Dziękuję za wiadomość. Jestem poza biurem do 12 stycznia i nie mam dostępu do poczty.",
     "other", False),
]

CZECH = [
    ("Poptávka - pouzdra",
     "Dobrý den,\nprosíme o zaslání cenové nabídky na 200 ks pouzder z nerezové oceli dle "
     "přiloženého popisu. Jaká je dodací lhůta?\nS pozdravem\nJana Nováková",
     "enquiry", False),
    ("Objednávka 4500771234",
     "Dobrý den,\nv příloze zasíláme objednávku č. 4500771234 na 300 ks hřídelí. Prosíme o "
     "potvrzení objednávky a termínu dodání.\nS pozdravem\nPetr Svoboda",
     "order", False),
    ("Re: Objednávka 4500771234",
     "Dobrý den,\nmůžeme posunout termín dodání na 48. týden? Náš sklad je plný do konce "
     "listopadu.\nS pozdravem",
     "order", True),
    ("zmena mnozstvi",
     "prosim zmenit mnozstvi v obj. 4500771234 pol. 20 z 500 na 800 ks, ostatni beze zmeny\n"
     "odeslano z mobilu",
     "order", True),
    ("Reklamace - dodávka 07/25",
     "Dobrý den,\nreklamujeme poslední dodávku: polovina pouzder má vadné závity. Dodávka "
     "byla navíc opět zpožděná. Jsme velmi nespokojeni.\nS pozdravem",
     "feedback", False),
    ("Poděkování",
     "Dobrý den,\nskvělá práce - díly sedí přesně a dodávka přišla před termínem. Velmi "
     "profesionální přístup.\nS pozdravem",
     "feedback", False),
    ("Měřidla ke kalibraci",
     "Dobrý den,\nvčera jsme kurýrem odeslali naše měřidla ke kalibraci. Po kalibraci "
     "prosíme o vrácení měřidel na adresu závodu.\nS pozdravem",
     "property", False),
    ("Dotaz na kalibraci",
     "Dobrý den,\npokud pošleme naše měřidla, jaká bude cena a doba kalibrace? Můžete "
     "nám poslat informace?\nS pozdravem",
     "enquiry", False),
    ("Automatická odpověď: Objednávka 4500771234",
     "Děkuji za zprávu. Jsem mimo kancelář do 12. ledna a nemám přístup k e-mailu.",
     "other", False),
]


MAILS = [Mail(f"{lang}-{n}", lang, *mail) for lang, mails in (("pl", POLISH), ("cs", CZECH))
         for n, mail in enumerate(mails)]


@pytest.mark.parametrize("mail", MAILS, ids=lambda m: m.name)
def test_mail_is_classified_in_its_language(mail: Mail) -> None:
    assert_classified_in_its_language(mail)


def test_polish_and_czech_have_rule_folders_of_their_own() -> None:
    assert_own_rule_folders(("pl", "cs"))


def test_polish_rules_decide_by_rule_not_by_fallback() -> None:
    result = classify(MessageInput(subject="Zamówienie",
                                   body_text="Zamawiamy 40 szt. zgodnie z ofertą nr 55."), RULES)
    assert result.decided_by == "rule"
    assert any(e.rule_id.startswith("pl.order.") for e in result.evidence)
