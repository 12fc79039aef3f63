"""The identifier prefilter finds exactly what a scan of every position finds."""

from __future__ import annotations

import re

import pytest

from classifiers import identifiers, load_rules
from classifiers.regex_starts import finder, prefixes

TEXTS = [
    "Please confirm our purchase order no. 4500123456 and PO# 77812 by Friday.",
    "PURCHASE ORDER 4711-22, order 8812 and orders 8813, 8814 and 8815.",
    "Unsere Bestellnummer lautet BE-20931; Rahmenauftrag 55123 bleibt.",
    "Numéro de commande : 88123. Nuestro pedido n° 99123-A.",
    "Serial numbers S/N 11223344 / SN 22334455, drawing DWG-1234 rev B.",
    # the long s and the Kelvin sign are the same letters as "s" and "k" to re.IGNORECASE
    "purcha\u017fe order 123456 and the \u212aelvin \u017ferial 998877",
    # a dotless i, and a capital I with dot, whose lowercase has two characters
    "\u0131nventory no. 55667 and \u0130nventory no. 77889",
    "zamówienie nr 123456, objednávka č. 998877, beställning 556677",
    "order\n- 12345\n- 12346\n\nRMA 24-0412 for the return",
]


@pytest.fixture(scope="module")
def combined() -> list[tuple[re.Pattern[str], list[object]]]:
    return identifiers._combined(load_rules())  # type: ignore[return-value]


def test_the_case_insensitive_alternation_gets_a_finder(combined: list) -> None:
    kinds = {bool(regex.flags & re.I): identifiers._finder(regex) for regex, _ in combined}
    assert kinds[True] is not None
    assert kinds[False] is None  # case-sensitive: the engine skips on its own


@pytest.mark.parametrize("text", TEXTS)
def test_finder_scan_equals_the_full_scan(text: str, combined: list) -> None:
    for regex, _ in combined:
        find = identifiers._finder(regex)
        if find is None:
            continue
        stretches = identifiers._stretches(text)
        # every stretch, and every piece of the text that starts and ends at a space
        cuts = [0, *(m.start() for m in re.finditer(" ", text)), len(text)]
        pieces = [(a, b) for a in cuts for b in cuts if a < b]
        for lo, hi in [(0, len(text)), *stretches, *pieces]:
            everywhere = [m.span() for m in regex.finditer(text, lo, hi)]
            prefiltered = [m.span() for m in identifiers._matches(text, regex, find, lo, hi)]
            assert prefiltered == everywhere
            if "\u0130" not in text[max(0, lo - 1) : hi]:
                assert find.starts(text, lo, hi) is not None  # the finder was used


def test_long_s_and_dotted_capital_i_still_found() -> None:
    rules = load_rules()
    long_s = identifiers.extract_identifiers("", TEXTS[5], rules)  # through the finder
    assert {i.value for i in long_s} >= {"123456", "998877"}
    dotted = identifiers.extract_identifiers("", TEXTS[6], rules)  # "İ": scanned everywhere
    assert {i.value for i in dotted} >= {"55667", "77889"}


def test_prefixes_are_what_a_match_can_start_with() -> None:
    assert prefixes(r"(?:P\.?O|purchase\s+order)\s*\d+", re.I) == {"P.O", "PO", "pur"}
    assert prefixes(r"Q-\d{2,4}", 0) == {"Q-"}  # a class ends the prefix, nothing is appended
    assert prefixes(r"\w+\d", re.I) is None  # can start with anything
    assert prefixes(r"(?:ab)?c", 0) == {"abc", "c"}


def test_no_finder_for_case_sensitive_or_unbounded_patterns() -> None:
    assert finder(re.compile(r"(?<![\w-])PO-\d+"), r"[\w-]") is None
    assert finder(re.compile(r"(?<![\w-])\w+\d", re.I), r"[\w-]") is None
    assert finder(re.compile(r"(?<![\w-])order \d+", re.I), r"[\w-]") is not None
