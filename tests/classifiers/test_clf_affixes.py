"""The tokenizer's faster affix searches (classifiers/affixes.py) give spaCy's tokens exactly."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
import spacy

from classifiers.affixes import (
    _bounded_width,
    _edge_chars,
    _width,
    blank,
    guarded,
    guarded_finditer,
    infix_guard,
    prefix_search,
    required_chars,
    speed_up,
    sre_parse,
    suffix_search,
)
from classifiers.language import SUPPORTED

# Characters that start, end or sit inside spaCy's affix and URL patterns (euro, pound, degree,
# dashes, quotes; the widest units: 4 and 5 characters), plus plain ones.
ALPHABET = [*"aAsSkmgMBT019 .,:;!?'\"()[]%$/#@_*+^&\n"]
ALPHABET += [*"\u20ac\u00a3\u00b0-\u2013\u2014\u2019\u2018\u2026"]
ALPHABET += ["km", "'s", "\u2019S", "...", "km/h", "mbar", "\u0627\u0643\u0648\u0627\u0628"]
# Last and first characters of the pieces of other kinds (the dispatch tables of affixes.py
# choose the pieces by them): letters with and without units ending in them, a symbol of
# spaCy's icon class below and above U+2000, CJK punctuation, an ordinal, Latin-1 letters.
ALPHABET += [*"pzhFlbté\u00df\u00e9\u00a9\u00a6\u2764\u3002\u00ba\u00bf\u00a1\u00ab\u00bb\u201e"]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TRICKY = (
    "Order 4500871234... see www.example.com/po?x=1 or mail sales@example.de (asap)!\n"
    "5km 20% 3.5mm US$40 €12 12°C. It's l'entreprise d\u2019un porte-monnaie, aujourd'hui. "
    "rock'n'roll ..... «quoted» \"x\" [a] {b} 1-2-3 ft. n't e.g. U.S.A. 10:30 ¿qué? "
    "abc..\nabc.\n x.. ...\n\n\t \u2014dash\u2014 a\u2019s arc-en-ciel grand'mère 192.168.0.1"
)


def _random_strings(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12))) for _ in range(count)]


def _span(match: re.Match[str] | None) -> tuple[int, int] | None:
    return None if match is None else (match.start(), match.end())


@pytest.mark.parametrize("lang", SUPPORTED)
def test_searches_agree_with_spacy_on_random_chunks(lang: str) -> None:
    nlp = spacy.blank(lang)
    plain: Any = nlp.tokenizer
    suffix_pattern = plain.suffix_search.__self__
    prefix_pattern = plain.prefix_search.__self__
    suffix = suffix_search(suffix_pattern, [str(p) for p in nlp.Defaults.suffixes or ()])
    prefix = prefix_search(prefix_pattern, [str(p) for p in nlp.Defaults.prefixes or ()])
    assert suffix is not None and prefix is not None
    matchers = [(m, guarded(m, m.__self__)) for m in (plain.url_match, plain.token_match) if m]
    for text in _random_strings(hash(lang) % 1000, 4000):
        # spaCy reads the length of a suffix or prefix match only
        assert _span(suffix(text)) == _span(suffix_pattern.search(text)), text
        assert _span(prefix(text)) == _span(prefix_pattern.search(text)), text
        for match, fast in matchers:
            assert fast is not None
            assert _span(fast(text)) == _span(match(text)), text


@pytest.mark.parametrize("lang", SUPPORTED)
def test_tokens_are_spacys(lang: str) -> None:
    texts = [TRICKY, *(_random_strings(7, 300))]
    # White space alone, around punctuation and repeated: its special cases are left out
    # of the sped-up tokenizer (affixes.cacheable_rules), its tokens must not change.
    texts += ["\n", " ", "\t", "\u00a0", "a\nb\n", "  lead", "a  b   c", "\t\ta\t", "x\r\ny",
              "a \n b", "(\n)", "-\n-", ".\n.", "\n \n\t\n", "don't\ngo\n\ngo", "a\u00a0\nb"]
    texts += [
        p.read_text(errors="replace")[:4000]
        for p in sorted((FIXTURES / "heldout").rglob("*.eml"))[:40]
    ]
    plain, fast = spacy.blank(lang), spacy.blank(lang)
    speed_up(fast)
    sped_up: Any = fast.tokenizer
    assert not isinstance(getattr(sped_up.suffix_search, "__self__", None), re.Pattern)
    for text in texts:
        expected = [(t.text, t.idx, t.whitespace_, t.lower_, t.norm_, t.is_space)
                    for t in plain.make_doc(text)]
        assert [(t.text, t.idx, t.whitespace_, t.lower_, t.norm_, t.is_space)
                for t in fast.make_doc(text)] == expected


def _getters(nlp: Any) -> dict[int, tuple[Any, ...]]:
    """The vocabulary's lexeme attribute getters, a ``functools.partial`` by what it calls."""
    return {k: (getattr(f, "func", f), getattr(f, "args", ()), getattr(f, "keywords", {}))
            for k, f in nlp.vocab.lex_attr_getters.items()}


@pytest.mark.parametrize("lang", SUPPORTED)
def test_blank_is_spacy_blank_sped_up(lang: str) -> None:
    """``affixes.blank`` (its first tokenizer without special cases) gives the pipeline that
    ``spacy.blank`` and ``speed_up`` give: the same special cases, vocabulary and tokens."""
    old = spacy.blank(lang)
    speed_up(old)
    new = blank(lang)
    old_tok: Any = old.tokenizer
    new_tok: Any = new.tokenizer
    assert new_tok.rules == old_tok.rules
    assert sorted(new.vocab.strings) == sorted(old.vocab.strings)
    # made without spaCy's config, the same vocabulary settings, vectors and batch size
    assert _getters(new) == _getters(old)
    assert new.vocab.lookups.tables == old.vocab.lookups.tables
    assert type(new.vocab.vectors) is type(old.vocab.vectors)
    assert len(new.vocab.vectors) == len(old.vocab.vectors) == 0
    assert (new.lang, new.batch_size, new.max_length) == (old.lang, old.batch_size, old.max_length)
    assert new_tok.faster_heuristics == old_tok.faster_heuristics
    assert new_tok.max_cache_size == old_tok.max_cache_size
    assert len(new.vocab) == len(old.vocab)
    for name in ("prefix_search", "suffix_search", "infix_finditer", "token_match", "url_match"):
        assert type(getattr(new_tok, name)) is type(getattr(old_tok, name)), name
    texts = [TRICKY, *_random_strings(11, 300), "\n", " ", "\t", "a\nb\n", "\n \n\t\n"]
    texts += [*old_tok.rules][:2000]  # the special cases themselves, alone
    texts.append(" ".join([*old_tok.rules][:3000]))  # and among each other
    for text in texts:
        assert [(t.text, t.idx, t.whitespace_, t.lower_, t.norm_, t.is_space)
                for t in new.make_doc(text)] == [
            (t.text, t.idx, t.whitespace_, t.lower_, t.norm_, t.is_space)
            for t in old.make_doc(text)], text


def test_blank_loads_the_special_cases_once() -> None:
    """Each load of special cases leaves their tokens in the vocabulary's pool for good:
    Dutch's 4,670 are loaded once by ``blank``, twice by ``spacy.blank`` + ``speed_up``."""
    import tracemalloc

    spacy.blank("nl")  # imports and compiles what both ways share
    tracemalloc.start()
    try:
        twice = spacy.blank("nl")
        speed_up(twice)
        before = tracemalloc.get_traced_memory()[0]
        once = blank("nl")
        after = tracemalloc.get_traced_memory()[0]
        assert twice is not None
        assert after - before < before - 1_000_000  # 1.3 MB less at least
    finally:
        tracemalloc.stop()
    assert once.tokenizer is not None


# Infixes split between letters and digits at these (and at ~6,000 symbols: a few of them).
INFIX_ALPHABET = [*"aAzZ09é \u00df.,:;-+*^/<>=~_'\u2013\u2014\u2026\u00a9\u00b0\u2764\u263a\u00a6"]


@pytest.mark.parametrize("lang", SUPPORTED)
def test_guarded_infixes_find_what_spacy_finds(lang: str) -> None:
    plain: Any = spacy.blank(lang).tokenizer
    pattern = plain.infix_finditer.__self__
    fast = guarded_finditer(plain.infix_finditer, pattern)
    if fast is None:  # French and Italian: an alternative that needs no particular character
        assert lang in ("fr", "it")
        return
    guard = infix_guard(pattern)
    assert guard is not None and not guard.search("Order 4500871234 Müller")
    rng = random.Random(hash(lang) % 1000)
    texts = [
        "".join(rng.choice(INFIX_ALPHABET) for _ in range(rng.randint(1, 10))) for _ in range(6000)
    ]
    texts += _random_strings(11, 2000) + TRICKY.split()
    for text in texts:
        expected = [m.span() for m in pattern.finditer(text)]
        assert [m.span() for m in fast(text)] == expected, text


def test_required_chars_reads_the_pattern() -> None:
    assert required_chars(re.compile(r"^(?:\w+://)?[a-z]+\.[a-z]{2,}$")) == frozenset(".")
    assert required_chars(re.compile(r"x[-_]?y")) == frozenset("x")  # the optional class is not
    assert required_chars(re.compile(r"a-|b'")) == frozenset("ab")
    assert required_chars(re.compile(r"(?i)a-|b'")) == frozenset("-'")  # cased letters are not
    assert required_chars(re.compile(r"(?i)a|-")) is None  # "A" matches too: no safe set
    assert required_chars(re.compile(r"(?i:a)b")) == frozenset("b")
    assert required_chars(re.compile(r"[^x]+")) is None
    # split at the top-level "|" only, not inside a class or a group
    assert required_chars(re.compile(r"[|]x|(a|b)-|\|y")) == frozenset("|-")


def test_edge_characters_read_from_the_pattern() -> None:
    def edge(piece: str, last: bool) -> frozenset[str] | None:
        return _edge_chars(sre_parse.parse(piece), last)

    assert edge(r"(?<=[0-9])(?:km|m\u00b2|g)", last=True) == frozenset("m\u00b2g")
    assert edge(r"(?<=[0-9])(?:km|m\u00b2|g)", last=False) == frozenset("kmg")
    assert edge(r"\.\.+", last=True) == frozenset(".")
    assert edge(r"[a-c]'s", last=True) == frozenset("s")
    assert edge(r"x(?=y)", last=True) == frozenset("x")  # a lookahead consumes nothing
    assert edge(r"ab?", last=True) is None  # an optional last item: any of several
    assert edge(r"\w+", last=True) is None  # a category: not enumerated
    assert edge(r"(?<=a)", last=True) is None  # an empty match


@pytest.mark.parametrize("lang", SUPPORTED)
def test_memoised_widths_are_the_parsers(lang: str) -> None:
    """``_width`` is memoised (a language start measured each suffix piece ~25 times): asked
    first or again, its answer is the stdlib parser's for every suffix piece of the language,
    with and without the "$" of the pattern."""
    pieces = [str(p) for p in spacy.blank(lang).Defaults.suffixes if str(p).strip()]
    for piece in [*pieces, *(p + "$" for p in pieces)]:
        fresh = int(sre_parse.parse(piece).getwidth()[1])
        assert _width(piece) == fresh
        assert _width(piece) == fresh
    assert _bounded_width(None) == 0
    assert _bounded_width(re.compile(r"km$|\.\.+$|(?<=[0-9])%$")) == 2  # "\.\.+": unbounded


def test_unknown_patterns_are_left_alone() -> None:
    other = re.compile(r"x$|y$")
    assert suffix_search(other, ["x", "z"]) is None
    assert prefix_search(re.compile(r"^x|^y", re.M), ["x", "y"]) is None
