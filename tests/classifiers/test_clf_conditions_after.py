"""Branch i12-cond (2026-12-07): language-level faults, each with positive and negative
sentences in several languages, written for these tests (no corpus text):

* a condition opened by "once" / "as soon as" (with or without a comma) right after an order or
  a hand-over makes it hypothetical; "as soon as possible" is urgency, and a request timed
  by it ("please return the gauges once ...") asks for the act now, and "as soon as they are
  available" times a firm act;
* "please find attached our order" is read in every language, and a document attached about
  an order ("our complaint about order 4711") is no order;
* a French or Italian quote request after a thanks is read.
"""

from __future__ import annotations

import pytest

from classifiers import load_rules
from classifiers.matching import condition_after, topic_inside
from tests.support.probes import category_and_rules

RULES = load_rules()


def _cls(subject: str, body: str) -> tuple[str, set[str]]:
    return category_and_rules(subject, body, RULES)


# --- a condition after the act ----------------------------------------------------------------

CONDITIONAL_ORDERS = [
    ("en", "Order", "We will order 500 pcs once we have your final price."),
    ("de", "Bestellung", "Wir bestellen 500 Stück, sobald wir Ihren Endpreis haben."),
    ("fr", "Commande", "Nous commanderons 500 pièces dès que nous aurons votre prix définitif."),
    ("it", "Ordine", "Ordineremo 500 pezzi non appena avremo il vostro prezzo definitivo."),
    ("es", "Pedido", "Haremos el pedido de 500 piezas en cuanto tengamos su precio final."),
    ("nl", "Bestelling", "Wij bestellen 500 stuks zodra wij uw definitieve prijs hebben."),
    ("sv", "Beställning", "Vi beställer 500 st så snart vi har ert slutliga pris."),
    ("cs", "Objednávka", "Objednáme 500 ks, jakmile budeme mít vaši konečnou cenu."),
    ("pl", "Zamówienie", "Zamówimy 500 sztuk, gdy tylko otrzymamy ostateczną cenę."),
    ("pt", "Encomenda", "Vamos encomendar 500 peças assim que tivermos o vosso preço final."),
    ("fr", "Commande", "Nous commanderons 500 pièces une fois que le budget sera validé."),
    ("it", "Ordine", "Ordineremo 500 pezzi una volta che il budget sarà approvato."),
]

CONDITIONAL_HAND_OVERS = [
    ("en", "Moulds", "We will send the moulds once the contract is signed."),
    ("de", "Werkzeuge", "Wir schicken Ihnen die Werkzeuge sobald der Vertrag unterschrieben ist."),
    ("fr", "Moules", "Nous vous enverrons les moules dès que le contrat sera signé."),
    ("it", "Stampi", "Vi invieremo gli stampi non appena il contratto sarà firmato."),
    ("es", "Moldes", "Les enviaremos los moldes en cuanto se firme el contrato."),
    ("nl", "Matrijzen", "Wij sturen u de matrijzen zodra het contract is ondertekend."),
    ("cs", "Nástroje", "Nástroje vám pošleme, jakmile bude podepsána smlouva."),
    ("pl", "Formy", "Wyślemy formy gdy tylko umowa zostanie podpisana."),
]

URGENT_ORDERS = [
    ("en", "Order", "We hereby order 500 pcs of part 4711, please deliver as soon as possible."),
    ("de", "Bestellung", "Hiermit bestellen wir 500 Stück Art 4711 sobald wie möglich."),
    ("fr", "Commande", "Nous commandons 500 pièces, livraison dès que possible."),
    ("it", "Ordine", "Ordiniamo 500 pezzi, consegna non appena possibile."),
    ("es", "Pedido", "Les hacemos un pedido de 500 piezas, entrega en cuanto sea posible."),
    ("nl", "Bestelling", "Wij bestellen 500 stuks, levering zodra mogelijk."),
    ("sv", "Beställning", "Vi beställer 500 st, leverans så snart som möjligt."),
    ("cs", "Objednávka", "Objednáváme 500 ks, dodání jakmile to bude možné."),
    ("pl", "Zamówienie", "Zamawiamy 500 sztuk, dostawa gdy tylko będzie to możliwe."),
    ("en", "Order", "We order 500 pcs if possible by Friday."),
    ("en", "Order", "Need 4 x shafts today if you have them on the shelf."),
    ("en", "Order", "We hereby order 500 pcs. Please deliver once the tooling is approved."),
    ("de", "Bestellung", "Anbei unsere Bestellung 4711. Bitte liefern Sie, sobald die Erstmuster "
     "freigegeben sind."),
    ("en", "Order", "We ordered these parts once before; we order 20 more now."),
    # the goods ready or in stock: a delivery time, not a condition
    ("en", "Order", "We need 500 pcs as soon as they are available."),
    ("de", "Bestellung", "Wir bestellen 500 Stück, sobald die Ware verfügbar ist."),
    ("fr", "Commande", "Nous commandons 500 pièces dès qu'elles sont disponibles."),
    ("it", "Ordine", "Ordiniamo 500 pezzi non appena disponibili."),
    ("es", "Pedido", "Les hacemos un pedido de 500 piezas tan pronto como estén listas."),
    ("nl", "Bestelling", "Wij bestellen 500 stuks zodra ze beschikbaar zijn."),
    ("sv", "Beställning", "Vi beställer 500 st så snart de finns i lager."),
    ("pt", "Encomenda", "Encomendamos 500 peças logo que estejam disponíveis."),
    ("pl", "Zamówienie", "Zamawiamy 500 sztuk, gdy tylko będą dostępne."),
]


@pytest.mark.parametrize(("lang", "subject", "body"), CONDITIONAL_ORDERS)
def test_order_waiting_for_a_condition_is_no_order(lang: str, subject: str, body: str) -> None:
    category, _ = _cls(subject, body)
    assert category != "order", (lang, body)


@pytest.mark.parametrize(("lang", "subject", "body"), CONDITIONAL_HAND_OVERS)
def test_hand_over_waiting_for_a_condition_is_no_property(
    lang: str, subject: str, body: str
) -> None:
    _, evidence = _cls(subject, body)
    assert not any(".property.item_sent" in r or ".property.tooling_sent" in r
                   or ".property.item_handed_over" in r for r in evidence), (lang, evidence)


@pytest.mark.parametrize(("lang", "subject", "body"), URGENT_ORDERS)
def test_urgency_keeps_the_order(lang: str, subject: str, body: str) -> None:
    category, _ = _cls(subject, body)
    assert category == "order", (lang, body)


def test_a_request_timed_by_once_keeps_the_property() -> None:
    category, _ = _cls("Gauges", "Please return our gauges as soon as the calibration is finished.")
    assert category == "property"


def test_condition_after_helper() -> None:
    de = RULES.lifts_for("de")
    text = "We will send the moulds once the NDA is signed."
    assert condition_after(text, len("We will send the moulds"))
    assert not condition_after("We order these once a month.", len("We order these"))
    assert not condition_after("Please ship at once.", len("Please ship"))
    text = "Wir bestellen 500 Stück sobald wie möglich."
    assert not condition_after(text, len("Wir bestellen 500 Stück"), de)
    text = "Please return the gauges once the calibration is done."
    assert not condition_after(text, len("Please return the gauges"), start_char=7)
    assert condition_after(text, len("Please return the gauges"))  # no start: not known


# --- an order attached, and a document attached about an order --------------------------------

ATTACHED_ORDERS = [
    ("en", "Order 4711", "Hello,\nplease find attached our order 4711.\nRegards"),
    ("it", "Ordine PO 4711", "Buongiorno,\nin allegato trovate il nostro ordine numero PO 4711."),
    ("fr", "Commande 4711", "Bonjour,\nveuillez trouver ci-joint notre commande n° 4711."),
    ("es", "Pedido 4711", "Hola,\nadjunto les enviamos nuestro pedido nº 4711."),
    ("de", "Bestellung 4711", "Guten Tag,\nanbei erhalten Sie unsere Bestellung 4711."),
    ("nl", "Bestelling 4711", "Beste,\nin de bijlage vindt u onze bestelling 4711."),
    ("pt", "Encomenda 4711", "Bom dia,\nsegue em anexo o nosso pedido 4711."),
    ("pl", "Zamówienie 4711", "Dzień dobry,\nw załączeniu przesyłamy zamówienie nr 4711."),
    ("cs", "Objednávka 4711", "Dobrý den,\nv příloze vám zasíláme naši objednávku č. 4711."),
    ("sv", "Beställning 4711", "Hej,\nbifogat finner ni vår beställning 4711."),
    ("da", "Ordre 4711", "Hej,\nvedhæftet finder I vores ordre 4711."),
    # the topic word after the order: the order is still what is attached
    ("en", "Order", "Please find attached our order regarding your offer 55."),
    ("it", "Ordine", "In allegato il nostro ordine relativo alla vostra offerta 55."),
    ("pl", "Zamówienie", "W załączeniu przesyłamy zamówienie dotyczące oferty 55."),
    ("de", "Bestellung", "Hiermit bestellen wir bezüglich Ihres Angebots 4711 500 Stück."),
]

ATTACHED_ABOUT_AN_ORDER = [
    ("en", "Complaint", "Attached is our complaint about order 4711: the parts are scratched."),
    ("it", "Reclamo", "In allegato il reclamo relativo all'ordine 4711: i pezzi sono graffiati."),
    ("it", "Fattura", "In allegato la fattura relativa al vostro ordine 4711."),
    ("fr", "Réclamation", "Veuillez trouver ci-joint notre réclamation concernant la commande "
     "4711 : les pièces sont rayées."),
    ("es", "Reclamación", "Adjunto les enviamos nuestra reclamación sobre el pedido 4711: las "
     "piezas están rayadas."),
    ("pl", "Reklamacja", "W załączeniu przesyłamy reklamację dotyczącą zamówienia 4711: części "
     "są porysowane."),
    ("sv", "Reklamation", "Bifogat finner ni vår reklamation gällande order 4711: delarna är "
     "repade."),
]


@pytest.mark.parametrize(("lang", "subject", "body"), ATTACHED_ORDERS)
def test_attached_order_is_an_order(lang: str, subject: str, body: str) -> None:
    category, evidence = _cls(subject, body)
    assert category == "order", (lang, body)
    assert any(not r.endswith("po_mention") and ".order." in r for r in evidence), evidence


@pytest.mark.parametrize(("lang", "subject", "body"), ATTACHED_ABOUT_AN_ORDER)
def test_document_attached_about_an_order_is_no_order(lang: str, subject: str, body: str) -> None:
    category, _ = _cls(subject, body)
    assert category != "order", (lang, body)


def test_topic_inside_helper() -> None:
    topic = RULES.lifts_for("en").topic
    text = "attached is our complaint about order"
    assert topic_inside(text, 0, len(text), topic)
    assert not topic_inside("attached is our order", 0, 21, topic)


# --- a quote request after a thanks ------------------------------------------------------------

@pytest.mark.parametrize(("subject", "body"), [
    ("Demande", "Merci pour votre confirmation. Pourriez-vous nous envoyer une offre pour 250 "
     "pièces selon le plan ci-joint ?"),
    ("Demande", "Nous avons bien reçu votre confirmation de commande 364521, merci. Pourriez-vous "
     "nous envoyer une offre pour 250 pièces ?"),
    ("Demande", "Merci pour votre retour. Merci de nous envoyer votre meilleure offre pour 100 "
     "brides."),
    ("Demande", "Merci pour votre confirmation. Pourriez-vous nous faire une offre pour 500 "
     "vannes DN50 ?"),
    ("Richiesta", "Grazie per la vostra conferma. Potreste farci un'offerta per 500 valvole?"),
    ("Richiesta", "Abbiamo ricevuto la vostra conferma d'ordine 364521, grazie. Potreste inviarci "
     "un'offerta per 250 pezzi secondo il disegno allegato?"),
])
def test_quote_request_after_thanks_is_an_enquiry(subject: str, body: str) -> None:
    category, evidence = _cls(subject, body)
    assert category == "enquiry", body
    assert any(r.endswith("enquiry.quote_request") for r in evidence), evidence


def test_thanks_for_a_sent_offer_is_no_request() -> None:
    _, evidence = _cls("Offre", "Merci de nous avoir envoyé votre offre. Nous revenons vers vous.")
    assert "fr.enquiry.quote_request" not in evidence


def test_a_change_timed_by_once_is_still_asked_for() -> None:
    text = "3. ship it by express as soon as it is ready instead of by truck"
    assert not condition_after(text, len("3. ship it by express"), timed=False)
    assert condition_after(text, len("3. ship it by express"))


def test_an_abbreviation_does_not_end_the_sentence() -> None:
    text = "Vi bestiller 500 stk. så snart budgettet er godkendt."
    assert condition_after(text, len("Vi bestiller"))
    assert not condition_after("We order 20 pcs. Once again, thanks.", len("We order 20 pcs"))


def test_a_long_clause_is_read_in_full() -> None:
    en = RULES.lifts_for("en")
    text = ("We will send the moulds once the contract that our legal department is still "
            "reviewing with your lawyers is signed by both parties, if possible this week.")
    assert condition_after(text, len("We will send the moulds"), en)
    text = "We order 500 pcs once possible, as agreed with your sales department last week."
    assert not condition_after(text, len("We order 500 pcs"), en)
