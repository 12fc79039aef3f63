"""Faster, equivalent regex calls for spaCy's tokenizer: same tokens, less searching.

spaCy splits every chunk it has not seen before (numbers, names, addresses: about 35 per
message) with four regexes, and three of them are called in a way that does more work than
their result needs:

* **Suffixes.** ``suffix_search`` is ``re.search`` over ``piece1$|piece2$|...``: it tries
  every ~80 alternatives at every position of the chunk, although spaCy reads only where
  the match starts (its end is the end of the chunk). Every piece but ``\\.\\.+`` matches at
  most ``width`` characters, so a match starts in the last ``width`` characters unless the
  unbounded pieces match; the search starts there (lookbehinds still see the characters
  before it). A chunk with a line break (``$`` also matches before a final ``\\n``) or one
  that an unbounded piece matches is searched from its start. And a match ends with the
  chunk's last character, so only the pieces that can end with it are tried: one alternation
  per set of such pieces, chosen by that character (a table read from the parsed pieces; the
  leftmost match among them is the leftmost of all, its end the chunk's end). A word ending in
  a letter no unit ends with is answered ``None`` without any regex.
* **Prefixes.** ``^piece1|^piece2|...`` without ``re.MULTILINE`` can only match at position
  0, so ``match`` gives what ``search`` gives without trying the other positions; and only
  the pieces that can begin with the chunk's first character are tried, in their order (the
  first that matches is the first of all that matches).
* **URLs and French token exceptions.** ``url_match`` (spaCy's URL pattern) and French
  ``token_match`` (a few hundred hyphenated and elided word forms) can only match a chunk
  containing one of a few characters (a "." for a URL, a hyphen or an apostrophe for the
  French forms), read from the pattern itself (:func:`required_chars`); chunks without any of
  them are answered ``None`` without running the regex.
* **Infixes.** ``infix_finditer`` likewise: every infix match of most languages consumes one
  of about 6,000 characters (punctuation, dashes, symbols and icons; :func:`infix_guard`),
  and a chunk without any of them (a word, a plain number) gets no match without the
  alternation, which tries its lookbehinds at every position.

Each replacement is installed only when the tokenizer's pattern is exactly the one it was
derived from (spaCy's own, rebuilt from the language defaults), otherwise the tokenizer is
left as it is. ``tests/classifiers/test_clf_affixes.py`` compares the tokens with and without
them in every supported language.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from classifiers import affix_cache
from classifiers.regex_starts import class_chars

if TYPE_CHECKING:
    from spacy.language import Language

Search = Callable[[str], "re.Match[str] | None"]
# The stdlib's own regex parser (widths, required characters); typeshed has no stubs for it.
sre_parse: Any = importlib.import_module("re._parser")
sre_c: Any = importlib.import_module("re._constants")
# Pieces wider than this (``\.\.+`` reports MAXREPEAT) are "unbounded".
_BOUNDED = 100
# A character class larger than this is not a useful pre-test.
_MAX_SET = 64


@lru_cache(maxsize=8192)
def _width(piece: str) -> int:
    """The widest match of ``piece`` (a pure function of the string, parsed by the stdlib).

    Memoised: the suffix table's alternations (:func:`_bounded_width`) repeat the same
    pieces, about 2,000 parses per language of some 80 distinct pieces, and the languages
    share most of spaCy's suffixes; parsing them again was 1.2 s of CPU of a process's start
    for the 11 languages."""
    return int(sre_parse.parse(piece).getwidth()[1])


# Characters below this get their own entry in a dispatch table (Latin, Greek, Cyrillic,
# punctuation of the Latin block...): the last (suffixes) or first (prefixes) character of a
# chunk picks the alternatives that can match there. Others use the whole alternation.
_TABLE_BELOW = 0x2000
_TABLE_END = chr(_TABLE_BELOW)
# A character class larger than this is not enumerated for the table: unknown characters.
_MAX_EDGE = 50_000


def _edge_chars(seq: Any, last: bool) -> frozenset[str] | None:
    """The characters a non-empty match of ``seq`` can end with (``last``) or begin with, or
    None when that cannot be told (a category, a negated class, an optional item at the edge,
    a group with its own flags, a sequence that can match the empty string)."""
    items = list(seq)
    for op, av in reversed(items) if last else items:
        if op in (sre_c.ASSERT, sre_c.ASSERT_NOT, sre_c.AT):
            continue  # zero-width: the next item inward decides
        if op is sre_c.LITERAL:
            return frozenset(chr(av))
        if op is sre_c.IN:
            chars = class_chars(av, _MAX_EDGE)
            return None if chars is None else frozenset(chars)
        if op is sre_c.SUBPATTERN:  # (group, add_flags, del_flags, pattern)
            return None if av[1] or av[2] else _edge_chars(av[3], last)
        if op is sre_c.BRANCH:
            union: set[str] = set()
            for alternative in av[1]:
                got = _edge_chars(alternative, last)
                if got is None:
                    return None
                union |= got
            return frozenset(union)
        if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT) and av[0] >= 1:
            return _edge_chars(av[2], last)
        return None
    return None  # nothing but zero-width items: the match can be empty


@lru_cache(maxsize=64)  # a pipeline rebuilt for the same language reuses its tables
def _edge_table(
    pieces: tuple[str, ...], flags: int, wrap: Callable[[str], str], last: bool
) -> dict[str, re.Pattern[str] | None] | None:
    """For each character below ``_TABLE_BELOW`` that some piece can end (``last``) or begin
    with, the alternation (``wrap`` of each piece, joined) of just the pieces that can, with
    the pieces whose edge is unknown; ``""`` holds the alternation for every other character
    below ``_TABLE_BELOW`` (None: no piece can match there). None when the pattern has flags
    that change which characters a piece matches."""
    if flags & (re.IGNORECASE | re.MULTILINE | re.VERBOSE):
        return None
    edges = affix_cache.chars("last" if last else "first", pieces, flags, len(pieces),
                              lambda: _edges(pieces, flags, last))
    if edges is None:
        return None
    keys = {c for e in edges if e is not None for c in e if ord(c) < _TABLE_BELOW}
    compiled: dict[tuple[int, ...], re.Pattern[str] | None] = {}

    def alternation(char: str) -> re.Pattern[str] | None:
        chosen = tuple(i for i, e in enumerate(edges) if e is None or char in e)
        if chosen not in compiled:
            compiled[chosen] = (
                re.compile("|".join(wrap(pieces[i]) for i in chosen), flags) if chosen else None
            )
        return compiled[chosen]

    table = {c: alternation(c) for c in sorted(keys)}
    table[""] = alternation("")  # no piece ends/begins with a character outside ``keys``
    return table


def _edges(pieces: tuple[str, ...], flags: int, last: bool) -> list[frozenset[str] | None] | None:
    """:func:`_edge_chars` of each piece (parsed: kept on disk by :mod:`affix_cache`), or
    None when a piece cannot be parsed or has an inline flag."""
    edges: list[frozenset[str] | None] = []
    for piece in pieces:
        try:
            parsed = sre_parse.parse(piece, flags)
        except re.error:
            return None
        if parsed.state.flags & (re.IGNORECASE | re.MULTILINE | re.VERBOSE):
            return None  # an inline flag: the characters a piece matches are not as written
        edges.append(_edge_chars(parsed, last))
    return edges


def _suffix_piece(piece: str) -> str:
    return piece + "$"


def _prefix_piece(piece: str) -> str:
    return "^" + piece


def suffix_search(pattern: re.Pattern[str], pieces: list[str]) -> Search | None:
    """``pattern.search`` restricted to the positions where a suffix can start and to the
    pieces that can end with the chunk's last character (see module docstring), or ``None``
    when ``pattern`` is not ``piece1$|piece2$|...`` of ``pieces``."""
    pieces = [p for p in pieces if p.strip()]
    if pattern.pattern != "|".join(p + "$" for p in pieces) or pattern.flags & re.MULTILINE:
        return None
    widths = [_width(p) for p in pieces]
    bounded = [w for w in widths if w <= _BOUNDED]
    if not bounded:
        return None
    width = max(bounded)
    wide = [p + "$" for p, w in zip(pieces, widths, strict=True) if w > _BOUNDED]
    unbounded = re.compile("|".join(wide), pattern.flags).search if wide else None
    search = pattern.search
    table = _edge_table(tuple(pieces), pattern.flags, _suffix_piece, last=True)
    # Last characters an unbounded piece can end with (None: any): only there is it tried.
    wide_ends: frozenset[str] | None = frozenset()
    for p in wide:
        got = _edge_chars(sre_parse.parse(p, pattern.flags), last=True)
        wide_ends = None if got is None or wide_ends is None else wide_ends | got
    # Each alternation of the table with the widest of its bounded pieces: a match of the
    # pieces that can end with a chunk's last character starts no earlier than that many
    # characters before the end ("." and "," end only pieces of one character: one position
    # tried instead of ``width``).
    # The ~1,300 characters of a table share some 50 alternations: each measured once.
    reaches = {r: _bounded_width(r) for r in set((table or {}).values())}
    entries = {c: (r, reaches[r]) for c, r in (table or {}).items()}
    other = entries.get("", (None, 0))  # no chunk's last character is ""
    whole = (pattern, width)

    def suffix(string: str) -> re.Match[str] | None:
        # A match ends at the end of the chunk ("$"; a chunk with a line break, where "$" also
        # matches before a final "\n", is searched as before): only pieces that can end with
        # its last character can match, and the leftmost start among them is the answer.
        n = len(string)
        if not n or "\n" in string:
            return search(string)
        char = string[-1]
        chosen, reach = whole if table is None or char >= _TABLE_END else entries.get(char, other)
        if chosen is None:
            return None  # no piece can end with this character
        regex: re.Pattern[str] = chosen
        if n <= reach or (
            unbounded is not None and (wide_ends is None or char in wide_ends) and unbounded(string)
        ):
            return regex.search(string)
        return regex.search(string, n - reach)

    return suffix


def _bounded_width(regex: re.Pattern[str] | None) -> int:
    """The widest match of the bounded pieces (at most ``_BOUNDED`` characters) of an
    alternation ``piece1$|piece2$|...`` of the suffix table; 0 for none."""
    if regex is None:
        return 0
    widths = [_width(p) for p in _alternatives(regex.pattern)]
    return max((w for w in widths if w <= _BOUNDED), default=0)


def prefix_search(pattern: re.Pattern[str], pieces: list[str]) -> Search | None:
    """``pattern.match`` when ``pattern`` is ``^piece1|^piece2|...`` of ``pieces`` (no
    ``re.MULTILINE``: every alternative can match at position 0 only), tried with only the
    pieces that can begin with the chunk's first character; else ``None``."""
    pieces = [p for p in pieces if p.strip()]
    if pattern.pattern != "|".join("^" + p for p in pieces) or pattern.flags & re.MULTILINE:
        return None
    table = _edge_table(tuple(pieces), pattern.flags, _prefix_piece, last=False)
    if table is None:
        return pattern.match
    other = table[""]
    whole = pattern.match

    def prefix(string: str) -> re.Match[str] | None:
        char = string[:1]
        if not char or char >= _TABLE_END:
            return whole(string)
        regex = table.get(char, other)
        return None if regex is None else regex.match(string)

    return prefix


def _item_chars(op: Any, av: Any, ignorecase: bool, limit: int = _MAX_SET) -> frozenset[str] | None:
    """Characters one of which every match of this regex item contains (``None``: unknown;
    also for a class of more than ``limit`` characters)."""
    if op is sre_c.LITERAL:
        c = chr(av)
        return None if ignorecase and c.lower() != c.upper() else frozenset(c)
    if op is sre_c.IN:
        chars = class_chars(av, limit)  # None: NEGATE, CATEGORY, a large range
        if chars is None or (ignorecase and any(c.lower() != c.upper() for c in chars)):
            return None
        return frozenset(chars)
    if op is sre_c.SUBPATTERN:  # (group, add_flags, del_flags, pattern)
        inner = (ignorecase or bool(av[1] & re.IGNORECASE)) and not av[2] & re.IGNORECASE
        return _sequence_chars(av[3], inner, limit)
    if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT) and av[0] >= 1:
        return _sequence_chars(av[2], ignorecase, limit)
    if op is sre_c.BRANCH:
        union: set[str] = set()
        for alternative in av[1]:
            chars_of = _sequence_chars(alternative, ignorecase, limit)
            if chars_of is None:
                return None
            union |= chars_of
        return frozenset(union)
    return None  # anchors, lookarounds, ANY, categories, optional items: no requirement


def _sequence_chars(seq: Any, ignorecase: bool, limit: int = _MAX_SET) -> frozenset[str] | None:
    """The smallest requirement among the items every match of ``seq`` passes through."""
    best: frozenset[str] | None = None
    for op, av in seq:
        chars = _item_chars(op, av, ignorecase, limit)
        if chars is not None and (best is None or len(chars) < len(best)):
            best = chars
    return best


@lru_cache(maxsize=32)  # a pipeline is rebuilt as its vocabulary grows: parse once
def required_chars(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """A set of characters such that every string ``pattern`` matches contains one of them
    (read from the parsed pattern; only mandatory literals and small character classes
    count, and under ``re.IGNORECASE`` only characters without case), or ``None``.

    The top-level alternatives are parsed one at a time: French ``token_match`` parsed whole
    took 17 MB for a moment (hundreds of alternatives with large letter classes), this way
    3 MB."""
    return _required_chars(pattern, _MAX_SET)


def _required_chars(pattern: re.Pattern[str], limit: int) -> frozenset[str] | None:
    union: set[str] = set()
    for alternative in _alternatives(pattern.pattern):
        try:
            parsed = sre_parse.parse(alternative, pattern.flags)
        except re.error:
            return None
        chars = _sequence_chars(parsed, bool(parsed.state.flags & re.IGNORECASE), limit)
        if chars is None:
            return None
        union |= chars
    return frozenset(union)


def _alternatives(pattern: str) -> list[str]:
    """``pattern`` split at its top-level ``|`` (outside groups, classes and escapes)."""
    parts: list[str] = []
    depth, start, i, klass = 0, 0, 0, -1  # klass: where the open character class began
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if klass >= 0:  # "]" right after "[" or "[^" is a member, not the end
            if c == "]" and i > klass + 1 and pattern[klass + 1 : i] != "^":
                klass = -1
        elif c == "[":
            klass = i
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def guarded(match: Search, pattern: re.Pattern[str]) -> Search | None:
    """``match``, answering ``None`` at once for strings without any of the characters every
    match of ``pattern`` needs; ``None`` when the pattern needs no particular character."""
    needed = required_chars(pattern)
    if needed is None:
        return None

    def guarded_match(string: str) -> re.Match[str] | None:
        return None if needed.isdisjoint(string) else match(string)

    return guarded_match


# spaCy's infixes include a class of ~6,000 symbols (icons, emoji): read as a requirement too.
_INFIX_SET = 20_000


@lru_cache(maxsize=32)
def _infix_needs(pattern: re.Pattern[str]) -> tuple[re.Pattern[str] | None, bool]:
    """(``infix_guard`` of ``pattern``, whether none of its characters is a letter or digit)."""
    # The ~6,000 characters enumerated from the parsed pattern: kept on disk (affix_cache).
    answers = affix_cache.chars("infix", (pattern.pattern,), pattern.flags, 1,
                                lambda: [_required_chars(pattern, _INFIX_SET)])
    needed = answers[0] if answers else None
    if not needed:
        return None, False
    return _class_of(needed), not any(c.isalnum() for c in needed)


def infix_guard(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """One character class of the characters every match of ``pattern`` needs (a regex, not
    a set: a set of 6,000 one-character strings per language took 0.6 MB), or ``None``."""
    return _infix_needs(pattern)[0]


def _class_of(needed: frozenset[str]) -> re.Pattern[str]:
    """``needed`` (not empty) as one regex character class of ranges."""
    points = sorted(map(ord, needed))
    ranges: list[str] = []
    start = prev = points[0]
    for point in [*points[1:], -1]:
        if point != prev + 1:
            low, high = re.escape(chr(start)), re.escape(chr(prev))
            ranges.append(low if start == prev else f"{low}-{high}")
            start = point
        prev = point
    return re.compile(f"[{''.join(ranges)}]")


def guarded_finditer(
    finditer: Callable[[str], Iterator[re.Match[str]]], pattern: re.Pattern[str]
) -> Callable[[str], Iterable[re.Match[str]]] | None:
    """``finditer``, answering "no match" at once for strings without any of the characters
    every match of ``pattern`` needs (most chunks: words and plain numbers); ``None`` when no
    such characters are known. spaCy calls it on every chunk it has not seen before."""
    guard, alnum_free = _infix_needs(pattern)
    if guard is None:
        return None
    search = guard.search
    # With no letter or digit among the needed characters (``alnum_free``), a chunk of letters
    # and digits only (most chunks) has none of them: told by ``str.isalnum`` in C, without
    # the class search over ~6,000 characters.

    def guarded_iter(string: str) -> Iterable[re.Match[str]]:
        if alnum_free and string.isalnum():
            return ()
        return finditer(string) if search(string) else ()

    return guarded_iter


def cacheable_rules(rules: dict[str, Any]) -> dict[str, Any]:
    """The special cases ``rules`` without those of white space that give the one token the
    tokenizer makes of that white space anyway (``" "``, ``"\\t"``, ``"\\n"``: ORTH only).

    spaCy stops saving a text's chunks in its cache once one chunk of that text was a
    special case (``has_special`` is set for the rest of the call; ``Tokenizer._save_cached``
    skips every chunk after it), and ``"\\n"`` is one: in a mail, every chunk after the
    first line break went through the affix searches again, in every message, however
    common ("the", "order", "please"). Without these three entries the tokens are the same
    (``tests/classifiers/test_clf_affixes.py``) and common words stay in the cache."""
    from spacy.attrs import ORTH

    return {k: v for k, v in rules.items() if not (k.isspace() and v == [{ORTH: k}])}


def _plain_tokenizer() -> Any:
    """spaCy's default tokenizer factory (``spacy.Tokenizer.v1`` in spaCy's
    ``language.py``: the same searches and settings, made the same way) without the
    language's special cases, which :func:`speed_up` loads into the tokenizer it makes."""
    util: Any = importlib.import_module("spacy.util")
    tokenizer_class: Any = importlib.import_module("spacy.tokenizer").Tokenizer

    def factory(nlp: Language) -> Any:
        defaults = nlp.Defaults
        prefixes, suffixes, infixes = defaults.prefixes, defaults.suffixes, defaults.infixes
        return tokenizer_class(
            nlp.vocab,
            rules=None,
            prefix_search=util.compile_prefix_regex(prefixes).search if prefixes else None,
            suffix_search=util.compile_suffix_regex(suffixes).search if suffixes else None,
            infix_finditer=util.compile_infix_regex(infixes).finditer if infixes else None,
            token_match=defaults.token_match,
            url_match=defaults.url_match,
        )

    return factory


def _vectors(vocab: Any) -> Any:
    """The empty vectors of a blank pipeline (spaCy's ``spacy.Vectors.v1``, its default)."""
    return importlib.import_module("spacy.vectors").Vectors(strings=vocab.strings)


def blank(lang: str) -> Language:
    """``spacy.blank(lang)`` with :func:`speed_up`'s tokenizer, whose special cases are loaded
    once.

    ``spacy.blank`` loads them into its tokenizer and :func:`speed_up` into the new one; each
    load puts every special case's tokens in the vocabulary's memory pool, which frees
    nothing before the vocabulary goes: 3 MB of the first load stayed in every daemon, over
    the 11 languages (Dutch's 4,670 special cases 1.3 MB). The first tokenizer now has none,
    and the vocabulary ends up with the same strings and lexemes.

    The language class is made directly with spaCy's default tokenizer and vectors, which is
    what ``spacy.blank`` ends in: its config (filled, validated, resolved through spaCy's
    registries, each lookup a walk over the installed packages' entry points) was 0.035 s
    of CPU a language, 0.35 s of every fork server's start, for a pipeline with no
    components whose tokenizer is replaced anyway."""
    import spacy  # here: commands that classify nothing do not pay a second for it

    nlp = spacy.util.get_lang_class(lang)(create_tokenizer=_plain_tokenizer(),
                                          create_vectors=_vectors)
    speed_up(nlp, nlp.Defaults.tokenizer_exceptions)
    return nlp


def speed_up(nlp: Language, rules: dict[str, Any] | None = None) -> None:
    """Give ``nlp`` a tokenizer with the equivalent searches of this module (each only where
    its pattern is the one it was derived from), the same special cases and settings.

    A new tokenizer rather than assigning to the old one: every assignment to a search of a
    spaCy tokenizer reloads its ~1,500 special cases, and four reloads per language left
    11 MB more in the daemon. Its special cases are :func:`cacheable_rules` of ``rules``
    (by default the old tokenizer's); the strings of those left out are added to the
    vocabulary as their load would have added them."""
    tokenizer_class: Any = importlib.import_module("spacy.tokenizer").Tokenizer  # no stubs

    tokenizer: Any = nlp.tokenizer  # a Tokenizer; typed as a callable by spaCy
    defaults = nlp.Defaults
    searches = {
        name: getattr(tokenizer, name)
        for name in ("prefix_search", "suffix_search", "infix_finditer", "token_match", "url_match")
    }
    current = getattr(searches["suffix_search"], "__self__", None)
    if isinstance(current, re.Pattern) and defaults.suffixes:
        suffix = suffix_search(current, [str(p) for p in defaults.suffixes])
        searches["suffix_search"] = suffix or searches["suffix_search"]
    current = getattr(searches["prefix_search"], "__self__", None)
    if isinstance(current, re.Pattern) and defaults.prefixes:
        prefix = prefix_search(current, [str(p) for p in defaults.prefixes])
        searches["prefix_search"] = prefix or searches["prefix_search"]
    infix = searches["infix_finditer"]
    current = getattr(infix, "__self__", None)
    if isinstance(current, re.Pattern) and infix == current.finditer:
        searches["infix_finditer"] = guarded_finditer(infix, current) or infix
    for name in ("url_match", "token_match"):
        match = searches[name]
        current = getattr(match, "__self__", None)
        if isinstance(current, re.Pattern) and match == current.match:
            searches[name] = guarded(match, current) or match
    if rules is None:
        rules = tokenizer.rules
    kept = cacheable_rules(rules)
    for chunk in rules.keys() - kept.keys():
        nlp.vocab[chunk]  # its lexeme, as loading its special case made it
    nlp.tokenizer = tokenizer_class(
        nlp.vocab,
        rules=kept,
        faster_heuristics=tokenizer.faster_heuristics,
        max_cache_size=tokenizer.max_cache_size,
        **searches,
    )
