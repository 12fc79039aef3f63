"""The identifier prefilter finds exactly what a scan of every position finds."""

from __future__ import annotations

import re

import pytest

from classifiers import identifiers, load_rules
from classifiers.identifiers import extract_identifiers
from classifiers.latin_view import latin_view
from classifiers.regex_starts import (
    PREFIX_CHARS,
    Finder,
    cased_finder,
    finder,
    first_chars,
    prefixes,
)

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
    # Latin-1 only (scanned as mapped bytes): capitals with accents, "º" and "°", "P.O.", "S/N"
    "NÚMERO DE SÉRIE 778899; Nº 5566 (PEDIDO) ; n° 4711, P.O. 12345 et S/N:99887 Ä-1",
    # beyond Latin-1 (scanned as UTF-16 units mapped by a table): labels and numbers right
    # next to Polish and Czech letters, typographic quotes, "€", "№"
    "łzamówienie nr 123456ł, ąPO-1234 zł; číslo objednávky: 778899ř „PO# 4455“ order 99887€",
    "Zamówienie nr 55667ę\u2013order№ 8812 ŁRMA-24-0412 \u2018SN 22334455\u2019 ęserial 445566"
    " ŚPO 778812",
    # digits beyond Latin-1 ("\\d" takes them), and an emoji (no view: the str is scanned)
    "order ٣٤٥٦٧ and order 12٣45 ł, PO# 4500٤ ok",
    "order 12345 👍 zamówienie nr 556677 ł and S/N 99887766",
]


@pytest.fixture(scope="module")
def combined() -> list[tuple[re.Pattern[str], list[object]]]:
    return identifiers._combined(load_rules())  # type: ignore[return-value]


def test_both_alternations_get_a_finder(combined: list) -> None:
    kinds = {bool(regex.flags & re.I): identifiers._finder(regex, group)[:2]
             for regex, group in combined}
    assert kinds[True][0] is not None
    assert kinds[False][0] is not None
    assert kinds[True][1] is not None  # the labels: which of them to try at a start
    assert kinds[False][1] is None


def _read(m: re.Match[str], n: int) -> tuple[int, tuple[int, int], tuple[int, int]]:
    """What ``_take`` reads of a match: its pattern, its span and its value's span."""
    return n, m.span(), m.span(identifiers._value_group(m, n))


@pytest.mark.parametrize("text", TEXTS)
def test_finder_scan_equals_the_full_scan(text: str, combined: list) -> None:
    for regex, group in combined:
        find, dispatch, _ = identifiers._finder(regex, group)
        if find is None:
            continue
        view = latin_view(text)
        stretches = identifiers._stretches(text, identifiers._kinds(text, view))
        # every stretch, and every piece of the text that starts and ends at a space
        cuts = [0, *(m.start() for m in re.finditer(" ", text)), len(text)]
        pieces = [(a, b) for a in cuts for b in cuts if a < b]
        for lo, hi in [(0, len(text)), *((a, b) for a, b, _ in stretches), *pieces]:
            everywhere = [m.span() for m in regex.finditer(text, lo, hi)]
            read = [_read(m, identifiers._alternative(m, len(group)))
                    for m in regex.finditer(text, lo, hi)]
            for given in (None, view):
                found = identifiers._matches(text, regex, find, lo, hi, given)
                assert [m.span() for m in found] == everywhere
                if dispatch is not None:  # the patterns a start can take, one by one
                    tried = identifiers._dispatched(
                        text, regex, find, dispatch, len(group), lo, hi, given)
                    assert [_read(m, n) for n, m in tried] == read
            if "\u0130" not in text[max(0, lo - 1) : hi] and isinstance(find, Finder):
                assert find.starts(text, lo, hi, view) is not None  # the finder was used
        _check_after_the_digits(text, regex, group, stretches)


def _check_after_the_digits(text: str, regex: re.Pattern[str], group: list,
                            stretches: list[tuple[int, int, int]]) -> None:
    """After a stretch's last digit only the patterns ``_finder`` names are tried: the label
    patterns one by one give the same matches; the case-sensitive alternation (none named)
    gives those that start before the last digit, and what it found after it adds nothing."""
    find, dispatch, after = identifiers._finder(regex, group)
    for lo, hi, last in stretches:
        view = latin_view(text)
        if dispatch is not None and isinstance(find, Finder):
            every = [_read(m, n) for n, m in identifiers._dispatched(
                text, regex, find, dispatch, len(group), lo, hi, view)]
            cut = [_read(m, n) for n, m in identifiers._dispatched(
                text, regex, find, dispatch, len(group), lo, hi, view, last, after)]
            assert cut == every
            continue
        assert not after
        matches = list(identifiers._matches(text, regex, find, lo, hi, view))
        before = list(identifiers._matches(text, regex, find, lo, hi, view, last))
        assert [m.span() for m in before] == [m.span() for m in matches if m.start() < last]
        for m in matches[len(before):]:
            n = identifiers._alternative(m, len(group))
            found: list = []
            identifiers._take(text, m, group[n], f"v{n}", found)
            assert found == [], (text, m)


def test_patterns_tried_after_the_last_digit(combined: list) -> None:
    """The label patterns that can match without a digit (their lists can reach digits
    further on) are tried after a stretch's last digit; no case-sensitive one is (a drawing
    revision code without digits is not plausible and has no list)."""
    for regex, group in combined:
        after = identifiers._finder(regex, group)[2]
        names = {group[n].id for n in after}
        if regex.flags & re.I:
            assert names == {"id.drawing.labelled", "id.drawing.nearby", "id.serial.sample"}
        else:
            assert names == set()


def test_a_list_after_the_last_digit_is_followed_to_digits_further_on() -> None:
    """A drawing label after a number, then a list of codes without digits that runs past the
    stretch into the next one: its coded item with digits is found, as before."""
    codes = ", ".join(f"A{chr(65 + i % 26)}-B{chr(65 + i % 26)}" for i in range(60))
    text = f"PO 4500123456 is open. Other drawings {codes}, XY-12345 attached."
    found = extract_identifiers("", text, load_rules())
    assert ("drawing", "XY-12345") in {(i.kind, i.value) for i in found}


def test_dispatch_keeps_every_pattern_that_matches_at_a_start(combined: list) -> None:
    """At every start the finder gives, each label pattern that matches there is among the
    ones the dispatch tries, also where the stretch ends right after the start."""
    regex, group = next((r, g) for r, g in combined if r.flags & re.I)
    find, dispatch, _ = identifiers._finder(regex, group)
    assert isinstance(find, Finder) and dispatch is not None
    for text in TEXTS:
        view = latin_view(text)
        for hi in range(1, len(text) + 1):
            got = find.candidates(text, 0, hi, view)
            if got is None or got[1] is None:
                continue
            starts, mapped, at = got
            for pos in starts:
                chosen = {n for n, _ in dispatch.choose(mapped[pos - at : pos - at + PREFIX_CHARS])}
                for n, pat in enumerate(group):
                    if pat.regex.match(text, pos, hi) is not None:
                        assert n in chosen, (text, pos, hi, pat.id)


def test_latin_view_of_texts_beyond_latin_1() -> None:
    assert latin_view("Numéro 12").units is None  # Latin-1: its own bytes
    view = latin_view("zł 12\u0663ę")
    assert view is not None and view.units is not None
    assert view.mapped(identifiers._ROW_BYTES, 0, 6) == b"xxxddd"  # the Arabic-Indic three too
    assert view.mapped(identifiers._ROW_BYTES, 1, 5) == b"xxdd"
    assert latin_view("order 12 \U0001f44d") is None  # two UTF-16 units: positions would shift


def test_the_digits_of_the_kinds_are_those_of_backslash_d() -> None:
    """The digit clusters are read from the header rows' table: its "d" must be "\\d"."""
    table = identifiers._ROW_BYTES.full()
    digits = {c for c in range(0x10000) if re.match(r"\d", chr(c))}
    assert {c for c in range(0x10000) if table[c] == ord("d")} == digits


def test_identifiers_next_to_letters_beyond_latin_1() -> None:
    rules = load_rules()
    text = "Zamówienie nr 123456 \u2013 łączna kwota; číslo objednávky 778899 řád, ąPO-1234 zł"
    found = identifiers.extract_identifiers("", text, rules)
    assert [i.value for i in found] == ["123456", "778899"]
    # glued to a letter beyond Latin-1 on either side: a word character like any other
    assert identifiers.extract_identifiers("", "łzamówienie nr 123456ł, ąPO# 4455", rules) == ()


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


def test_cased_finder_needs_a_code_not_a_capitalised_word() -> None:
    find = cased_finder(re.compile(r"(?<![\w/-])(?:PO-\d+|RMA\d+|4[45]\d{8})"), r"[\w/-]")
    assert find is not None
    text = "Please send PO-123, RMA77 and 4500123456; not xPO-1, /PO-2, Pa or 4612."
    assert find.starts(text, 0, len(text)) == [12, 20, 30]
    assert find.starts(text, 13, len(text)) == [20, 30]
    assert find.starts(text, 47, 52) == []  # "xPO-1": the character before lo is seen
    # in mapped bytes: Latin-1, and beyond it (a letter beyond Latin-1 is a word character)
    for view_text in (text, text.replace("Please", "Pleąse").replace("not x", "not ł")):
        view = latin_view(view_text)
        assert find.starts(view_text, 0, len(view_text), view) == [12, 20, 30]
        assert find.starts(view_text, 13, len(view_text), view) == [20, 30]
        assert find.starts(view_text, 12, len(view_text), view) == [12, 20, 30]
        assert find.starts(view_text, 47, 52, view) == []
    assert find.starts("PO-1 łPO-2 \u201cPO-3", 0, 16, latin_view("PO-1 łPO-2 \u201cPO-3")) == [
        0, 12]
    assert cased_finder(re.compile(r"(?<![\w-])PO-\d+", re.I), r"[\w-]") is None


def _kinds(text: str) -> bytes | None:
    return identifiers._kinds(text, latin_view(text))


def _stretches_by_digit_run(text: str) -> list[tuple[int, int, int]]:
    """The definition: one step per digit run (the code finds clusters of runs instead)."""
    behind, ahead = identifiers.LOOK_BEHIND, identifiers.LOOK_AHEAD
    out: list[tuple[int, int, int]] = []
    lo = last = -1
    for m in re.finditer(r"\d+", text):
        start, end = m.span()
        if lo < 0:
            lo = max(0, start - behind)
        elif start - behind > last + ahead:
            hi = identifiers._stretch_end(text, last)
            if start - behind > hi:
                out.append((lo, hi, last))
                lo = start - behind
        last = end
    if lo >= 0:
        out.append((lo, identifiers._stretch_end(text, last), last))
    return out


@pytest.mark.parametrize("gap", [0, 1, 239, 240, 241, 242, 400, 401, 402, 1000])
def test_stretches_are_those_of_every_digit_run(gap: int) -> None:
    for filler in ("x" * gap, ("word " * gap)[:gap], "x" * (gap // 2) + " " + "y" * gap):
        # Latin-1 (its superscript two is no digit to "\d") and beyond (an Arabic-Indic three is)
        for digits in ("5\u00b2\u00e9", "5\u0663"):
            text = f"a 12 {filler}34 b{filler}{digits} {filler}7"
            assert identifiers._stretches(text, _kinds(text)) == _stretches_by_digit_run(text)
    for text in TEXTS:
        assert identifiers._stretches(text, _kinds(text)) == _stretches_by_digit_run(text)


def test_a_choice_of_lookbehinds_leaves_the_first_characters_to_what_follows() -> None:
    # "(?<=our )ref|(?<=your )ref": without this every alternation holding it loses its class.
    assert first_chars(r"(?:(?<=\bour\s)|(?<=\byour\s))ref|Zeichen", re.I) == set("rRzZ")
