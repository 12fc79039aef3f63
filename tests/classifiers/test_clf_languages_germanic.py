"""Whole mails in Dutch, Swedish, Danish and German through ``classifiers.classify``.

There is no labelled corpus for nl, sv and da, so these mails (written for this test: one per
category, scope changes as statements, questions and terse imperatives, and negatives: a
conditional hand-over, a question that changes nothing, a plain acknowledgement) show that
those rule folders decide real mail: detected language, category and scope flag, and that the
language's own rules took part. Quotes, signatures and footers in these languages are cut
before the rules see the text.
"""

from __future__ import annotations

import pytest

from classifiers.prepare import new_text
from gateway.processing.threader import is_reply_subject, normalise_subject
from tests.support.language_mail import (
    Mail,
    assert_classified_in_its_language,
    assert_own_rule_folders,
)

GERMANIC = ("de", "nl", "sv", "da")




# Our order confirmation quoted below a reply, as Outlook quotes it in each language.
QUOTED_NL = ("\n\nMet vriendelijke groet,\nJan de Vries\nInkoper\n\nVan: Verkoop <v@x.example>\n"
             "Verzonden: dinsdag 4 maart 2025 09:12\nAan: Jan de Vries\nOnderwerp: "
             "Orderbevestiging 25-0117\n\nBeste Jan, hierbij de orderbevestiging. Wij leveren in "
             "week 14.\n")
QUOTED_SV = ("\n\nMed vänliga hälsningar\nAnna Lind\n\nFrån: Försäljning <s@x.example>\n"
             "Skickat: den 4 mars 2025 09:12\nTill: Anna Lind\nÄmne: Orderbekräftelse 25-0117\n\n"
             "Hej Anna, här kommer orderbekräftelsen. Vi levererar vecka 14.\n")
QUOTED_DA = ("\n\nMed venlig hilsen\nJens Holm\n\nFra: Salg <s@x.example>\nSendt: 4. marts 2025 "
             "09:12\nTil: Jens Holm\nEmne: Ordrebekræftelse 25-0117\n\nHej Jens, her er "
             "ordrebekræftelsen. Vi leverer i uge 14.\n")

MAILS: tuple[Mail, ...] = (
    # --- Dutch -----------------------------------------------------------------------------
    Mail("nl-enquiry", "nl", "Aanvraag RVS flenzen",
         "Goedemorgen,\n\nGraag ontvangen wij een offerte voor 200 RVS flenzen DN80, inclusief "
         "levertijd. Kunt u ook een 3.1-certificaat meeleveren?\n\nMet vriendelijke groet,\n"
         "Pieter Jansen\nInkoop", "enquiry", False),
    Mail("nl-order", "nl", "Inkooporder 4500123 kogelkranen",
         "Beste Anna,\n\nBijgaand onze inkooporder 4500123 voor 40 kogelkranen volgens uw "
         "offerte van 3 maart. Graag ontvangen wij een orderbevestiging.\n\nMet vriendelijke "
         "groet,\nAfdeling inkoop", "order", False),
    Mail("nl-acceptance", "nl", "Antw: kostenraming reparatie pomp",
         "Hallo Mark,\n\nWij gaan akkoord met de kostenraming, u kunt met de reparatie "
         "beginnen.\n\nGroet,\nSanne", "order", False),
    Mail("nl-complaint", "nl", "Levering van gisteren",
         "Goedemiddag,\n\nWij zijn zeer ontevreden. Van de 50 geleverde kleppen zijn er 12 "
         "beschadigd aangekomen en dit is voor de tweede keer deze maand.\n\nMet vriendelijke "
         "groet,\nKarin de Boer", "feedback", False),
    Mail("nl-praise", "nl", "Bezoek monteur",
         "Goedemorgen,\n\nUw monteur heeft gisteren uitstekend werk geleverd; de lijn draaide "
         "binnen een dag weer. Complimenten aan het hele team!\n\nGroet,\nRob", "feedback", False),
    Mail("nl-property", "nl", "Matrijzen voor reparatie",
         "Hallo,\n\nZoals telefonisch besproken sturen wij u vandaag per koerier twee matrijzen "
         "ter reparatie. De matrijzen zijn ons eigendom, graag voorzichtig behandelen.\n\n"
         "Met vriendelijke groet,\nErik Smit", "property", False),
    Mail("nl-change", "nl", "Wijziging bestelling 4500123",
         "Beste Anna,\n\nKunt u bij bestelling 4500123 het aantal op regel 2 verhogen naar 60 "
         "stuks en de levering uitstellen tot week 20?\n\nDank en groet,\nPieter", "order", True),
    Mail("nl-cancel", "nl", "Annulering order 4500777",
         "Goedemiddag,\n\nHierbij annuleren wij onze order 4500777 voor de afdichtingen. Graag "
         "een bevestiging van de annulering.\n\nMet vriendelijke groet,\nLisa Bakker",
         "order", True),
    Mail("nl-auto-reply", "nl", "Automatisch antwoord: bestelling 4500123",
         "Ik ben tot en met 20 augustus niet op kantoor en heb beperkt toegang tot mijn e-mail. "
         "Uw e-mail wordt niet doorgestuurd. In dringende gevallen kunt u contact opnemen met "
         "de afdeling inkoop.", "other", False),
    Mail("nl-conditional-property", "nl", "Vraag over revisie",
         "Goedemorgen,\n\nAls wij u onze matrijzen voor revisie sturen, hoe lang duurt dat dan? "
         "We hebben nog niets verstuurd.\n\nGroet,\nErik Smit", "enquiry", False),
    Mail("nl-status-question", "nl", "Leverdatum order 4500123",
         "Hallo,\n\nWanneer wordt order 4500123 geleverd? De leverdatum blijft zoals afgesproken, "
         "we willen alleen de planning bijwerken.\n\nGroet,\nPieter", "enquiry", False),
    Mail("nl-terse-quantity", "nl", "Antw: Order 4711", "Regel 2 graag verlagen naar 50 stuks.\n\n"
         "Groet Kees", "order", True),
    Mail("nl-reply-date-change", "nl", "Antw: Orderbevestiging 25-0117",
         "Hallo,\n\nKunnen jullie de levering twee weken uitstellen? Onze hal is nog niet klaar."
         + QUOTED_NL, "order", True),
    # --- Swedish ---------------------------------------------------------------------------
    Mail("sv-enquiry", "sv", "Förfrågan flänsar i rostfritt",
         "Hej,\n\nVi vill gärna ha en offert på 200 flänsar DN80 i rostfritt stål, inklusive "
         "leveranstid. Kan ni även skicka materialcertifikat?\n\nMed vänliga hälsningar,\n"
         "Anna Lindqvist\nInköp", "enquiry", False),
    Mail("sv-order", "sv", "Inköpsorder 4500123 kulventiler",
         "Hej Erik,\n\nBifogat finner ni vår beställning 4500123 på 40 kulventiler enligt er "
         "offert från 3 mars. Vänligen skicka en orderbekräftelse.\n\nMed vänliga hälsningar,\n"
         "Inköpsavdelningen", "order", False),
    Mail("sv-acceptance", "sv", "SV: kostnadsförslag reparation pump",
         "Hej,\n\nVi godkänner kostnadsförslaget, ni kan börja med reparationen.\n\nHälsningar,\n"
         "Sofia", "order", False),
    Mail("sv-complaint", "sv", "Gårdagens leverans",
         "Hej,\n\nVi är mycket missnöjda. Av de 50 levererade ventilerna kom 12 skadade och det "
         "är för andra gången den här månaden.\n\nMed vänliga hälsningar,\nKarin Berg",
         "feedback", False),
    Mail("sv-praise", "sv", "Teknikerns besök",
         "Hej,\n\nEr tekniker gjorde ett utmärkt jobb i går, linjen var igång samma dag. Vi är "
         "mycket nöjda!\n\nHälsningar,\nJohan", "feedback", False),
    Mail("sv-property", "sv", "Formar för reparation",
         "Hej,\n\nSom vi pratade om i telefon skickar vi i dag två formar till er med bud för "
         "reparation. Formarna är vår egendom, hantera dem varsamt.\n\nMed vänliga hälsningar,\n"
         "Lars Nilsson", "property", False),
    Mail("sv-change", "sv", "Ändring beställning 4500123",
         "Hej Erik,\n\nKan ni öka antalet på rad 2 i beställning 4500123 till 60 st och "
         "senarelägga leveransen till vecka 20?\n\nTack,\nAnna", "order", True),
    Mail("sv-cancel", "sv", "Avbeställning order 4500777",
         "Hej,\n\nHärmed avbeställer vi vår order 4500777 för tätningarna. Vänligen bekräfta "
         "avbeställningen.\n\nMed vänliga hälsningar,\nEmma Holm", "order", True),
    Mail("sv-auto-reply", "sv", "Automatiskt svar: beställning 4500123",
         "Jag är frånvarande till och med den 20 augusti och har begränsad tillgång till e-post. "
         "Ditt mejl vidarebefordras inte. I brådskande ärenden, kontakta inköpsavdelningen.",
         "other", False),
    Mail("sv-conditional-property", "sv", "Fråga om renovering",
         "Hej,\n\nOm vi skickar våra formar till er för renovering, hur lång tid tar det? Vi har "
         "inte skickat något än.\n\nHälsningar,\nLars Nilsson", "enquiry", False),
    Mail("sv-acknowledgement", "sv", "SV: Orderbekräftelse 24-0917",
         "Tack, mottaget.\n\nHälsningar,\nAnna", "other", False),
    Mail("sv-terse-quantity", "sv", "SV: Order 4711", "Rad 2 vänligen minska till 50 st.\n\n"
         "Hälsningar Kalle", "order", True),
    Mail("sv-reply-acknowledgement", "sv", "SV: Orderbekräftelse 25-0117", "Tack, mottaget."
         + QUOTED_SV, "other", False),
    # --- Danish ----------------------------------------------------------------------------
    Mail("da-enquiry", "da", "Forespørgsel flanger i rustfrit stål",
         "Hej,\n\nVi vil gerne have et tilbud på 200 flanger DN80 i rustfrit stål inklusive "
         "leveringstid. Kan I også sende et materialecertifikat?\n\nMed venlig hilsen\n"
         "Mette Hansen\nIndkøb", "enquiry", False),
    Mail("da-order", "da", "Indkøbsordre 4500123 kugleventiler",
         "Hej Jens,\n\nVedhæftet finder I vores bestilling 4500123 på 40 kugleventiler iht. "
         "jeres tilbud af 3. marts. Send venligst en ordrebekræftelse.\n\nMed venlig hilsen\n"
         "Indkøbsafdelingen", "order", False),
    Mail("da-acceptance", "da", "SV: prisoverslag reparation pumpe",
         "Hej,\n\nVi godkender prisoverslaget, I kan gå i gang med reparationen.\n\nHilsen\n"
         "Louise", "order", False),
    Mail("da-complaint", "da", "Gårsdagens levering",
         "Hej,\n\nVi er meget utilfredse. Af de 50 leverede ventiler kom 12 beskadigede frem, og "
         "det er for anden gang i denne måned.\n\nMed venlig hilsen\nHanne Nielsen",
         "feedback", False),
    Mail("da-praise", "da", "Teknikerens besøg",
         "Hej,\n\nJeres tekniker gjorde et fremragende stykke arbejde i går, linjen kørte igen "
         "samme dag. Vi er meget tilfredse!\n\nHilsen\nMads", "feedback", False),
    Mail("da-property", "da", "Forme til reparation",
         "Hej,\n\nSom aftalt i telefonen sender vi i dag to forme til jer med kurér til "
         "reparation. Formene er vores ejendom, håndter dem forsigtigt.\n\nMed venlig hilsen\n"
         "Søren Larsen", "property", False),
    Mail("da-change", "da", "Ændring bestilling 4500123",
         "Hej Jens,\n\nKan I øge antallet på linje 2 i bestilling 4500123 til 60 stk. og udsætte "
         "leveringen til uge 20?\n\nTak,\nMette", "order", True),
    Mail("da-cancel", "da", "Annullering ordre 4500777",
         "Hej,\n\nHermed annullerer vi vores ordre 4500777 på pakningerne. Bekræft venligst "
         "annulleringen.\n\nMed venlig hilsen\nIda Poulsen", "order", True),
    Mail("da-auto-reply", "da", "Autosvar: bestilling 4500123",
         "Jeg er fraværende til og med den 20. august og har begrænset adgang til e-mail. Din "
         "mail bliver ikke videresendt. I akutte tilfælde kan du kontakte indkøbsafdelingen.",
         "other", False),
    Mail("da-conditional-property", "da", "Spørgsmål om renovering",
         "Hej,\n\nHvis vi sender vores forme til jer til renovering, hvor lang tid tager det så? "
         "Vi har ikke sendt noget endnu.\n\nHilsen\nSøren Larsen", "enquiry", False),
    Mail("da-terse-quantity", "da", "SV: Ordre 4711", "Linje 2 reducer venligst til 50 stk.\n\n"
         "Hilsen Kim", "order", True),
    Mail("da-invoice-complaint", "da", "Faktura 2025-114",
         "Hej,\n\nFakturaen for vores ordre 4711 er desværre forkert, rabatten mangler.\n\n"
         "Hilsen\nKim", "feedback", False),
    Mail("da-reply-question", "da", "SV: Ordrebekræftelse 25-0117",
         "Hej,\n\nEr det muligt også at få et 3.1-certifikat med?" + QUOTED_DA, "enquiry", False),
    # --- German (terse and question-form changes beside the labelled corpora) ----------------
    Mail("de-terse-cancel", "de", "AW: Bestellung 4711",
         "pos 3 bitte streichen, rest wie bestellt.\n\ngruß kai", "order", True),
    Mail("de-question-change", "de", "Liefertermin Bestellung 4500123",
         "Hallo Frau Krüger,\n\nkönnten Sie die Lieferung zu unserer Bestellung 4500123 um zwei "
         "Wochen vorziehen?\n\nViele Grüße\nTom Weber", "order", True),
    Mail("de-conditional-property", "de", "Frage zur Überholung",
         "Guten Tag,\n\nfalls wir Ihnen unsere Spritzgussform zur Überholung schicken, wie lange "
         "dauert das? Geschickt haben wir noch nichts.\n\nGrüße\nJan Roth", "enquiry", False),
)


@pytest.mark.parametrize("mail", MAILS, ids=lambda m: m.name)
def test_mail_is_classified_in_its_language(mail: Mail) -> None:
    assert_classified_in_its_language(mail)


def test_every_germanic_language_has_its_own_rule_folder() -> None:
    assert_own_rule_folders(GERMANIC)


@pytest.mark.parametrize(
    "body",
    [
        "Graag regel 3 schrappen.\n\nOp ma 4 nov. 2024 om 10:02 schreef Verkoop "
        "<s@x.example>:\n> oud",
        "Graag regel 3 schrappen.\n\nDen 4 nov. 2024 kl. 10:02 skrev Sälj <s@x.example>:\n> "
        "gammal",
        "Graag regel 3 schrappen.\n\n-----Oorspronkelijk bericht-----\nVan: Verkoop\noud",
        "Graag regel 3 schrappen.\n\nVan: Verkoop <s@x.example>\nVerzonden: maandag\nAan: mij\n"
        "oud",
        "Graag regel 3 schrappen.\n\nFrån: Sälj <s@x.example>\nSkickat: måndag\nTill: mig\n"
        "gammal",
        "Graag regel 3 schrappen.\n\nFra: Salg <s@x.example>\nSendt: mandag\nTil: mig\ngammel",
        "Graag regel 3 schrappen.\n\nMet vriendelijke groet,\nJan de Vries\nInkoop",
        "Graag regel 3 schrappen.\n\nMed vänliga hälsningar\nAnna Lind\nInköp",
        "Graag regel 3 schrappen.\n\nMed venlig hilsen\nJens Holm\nIndkøb",
        "Graag regel 3 schrappen.\n\nDit e-mailbericht is uitsluitend bestemd voor de "
        "geadresseerde.",
        "Graag regel 3 schrappen.\n\nDetta e-postmeddelande kan innehålla konfidentiell "
        "information.",
        "Graag regel 3 schrappen.\n\nDenne e-mail kan indeholde fortrolige oplysninger.",
    ],
)
def test_dutch_swedish_and_danish_quotes_signatures_and_footers_are_cut(body: str) -> None:
    text = new_text(body)
    # The closing formula itself stays (as "Best regards," does); what follows it goes.
    assert text.split("\n\n")[0] == "Graag regel 3 schrappen."
    cut = ("oud", "gammal", "gammel", "Vries", "Lind", "Holm", "bestemd", "konfidentiell",
           "fortrolige")
    assert not any(word in text for word in cut), text


@pytest.mark.parametrize(
    "subject",
    ["AW: Lieferung", "WG: Lieferung", "Wtr: Lieferung", "Antw: Levering", "Doorst: Levering",
     "SV: Leverans", "VB: Leverans", "VS: Levering"],
)
def test_german_dutch_and_nordic_reply_and_forward_prefixes(subject: str) -> None:
    assert is_reply_subject(subject)
    assert normalise_subject(subject) == normalise_subject(subject.split(": ", 1)[1])
