"""Language identification: short business mails in 11 languages, mixed chains, footers, and
the explicit rule fallback for languages that have no content rules of their own."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from classifiers import MessageInput, classify, load_rules
from classifiers.classify import rules_language
from classifiers.language import DEFAULT, SUPPORTED, detect_language, own_text
from classifiers.rules import DEFAULT_RULES_DIR

RULES = load_rules()
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "langid" / "short_mail.tsv"

# Three short mails per language (subject, body), not in the evaluation fixture.
SHORT_MAILS: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("Spare parts", "Hi, can you tell me if the seal kit for the P200 pump is in stock?"),
        ("PO 4500812", "Attached is our order for twelve valves. Please confirm by return."),
        ("Broken housing", "The pump you repaired last month is leaking again at the housing."),
    ],
    "de": [
        ("Ersatzteile", "Hallo, ist der Dichtungssatz für die Pumpe P200 vorrätig?"),
        ("Bestellung 4500812", "Anbei unsere Bestellung über zwölf Ventile. Bitte bestätigen."),
        ("Gehäuse defekt", "Die reparierte Pumpe ist schon wieder am Gehäuse undicht."),
    ],
    "fr": [
        ("Pièces détachées", "Bonjour, le kit de joints pour la pompe P200 est-il disponible ?"),
        ("Commande 4500812", "Ci-joint notre commande de douze vannes. Merci de confirmer."),
        ("Carter fissuré", "La pompe réparée le mois dernier fuit de nouveau au niveau du carter."),
    ],
    "es": [
        ("Repuestos", "Hola, ¿tienen en stock el juego de juntas para la bomba P200?"),
        ("Pedido 4500812", "Adjuntamos nuestro pedido de doce válvulas. Por favor confirmen."),
        ("Carcasa rota", "La bomba que repararon el mes pasado vuelve a perder por la carcasa."),
    ],
    "it": [
        ("Ricambi", "Buongiorno, avete disponibile il kit guarnizioni per la pompa P200?"),
        ("Ordine 4500812", "In allegato il nostro ordine di dodici valvole. Attendiamo conferma."),
        ("Corpo rotto", "La pompa riparata il mese scorso perde di nuovo dal corpo."),
    ],
    "nl": [
        ("Onderdelen", "Hallo, is de pakkingset voor de pomp P200 op voorraad?"),
        ("Order 4500812", "Hierbij onze bestelling van twaalf kleppen. Graag een bevestiging."),
        ("Behuizing lekt", "De pomp die jullie vorige maand hebben gerepareerd lekt weer."),
    ],
    "pt": [
        ("Peças", "Bom dia, o kit de vedantes para a bomba P200 está disponível?"),
        ("Encomenda 4500812", "Segue a nossa encomenda de doze válvulas. Aguardamos confirmação."),
        ("Corpo partido", "A bomba que repararam no mês passado voltou a ter uma fuga."),
    ],
    "pl": [
        ("Części zamienne", "Dzień dobry, czy zestaw uszczelek do pompy P200 jest dostępny?"),
        ("Zamówienie 4500812", "W załączeniu zamówienie na 12 zaworów. Prosimy o potwierdzenie."),
        ("Pęknięta obudowa", "Pompa naprawiona w zeszłym miesiącu znowu przecieka przy obudowie."),
    ],
    "sv": [
        ("Reservdelar", "Hej, finns packningssatsen till pumpen P200 i lager?"),
        ("Order 4500812", "Här kommer vår beställning på tolv ventiler. Vänligen bekräfta."),
        ("Trasigt hölje", "Pumpen som ni reparerade förra månaden läcker igen vid höljet."),
    ],
    "da": [
        ("Reservedele", "Hej, har I pakningssættet til pumpen P200 på lager?"),
        ("Ordre 4500812", "Her er vores bestilling på tolv ventiler. Bekræft venligst."),
        ("Utæt hus", "Pumpen, som I reparerede sidste måned, er utæt igen ved huset."),
    ],
    "cs": [
        ("Náhradní díly", "Dobrý den, máte skladem sadu těsnění pro čerpadlo P200?"),
        ("Objednávka 4500812", "V příloze posíláme objednávku 12 ventilů. Prosíme o potvrzení."),
        ("Prasklý plášť", "Čerpadlo, které jste minulý měsíc opravili, opět teče u pláště."),
    ],
}


@pytest.mark.parametrize(
    ("lang", "subject", "body"),
    [(lang, s, b) for lang, mails in SHORT_MAILS.items() for s, b in mails],
)
def test_short_business_mail_in_each_language(lang: str, subject: str, body: str) -> None:
    assert detect_language(body, subject) == lang
    result = classify(MessageInput(subject=subject, body_text=body), RULES)
    assert result.language == lang


def test_every_supported_language_is_covered() -> None:
    assert set(SHORT_MAILS) == set(SUPPORTED)


def test_hand_written_evaluation_set_per_language() -> None:
    """bench/langid_eval.py scores the same file; each language must stay at 90 % or more."""
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            lang, subject, body = line.split("\t")
            total[lang] += 1
            right[lang] += detect_language(body, subject) == lang
    assert set(total) == set(SUPPORTED)
    assert all(total[lang] >= 30 for lang in SUPPORTED)
    low = {lang: right[lang] / total[lang] for lang in SUPPORTED if right[lang] < 0.9 * total[lang]}
    assert low == {}


ENGLISH_HISTORY = (
    "Dear customer,\n"
    "thank you for your order. We have shipped the goods today and you will receive the "
    "invoice with the next mail. Please let us know if anything is missing from the delivery "
    "or if you have any further questions about the order.\n"
    "Kind regards\nSales team"
)


@pytest.mark.parametrize("gap", ["\n\n", "\n"])
@pytest.mark.parametrize(
    "header",
    [
        "Op di 3 mrt. 2025 om 10:12 schreef Sales <sales@acme.example>:",
        "Van: Sales <sales@acme.example>\nVerzonden: dinsdag 3 maart 2025 10:12",
        "-----Oorspronkelijk bericht-----\nVan: Sales <sales@acme.example>",
    ],
)
def test_dutch_reply_above_quoted_english_is_dutch(header: str, gap: str) -> None:
    body = (
        "Goedemiddag,\n\nKunnen jullie de levering naar week 48 verplaatsen? "
        "Onze hal is eerder niet klaar." + gap + header + "\n" + ENGLISH_HISTORY
    )
    result = classify(MessageInput(subject="Re: your order 4500812", body_text=body), RULES)
    assert result.language == "nl"


def test_quoted_history_with_markers_does_not_count() -> None:
    quoted = "\n".join(f"> {line}" for line in ENGLISH_HISTORY.splitlines())
    body = f"Bitte liefern Sie nur die Hälfte, der Rest folgt später.\n\n{quoted}"
    assert detect_language(body, "AW: Order") == "de"


def test_short_message_above_long_footer_in_another_language() -> None:
    body = (
        "Hej, vi behöver fem extra ventiler till samma order. Kan ni skicka dem i veckan?\n\n"
        "Acme Nordic AB is a subsidiary of Acme Holding. Our general terms and conditions "
        "apply to all orders and can be found on our website. We process personal data in "
        "line with our privacy notice, which you can request from our data protection officer."
    )
    assert detect_language(body, "") == "sv"
    assert "general terms" not in own_text(body)


def test_forward_without_own_text_counts_the_forwarded_content() -> None:
    body = (
        "---------- Forwarded message ---------\n"
        "Från: Inköp <inkop@kund.example>\n"
        "Vi vill beställa tio pumpar enligt offerten. Vänligen bekräfta leveransdatum."
    )
    assert detect_language(body, "Fwd: Beställning") == "sv"


def test_reply_below_the_quote_counts() -> None:
    quoted = "\n".join(f"> {line}" for line in ENGLISH_HISTORY.splitlines())
    body = f"{quoted}\n\nGrazie, ma ci servono 20 pezzi in più. Potete aggiornare l'ordine?"
    assert detect_language(body, "Re: order") == "it"


@pytest.mark.parametrize(
    ("subject", "lang"),
    [
        ("Zamówienie pilne, prosimy o potwierdzenie", "pl"),
        ("Richiesta di offerta per valvole in acciaio", "it"),
        ("Dringende bestelling van reserveonderdelen", "nl"),
    ],
)
def test_subject_only_message(subject: str, lang: str) -> None:
    assert classify(MessageInput(subject=subject, body_text=""), RULES).language == lang


@pytest.mark.parametrize(
    ("body", "subject"), [("", ""), ("   \n\n", ""), ("4500812 / 12", "#"), ("", "PO")]
)
def test_nothing_to_go_by_gives_the_default(body: str, subject: str) -> None:
    assert detect_language(body, subject) == DEFAULT == "en"
    assert classify(MessageInput(subject=subject, body_text=body), RULES).language == "en"


def test_rules_language_falls_back_to_english_for_languages_without_rules() -> None:
    assert set(RULES.languages()) >= {"en", "de", "fr", "es"}
    for lang in SUPPORTED:
        expected = lang if lang in RULES.languages() else "en"
        assert rules_language(lang, RULES) == expected


def test_dutch_mail_is_reported_dutch_and_classified_with_english_rules() -> None:
    """A Dutch order that names its document the English way: language "nl", and the
    English rules decide it as they did when Dutch was mistaken for English."""
    body = (
        "Goedemorgen,\n\nIn de bijlage vindt u onze purchase order 4500933120 voor twee pompen. "
        "Graag de leverdatum bevestigen.\n\nMet vriendelijke groet,\nJan de Vries"
    )
    result = classify(MessageInput(subject="Purchase order 4500933120", body_text=body), RULES)
    assert result.language == "nl"
    assert result.category == "order"
    assert any(e.rule_id.startswith("en.order.") for e in result.evidence)
    assert "4500933120" in {i.value for i in result.identifiers}


def test_a_language_gets_its_own_rules_once_a_rules_folder_exists(tmp_path: Path) -> None:
    root = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, root)
    # The shipped rules have a Dutch folder: take it out to start from a language without one.
    shutil.rmtree(root / "nl")
    assert rules_language("nl", load_rules(root)) == "en"
    (root / "nl").mkdir()
    (root / "nl" / "order.toml").write_text(
        '[[rules]]\nid = "nl.order.test_bestellen"\nweight = 4\n'
        'note = "test rule"\nphrases = ["wij bestellen"]\n',
        encoding="utf-8",
    )
    rules = load_rules(root)
    assert rules_language("nl", rules) == "nl"
    result = classify(
        MessageInput(subject="Bestelling", body_text="Hallo, wij bestellen hierbij tien kleppen."),
        rules,
    )
    assert result.language == "nl"
    assert any(e.rule_id == "nl.order.test_bestellen" for e in result.evidence)
