"""Language-level faults fixed in branch i12-lang (2026-12-07), each with positive and
negative sentences in several languages, written for these tests (no corpus text):

* the supplier's order confirmation thanked for or received is no order and no request;
* "automatically generated" is a machine notice that business content outweighs, not an
  auto-reply;
* compound nouns reach a concept through its ``suffixes`` (the compound's head);
* a hedge inside an order match, or a condition clause right after it, makes it
  hypothetical; a courtesy ("if possible") does not;
* item lines after a position label ("Pos. 1: 20 Stück") make a PO an order, but not in a
  complaint or a request for quotation.
"""

from __future__ import annotations

import pytest

from classifiers import MessageInput, classify, load_rules
from classifiers.concepts import ConceptError, parse_concepts
from classifiers.matching import condition_after, condition_inside
from classifiers.sequences import SequenceIndex, SequenceRule, parse_sequence
from tests.support.probes import category_and_rules

RULES = load_rules()


def _cls(subject: str, body: str) -> tuple[str, set[str]]:
    return category_and_rules(subject, body, RULES)


# --- an order confirmation thanked for or received -----------------------------------------

ACK_CONFIRMATION = [
    ("fr", "Merci", "Bonjour,\nmerci pour votre confirmation de commande.\nCordialement"),
    ("fr", "Re: Commande 4711", "Nous avons bien reçu votre confirmation de commande n° 55123."),
    ("it", "Grazie", "Buongiorno,\ngrazie per la vostra conferma d'ordine.\nSaluti"),
    ("es", "Re: Pedido 4711", "Hola,\ngracias por su confirmación de pedido.\nSaludos"),
    ("de", "Danke", "Vielen Dank für Ihre Auftragsbestätigung.\nMit freundlichen Grüßen"),
    ("de", "Re: Auftrag 4711", "Wir haben Ihre Kundenauftragsbestätigung erhalten, danke."),
    ("nl", "Re: Bestelling 4711", "Hallo,\nbedankt voor uw orderbevestiging.\nGroet"),
    ("sv", "Re: Order 4711", "Hej,\ntack för er orderbekräftelse.\nHälsningar"),
    ("da", "Re: Ordre 4711", "Hej,\ntak for jeres ordrebekræftelse.\nHilsen"),
    ("pl", "Re: Zamówienie 4711", "Dzień dobry,\ndziękujemy za potwierdzenie zamówienia."),
    ("cs", "Re: Objednávka 4711", "Dobrý den,\nděkujeme za potvrzení objednávky."),
]

REQUEST_CONFIRMATION = [
    ("fr", "Commande 4711", "Merci de nous envoyer la confirmation de commande."),
    ("it", "Ordine 4711", "Vi preghiamo di inviarci la conferma d'ordine."),
    ("es", "Pedido 4711", "Envíennos la confirmación de pedido, por favor."),
    ("de", "Bestellung 4711", "Bitte senden Sie uns umgehend eine Auftragsbestätigung."),
]


@pytest.mark.parametrize(("lang", "subject", "body"), ACK_CONFIRMATION)
def test_order_confirmation_thanked_for_is_no_order(lang: str, subject: str, body: str) -> None:
    category, _ = _cls(subject, body)
    assert category == "other", (lang, body)


@pytest.mark.parametrize(("lang", "subject", "body"), REQUEST_CONFIRMATION)
def test_order_confirmation_requested_is_order(lang: str, subject: str, body: str) -> None:
    category, _ = _cls(subject, body)
    assert category == "order", (lang, body)


# --- a machine notice is noise ---------------------------------------------------------------

MACHINE_ORDERS = [
    ("de", "Bestellung 4500123",
     "Dies ist eine automatisch generierte Nachricht.\nBestellung 4500123\n"
     "Pos 1: 20 Stück Ventil DN50\nLiefertermin: KW 12"),
    ("da", "Ordre 4500123",
     "Dette er en automatisk genereret meddelelse.\nIndkøbsordre 4500123\n"
     "Pos 1: 20 stk ventil DN50\nLeveringsdato: uge 12"),
    ("cs", "Objednávka 4500123",
     "Toto je automaticky generovaná zpráva.\nObjednávka 4500123\nPol. 1: 20 ks ventil DN50"),
    ("it", "Ordine 4500123",
     "Questo è un messaggio automatico.\nOrdine d'acquisto 4500123\nPos. 1 - 20 pezzi valvola"),
    ("de", "Bestellung", "Anbei erhalten Sie unsere Bestellung 9981714639.\n"
     "Diese E-Mail wurde automatisch erzeugt. Bitte antworten Sie nicht an diese Adresse."),
]


@pytest.mark.parametrize(("lang", "subject", "body"), MACHINE_ORDERS)
def test_machine_made_order_is_an_order(lang: str, subject: str, body: str) -> None:
    category, evidence = _cls(subject, body)
    assert category == "order", (lang, evidence)
    assert any(e.endswith(".other.machine_notice") for e in evidence)


@pytest.mark.parametrize(("subject", "body"), [
    ("Abwesend",
     "Dies ist eine automatisch generierte Nachricht. Ich bin bis 12.3. nicht im Büro."),
    ("Afwezig", "Dit is een automatisch gegenereerd bericht. Ik ben tot 12 maart niet op kantoor."),
    ("Hinweis", "Diese Nachricht wurde automatisch erstellt."),
])
def test_machine_notice_without_business_stays_other(subject: str, body: str) -> None:
    category, _ = _cls(subject, body)
    assert category == "other"


# --- compounds through suffixes --------------------------------------------------------------

def _index(suffixes: tuple[str, ...]) -> SequenceIndex:
    seq = parse_sequence(["@doc"], lambda name: name == "doc")
    rule = SequenceRule("xx.order.t", "de", (seq,), 4, False, True)
    return SequenceIndex([rule], {("de", "doc"): frozenset({"bestellung"})},
                         {("de", "doc"): ()}, frozenset(), suffixes={("de", "doc"): suffixes})


def test_suffix_reaches_compound_heads_only() -> None:
    index = _index(("bestellung",))
    bit = index._bits[("concept", "de", "doc")]
    assert index._mask("sammelbestellung") & bit
    assert index._mask("bestellung") & bit          # the listed form
    assert not index._mask("xbestellung") & bit     # two letters are no compound's modifier
    assert not index._mask("bestellungsweise") & bit


@pytest.mark.parametrize(("lang", "subject", "body"), [
    ("de", "Sammelbestellung", "Anbei unsere Sammelbestellung 4711 für März."),
    ("nl", "Inkooporder", "Hierbij onze raamovereenkomstbestelling 4711."),
])
def test_compound_order_documents_are_orders(lang: str, subject: str, body: str) -> None:
    category, evidence = _cls(subject, body)
    assert category == "order", (lang, evidence)


def test_short_suffix_is_refused() -> None:
    with pytest.raises(ConceptError, match="suffixes need"):
        parse_concepts("de", {"concepts": {"x": {"suffixes": ["ung"]}}})


# --- hedges and conditions -------------------------------------------------------------------

@pytest.mark.parametrize(("subject", "body"), [
    ("Anfrage", "Wir wollen 20 Stück Ventile bestellen, wenn der Preis stimmt."),
    ("Anfrage", "Wir wollen eventuell 20 Stück bestellen und bitten um ein Angebot."),
    ("Commande", "Nous commanderons 20 vannes, si le prix est correct."),
    ("Beställning", "Vi vill beställa 20 ventiler, om ni kan leverera vecka 12."),
    ("Order", "We will order 20 valves, if you can deliver by Friday."),
])
def test_conditional_order_is_no_order(subject: str, body: str) -> None:
    category, _ = _cls(subject, body)
    assert category != "order", body


@pytest.mark.parametrize(("subject", "body"), [
    ("Bestellung", "Wir wollen 20 Stück Ventile bestellen."),
    ("Bestellung",
     "Wir bestellen hiermit 20 Stück Ventile, falls möglich mit Lieferung bis KW 12."),
    ("Order", "We would like to order 20 valves, if possible by Friday."),
    ("Commande", "Nous commandons 20 vannes, si possible avant vendredi."),
])
def test_courtesy_keeps_the_order(subject: str, body: str) -> None:
    category, _ = _cls(subject, body)
    assert category == "order", body


def test_condition_helpers() -> None:
    hedges = frozenset({"eventuell", "perhaps"})
    text = "Wir wollen eventuell 20 Stück bestellen"
    assert condition_inside(text, 4, len(text), hedges)
    assert not condition_inside("Wir wollen 20 Stück bestellen", 4, 29, hedges)
    text = "we order 20 pcs, unless the price has changed since March."
    assert condition_after(text, len("we order 20 pcs"))
    text = "we order 20 pcs, as agreed. If you cannot deliver, call us."
    assert not condition_after(text, len("we order 20 pcs"))
    assert not condition_after("we order 20 pcs, delivery to Leeds if possible.", 15)
    assert not condition_after("Wir bestellen 20 Stück, falls möglich bis KW 12.", 22,
                               RULES.lifts_for("de"))


# --- item lines ------------------------------------------------------------------------------

def test_item_lines_of_a_complaint_are_no_order() -> None:
    category, evidence = _cls(
        "Reklamation PO 4500123",
        "Bei unserer Bestellung 4500123 ist Folgendes beschädigt:\n"
        "Pos 1: 20 Stück Ventil DN50 - Gehäuse gerissen\nBitte um Ersatz.")
    assert "clf.order_lines" not in evidence
    assert category == "feedback"


def test_item_lines_of_a_quote_request_are_no_order() -> None:
    _, evidence = _cls(
        "Demande d'offre", "Pourriez-vous nous faire une offre pour :\n"
        "- bride DN50 inox : 570 pièces\nRéf. de votre confirmation de commande 452835683.")
    assert "clf.order_lines" not in evidence


# --- a change of a named order, when nothing is complained about ---------------------------

@pytest.mark.parametrize(("subject", "body", "category"), [
    ("Price review BO-2025-7",
     "Under clause 4 of blanket order BO-2025-7 we request a price reduction of 3 % for all "
     "releases from 1 May. Please confirm the new prices.", "order"),
    ("Late and too expensive, PO 4500998",
     "Our PO 4500998 arrived two weeks late and the parts were scratched. This is not "
     "acceptable. We request a price reduction of 10 %.", "feedback"),
])
def test_price_change_of_an_order_is_a_change_order_unless_complained(
    subject: str, body: str, category: str
) -> None:
    c = classify(MessageInput(subject=subject, body_text=body), RULES)
    assert c.scope_change
    assert c.category == category
