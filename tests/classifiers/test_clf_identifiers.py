"""Identifiers without company configuration: cue words in every supported language, common
prefix shapes, lists and ranges, and the numbers that only look like identifiers."""

from __future__ import annotations

import pytest

from classifiers import load_rules
from classifiers.identifiers import extract_identifiers

RULES = load_rules()


def _found(body: str, subject: str = "") -> list[tuple[str, str]]:
    return [(i.kind, i.value) for i in extract_identifiers(subject, body, RULES)]


@pytest.mark.parametrize(
    ("lang", "sentence", "expected"),
    [
        # order / purchase-order numbers
        ("en", "Please confirm our purchase order no. 78231-B by Friday.", ("po", "78231-B")),
        ("en", "Our PO for the samples is WM-2025-0220.", ("po", "WM-2025-0220")),
        ("de", "Unsere Bestellnummer lautet 2025-BS-0419.", ("po", "2025-BS-0419")),
        ("de", "bitte ändern Sie den Liefertermin für Auftrag 771203.", ("po", "771203")),
        ("fr", "Voici notre bon de commande n° BC-22817.", ("po", "BC-22817")),
        ("es", "Os pasamos el pedido,\nnº SIE-25-0142, en el CSV.", ("po", "SIE-25-0142")),
        ("it", "Vi confermiamo l'ordine n. 2025/0193 per i raccordi.", ("po", "2025/0193")),
        ("nl", "Hierbij onze bestelling 8812034 voor de flenzen.", ("po", "8812034")),
        ("pt", "Segue a nossa encomenda nº EC-4471 para as válvulas.", ("po", "EC-4471")),
        ("pl", "W załączeniu przesyłamy zamówienie nr ZM/2025/118.", ("po", "ZM/2025/118")),
        ("pl", "Prosimy o potwierdzenie zamówienia 55120.", ("po", "55120")),
        ("sv", "Vi bekräftar beställningen 30441 enligt offert.", ("po", "30441")),
        ("da", "Vedhæftet vores ordre nr. 66210 til levering i uge 12.", ("po", "66210")),
        ("cs", "Zasíláme objednávku č. OBJ-2025-077 na těsnění.", ("po", "OBJ-2025-077")),
        # returns
        ("en", "We shipped the unit back under RMA 88412 yesterday.", ("rma", "88412")),
        ("de", "Die Rücksendung 4471-R ist unterwegs.", ("rma", "4471-R")),
        ("fr", "Le retour n° 30917 est parti ce matin.", ("rma", "30917")),
        ("es", "Adjuntamos la devolución 2025-0412.", ("rma", "2025-0412")),
        ("it", "Il reso n. 77120 è stato spedito.", ("rma", "77120")),
        ("cs", "Reklamace č. 2025/311 se týká čerpadla.", ("rma", "2025/311")),
        # serial numbers
        ("en", "The serial on the plate is AF21-062214, if that helps.", ("serial", "AF21-062214")),
        ("de", "Seriennummer: 4471-0093", ("serial", "4471-0093")),
        ("fr", "Le n° de série 99120-B est illisible.", ("serial", "99120-B")),
        ("es", "número de serie 1200934", ("serial", "1200934")),
        ("it", "numero di serie MX-20331", ("serial", "MX-20331")),
        ("nl", "Het serienummer is 55-10293.", ("serial", "55-10293")),
        ("pl", "numer seryjny 7719203", ("serial", "7719203")),
        ("cs", "výrobní číslo 2210771", ("serial", "2210771")),
        # quotes
        ("en", "Thanks for quotation 25-0411, we accept it.", ("quote", "25-0411")),
        ("de", "Wir nehmen Ihr Angebot AN-2025-114 an.", ("quote", "AN-2025-114")),
        ("fr", "Suite à votre devis 2025-118, nous commandons.", ("quote", "2025-118")),
        ("es", "Aceptamos la cotización 4471.", ("quote", "4471")),
        ("it", "Accettiamo l'offerta n. 2025-77.", ("quote", "2025-77")),
        ("nl", "Wij gaan akkoord met offerte 2025-1180.", ("quote", "2025-1180")),
        ("cs", "Děkujeme za nabídku č. 2025-0912.", ("quote", "2025-0912")),
        ("da", "Tak for tilbud 77310.", ("quote", "77310")),
        # drawings
        ("en", "Attached is drawing KL-4410-02 for the bracket.", ("drawing", "KL-4410-02")),
        ("de", "siehe Zeichnung HZ-7781-A", ("drawing", "HZ-7781-A")),
        ("fr", "selon plan n° PL-2231-C", ("drawing", "PL-2231-C")),
        ("it", "come da disegno DS-5510-B", ("drawing", "DS-5510-B")),
        ("nl", "volgens tekening TK-3301-A", ("drawing", "TK-3301-A")),
        ("pl", "zgodnie z rysunkiem RY-8812-01", ("drawing", "RY-8812-01")),
        ("cs", "podle výkresu VY-1203-B", ("drawing", "VY-1203-B")),
    ],
)
def test_cue_words_in_each_language(lang: str, sentence: str, expected: tuple[str, str]) -> None:
    assert _found(sentence) == [expected], lang


@pytest.mark.parametrize(
    "sentence",
    [
        "We would like to order 500 pcs of the gasket.",  # a quantity
        "Bitte bestellen Sie 2 Stück.",  # no number after the cue
        "Nous commandons 1500 pièces, devis 3 pages.",
        "Il nostro ordine arriverà il 12/03/2025.",  # a date
        "Our offer 2025 prices are attached; Bestellungen 2024 waren höher.",  # a year
        "Pedido 1250,00 EUR pagado.",  # an amount
        "order 2400 EUR net",
        "zamówienie 1200 szt",
        "Objednávka 3500 kusů.",
        "The return was fine, thanks.",
        "Die Zeichnung kommt morgen.",
    ],
)
def test_cue_words_without_a_number_find_nothing(sentence: str) -> None:
    assert _found(sentence) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Returned under RMA-70395 last week.", [("rma", "RMA-70395")]),
        ("Late delivery on SO-250165, again.", [("po", "SO-250165")]),
        ("Chasing our RFQ-2025-0231 from March.", [("quote", "RFQ-2025-0231")]),
        ("QT-4471 is still valid?", [("quote", "QT-4471")]),
        ("PO-55102 and ORD-88231 are open.", [("po", "PO-55102"), ("po", "ORD-88231")]),
        ("Gauges for calibration job CAL-31912 shipped.", [("rma", "CAL-31912")]),
        ("Unit SN1048831 is back.", [("serial", "SN1048831")]),
        ("See DRG-20417-B for the flange.", [("drawing", "DRG-20417-B")]),
        ("AA-55121 rev D - support bracket, 40 off", [("drawing", "AA-55121")]),
    ],
)
def test_prefix_shapes_need_no_cue_word(body: str, expected: list[tuple[str, str]]) -> None:
    assert _found(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        "Call me on +44 117 496 0381 or 0117 4960381.",
        "Tel.: 4520123456",  # would fit the SAP order range without the cue
        "Fax 4412345678",
        "Our VAT no. DE123456789; USt-IdNr. DE811234567; TVA FR40303265045.",
        "IBAN DE89370400440532013000, BIC COBADEFFXXX",
        "Bank: IBAN GB33BUKB20201555555555",
        "Delivery on 2025-03-14, order date 14.03.2025, quote date 03/14/25.",
        "Unit price 1,250.00 EUR; order value EUR 4500.00; order 4500 USD",
        "Tracking number 1Z4E72196811802271, DPD parcel 01234567890123",
        "Sendungsnummer 4512345678 (DHL)",
        "Norland Precision, Hangar Road, Bristol BS34 7QW; 80331 München; 00-950 Warszawa",
        "Re: [NPC-001042] [ACME-2031] [RMA-7711] your message",
    ],
)
def test_distractors_are_rejected(body: str) -> None:
    assert _found(body) == []


def test_distractor_next_to_a_real_number_keeps_the_number() -> None:
    body = "PO 4500871234 placed on 2025-03-14, call +45 20123456, IBAN DK5000400440116243."
    assert _found(body) == [("po", "4500871234")]


def test_list_after_one_label_in_several_languages() -> None:
    assert _found("serials: A1234, A1235 and A1236") == [
        ("serial", "A1234"), ("serial", "A1235"), ("serial", "A1236"),
    ]
    assert [v for _, v in _found("Seriennummern 771203, 771204 und 771205")] == [
        "771203", "771204", "771205",
    ]
    assert [v for _, v in _found("numéros de série 55120 et 55121")] == ["55120", "55121"]
    assert [v for _, v in _found("serienummers 99101 en 99102")] == ["99101", "99102"]
    assert [v for _, v in _found("numery seryjne 44120 oraz 44121")] == ["44120", "44121"]


def test_one_serial_per_line_list() -> None:
    body = "Serial numbers:\n- AF19-040011 (pump A)\n- AF19-040012\n- AF21-066731\nThanks"
    assert [v for _, v in _found(body)] == ["AF19-040011", "AF19-040012", "AF21-066731"]


def test_line_list_stops_at_a_line_of_another_shape() -> None:
    body = "S/N 100231\n100232\n2 units were damaged\n100233 is not ours"
    assert [v for _, v in _found(body)] == ["100231", "100232"]


def test_range_after_a_label_is_expanded_within_bounds() -> None:
    body = "Please find the list of drawings attached\n(4 parts, XY-DET-101 to XY-DET-104)."
    assert [v for _, v in _found(body)] == ["XY-DET-101", "XY-DET-102", "XY-DET-103", "XY-DET-104"]
    wide = "serials 100001 to 100900"  # a span of values, not items someone lists
    assert [v for _, v in _found(wide)] == ["100001"]


def test_codes_of_the_family_of_a_drawing_are_drawings_too() -> None:
    subject = "RFQ - machined brackets AA-55120 / AA-55121"
    body = "FAI pack for AA-55121 rev D attached."
    assert _found(body, subject) == [("drawing", "AA-55121"), ("drawing", "AA-55120")]


def test_order_numbers_do_not_pull_in_their_family() -> None:
    body = "We order NP-2210 bushings on PO 4500871234; NP-2211 is fine."
    assert [v for _, v in _found(body)] == ["4500871234"]


def test_asset_and_tool_numbers_name_a_unit_in_our_care() -> None:
    body = "our asset tags LM-FX-07 and LM-FX-08, and our tool no. F-0118"
    assert _found(body) == [("serial", "LM-FX-07"), ("serial", "LM-FX-08"), ("serial", "F-0118")]


def test_configured_format_wins_over_a_shipped_pattern() -> None:
    """A company's serials look like order numbers to the shipped rules ("order" + number):
    the configured format decides the kind, and the value is not split or doubled."""
    own = load_rules(extra_identifier_patterns=[("serial", r"77\d{2}-\d{4}-[A-Z]")])
    got = extract_identifiers("", "Re your order 7712-0931-K: the unit is noisy.", own)
    assert [(i.kind, i.value) for i in got] == [("serial", "7712-0931-K")]
    assert _found("Re your order 7712-0931-K: the unit is noisy.") == [("po", "7712-0931-K")]


def test_identifiers_far_from_other_digits_are_still_found() -> None:
    """Only stretches around digits are scanned: a long label-free prose before and after a
    number must not hide it."""
    prose = "We have been discussing this with the team for quite a while now. " * 40
    body = prose + "Our purchase order number is PO-88120." + prose
    assert _found(body) == [("po", "PO-88120")]


def test_tracking_an_order_is_not_a_tracking_number() -> None:
    assert _found("Could you track order 4500871234 for me?") == [("po", "4500871234")]


def test_item_table_columns_named_by_a_cue_word() -> None:
    body = (
        "Please calibrate these:\n\n"
        "item,description,manufacturer,serial_no,range\n"
        "1,Thread plug gauge M6x1,Bowers,VS-TPG-0113,M6x1\n"
        "2,Plain ring gauge 12.000 mm,Mahr,VS-RG-0021,12 mm\n"
        "3,Height gauge 0-300 mm,Mitutoyo,52041887,0-300 mm\n\n"
        "Pos\tArtikel\tMenge\tBestellnummer\n"
        "10\tNP-2210\t50\t4500871234\n"
        "20\tNP-2211\t20\t4500871235\n\n"
        "Thanks"
    )
    assert _found(body) == [
        ("serial", "VS-TPG-0113"),
        ("serial", "VS-RG-0021"),
        ("serial", "52041887"),
        ("po", "4500871234"),
        ("po", "4500871235"),
    ]


def test_tables_without_an_identifier_column_and_comma_prose_give_nothing() -> None:
    body = (
        "Pos | Part | Qty | Price\n"
        "10 | NP-2210 | 50 | 12.40\n"
        "20 | NP-2211 | 20 | 8.10\n"
        "Thanks, the order, the drawing, and the serial are all fine.\n"
        "2025-03-14, 4500, 1200\n"
    )
    assert _found(body) == []


def test_header_rows_are_those_of_the_backtracking_pattern() -> None:
    """The possessive cells of ``_ROW`` find the same header rows as the plain pattern, on
    random lines of cell characters, separators, digits and newlines, in the str and in the
    byte-mapped view of the text."""
    import random
    import re

    from classifiers import identifiers

    plain = identifiers._ROW.replace("}+", "}")
    first, following = re.compile(f"({plain})"), re.compile(rf"\n({plain})")

    def rows(text: str) -> list[tuple[int, int]]:
        m = first.match(text)
        out = [m.span(1)] if m else []
        return out + [r.span(1) for r in following.finditer(text, m.end() if m else 0)]

    rng = random.Random(12)
    alphabet = ["a", "b", " ", "Serial no.", "x" * 29, "\t", "|", ";", ",", "7", "\n", "\n"]
    # Beyond ASCII: a Latin-1 letter, a letter and a digit beyond Latin-1 (the view's UTF-16
    # table), a superscript (a digit to isdigit, not to "\d"), a carriage return, an emoji
    # (no view: the str patterns).
    wider = [*alphabet, "é", "ł", "\u0663", "\u00b2", "\r", "\U0001f600"]
    for n in range(6000):
        letters = alphabet if n % 2 else wider
        text = "".join(rng.choice(letters) for _ in range(rng.randint(0, 40)))
        view = identifiers.latin_view(text)
        kinds = identifiers._kinds(text, view)
        assert list(identifiers._header_rows(text, kinds)) == rows(text), repr(text)
        assert list(identifiers._header_rows(text)) == rows(text), repr(text)
    assert rows("Pos;Serial no.;Qty\n1;SN-4471;2") == [(0, 18)]  # the test can find a row


@pytest.mark.parametrize(
    ("lang", "sentence", "expected"),
    [
        ("en", "Please quote our ref. KT-20931 on the invoice.", ("po", "KT-20931")),
        ("en", "Your reference RA-66120: the unit is packed.", ("rma", "RA-66120")),
        ("de", "Ihr Zeichen: AB/2231/25, unser Zeichen 7781-MK.", ("po", "AB/2231/25")),
        ("fr", "n/réf. CF-88120 - merci de la rappeler.", ("po", "CF-88120")),
        ("es", "Indiquen ns. ref. 2025-PD-118 en el albarán.", ("po", "2025-PD-118")),
        ("it", "Vi preghiamo di citare ns. rif. 2025/0412.", ("po", "2025/0412")),
        ("nl", "Graag onze referentie VK-7712 vermelden.", ("po", "VK-7712")),
        ("pt", "Indiquem a nossa referência EN-5521 na fatura.", ("po", "EN-5521")),
        ("pl", "Prosimy powołać się na nasz znak ZK/118/25.", ("po", "ZK/118/25")),
        ("sv", "Ange vår referens 55102-A på följesedeln.", ("po", "55102-A")),
        ("da", "Angiv venligst vores reference DK-30418.", ("po", "DK-30418")),
        ("cs", "Uveďte prosím naše značka: ZN-4410.", ("po", "ZN-4410")),
        ("en", "Your quote reference KLQ-24-0311 is accepted.", ("quote", "KLQ-24-0311")),
    ],
)
def test_our_and_your_reference_in_each_language(
    lang: str, sentence: str, expected: tuple[str, str]
) -> None:
    assert expected in _found(sentence), (lang, _found(sentence))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("The PO for the pumps: 4500123", [("po", "4500123")]),
        ("Please remove the cabinet from our service contract WB-SC-2025.",
         [("po", "WB-SC-2025")]),
        ("Le contrat de maintenance CM-22318 expire en mai.", [("po", "CM-22318")]),
        ("Our repair order RO-22318 is late.", [("rma", "RO-22318")]),
        ("Bitte den Serviceauftrag 771-2231 bestätigen.", [("rma", "771-2231")]),
        ("Destroy the remaining samples KT-7781, please.", [("serial", "KT-7781")]),
        ("Zboží vracíme pod číslem vratky XA-30755.", [("rma", "XA-30755")]),
        ("PO | 4500123 | 12 pcs", [("po", "4500123")]),
        ("RMA: 30417, 30418 and 30419", [("rma", "30417"), ("rma", "30418"), ("rma", "30419")]),
    ],
)
def test_cues_a_few_words_away_contracts_jobs_samples(
    body: str, expected: list[tuple[str, str]]
) -> None:
    assert _found(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Can we add two balances to SRV-40112?", [("rma", "SRV-40112")]),
        ("Re: Cancel KSO-20417", [("po", "KSO-20417")]),
        ("Could you extend KLQ-24-0311 to June?", [("quote", "KLQ-24-0311")]),
        ("The unit went back under RA30417 today.", [("rma", "RA30417")]),
        ("Returned under KX-RA-2231 on Monday.", [("rma", "KX-RA-2231")]),
        ("The requisition REQ-219181, not a quote.", [("po", "REQ-219181")]),
    ],
)
def test_seller_prefixes_of_kinds_need_no_cue_word(
    body: str, expected: list[tuple[str, str]]
) -> None:
    assert _found(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        "We are ISO-9001 and ISO-14001 certified.",
        "See FAQ-2031 on our portal.",
        "Our ref: INV-2025-0012, your ref. TKT-88120",  # invoice and ticket references
        "Your request has been logged with reference number AP-448812.",  # a helpdesk ticket
        "Your ref. 2025-03-14; our ref +44 117 496 0381",
        "we took 3 samples from 12 batches; samples 40 pcs",
        "the contract 2231 runs for 36 months",  # a contract without its kind is no identifier
    ],
)
def test_new_cues_keep_distractors_out(body: str) -> None:
    assert _found(body) == []


# Number signs between a cue and its number, as each language writes them (i12-ids2). Every
# cue of the order, quote, return and serial kinds takes every sign; the sentence around is
# neutral, so only the cue and the sign decide.
NUMBER_SIGNS = ("", "nº", "n.º", "n°", "n. °", "no.", "No", "Nr.", "nr", "č.", "č", "#", "num.",
                "núm.", "Nro.", "número", "numero", "nummer", "numer", "číslo", "n.", "N:o")
CUES = {
    "po": ("purchase order", "PO", "Bestellung", "Auftrag", "commande", "bon de commande",
           "commande d'achat", "pedido", "pedido de compra", "orden de compra", "encomenda",
           "nota de encomenda", "ordem de compra", "ordine", "ordine d'acquisto",
           "ordine di acquisto", "bestelling", "inkooporder", "zamówienie",
           "zamówienie zakupu", "objednávka", "beställning", "inköpsorder", "ordre",
           "indkøbsordre", "bestilling"),
    "quote": ("quotation", "quote", "offer", "Angebot", "devis", "offre", "presupuesto",
              "cotización", "oferta", "offerta", "preventivo", "offerte", "orçamento",
              "cotação", "proposta", "nabídka", "offert", "tilbud", "wycena",
              "Kostenvoranschlag"),
    "rma": ("RMA", "return authorisation", "Rücksendung", "Retoure", "retour", "devolución",
            "devolução", "reso", "zwrot", "retur", "reklamace", "vratka", "reklamacja"),
    "serial": ("serial", "S/N", "Seriennummer", "matricola", "serienummer", "numer seryjny",
               "výrobní číslo"),
}


@pytest.mark.parametrize(("kind", "cue"), [(k, c) for k, cues in CUES.items() for c in cues])
def test_every_number_sign_after_every_cue(kind: str, cue: str) -> None:
    for sign in NUMBER_SIGNS:
        sentence = f"Bitte: {cue} {sign} 4471203 danke".replace("  ", " ")
        assert _found(sentence) == [(kind, "4471203")], sentence


@pytest.mark.parametrize(
    ("lang", "sentence", "expected"),
    [
        # multi-word order cues
        ("pt", "Segue a nossa nota de encomenda n.º 2024/518 para os motores.",
         ("po", "2024/518")),
        ("pt", "Segue pedido de compra nº 4520087 conforme cotação.", ("po", "4520087")),
        ("pt", "Anexamos a ordem de compra N.º 77120-B.", ("po", "77120-B")),
        ("es", "Adjunto orden de compra n.º 88120-A.", ("po", "88120-A")),
        ("es", "Le enviamos el pedido de compra Nro. 55107.", ("po", "55107")),
        ("es", "Pedido núm. 30419 pendiente de entrega.", ("po", "30419")),
        ("it", "In allegato l'ordine d'acquisto n° 2024/771.", ("po", "2024/771")),
        ("it", "Vi inviamo l'ordine di acquisto nr. 60233.", ("po", "60233")),
        ("it", "Vi inviamo l\u2019ordine d\u2019acquisto 60234.", ("po", "60234")),  # curly
        ("it", "Conferma d'ordine n.º 77012 allegata.", ("po", "77012")),
        ("fr", "Ci-joint notre commande d'achat n° 71120.", ("po", "71120")),
        ("fr", "Veuillez trouver l'ordre d'achat No 44817.", ("po", "44817")),
        ("de", "Kundenauftrag 7712034 bitte bestätigen.", ("po", "7712034")),
        ("de", "Unsere PO-Nummer: 88213-7", ("po", "88213-7")),
        ("nl", "Inkoopordernummer: IO-2025-118", ("po", "IO-2025-118")),
        ("pl", "W załączeniu zamówienie zakupu nr 4520-118.", ("po", "4520-118")),
        ("pl", "Numer zamówienia: ZAM/0412/25", ("po", "ZAM/0412/25")),
        ("cs", "Zasíláme objednávku č 2025-0412.", ("po", "2025-0412")),
        ("cs", "Číslo objednávky: OB-77120", ("po", "OB-77120")),
        ("sv", "Bifogar inköpsorder nr 880412.", ("po", "880412")),
        ("da", "Købsordre 71102 er vedhæftet.", ("po", "71102")),
        # quotes
        ("es", "Aceptamos el presupuesto n.º 2025-0331.", ("quote", "2025-0331")),
        ("pt", "Conforme proposta comercial n.º PC-2025-044", ("quote", "PC-2025-044")),
        ("de", "Kostenvoranschlag Nr. 77120", ("quote", "77120")),
        ("pl", "Przesyłamy wycenę nr 88120.", ("quote", "88120")),
        ("cs", "Cenová nabídka č. 2025-118", ("quote", "2025-118")),
        # three-digit quote numbers: a number sign or an "as per" / possessive word says so
        ("it", "vi confermiamo l'ordine come da offerta 881.", ("quote", "881")),
        ("it", "Accettiamo l'offerta n. 881.", ("quote", "881")),
        ("en", "as per your quote 512 we order the pumps", ("quote", "512")),
        ("de", "Angebotsnummer 512", ("quote", "512")),
        ("fr", "selon votre devis 512", ("quote", "512")),
        ("cs", "dle nabídky č. 512", ("quote", "512")),
        # returns
        ("en", "Return order 55120 was created.", ("rma", "55120")),
        ("de", "RMA-Nummer: 77120", ("rma", "77120")),
        ("pt", "Devolução n.º 2025-0117", ("rma", "2025-0117")),
        ("it", "Autorizzazione al reso n° 77230", ("rma", "77230")),
        # serials
        ("pt", "N.º de série: 4471-0093", ("serial", "4471-0093")),
        ("it", "n. di serie MX-20332", ("serial", "MX-20332")),
        ("fr", "No de série 99121-B", ("serial", "99121-B")),
        ("pl", "nr fabryczny 7719204", ("serial", "7719204")),
        ("cs", "výr. č. 2210772", ("serial", "2210772")),
        ("sv", "Tillverkningsnummer 4410772", ("serial", "4410772")),
        # drawings of digits only, after a number sign
        ("en", "drawing no. 4471203", ("drawing", "4471203")),
        ("de", "Zeichnungsnummer: 4471204", ("drawing", "4471204")),
        ("fr", "plan n° 4471205", ("drawing", "4471205")),
        ("pl", "rysunek nr 4471206", ("drawing", "4471206")),
        ("cs", "výkres č. 4471207", ("drawing", "4471207")),
    ],
)
def test_multi_word_cues_and_number_signs_in_each_language(
    lang: str, sentence: str, expected: tuple[str, str]
) -> None:
    assert _found(sentence) == [expected], lang


@pytest.mark.parametrize(
    "body",
    [
        "Per l'ordine chiamare il 02 881 1234.",  # a phone number
        "L'offerta è valida 30 giorni.",  # a validity, no number
        "offerta valida 30 giorni",
        "offerta 881",  # three digits without a number sign or an "as per": a quantity maybe
        "as per our offer 120 pcs",  # a quantity
        "your quote 881 EUR",  # an amount
        "vores tilbud 881 kr.",
        "naszą ofertę 881 zł",
        "vaše nabídka 881 Kč",
        "zamówienie 1200 zł",
        "objednávka 4500 Kč",
        "ordre 4500 kr",
        "Pedido de compra: entrega até 15/03/2025.",  # dates
        "Pedido de compra nº 12/03/2025",
        "pedido de compra 2025-03-14",
        "Objednávka č. 2025",  # a bare year
        "Devis n° 2025",
        "drawing no. 2025",
        "the plan 4500 units for next year",
        "Pedido n.º 1.250,00 EUR",  # amounts and quantities
        "Nota de encomenda n.º 250 unidades",
        "offerta 120 pezzi",
        "pedido de 500 unidades",
        "Kostenvoranschlag über 1.200,00 EUR",
        "číslo objednávky 15 ks",
        "Orden de compra: IVA ES B12345678",  # VAT ids
        "Zamówienie zakupu nr NIP 5261040828",
        "ordine d'acquisto: P.IVA 01234567890",
        "Commande n° TVA FR40303265045",
        "Ordre nr. CVR 12345678",
        "Bestellung per Fax an 0049 89 1234567",  # phone numbers
        "Inkooporder: bel 020 5512 334",
        "Nabídka č. tel. 602 123 456",
        "Pedido de compra: ligar para +351 21 123 4567",
        "Pagamento da encomenda: IBAN PT50000201231234567890154",  # an IBAN
        "Sendungsnummer zur Bestellung 00340434161094042557",  # a parcel number
        "pedido de compra [BW-004471]",  # a case tag
        "Offert giltig 30 dagar",
        "Tilbud gælder i 14 dage",
        "oferta válida por 30 días",
    ],
)
def test_number_signs_and_multi_word_cues_keep_distractors_out(body: str) -> None:
    assert _found(body) == []


# i12-ids4: a subject that is only a code after a reply prefix, words between cue and value,
# N/S, anbud, rfq_ (three digits after an order word stay out).
@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("RE: IO-88321", "Any news on the order?", [("po", "IO-88321")]),
        ("AW: PO-4500012345", "Wann wird die Bestellung geliefert?", [("po", "PO-4500012345")]),
        ("SV: SO 250165", "När levereras ordern?", [("po", "SO 250165")]),
        ("Re: Re: KT-55120", "", [("po", "KT-55120")]),
        ("Odp: ZK-30417", "Kiedy wysyłka zamówienia?", [("po", "ZK-30417")]),
        ("RES: RA-20931", "", [("rma", "RA-20931")]),  # kind from the letters
        ("AW: KLQ-24-0311", "", [("quote", "KLQ-24-0311")]),
    ],
)
def test_subject_that_is_only_a_code(subject: str, body: str, expected: list) -> None:
    assert _found(body, subject) == expected


@pytest.mark.parametrize(
    "subject",
    [
        "RE: [NPC-1042]",  # a case tag
        "RE: INC-448812",  # tickets and invoices are refused like references
        "RE: TKT-44812",
        "AW: INV-20931",
        "RE: 2025-03-14",  # a date
        "RE: ISO-9001",  # standards
        "RE: EN 10204",
        "RE: COVID-19",
        "RE: IO-88321 delivery",  # not the whole subject: needs a cue as before
        "Status AB-12345",  # no reply prefix
    ],
)
def test_subject_code_distractors(subject: str) -> None:
    assert _found("", subject) == []


@pytest.mark.parametrize(
    ("lang", "sentence", "expected"),
    [
        ("de", "Bitte senden Sie uns das Werkzeug Nr. 4471 zurück.", ("serial", "4471")),
        ("de", "Prüfmittel Nr. 88120 ist fällig.", ("serial", "88120")),
        ("pt", "Segue o desenho técnico 88-120 revisado.", ("drawing", "88-120")),
        ("es", "Adjunto el plano técnico DT-4471.", ("drawing", "DT-4471")),
        ("fr", "Voir le dessin technique n° 4471203.", ("drawing", "4471203")),
        ("pl", "W załączeniu rysunek techniczny nr 4471203.", ("drawing", "4471203")),
        ("fr", "Merci pour la commande client 44712.", ("po", "44712")),
        ("es", "Adjunto el pedido cliente 44712.", ("po", "44712")),
        ("it", "Allego l'ordine cliente 44712.", ("po", "44712")),
        ("pl", "Dotyczy zamówienia klienta 44712.", ("po", "44712")),
        ("pt", "Equipamento N/S 77342210 com defeito.", ("serial", "77342210")),
        ("sv", "Tack för ert anbud 5512 på ventilerna.", ("quote", "5512")),
        ("en", "See the attached rfq_55120.pdf.", ("quote", "rfq_55120")),
    ],
)
def test_words_between_cue_and_value(lang: str, sentence: str, expected: tuple) -> None:
    assert expected in _found(sentence), lang


@pytest.mark.parametrize(
    "body",
    [
        "order 881",  # three digits without a number sign: a quantity
        "order no. 100 pcs",
        "order # 250 units",
        "Bestellung Nr. 881,50 EUR",
        "drawings 10-12 attached",
        "N/S: 2025",
        "anbudet gäller 30 dagar",
    ],
)
def test_ids4_distractors(body: str) -> None:
    assert _found(body) == []


def test_sibling_codes_are_those_of_the_lookbehind_first_pattern() -> None:
    """``_CODE`` consumes its first letter before the "not glued" lookbehind: the same codes
    as the pattern that looks behind first, on random texts of code characters, separators,
    brackets and letters beyond ASCII, from the start and from other positions."""
    import random
    import re

    from classifiers import identifiers

    plain = re.compile(r"(?<![\w\[/-])[A-Z]{1,6}(?:-[A-Z0-9]{1,8}){1,4}(?![\w\]]|-\w)")
    rng = random.Random(5)
    alphabet = ["A", "B", "Z", "a", "-", "[", "]", "/", "1", "9", " ", "é", "É", "\n", "AB-12",
                "-X", "_", "\u0663"]
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        for pos in range(0, len(text) + 1, 7):
            assert ([m.span() for m in identifiers._CODE.finditer(text, pos)]
                    == [m.span() for m in plain.finditer(text, pos)]), repr(text)
    assert [m.group(0) for m in identifiers._CODE.finditer("AA-55120 / [X-1] AB-12")] == [
        "AA-55120", "AB-12"]
