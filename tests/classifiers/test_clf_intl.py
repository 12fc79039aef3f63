"""Branch i12-intl (2026-12-07): language-level faults of the non-English rules, each with
positive and negative sentences written for these tests (no corpus text):

* a condition right after an order act without a comma ("wir bestellen 100 Stück wenn Sie
  bis KW 22 liefern können"), through the concepts ``cond_after`` / ``cond_after_weak`` /
  ``cond_subject``: no order, and the mail asks whether the condition holds (enquiry);
  a courtesy ("wenn möglich"), a request, Dutch "als volgt" and Swedish "om 40 st" are no
  condition, and English (which defines none) keeps "need 4 shafts today if you have them";
* Italian past participles of request verbs report an act ("grazie per averci inviato
  l'offerta"), they request nothing (concept key ``not_endings``);
* the hand-written probe batches ``tests/classifiers/data/intl_probes_*`` stay right.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers import load_rules
from classifiers.concepts import ConceptError, parse_concepts
from classifiers.evaluation import evaluate
from classifiers.matching import condition_after
from gateway.workflows.rule_eval import classify_raw, load_corpus
from tests.support.probes import category_and_rules

RULES = load_rules()
DATA = Path(__file__).parent / "data"


def _cls(subject: str, body: str) -> tuple[str, set[str]]:
    return category_and_rules(subject, body, RULES)


CONDITION_WITHOUT_COMMA = [
    ("de", "100 Stück", "Wir bestellen 100 Stück wenn Sie bis KW 22 liefern können."),
    ("de", "Preis", "Wir bestellen 50 Stück falls der Preis unter 4 Euro bleibt."),
    ("nl", "Levertijd", "Wij bestellen de 40 pompen als jullie de levertijd van 6 weken halen."),
    ("nl", "Prijs", "We bestellen 20 stuks indien de prijs gelijk blijft."),
    ("fr", "Délai", "Nous passerons commande des 200 pièces si vous pouvez livrer avant juin."),
    ("es", "Plazo", "Encargaríamos 500 unidades si pueden entregar antes de mayo."),
    ("it", "Prezzo", "Ordineremmo 200 pezzi se il prezzo scende sotto i 4 euro."),
    ("pt", "Prazo", "Encomendamos 20 unidades se conseguirem entregar até ao fim do mês."),
    ("sv", "Leverans", "Vi beställer 300 st om ni kan leverera före midsommar."),
    ("da", "Levering", "Vi bestiller 50 stk hvis I kan levere i uge 20."),
    ("pl", "Cena", "Zamówimy 100 sztuk jeśli cena będzie poniżej 30 zł."),
    ("cs", "Termín", "Objednáme 50 kusů pokud dodáte do konce dubna."),
]

KEPT_ORDERS = [
    ("de", "Bestellung", "Hiermit bestellen wir 100 Stück wenn möglich bis KW 22."),
    ("de", "Bestellung", "Bitte liefern Sie uns 100 Stück Art. 4711 wenn die Ware fertig ist."),
    ("nl", "Bestelling", "Hierbij bestellen wij als volgt: 20 stuks drukregelaar DR-12."),
    ("sv", "Beställning", "Vi beställer härmed 40 st filter F-200 enligt er offert 2291."),
    ("fr", "Commande", "Nous commandons 30 filtres si possible avant fin mai."),
    ("es", "Pedido", "Les encargamos 500 unidades, si es posible antes de mayo."),
    ("en", "Order", "Need 4 x shafts today if you have them on the shelf."),
]


@pytest.mark.parametrize(("lang", "subject", "body"), CONDITION_WITHOUT_COMMA)
def test_condition_without_comma_makes_an_enquiry(lang: str, subject: str, body: str) -> None:
    category, evidence = _cls(subject, body)
    assert category == "enquiry", (lang, body, evidence)
    assert f"{lang}.enquiry.conditional_order" in evidence, evidence


@pytest.mark.parametrize(("lang", "subject", "body"), KEPT_ORDERS)
def test_courtesy_request_and_other_words_keep_the_order(
    lang: str, subject: str, body: str
) -> None:
    category, evidence = _cls(subject, body)
    assert category == "order", (lang, body, evidence)


def test_condition_after_reads_the_language_openers() -> None:
    de, nl, en = RULES.lifts_for("de"), RULES.lifts_for("nl"), RULES.lifts_for("en")
    text = "Wir bestellen 100 Stück wenn Sie bis KW 22 liefern können."
    end = len("Wir bestellen 100 Stück")
    assert condition_after(text, end, de, 0)
    assert not condition_after(text, end, de, 0, timed=False)  # scope rules: not read
    assert not condition_after(text.replace("wenn", "if"), end, en, 0)  # English: none
    text = "Wij bestellen 20 stuks als u de prijs houdt."
    assert condition_after(text, len("Wij bestellen 20 stuks"), nl, 0)
    text = "Wij bestellen 20 stuks als proef."
    assert not condition_after(text, len("Wij bestellen 20 stuks"), nl, 0)


@pytest.mark.parametrize("body", [
    "Grazie per averci inviato l'offerta, la valuteremo internamente.",
    "Abbiamo ricevuto la vostra offerta, grazie.",
    "Grazie per averci mandato il preventivo.",
])
def test_italian_participle_requests_nothing(body: str) -> None:
    category, evidence = _cls("Re: offerta", body)
    assert category == "other", (body, evidence)
    assert "it.enquiry.quote_request" not in evidence


def test_italian_request_still_read() -> None:
    category, evidence = _cls("Offerta", "Vi chiediamo di farci un preventivo per 20 pompe.")
    assert category == "enquiry"
    assert "it.enquiry.quote_request" in evidence


def test_not_endings_need_lemmas() -> None:
    with pytest.raises(ConceptError, match="not_endings"):
        parse_concepts("it", {"concepts": {"x": {"forms": ["inviare"], "not_endings": ["ato"]}}})


@pytest.mark.parametrize(
    ("batch", "least"),
    [
        ("intl_probes_1", 0.95),
        ("intl_probes_2", 0.95),
        ("intl_probes_3", 0.95),  # i12-intl3: fixed from (0.783 on main, 0.971 after)
        ("intl_probes_4", 0.76),  # i12-intl3's honest batch, never fixed from: a floor only
        ("intl_probes_5", 0.95),  # i12-intl4: 0.545 on int, 1.000 after (rules from own sentences)
    ],
)
def test_probe_batch(batch: str, least: float) -> None:
    """Batch 1 was written before the rules of this branch, batch 2 after its first round and
    scored once before the second (figures in docs/classifier.md); both were fixed from, so
    this keeps them right, it measures nothing."""
    folder = DATA / batch
    if not folder.exists():
        pytest.skip(f"{batch} not present")
    report = evaluate((m.expected, classify_raw(m.raw, RULES)) for m in load_corpus(folder))
    assert report.accuracy >= least
