"""Extract business identifiers (PO, RMA, quote, serial, drawing numbers) from a message.

Patterns come from ``rules/identifiers.toml``: a label regex (the word that announces the
number, e.g. "PO#", "S/N", "Zeichnungs-Nr.") and a shape regex for the number itself. The
label is not part of the value ("PO 4500871234" -> "4500871234"); numbers whose prefix is part
of the number ("RMA-24-0412") are matched by shape alone. Identifiers are searched in the
subject and the whole body including quoted history, because a reply that quotes our order
confirmation still belongs to that order. Case tags in brackets ("[ACME-2031]") are threading
keys and are never returned.

A cue word is no proof: dates, amounts and quantities, phone and fax numbers, VAT ids, IBANs
and parcel tracking numbers that happen to stand where a number is expected are rejected
here, by their shape and by the words just before or after them. Lists after one label are
followed across "X, Y and Z" and across one-per-line lists whose items look alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from classifiers.latin_view import ByteTable, LatinView, latin_view
from classifiers.regex_starts import (
    PREFIX_CHARS,
    CasedFinder,
    Dispatch,
    Finder,
    cased_finder,
    finder,
    first_chars,
    lookahead,
    requires_digit,
)
from classifiers.rules import IdentifierPattern, RuleSet
from classifiers.types import Identifier

# Identifiers are found in the first part of very large bodies only; beyond that the text is
# almost always an attached listing, and scanning megabytes would slow the worker down.
MAX_SCAN = 100_000
# Rule ids of an installation's own formats (``--identifier-pattern`` / config) start so.
CONFIGURED = "extra."


def _plausible(value: str) -> bool:
    """A business number has several digits; rejects quantities ("order 500 pcs") and
    product codes ("MV-40") that happen to follow a label word."""
    digits = sum(map(str.isdigit, value))  # as a generator, but without a Python step a char
    if digits >= 4:
        return True
    letters = any(c.isalpha() for c in value)
    if digits == 3:
        return "-" in value and letters
    # Two-digit tail of a code of three groups ("LM-FX-07"): a tag, not a quantity or model.
    return digits == 2 and value.count("-") >= 2 and letters


# Dates, and a bare year ("our offer 2025", "Bestellungen 2024"), are not business numbers.
_DATE = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})|(?:19|20)\d{2}"
)
_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", re.I)
# UPS 1Z..., and bare digit runs longer than any order number: parcel numbers (DPD, GLS, DHL).
_TRACKING = re.compile(r"1Z[A-Z0-9]{16}|\d{13,}", re.I)
# Words that announce a number that is not ours, right before the whole match (label included).
_CUE = (
    r"\+|\b00|\b(?:tel|phone|fax|mobile?|mob|cell|telefon|t[ée]l[ée]phone|t[ée]l|"
    r"tel[ée]fono|telefoon|telefone|VAT|USt|UID|TVA|IVA|BTW|NIP|DI[ČC]|moms|CVR|IBAN|BIC|SWIFT|"
    r"tracking|sendungs\w*|suivi|seguimiento|tracciamento|track\s*&\s*trace|"
    r"przesy[łl]k\w*|z[áa]silk\w*|kolli\w*|parcel|consignment|waybill|AWB|post\s*code|zip|PLZ)"
    r"\b[^\w\n]{0,4}(?:(?:id|no|nr|number|numbers|code|ID-Nr|nummer)\b[^\w\n]{0,4})?"
)
# Searched over the 30 characters before each match: the class of the characters a cue can
# begin with goes first (zero-width, so no match changes), and at most positions the engine
# fails one class test instead of entering the cue words one by one (under IGNORECASE it
# cannot skip a word on its first letter): 63,000 -> 29,000 instructions a search.
_FOREIGN_CUE = re.compile(f"{lookahead(first_chars(_CUE, re.I))}(?:{_CUE})$", re.I)
# A unit, a currency (also the local signs zł, Kč, kr, Ft, lei) or decimals right after the
# number: a quantity or an amount.
_AMOUNT_AFTER = re.compile(
    r"(?:[.,]\d{1,2}\b(?![-/.,]?\d)|\s*(?:%|€|\$|£|(?:pcs|pc|pieces?|units?|off|ea|EUR|USD|GBP|"
    r"CHF|PLN|CZK|SEK|DKK|NOK|kg|mm|cm|St[üu]ck|Stk|szt|sztuk|ks|kus[ůu]|stk|st|pz|pezzi|"
    r"unidades|uds|unit[ée]s|stuks|x|zł|zl|Kč|kr|Ft|lei)\b))",
    re.I,
)
# One item per line: the rest of the line (short), then a bullet or item number, then the value.
_NEXT_LINE = re.compile(r"[^\n]{0,80}?\n[^\S\n]*(?:[-*•·]|\d{1,2}[.)])?[^\S\n]*")
_TOKEN_END = re.compile(r"[\s,;:)(]")


def _foreign(text: str, match_start: int, value: str, value_end: int) -> bool:
    """A date, amount, phone, VAT id, IBAN or tracking number where a business number was
    expected: its shape, or the word before the match, or the unit after it gives it away."""
    if _DATE.fullmatch(value) or _IBAN.fullmatch(value) or _TRACKING.fullmatch(value):
        return True
    if _FOREIGN_CUE.search(text, max(0, match_start - 30), match_start):
        return True
    return _AMOUNT_AFTER.match(text, value_end) is not None


def _family(value: str) -> tuple[str, int]:
    """Letters before the first digit and the number of digits: items of one list share them."""
    prefix = re.match(r"[^\d]*", value)
    return (prefix.group(0).upper() if prefix else "", sum(map(str.isdigit, value)))


def _same_family(a: str, b: str) -> bool:
    (pa, da), (pb, db) = _family(a), _family(b)
    return pa == pb and abs(da - db) <= 1


def _line_items(text: str, pos: int, first: str, pat: IdentifierPattern) -> list[tuple[int, str]]:
    """Items of a one-per-line list that starts with ``first``: each next line must begin
    (after a bullet) with a value of the same shape family, or the list ends."""
    out: list[tuple[int, str]] = []
    while (m := _NEXT_LINE.match(text, pos)) is not None:
        start = m.end()
        end = _TOKEN_END.search(text, start)
        stop = end.start() if end else len(text)
        value = text[start:stop].rstrip(".")
        if not value or not pat.shape.fullmatch(value) or not _same_family(first, value):
            break
        out.append((start, value))
        pos = start + len(value)
    return out


# "X to Y" after a list label: a range of numbers of one family (English, German, French,
# Spanish, Portuguese, Dutch, Swedish/Danish, Polish, Czech; en/em dash). "a" (es/it "to") is
# left out: it is "and" in Czech, and list items are read first.
_RANGE = re.compile(
    r"\s*(?:to|through|thru|bis|à|al|até|tot|t/m|till|til|do|až|\u2013|\u2014)\s*", re.I
)
_TAIL_NUMBER = re.compile(r"(.*?)(\d+)")
MAX_RANGE = 50  # a longer range is a span of values, not a list someone means item by item


def _expand_range(first: str, last: str) -> list[str]:
    """The numbers strictly between ``first`` and ``last`` when both differ only in their last
    digit group ("XY-101" to "XY-104" -> XY-102, XY-103); nothing when they are unrelated."""
    a, b = _TAIL_NUMBER.fullmatch(first), _TAIL_NUMBER.fullmatch(last)
    if a is None or b is None or a.group(1).upper() != b.group(1).upper():
        return []
    lo, hi, width = int(a.group(2)), int(b.group(2)), len(a.group(2))
    if len(b.group(2)) != width or not 0 < hi - lo <= MAX_RANGE:
        return []
    return [f"{a.group(1)}{n:0{width}d}" for n in range(lo + 1, hi)]


def _range_items(
    text: str, pos: int, first: str, pat: IdentifierPattern
) -> list[tuple[int, int, str]]:
    """``first`` to ``last`` right after a list label: the numbers between, as empty spans
    where the range word stands (they are nowhere in the text), then ``last`` itself."""
    sep = _RANGE.match(text, pos)
    if sep is None:
        return []
    start = sep.end()
    end = _TOKEN_END.search(text, start)
    last = text[start : end.start() if end else len(text)].rstrip(".")
    if not pat.shape.fullmatch(last) or not _same_family(first, last):
        return []
    inner = _expand_range(first, last)
    if not inner:
        return []
    at = sep.start()
    return [(at, at, v) for v in inner] + [(start, start + len(last), last)]


def _combined(rules: RuleSet) -> list[tuple[re.Pattern[str], list[IdentifierPattern]]]:
    """All patterns as two alternations (labelled: case-insensitive; shapes: case-sensitive),
    so the text is scanned twice instead of once per pattern. Built once per rule set.

    The "not glued to a word" lookbehind every pattern starts with is tested once, before the
    alternatives: inside a word the scan then moves on after one check instead of one per rule.
    The class of first characters is tested before that lookbehind (both are zero-width, so
    the order changes no match): it fails at most positions and costs less.
    """
    cached = rules._combined_identifiers
    if cached is None:
        cached = []
        for flags in (0, re.I):  # explicit formats first: they win ties over list items
            group = [p for p in rules.identifier_patterns if p.regex.flags & re.I == flags]
            if not group:
                continue
            head, alternatives = _alternatives(group)
            firsts = [first_chars(x, flags) for x in alternatives]
            body = "|".join(
                f"(?:{lookahead(f)}{x})" for x, f in zip(alternatives, firsts, strict=True)
            )
            known = [f for f in firsts if f is not None]
            union = set[str]().union(*known) if len(known) == len(firsts) else None
            cached.append((re.compile(f"{lookahead(union)}{head}(?:{body})", flags), group))
        rules._combined_identifiers = cached
    return cached


def _alternatives(group: list[IdentifierPattern]) -> tuple[str, list[str]]:
    """The lookbehind the patterns of ``group`` share, and each pattern without it, its value
    group named ``v{n}`` after its place in ``group``."""
    parts = [p.regex.pattern.replace("(?P<value>", f"(?P<v{n}>", 1) for n, p in enumerate(group)]
    head = _shared_lookbehind(parts)
    return head, [x[len(head):] for x in parts]


def _shared_lookbehind(parts: list[str]) -> str:
    """The leading negative lookbehind all patterns share, or "" when they differ."""
    first = re.match(r"\(\?<!(?:\\.|[^)\\])*\)", parts[0])
    if first is None or not all(x.startswith(first.group(0)) for x in parts):
        return ""
    return first.group(0)


# Every value holds a digit, and a label with its number word and filler words stands within
# LOOK_BEHIND characters before it: only stretches of text around digits are scanned (most of
# a mail is prose without numbers). Each stretch ends at a space, so no value is cut in two.
LOOK_BEHIND = 160
LOOK_AHEAD = 80
# Digit runs closer than LOOK_BEHIND + LOOK_AHEAD characters always share a stretch, so they
# are found as one cluster per match, in C: one Python step per cluster (about 4 a message)
# instead of one per digit run (about 32). The non-digits between are possessive: giving any
# back cannot put a digit after them.
_GAP = LOOK_BEHIND + LOOK_AHEAD
_CLUSTER = re.compile(rf"\d(?:\D{{0,{_GAP}}}+\d)*+")
# The same clusters in the text's ``_kinds`` (a digit is "d" there, as "\d" decides), where the
# engine compares single bytes instead of asking Unicode's tables about every character.
_BYTE_CLUSTER = re.compile(rf"d(?:[^d]{{0,{_GAP}}}+d)*+".encode())
_SPACE = re.compile(r"\s")


def _clusters(text: str, kinds: bytes | None) -> Iterator[tuple[int, int]]:
    """(start, end) of each cluster of digit runs, in order."""
    if kinds is None:  # beyond the Basic Multilingual Plane: Unicode's digits are many
        return (m.span() for m in _CLUSTER.finditer(text))
    return (m.span() for m in _BYTE_CLUSTER.finditer(kinds))


def _stretches(text: str, kinds: bytes | None) -> list[tuple[int, int, int]]:
    """Pieces of ``text`` around its digits where identifiers are searched, as (start, end,
    end of the last digit run in it: no digit follows in the piece). ``kinds``: the text's
    :func:`_kinds`."""
    out: list[tuple[int, int, int]] = []
    lo = last = -1  # the start of the stretch being grown, and the end of its last digit run
    for start, end in _clusters(text, kinds):
        # The stretch reaches at least LOOK_AHEAD past its last digits (or the end of the
        # text): only a cluster further away than that can begin a new one, and only then is
        # the space that ends the stretch looked for.
        if lo < 0:
            lo = max(0, start - LOOK_BEHIND)
        else:
            hi = _stretch_end(text, last)
            if start - LOOK_BEHIND > hi:
                out.append((lo, hi, last))
                lo = start - LOOK_BEHIND
        last = end
    if lo >= 0:
        out.append((lo, _stretch_end(text, last), last))
    return out


def _stretch_end(text: str, last: int) -> int:
    """The first space LOOK_AHEAD characters after the digits that end at ``last``."""
    space = _SPACE.search(text, last + LOOK_AHEAD)
    return space.start() if space else len(text)


def _spans(
    text: str, rules: RuleSet, view: LatinView | None = None, kinds: bytes | None = None
) -> list[tuple[int, int, str, str, bool]]:
    """(start, end, kind, value, configured) of every candidate; lookbehinds see the text
    before a stretch, so a stretch starting inside a word finds nothing glued to it.
    ``view`` and ``kinds``: the text's :func:`latin_view` and :func:`_kinds`.

    A match that starts after a stretch's last digit holds no digit (the stretch ends before
    the next one): only the patterns in ``after`` (:func:`_after_digits`) are tried there,
    and the case-sensitive alternation, whose such matches add nothing, is not tried."""
    found: list[tuple[int, int, str, str, bool]] = []
    stretches = _stretches(text, kinds)
    if not stretches:
        return found
    for regex, group in _combined(rules):
        find, dispatch, after = _finder(regex, group)
        for lo, hi, last in stretches:
            if dispatch is not None and isinstance(find, Finder):
                for n, m in _dispatched(text, regex, find, dispatch, len(group), lo, hi, view,
                                        last, after):
                    _take(text, m, group[n], _value_group(m, n), found)
            else:
                for m in _matches(text, regex, find, lo, hi, view, hi if after else last):
                    n = _alternative(m, len(group))
                    _take(text, m, group[n], f"v{n}", found)
    return found


def _value_group(m: re.Match[str], n: int) -> str:
    """The name of the value group of pattern ``n`` in ``m``: ``value`` in the pattern's own
    match, ``v{n}`` in a match of the combined alternation."""
    return "value" if "value" in m.re.groupindex else f"v{n}"


# The class of first characters that ``_combined`` puts before the shared lookbehind.
_FIRST_CHARS = re.compile(r"^\(\?=\[(?:\\.|[^\]\\])*\]\)")


# Built finders by the identity of their alternation. Not ``lru_cache``: its key is the
# pattern's hash, and ``re.Pattern.__hash__`` hashes the whole compiled program every call
# (about 110,000 instructions for the combined alternations, 3 % of a message's classify).
# The entry keeps its pattern alive, so its id cannot be reused by another.
_FINDERS: dict[
    int,
    tuple[re.Pattern[str], Finder | CasedFinder | None, Dispatch | None, frozenset[int]],
] = {}
_MAX_FINDERS = 16


def _finder(
    regex: re.Pattern[str], group: list[IdentifierPattern]
) -> tuple[Finder | CasedFinder | None, Dispatch | None, frozenset[int]]:
    """The prefilter of one combined alternation of ``group`` (``regex_starts.py``), for the
    case-insensitive one which of its patterns to try at a start, and the patterns tried
    after a stretch's last digit (:func:`_after_digits`); built on first use."""
    known = _FINDERS.get(id(regex))
    if known is not None and known[0] is regex:
        return known[1], known[2], known[3]
    head = _shared_lookbehind([_FIRST_CHARS.sub("", regex.pattern, count=1)])
    make = finder if regex.flags & re.I else cased_finder
    built = make(regex, head[len("(?<!") : -1]) if head else None
    dispatch = None
    if isinstance(built, Finder) and all(p.regex.flags == regex.flags for p in group):
        alternatives = _alternatives(group)[1]
        dispatch = Dispatch(alternatives, regex.flags, built.table.latin,
                            [p.regex for p in group])
    after = _after_digits(group)
    if len(_FINDERS) >= _MAX_FINDERS:
        _FINDERS.clear()
    _FINDERS[id(regex)] = (regex, built, dispatch, after)
    return built, dispatch, after


def _after_digits(group: list[IdentifierPattern]) -> frozenset[int]:
    """The numbers of the patterns of ``group`` worth trying where no digit follows: those
    that can match without one; none when such a match of each of them adds nothing (a
    shipped pattern without the ``short`` licence or a list after it: its value is not
    plausible without digits, and ``_take`` drops it). A pattern that holds a digit cannot
    match there, so trying only these finds the same matches, in the same order."""
    digitless = [n for n, p in enumerate(group)
                 if not requires_digit(p.regex.pattern, p.regex.flags)]
    if all(not group[n].id.startswith(CONFIGURED) and not group[n].short
           and group[n].list_continuation is None for n in digitless):
        return frozenset()
    return frozenset(digitless)


def _dispatched(
    text: str,
    regex: re.Pattern[str],
    find: Finder,
    dispatch: Dispatch,
    count: int,
    lo: int,
    hi: int,
    view: LatinView | None,
    last: int | None = None,
    after: frozenset[int] = frozenset(),
) -> Iterator[tuple[int, re.Match[str]]]:
    """(pattern number, match) for what :func:`_matches` finds with the case-insensitive
    alternation, each start trying only the patterns of its group that can match there
    (``Dispatch``), one by one in their order: the first that matches is the alternative the
    alternation takes, with the same match, so the same matches come in the same order. The
    match is the pattern's own (its value group is ``value``), but where the alternation is
    run as before (``count``: the number of patterns, to read which one matched). Starts
    from ``last`` on (no digit follows there) try only the patterns in ``after``."""
    got = find.candidates(text, lo, hi, view)
    mapped = None if got is None else got[1]
    if got is None or mapped is None:  # "İ" in the stretch, or a lowered one: as before
        for found in _matches(text, regex, find, lo, hi, view):
            yield _alternative(found, count), found
        return
    starts, at = got[0], got[2]
    known = dispatch.by_key.get
    free = lo
    digits_end = hi if last is None else last
    for pos in starts:
        if pos < free:
            continue
        key = mapped[pos - at : pos - at + PREFIX_CHARS]
        chosen = known(key)
        if chosen is None:
            chosen = dispatch.choose(key)
        if pos >= digits_end:
            chosen = tuple(c for c in chosen if c[0] in after)
        for n, one in chosen:
            if (m := one.match(text, pos, hi)) is not None:
                yield n, m
                free = max(m.end(), pos + 1)
                break


def _matches(
    text: str,
    regex: re.Pattern[str],
    find: Finder | CasedFinder | None,
    lo: int,
    hi: int,
    view: LatinView | None = None,
    before: int | None = None,
) -> Iterator[re.Match[str]]:
    """What ``regex.finditer(text, lo, hi)`` finds, the regex tried only where ``find`` says a
    match can start: the same matches in the same order (the earliest start wins, and the
    search goes on where a match ended). Under IGNORECASE Python's regex engine enters every
    alternative at every word; here it runs at the two dozen starts per mail instead.
    ``before``: only the matches that start before it (the finder then scans only up to the
    PREFIX_CHARS characters after it that its last candidates look at)."""
    stop = hi if before is None else before
    end = min(hi, stop + PREFIX_CHARS)
    starts = find.starts(text, lo, end, view) if find is not None else None
    if starts is None:  # no finder, or "İ" in the stretch: lowering shifts positions
        for found in regex.finditer(text, lo, hi):
            if found.start() >= stop:
                return
            yield found
        return
    free = lo
    for pos in starts:
        if pos >= stop:
            return
        if pos >= free and (m := regex.match(text, pos, hi)) is not None:
            yield m
            free = max(m.end(), pos + 1)


# "Our ref." / "Ihr Zeichen" name a number of any kind: its letter groups tell which. An
# invoice, ticket or case reference is not an identifier of ours.
REFERENCE = "id.ref."
_REF_KINDS = {
    **dict.fromkeys(("RMA", "RA", "SRV", "SVC", "SR", "CAL", "REP", "RET"), "rma"),
    **dict.fromkeys(("Q", "QT", "QTE", "QUO", "RFQ", "RFP", "ANG", "OFF"), "quote"),
    "SN": "serial",
    **dict.fromkeys(("DWG", "DRG", "DRW"), "drawing"),
}
_REF_REFUSED = frozenset(
    ("INV", "RE", "RG", "FA", "FAC", "FACT", "FV", "FT", "TKT", "TICKET", "INC", "CASE", "CN")
)
_NOT_QUOTES = frozenset(("REQ", "SEQ", "FAQ", "ACQ"))  # requisition, sequence, ...: a Q at the end
_LETTER_GROUP = re.compile(r"[A-Z]+")


def _reference_kind(value: str, default: str) -> str | None:
    """The kind a reference's letter groups name ("RA-2231" -> rma, "KLQ-24-03" -> quote),
    ``default`` when none does, None for an invoice, ticket or case reference."""
    kind = None
    for group in _LETTER_GROUP.findall(value.upper()):
        if group in _REF_REFUSED:
            return None
        seller_quote = group.endswith("Q") and group not in _NOT_QUOTES  # "KLQ-24-0311"
        kind = kind or _REF_KINDS.get(group) or ("quote" if seller_quote else None)
    return kind or default


def _alternative(m: re.Match[str], count: int) -> int:
    """The number of the alternative of a combined alternation that made ``m``: the one whose
    value group took part. Only the groups of the alternative that matched take part (the
    engine forgets the groups of an alternative it backs out of), and its value group closes
    last unless a plain group follows it in its pattern: ``lastgroup`` names it without
    asking every group."""
    last = m.lastgroup
    if last is not None and last[:1] == "v" and last[1:].isdecimal():
        return int(last[1:])
    return next(i for i in range(count) if m.group(f"v{i}") is not None)


def _take(
    text: str,
    m: re.Match[str],
    pat: IdentifierPattern,
    name: str,
    found: list[tuple[int, int, str, str, bool]],
) -> None:
    """The value of one match of ``pat`` (its value group named ``name``), the items of a
    list that follows it, and the ends of a range."""
    value = m.group(name)
    value_start, value_end = m.span(name)
    own = pat.id.startswith(CONFIGURED)  # the installation's own format: taken as it is
    if not own and _foreign(text, m.start(), value, value_end):
        return
    kind = pat.kind
    if pat.id.startswith(REFERENCE):
        read = _reference_kind(value, pat.kind)
        if read is None:
            return
        kind = read
    if _plausible(value) or own or pat.short:
        found.append((value_start, value_end, kind, value, own))
    if pat.list_continuation is None:
        return
    pos = value_end
    while (c := pat.list_continuation.match(text, pos)) is not None:
        item = c.group("value")
        if _foreign(text, c.start("value"), item, c.end("value")):
            break
        if _plausible(item):
            found.append((c.start("value"), c.end("value"), pat.kind, item, own))
        pos = c.end("value")
    for start, stop, item in _range_items(text, pos, value, pat):
        found.append((start, stop, pat.kind, item, own))
    for start, item in _line_items(text, pos, value, pat):
        if _plausible(item) and not _foreign(text, start, item, start + len(item)):
            found.append((start, start + len(item), pat.kind, item, own))


# Item tables pasted into the text: cells split by a tab, "|", ";" or ",".
_CELL = re.compile(r"[^\S\n]*[\t|;,][^\S\n]*")
# A header row: three or more short cells without digits (rows of numbers are not headers).
# The cells are possessive ("{1,30}+"): what may follow a cell (a separator, the line's end)
# is never a cell character, so giving characters back cannot make a row match, and without
# the backtracking a line of prose that is no row fails in one pass instead of thirty.
_ROW = r"[^\d\n\t|;,]{1,30}+(?:[\t|;,][^\d\n\t|;,]{1,30}+){2,}(?=\n|\Z)"
# The first line, and the lines after a newline: a pattern that starts with "\n" lets the
# regex engine jump from line to line, where "^" under re.M is tried at every character.
_FIRST_ROW = re.compile(f"({_ROW})")
_NEXT_ROW = re.compile(rf"\n({_ROW})")
# The same rows found in a text's ``latin_view`` mapped to one byte a kind of character: "n"
# a newline, "s" a separator, "d" a digit (as "\d" decides), "x" any other cell character. The
# engine then compares single bytes instead of testing every character against a class that
# asks Unicode's tables about digits; positions are the text's, a byte for each character.
# The digit clusters are found in the same bytes (``_BYTE_CLUSTER``): one mapping for both.
_ROW_BYTES = ByteTable(
    bytes(ord("n" if c == "\n" else "s" if c in "\t|;," else "d" if c.isdecimal() else "x")
          for c in map(chr, range(256))),
    lambda char: ord("d" if char.isdecimal() else "x"),  # beyond Latin-1: "\d" is isdecimal
)
_B_ROW = rb"x{1,30}+(?:sx{1,30}+){2,}(?=n|\Z)"
_FIRST_ROW_BYTES = re.compile(b"(" + _B_ROW + b")")
_NEXT_ROW_BYTES = re.compile(b"n(" + _B_ROW + b")")
PROBE = "4711-0815"  # a number put after a header cell to see whether a label pattern takes it
MAX_ROWS = 200


def _header_kinds(cells: list[str], rules: RuleSet) -> dict[int, IdentifierPattern]:
    """Columns whose header is a cue word ("Serial no.", "PO", "Bestellnummer", "serial_no")."""
    out: dict[int, IdentifierPattern] = {}
    for col, cell in enumerate(cells):
        name = cell.strip().replace("_", " ")
        if not name or len(name) > 40:
            continue
        probe = f"{name} {PROBE}"
        for pat in rules.identifier_patterns:
            m = pat.regex.fullmatch(probe)
            if m is not None and m.group("value") == PROBE and pat.regex.flags & re.I:
                out[col] = pat
                break
    return out


def _kinds(text: str, view: LatinView | None) -> bytes | None:
    """``text`` mapped by ``_ROW_BYTES`` (``view``: its :func:`latin_view`); None without a
    view. Made once per text, for the digit clusters and the header rows."""
    return None if view is None else view.mapped(_ROW_BYTES, 0, len(text))


def _header_rows(text: str, kinds: bytes | None = None) -> Iterator[tuple[int, int]]:
    """(start, end) of the lines that are whole header rows, in order. ``kinds``: the text's
    :func:`_kinds`, where it has a view (the rows are then found in those bytes)."""
    if kinds is None:
        first = _FIRST_ROW.match(text)
        if first is not None:
            yield first.span(1)
        yield from (m.span(1) for m in _NEXT_ROW.finditer(text, first.end() if first else 0))
        return
    first_b = _FIRST_ROW_BYTES.match(kinds)
    if first_b is not None:
        yield first_b.span(1)
    yield from (m.span(1) for m in _NEXT_ROW_BYTES.finditer(kinds, first_b.end() if first_b else 0))


def _table_cells(
    text: str, rules: RuleSet, kinds: bytes | None = None
) -> list[tuple[int, int, str, str, bool]]:
    """Values in the columns of an item table whose header names an identifier kind, row by
    row until a row with fewer cells (the table has ended). ``kinds``: the text's
    :func:`_kinds`, where it has one."""
    found: list[tuple[int, int, str, str, bool]] = []
    for row_start, row_end in _header_rows(text, kinds):
        cells = _CELL.split(text[row_start:row_end])
        if len(cells) < 3:
            continue
        columns = _header_kinds(cells, rules)
        if not columns:
            continue
        pos = row_end + 1
        for _ in range(MAX_ROWS):
            end = text.find("\n", pos)
            row = text[pos : end if end >= 0 else len(text)]
            bounds = [0] + [x for m in _CELL.finditer(row) for x in (m.start(), m.end())]
            bounds.append(len(row))
            spans = list(zip(bounds[::2], bounds[1::2], strict=True))
            if len(spans) < len(cells) - 1 or not row.strip():
                break
            for col, pat in columns.items():
                if col >= len(spans):
                    continue
                a, b = spans[col]
                value = row[a:b].strip()
                start = pos + a + (len(row[a:b]) - len(row[a:b].lstrip()))
                # The header names the column: only the value's own shape can still refute it.
                if (pat.shape.fullmatch(value) and _plausible(value)
                        and not _foreign(value, 0, value, len(value))):
                    found.append((start, start + len(value), pat.kind, value, False))
            if end < 0:
                break
            pos = end + 1
    return found


# A capitalised code with one to four -groups, standing alone (not in a bracketed case tag).
# Its first letter is consumed before the "not glued" lookbehind (which then looks one more
# character back): a pattern that begins with a character class lets the engine skip the
# other characters in C, where one that begins with a lookbehind is entered at every one.
_CODE = re.compile(r"[A-Z](?<![\w\[/-].)[A-Z]{0,5}(?:-[A-Z0-9]{1,8}){1,4}(?![\w\]]|-\w)")
# Kinds whose numbers come in families of one customer ("AA-55120 / AA-55121", a batch of
# serials): a code of the same family elsewhere in the message is one too. Order numbers are
# left out: a label word before a product code would otherwise pull in the whole catalogue.
_FAMILY_KINDS = ("drawing", "serial")


def _pattern_of(value: str) -> str:
    """"AA-55120" -> "AA-99999": the letters kept, each digit a 9."""
    return re.sub(r"\d", "9", value.upper())


def _siblings(texts: tuple[str, ...], found: list[Identifier]) -> list[Identifier]:
    """Codes of the same pattern as a drawing or serial number already found."""
    kinds = {_pattern_of(i.value): i.kind for i in found if i.kind in _FAMILY_KINDS}
    kinds = {p: k for p, k in kinds.items() if p[0].isalpha() and "-" in p}
    if not kinds:
        return []
    out = []
    for text in texts:
        for m in _CODE.finditer(text):
            kind = kinds.get(_pattern_of(m.group(0)))
            if kind is not None and _plausible(m.group(0)):
                out.append(Identifier(kind, m.group(0)))
    return out


def _resolve(spans: list[tuple[int, int, str, str, bool]]) -> list[tuple[str, str]]:
    """(kind, value) of the spans that survive overlaps, in text order. A configured format
    wins over any shipped pattern on the same text; otherwise the earlier, then the longer."""
    order = sorted(spans, key=lambda s: (not s[4], s[0], -(s[1] - s[0])))
    kept: list[tuple[int, int, str, str, bool]] = []
    for span in order:
        start, end = span[0], span[1]
        if any(start < k[1] and k[0] < end for k in kept):
            continue  # overlaps a configured, earlier or longer match of the same number
        kept.append(span)
    kept.sort(key=lambda s: (s[0], s[1]))
    return [(s[2], s[3]) for s in kept]


def extract_identifiers(subject: str, body: str, rules: RuleSet) -> tuple[Identifier, ...]:
    """Identifiers in order of first appearance (subject first), deduplicated ignoring case;
    codes of the same family as a drawing or serial number found follow at the end."""
    out: list[Identifier] = []
    seen: set[str] = set()
    texts = (subject or "", (body or "")[:MAX_SCAN])
    for text in texts:
        view = latin_view(text)  # made once for both scans
        kinds = _kinds(text, view)
        for kind, value in _resolve(_spans(text, rules, view, kinds)
                                    + _table_cells(text, rules, kinds)):
            key = value.lower()
            if key not in seen:
                seen.add(key)
                out.append(Identifier(kind, value))
    for sibling in _siblings(texts, out):
        if sibling.value.lower() not in seen:
            seen.add(sibling.value.lower())
            out.append(sibling)
    return tuple(out)
