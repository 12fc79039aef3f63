"""Where a regex match can start, read from the parsed pattern: a cheap prefilter.

Python's ``re`` has no multi-pattern prefilter: a long alternation is entered at every position
of the text, and under IGNORECASE it cannot even skip a position on its first character. Most
of a mail has no identifier in it, so ``classifiers.identifiers`` first finds the few positions
where one of its patterns can start, with a :class:`Finder` built here from the first
characters every match must begin with, and applies the full alternation only there.

The finder is a superset by construction: it is derived from the parse tree of the pattern
(``re._parser``, the standard library's own parser) and keeps every prefix a match can have;
where the tree holds something it cannot enumerate (a class such as ``\\w``, a back
reference), the prefix simply ends there, which only lets more positions through. A pattern
whose matches can begin with anything gets no finder, and the caller scans as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from classifiers.latin_view import ByteTable, LatinView

try:  # the regex parser of the standard library (private, present since Python 3.11)
    from re import _casefix, _constants, _parser  # type: ignore[attr-defined]  # private: no stubs
except ImportError:  # pragma: no cover - a later Python without it: no finder, same results
    _casefix = _constants = _parser = None

# Characters of each prefix: three tell "ord"er from "or" and "pla"n from "p"lease; more
# characters make the finder's own alternation longer than what it saves.
PREFIX_CHARS = 3
_MAX_PREFIXES = 400  # more are cut to fewer characters
_MAX_CLASS = 40  # a wider character class ends the prefix


def first_chars(pattern: str, flags: int) -> set[str] | None:
    """The characters a match of ``pattern`` can start with (both cases under IGNORECASE), or
    None when that is not a short list (a class such as \\d or \\w, an empty match)."""
    if _parser is None:
        return None
    try:
        parsed = _parser.parse(pattern, flags)
    except re.error:
        return None
    return _firsts(list(parsed), bool(flags & re.I))


def lookahead(chars: set[str] | None) -> str:
    """``(?=[...])`` over the characters a pattern can start with: the regex engine tests one
    character class instead of entering every alternative (under IGNORECASE it cannot skip a
    failing literal on its own)."""
    if not chars:
        return ""
    return "(?=[" + "".join(sorted(re.escape(c) for c in chars)) + "])"


def _cased(code: int, fold: bool) -> set[str]:
    c = chr(code)
    return {c, c.lower(), c.upper()} if fold else {c}


def _firsts(items: list[tuple[Any, Any]], fold: bool) -> set[str] | None:
    """First characters of a parsed sequence; an optional part adds its own and looks on."""
    out: set[str] = set()
    for op, av in items:
        if op in (_constants.ASSERT, _constants.ASSERT_NOT, _constants.AT):
            continue  # zero-width: the next item decides
        if op is _constants.LITERAL:
            return out | _cased(av, fold)
        if op is _constants.IN:
            for kind, val in av:
                if kind is _constants.LITERAL:
                    out |= _cased(val, fold)
                elif kind is _constants.RANGE and val[1] - val[0] < 64:
                    for code in range(val[0], val[1] + 1):
                        out |= _cased(code, fold)
                else:
                    return None
            return out
        if op is _constants.SUBPATTERN:
            got = _firsts(list(av[3]), fold)
            return None if got is None else out | got
        if op is _constants.BRANCH:
            if all(_zero_width(alt) for alt in av[1]):
                continue  # "(?<=our )|(?<=your )": a choice of assertions, the next item decides
            for alt in av[1]:
                got = _firsts(list(alt), fold)
                if got is None:
                    return None
                out |= got
            return out
        if op in (_constants.MAX_REPEAT, _constants.MIN_REPEAT):
            got = _firsts(list(av[2]), fold)
            if got is None:
                return None
            out |= got
            if av[0] >= 1:
                return out
            continue  # optional: what follows may start the match as well
        return None
    return None  # the pattern can match the empty string


def _zero_width(items: Any) -> bool:
    """A parsed sequence of assertions only (lookarounds, anchors): it matches no character."""
    return all(op in (_constants.ASSERT, _constants.ASSERT_NOT, _constants.AT) for op, _ in items)


def requires_digit(pattern: str, flags: int) -> bool:
    """Whether every match of ``pattern`` holds a digit (a character ``\\d`` matches) between
    its start and its end; False where that is not sure (a lookahead's digit may lie beyond
    the match, a back reference, a parse error)."""
    if _parser is None:
        return False
    try:
        parsed = _parser.parse(pattern, flags)
    except re.error:
        return False
    return _holds_digit(list(parsed))


def _holds_digit(items: list[tuple[Any, Any]]) -> bool:
    """A parsed sequence holds a digit when one of its items must match one."""
    for op, av in items:
        if op is _constants.LITERAL and chr(av).isdecimal():  # digits have no other case
            return True
        if op is _constants.IN and _digits_only(av):
            return True
        if op is _constants.SUBPATTERN and _holds_digit(list(av[3])):
            return True
        if op is _constants.ATOMIC_GROUP and _holds_digit(list(av)):
            return True
        if op is _constants.BRANCH and all(_holds_digit(list(alt)) for alt in av[1]):
            return True
        if (op in (_constants.MAX_REPEAT, _constants.MIN_REPEAT, _constants.POSSESSIVE_REPEAT)
                and av[0] >= 1 and _holds_digit(list(av[2]))):
            return True
    return False


def _digits_only(av: list[tuple[Any, Any]]) -> bool:
    """A parsed character class (IN) of digits only: ``\\d``, digits, ranges of digits."""
    for kind, val in av:
        if kind is _constants.CATEGORY:
            if val is not _constants.CATEGORY_DIGIT:
                return False
        elif kind is _constants.LITERAL:
            if not chr(val).isdecimal():
                return False
        elif kind is _constants.RANGE:
            if not all(chr(c).isdecimal() for c in range(val[0], val[1] + 1)):
                return False
        else:  # NEGATE and the rest
            return False
    return bool(av)


# ---------------------------------------------------------------- prefixes of several characters

# A prefix is a tuple of characters as written in the pattern; ``done`` prefixes are complete
# (PREFIX_CHARS long, or ended by something that cannot be enumerated), ``open`` ones grow.
_Prefixes = tuple[set[str], set[str]]  # (open, done)


def prefixes(
    pattern: str, flags: int, k: int = PREFIX_CHARS, limit: int = _MAX_PREFIXES
) -> set[str] | None:
    """Strings of up to ``k`` characters one of which every match of ``pattern`` starts with
    (as written in the pattern: under IGNORECASE compare without case), or None when a match
    can start with nearly anything. More than ``limit`` of them are cut to fewer characters."""
    if _parser is None:
        return None
    try:
        parsed = _parser.parse(pattern, flags)
    except re.error:
        return None
    got = _grow(list(parsed), {""}, k, bool(flags & re.I), limit)
    if got is None:
        return None
    found = got[0] | got[1]
    if not found or "" in found:
        return None
    return {p for p in found if not any(q != p and p.startswith(q) for q in found)}


def _grow(
    items: list[tuple[Any, Any]], start: set[str], k: int, fold: bool, limit: int
) -> _Prefixes | None:
    """The prefixes after matching ``items`` from the ``start`` prefixes."""
    open_, done = set(start), set()
    for op, av in items:
        if not open_:
            break
        if op in (_constants.ASSERT, _constants.ASSERT_NOT, _constants.AT):
            continue  # zero-width
        step = _item(op, av, open_, k, fold, limit)
        if step is None:
            return None
        open_, more = step
        done |= more
        if len(open_) + len(done) > limit:  # "[A-Z]{2,6}": shorter prefixes do
            return set(), _shorten(open_ | done, limit)
    return open_, done


def _shorten(found: set[str], limit: int) -> set[str]:
    """``found`` cut to the longest length that leaves at most ``limit`` of them
    (a shorter prefix lets more positions through, never fewer)."""
    for size in range(max(map(len, found)) - 1, 0, -1):
        cut = {p[:size] for p in found}
        if len(cut) <= limit:
            return cut
    return {p[:1] for p in found}


def _item(op: Any, av: Any, open_: set[str], k: int, fold: bool, limit: int) -> _Prefixes | None:
    if op is _constants.LITERAL:
        return _extend(open_, {chr(av)}, k)
    if op is _constants.IN:
        chars = class_chars(av)
        return (set(), open_) if chars is None else _extend(open_, chars, k)
    if op is _constants.SUBPATTERN:
        if av[1] & re.I and not fold:  # (?i:...) inside a case-sensitive pattern
            return set(), open_
        return _grow(list(av[3]), open_, k, fold, limit)
    if op is _constants.BRANCH:
        out_open: set[str] = set()
        out_done: set[str] = set()
        for alt in av[1]:
            got = _grow(list(alt), open_, k, fold, limit)
            if got is None:
                return None
            out_open |= got[0]
            out_done |= got[1]
        return out_open, out_done
    if op in (_constants.MAX_REPEAT, _constants.MIN_REPEAT):
        return _repeat(av[0], av[1], list(av[2]), open_, k, fold, limit)
    return set(), open_  # anything else ends the prefixes here


def _repeat(lo: int, hi: int, body: list[tuple[Any, Any]], open_: set[str], k: int,
            fold: bool, limit: int) -> _Prefixes | None:
    """``body`` repeated ``lo`` to ``hi`` times: the prefixes after each count from ``lo`` on.
    Every repetition either adds a character or leaves the prefixes as they were, so ``k``
    repetitions reach every prefix of ``k`` characters."""
    out_open = set(open_) if lo == 0 else set()
    out_done: set[str] = set()
    step = open_
    for count in range(1, min(hi, k) + 1):
        got = _grow(body, step, k, fold, limit)
        if got is None:
            return None
        step, more = got
        out_done |= more
        if count >= lo:
            out_open |= step
        if not step:
            break
    else:
        if lo > k:  # never reached ``lo``: what is left may go on, with more characters
            out_done |= step
    return out_open, out_done


def _extend(open_: set[str], chars: set[str], k: int) -> _Prefixes:
    grown = {p + c for p in open_ for c in chars}
    return {p for p in grown if len(p) < k}, {p for p in grown if len(p) >= k}


def class_chars(av: list[tuple[Any, Any]], limit: int = _MAX_CLASS) -> set[str] | None:
    """The characters of a parsed character class (``re._parser``'s IN argument) of at most
    ``limit`` characters; None for a negated, category or wider one."""
    out: set[str] = set()
    for kind, val in av:
        if kind is _constants.LITERAL:
            out.add(chr(val))
        elif kind is _constants.RANGE and val[1] - val[0] < limit:
            out.update(chr(c) for c in range(val[0], val[1] + 1))
        else:
            return None
    return out if len(out) <= limit else None


# ---------------------------------------------------------------- the finder


@dataclass(frozen=True)
class Finder:
    """Positions where a match of one case-insensitive pattern can start.

    ``regex`` runs over ``str.lower()`` of a stretch of the text. It matches the character
    before such a position (one that may stand before a match) and looks ahead for a prefix,
    spelled with every character Python's ``re`` treats as the same letter (``re._casefix``:
    the long s for "s", the dotless i for "i"). It starts with a character class and is
    case-sensitive, so the engine skips the characters outside that class (inside words)
    without entering the pattern.

    A stretch of a text with a :func:`latin_view` (all but texts with emoji) is not lowered
    but mapped character by character with ``table``: each character to its lowercase, or to
    a space when it may stand before a match. ``latin`` is ``regex`` over those bytes: a
    space, then the prefixes mapped the same way. A space is a single byte to look for, which
    the engine finds without testing each character against a class of Unicode categories.
    ``wide``: the table holds the characters beyond Latin-1 too (it does not when a prefix
    has a letter without a Latin-1 form; such text is lowered).
    """

    regex: re.Pattern[str]
    latin: re.Pattern[bytes]
    table: ByteTable
    wide: bool = False

    def starts(
        self, text: str, lo: int, hi: int, view: LatinView | None = None
    ) -> list[int] | None:
        """Candidate starts in ``text[lo:hi]``, ascending; None when ``str.lower()`` changes
        the length of that stretch ("İ" lowers to two characters: positions would shift).
        ``view``: the text's :func:`latin_view`, where it has one.

        Only the stretch (and the character before it) is lowered, not the whole text:
        lowering costs about 50 instructions a character outside ASCII. ``str.lower`` is
        the same character by character on a slice, but for the Greek capital sigma, whose
        two lowercase forms are both word characters (the same to this regex)."""
        got = self.candidates(text, lo, hi, view)
        return None if got is None else got[0]

    def candidates(
        self, text: str, lo: int, hi: int, view: LatinView | None = None
    ) -> tuple[list[int], bytes | None, int] | None:
        """:meth:`starts`, with the bytes of ``text[at:hi]`` mapped by ``table`` and ``at``
        (a start ``p`` reads its own mapped characters from ``p - at``); the bytes are None
        where the stretch was lowered instead."""
        at = max(0, lo - 1)
        mapped = self._mapped(text, at, hi, view)
        if mapped is not None:
            found = [at + m.end() for m in self.latin.finditer(mapped)]
        else:
            lowered = text[at:hi].lower()
            if len(lowered) != hi - at:
                return None
            found = [at + m.end() for m in self.regex.finditer(lowered)]
        return ([0, *found] if lo == 0 else found), mapped, at

    def _mapped(self, text: str, at: int, hi: int, view: LatinView | None) -> bytes | None:
        """``text[at:hi]`` mapped by ``table``; None where it is to be lowered instead."""
        if view is None:  # a text with emoji: its Latin-1 stretches are mapped all the same
            try:
                return text[at:hi].encode("latin-1").translate(self.table.latin)
            except UnicodeEncodeError:
                return None
        if view.units is not None and (not self.wide or "\u0130" in text[at:hi]):
            return None
        return view.mapped(self.table, at, hi)


def finder(pattern: re.Pattern[str], boundary: str) -> Finder | None:
    """A :class:`Finder` for a case-insensitive ``pattern``, or None.

    ``boundary`` is the one-character class (``[...]``) that the character before a match must
    not belong to: ``pattern`` asserts that itself, in a lookbehind. Case-sensitive patterns
    get none here: :func:`cased_finder` is theirs.
    """
    if not pattern.flags & re.I or _casefix is None or not boundary.startswith("["):
        return None
    if boundary.startswith("[^") or _width(boundary) != (1, 1):
        return None
    found = prefixes(pattern.pattern, pattern.flags)
    if found is None:
        return None
    if any(len(v) != 1 for p in found for c in p for v in _same_letter(c)):
        return None  # a letter whose lowercase is two characters ("İ"): keep it simple
    table = _latin_table(boundary)
    mapped = {p: _latin_prefix(p, table) for p in found}
    latin = _latin_trie(set(mapped.values()) - {None})
    wide = _wide_table(table, mapped, boundary)
    return Finder(
        re.compile(f"[^{boundary[1:]}(?={_trie(found)})", re.S),
        re.compile(b" (?=" + latin + b")" if latin is not None else b"[^\\x00-\\xff]", re.S),
        wide or ByteTable(table, lambda char: 0x20),  # Latin-1 only: ``wide`` False
        wide is not None,
    )


class Dispatch:
    """Which alternatives of a case-insensitive alternation can match at a start that its
    :class:`Finder` found, read from the first PREFIX_CHARS mapped characters there.

    Python's ``re`` enters every alternative of an alternation at a start (under IGNORECASE
    it cannot skip one on its first letter without a lookahead, which costs a jump of the
    engine each), and two dozen label patterns are tried where one or two can match: "pre"
    can begin a quote word, not an order, serial or drawing label. Each alternative's own
    prefixes (:func:`prefixes`) are mapped with the finder's ``table``, as the finder maps
    the prefixes of the whole alternation, and compiled to a bytes pattern; an alternative is
    kept for a key when one of its prefixes begins the key. Every character of a prefix is
    consumed by a match, so a key cut short by the end of a stretch (where the match must end
    too) keeps only alternatives with a prefix that short. An alternative that can match at
    a start is always kept: trying the kept ones in their order, the first that matches is
    the one the whole alternation would have taken, with the same match.

    ``regexes`` are the alternatives compiled one by one (the rule's own patterns: no
    compiling here); :meth:`choose` gives the (number, regex) pairs to try for a key,
    remembered per key (a few hundred distinct keys in thousands of mails).
    """

    _MAX_KEYS = 20_000

    def __init__(
        self,
        alternatives: list[str],
        flags: int,
        table: bytes,
        regexes: list[re.Pattern[str]],
    ) -> None:
        self._fits = [_mapped_trie(x, flags, table) for x in alternatives]
        self._regexes = regexes
        self.by_key: dict[bytes, tuple[tuple[int, re.Pattern[str]], ...]] = {}

    def choose(self, key: bytes) -> tuple[tuple[int, re.Pattern[str]], ...]:
        """The alternatives to try, in order, at a start whose mapped characters begin with
        ``key`` (PREFIX_CHARS of them, fewer at the end of a stretch)."""
        known = self.by_key.get(key)
        if known is not None:
            return known
        chosen = tuple((n, self._regexes[n]) for n, fits in enumerate(self._fits)
                       if fits is None or fits.match(key) is not None)
        if len(self.by_key) >= self._MAX_KEYS:
            self.by_key.clear()
        self.by_key[key] = chosen
        return chosen


_NEVER = re.compile(b"(?!)")


def _mapped_trie(pattern: str, flags: int, table: bytes) -> re.Pattern[bytes] | None:
    """A bytes pattern that matches at the start of mapped text where a match of ``pattern``
    can start (its prefixes mapped as :func:`_latin_prefix` maps them; those with a letter
    that has no Latin-1 form cannot occur in mapped text); None when a match can start with
    nearly anything."""
    found = prefixes(pattern, flags)
    if found is None:
        return None
    mapped = {_latin_prefix(p, table) for p in found} - {None}
    trie = _latin_trie(mapped)
    return _NEVER if trie is None else re.compile(trie, re.S)


def _wide_table(
    table: bytes, mapped: dict[str, tuple[frozenset[int], ...] | None], boundary: str
) -> ByteTable | None:
    """The bytes of characters beyond Latin-1, as :func:`_latin_table` maps the others: a
    space where one may stand before a match, the byte of the prefix letter it is the same
    letter as to ``re`` (the long s: "s", the dotless i: "i"), else a byte in no prefix.
    None when a prefix has a letter without a Latin-1 form, or one such letter would need
    two bytes."""
    inside = re.compile(boundary)
    letters: dict[str, int] = {}
    used = {0x20}
    for prefix, codes in mapped.items():
        if codes is None:
            return None
        for char, options in zip(prefix, codes, strict=True):
            used |= options
            for same in _same_letter(char):
                one = min(options)
                if ord(same) > 0xFF and (len(options) != 1 or letters.setdefault(same, one) != one):
                    return None
    neutral = next(c for c in range(0x21, 0x100) if c not in used)

    def wide(char: str) -> int:
        low = char.lower()  # one character: "İ" (two) is left to the caller
        if len(low) != 1:
            return neutral
        if ord(low) <= 0xFF:  # the Kelvin sign lowers to "k"
            return table[ord(low)]
        if not inside.fullmatch(low):
            return 0x20
        return letters.get(low, neutral)

    return ByteTable(table, wide)


def _latin_table(boundary: str) -> bytes:
    """Each Latin-1 character lowered, or a space when it is outside ``boundary`` (may stand
    before a match). Latin-1 letters lower to one Latin-1 letter each."""
    inside = re.compile(boundary)
    out = bytearray()
    for code in range(256):
        low = chr(code).lower()
        out.append(ord(low) if inside.fullmatch(low) else ord(" "))
    return bytes(out)


def _latin_prefix(prefix: str, table: bytes) -> tuple[frozenset[int], ...] | None:
    """The bytes each character of ``prefix`` can be in mapped Latin-1 text; None when one of
    them has no Latin-1 form (the prefix cannot occur there)."""
    out = []
    for c in prefix:
        codes = frozenset(table[ord(x)] for x in _same_letter(c) if ord(x) < 256)
        if not codes:
            return None
        out.append(codes)
    return tuple(out)


def _latin_trie(rests: set[tuple[frozenset[int], ...] | None]) -> bytes | None:
    """:func:`_trie` over mapped prefixes, as a bytes pattern; None when there are none."""
    if not rests:
        return None
    classes = {tuple(tuple(chr(code) for code in sorted(codes)) for codes in r)
               for r in rests if r is not None}
    return _alternation(classes).encode("latin-1")  # one byte for each Latin-1 character


def _width(pattern: str) -> tuple[int, int] | None:
    try:
        return tuple(_parser.parse(pattern).getwidth())
    except re.error:
        return None


def _same_letter(c: str) -> list[str]:
    """``c`` after ``str.lower()``, and the other characters ``re`` matches it with under
    IGNORECASE, lowered too."""
    low = c.lower()
    extra = _casefix._EXTRA_CASES.get(ord(low), ())
    return sorted({low, *(chr(e).lower() for e in extra)})


def _trie(rests: set[str]) -> str:
    """An alternation of ``rests`` (lowered, each letter as the class of its equivalents),
    sharing first letters; "" when any of them is empty."""
    return _alternation({tuple(tuple(_same_letter(c)) for c in r) for r in rests})


def _alternation(rests: set[tuple[tuple[str, ...], ...]]) -> str:
    """An alternation of sequences of character classes (each a sorted tuple of characters),
    sharing first classes; "" when any sequence is empty."""
    if () in rests:
        return ""
    tree: dict[tuple[str, ...], set[tuple[tuple[str, ...], ...]]] = {}
    for r in rests:
        tree.setdefault(r[0], set()).add(r[1:])
    out = []
    for chars in sorted(tree):
        head = re.escape(chars[0]) if len(chars) == 1 else _class(set(chars))
        out.append(head + _alternation(tree[chars]))
    return out[0] if len(out) == 1 else "(?:" + "|".join(out) + ")"


# ---------------------------------------------------------------- the case-sensitive finder

# Two characters of each prefix: the second one tells a code ("PO-", "RMA", "4500") from a
# capitalised word ("Please"). The set of two-character prefixes is small (27 x 28 at most for
# capitals), so it is not cut to one character.
_CASED_PREFIX_CHARS = 2
_MAX_CASED_PREFIXES = 2_000


@dataclass(frozen=True)
class CasedFinder:
    """Positions where a match of one case-sensitive pattern can start.

    ``regex`` starts by consuming one character a match can start with: a character class, so
    the regex engine skips everything else in C, where a pattern that starts with a lookbehind
    (as the identifier alternation does) is entered at every position. The boundary is then
    checked two characters back, and the second character of a prefix looked ahead for, per
    group of first characters. A Python step is taken only for the few codes that pass.

    A text with a :func:`latin_view` is scanned in bytes instead (``mapped``, when the first
    and second characters are Latin-1 and inside the boundary): ``table`` keeps those
    characters, maps the others inside the boundary to one byte and the rest to a space, so
    ``mapped`` begins with a literal space, which the engine jumps to instead of testing a
    class at every character.
    """

    regex: re.Pattern[str]
    mapped: re.Pattern[bytes] | None = None
    table: ByteTable | None = None

    def starts(
        self, text: str, lo: int, hi: int, view: LatinView | None = None
    ) -> list[int]:
        """Candidate starts in ``text[lo:hi]``, ascending (lookbehinds see before ``lo``)."""
        if view is None or self.mapped is None or self.table is None:
            return [m.start() for m in self.regex.finditer(text, lo, hi)]
        if lo == 0:  # nothing before the text: as a space before it
            piece = b" " + view.mapped(self.table, 0, hi)
            return [m.start() for m in self.mapped.finditer(piece)]
        piece = view.mapped(self.table, lo - 1, hi)
        return [lo + m.start() for m in self.mapped.finditer(piece)]


def cased_finder(pattern: re.Pattern[str], boundary: str) -> CasedFinder | None:
    """A :class:`CasedFinder` for a case-sensitive ``pattern``, or None.

    ``boundary`` is the one-character class the character before a match must not belong to,
    as for :func:`finder`. Every match starts with one of the pattern's two-character
    prefixes (or a one-character one), so the candidates hold every match start."""
    if pattern.flags & re.I or not boundary.startswith("[") or _width(boundary) != (1, 1):
        return None
    found = prefixes(pattern.pattern, pattern.flags, _CASED_PREFIX_CHARS, _MAX_CASED_PREFIXES)
    if found is None:
        return None
    seconds: dict[str, set[str]] = {}
    for p in found:
        seconds.setdefault(p[0], set()).add(p[1:])
    groups: dict[frozenset[str], set[str]] = {}
    for first, nexts in seconds.items():
        groups.setdefault(frozenset(nexts), set()).add(first)
    checks = []
    for after_first, firsts in sorted(groups.items(), key=lambda g: sorted(g[1])):
        behind = f"(?<={_class(firsts)})"
        ahead = _class(set(after_first))
        checks.append(behind if "" in after_first else f"{behind}(?={ahead})")
    after = "" if len(checks) == 1 and "" in next(iter(groups)) else f"(?:{'|'.join(checks)})"
    regex = re.compile(f"{_class(set(seconds))}(?<!{boundary}.){after}", re.S)
    return CasedFinder(regex, *_cased_bytes(groups, boundary))


def _cased_bytes(
    groups: dict[frozenset[str], set[str]], boundary: str
) -> tuple[re.Pattern[bytes] | None, ByteTable | None]:
    """:class:`CasedFinder`'s ``mapped`` and ``table``; (None, None) when a first or second
    character is beyond Latin-1 or outside the boundary (it could not keep its own byte)."""
    inside = re.compile(boundary)
    kept = {c for after, firsts in groups.items() for c in firsts | after if c}
    if any(ord(c) > 0xFF or not inside.fullmatch(c) for c in kept):
        return None, None
    word = next(c for c in range(0x21, 0x100) if chr(c) not in kept)

    def byte(char: str) -> int:
        if char in kept:
            return ord(char)
        return word if inside.fullmatch(char) else 0x20

    checks = []
    for after, firsts in sorted(groups.items(), key=lambda g: sorted(g[1])):
        first = _class(firsts)
        checks.append(first if "" in after else f"{first}(?={_class(set(after))})")
    # The first character is consumed, not looked ahead for: the engine then tests the
    # alternatives' first classes right at each space, without entering a lookahead there
    # first (a start is the match's start + 1 all the same; a first character is never a
    # space, so no start is swallowed).
    regex = re.compile(f" (?:{'|'.join(checks)})".encode("latin-1"), re.S)
    return regex, ByteTable(bytes(byte(chr(c)) for c in range(256)), byte)


def _class(chars: set[str]) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"
