"""Sequence rules: concepts, numbers and literal words in order, with up to ``window`` tokens
between consecutive elements (``sequence = ["@order_verb", "?@determiner", "@order_document"]``).

Why not spaCy's ``Matcher``: it visits every pattern at every token and calls each ``IN`` /
``REGEX`` predicate from Python per token. Measured on this machine (spaCy 3.8, 400-token
text): one two-token pattern costs 250 µs per text, 50 patterns with their own sets 2.5 ms per
150 tokens; a few hundred sequence rules would cost more than the rest of classification.
Here every distinct lower-case word is classified ONCE (cached by its hash) into a bitmask of
the symbols the language's rules use: each concept, literal word, ``#num``, and markers for
negators, whitespace and paragraph breaks. A form that the tokenizer splits ("call-off",
"qty.", "ci-joint") is found by the language's ``PhraseMatcher`` instead and stands for one
element however many tokens it has. A text is then a list of ints; a sequence whose
symbols do not all occur in it is skipped with one AND, and the few others are searched in
plain Python over the positions of their symbols. The semantics are the Matcher's with a
bounded wildcard ``{"OP": "{0,W}"}`` between elements, except that whitespace tokens (line
breaks) are not counted and a sequence never crosses a blank line (a paragraph or field break).

Optional elements (``?``) are compiled into variants with and without them, and ``unordered``
into the permutations of each variant, so "window" always means the gap between two elements
that are present.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy

if TYPE_CHECKING:
    from spacy.tokens import Doc

NUM = "#num"
MAX_ELEMENTS = 6
MAX_UNORDERED = 3
_NEG, _SPACE, _BREAK = 1, 2, 4
_FIRST_SYMBOL_BIT = 3
_SYMBOL_LOW = (1 << _FIRST_SYMBOL_BIT) - 1  # the marker bits below the first symbol
_DIGIT = re.compile(r"\d")
_CACHE_LIMIT = 30_000  # distinct words remembered per language (about 3 MB) before renewal


class SequenceError(ValueError):
    """Raised by :func:`parse_sequence` for an element that cannot be compiled."""


@dataclass(frozen=True)
class Element:
    """One element of a sequence: a concept, ``#num`` or a literal lower-case word."""

    kind: str  # "concept", "num" or "literal"
    value: str  # the concept's name, the literal word, or "" for #num
    optional: bool = False

    def symbol(self, lang: str) -> tuple[str, ...]:
        """The key of what this element matches (concepts are scoped to their language)."""
        if self.kind == "concept":
            return ("concept", lang, self.value)
        return (self.kind, self.value)


def parse_sequence(raw: object, known_concept: Callable[[str], bool]) -> tuple[Element, ...]:
    """Elements of one ``sequence`` list; ``known_concept(name)`` says whether a concept exists."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ELEMENTS:
        raise SequenceError(f"a sequence is a list of 1 to {MAX_ELEMENTS} strings")
    elements = tuple(_element(item, known_concept) for item in raw)
    if all(e.optional for e in elements):
        raise SequenceError("a sequence needs at least one element without '?'")
    return elements


def _element(item: object, known_concept: Callable[[str], bool]) -> Element:
    if not isinstance(item, str) or not item.strip():
        raise SequenceError("sequence elements must be non-empty strings")
    # "?" alone is the literal question mark (a question is evidence too); "??" is it optional.
    optional = item.startswith("?") and item != "?"
    text = item[1:] if optional else item
    if text.startswith("@"):
        name = text[1:]
        if not known_concept(name):
            raise SequenceError(f"unknown concept {text!r} (not in this language's concepts.toml)")
        return Element("concept", name, optional)
    if text == NUM:
        return Element("num", "", optional)
    if text.startswith("#"):
        raise SequenceError(f"unknown element {text!r} ({NUM} is the only '#' element)")
    if not text or text != text.strip() or len(text.split()) != 1:
        raise SequenceError(f"literal {text!r} must be one word (use one element per word)")
    if text != text.lower():
        raise SequenceError(f"literal {text!r} must be lower-case (tokens are matched lower-cased)")
    return Element("literal", text, optional)


def variants(elements: tuple[Element, ...], unordered: bool) -> list[tuple[Element, ...]]:
    """Every element order the sequence stands for: optional elements present or absent, and
    with ``unordered`` each of those in any order."""
    optional = [i for i, e in enumerate(elements) if e.optional]
    out: dict[tuple[Element, ...], None] = {}
    for n in range(len(optional) + 1):
        for dropped in itertools.combinations(optional, n):
            kept = tuple(e for i, e in enumerate(elements) if i not in dropped)
            orders = itertools.permutations(kept) if unordered else (kept,)
            for order in orders:
                out[order] = None
    return list(out)


@dataclass(frozen=True)
class SequenceRule:
    """What the index needs of a content rule with sequences."""

    rule_id: str
    language: str
    sequences: tuple[tuple[Element, ...], ...]
    window: int
    unordered: bool
    negatable: bool


@dataclass(frozen=True)
class _Compiled:
    rule_id: str
    need: int  # all symbol bits of the variant
    bits: tuple[int, ...]
    window: int
    negatable: bool


class SequenceIndex:
    """The sequence rules of one matcher language (its own and English) with their symbols."""

    def __init__(
        self,
        rules: Iterable[SequenceRule],
        forms: Mapping[tuple[str, str], frozenset[str]],
        prefixes: Mapping[tuple[str, str], tuple[str, ...]],
        negators: frozenset[str],
        one_token: Callable[[str], bool] = lambda word: True,
    ) -> None:
        """``forms`` / ``prefixes``: (language, concept name) -> lower-case forms / prefixes;
        ``one_token(word)``: whether the language's tokenizer keeps ``word`` as one token."""
        self._bits: dict[tuple[str, ...], int] = {}
        self._compiled: list[_Compiled] = []
        for rule in rules:
            for seq in rule.sequences:
                for variant in variants(seq, rule.unordered):
                    bits = tuple(self._bit(e.symbol(rule.language)) for e in variant)
                    need = 0
                    for b in bits:
                        need |= b
                    self._compiled.append(
                        _Compiled(rule.rule_id, need, bits, rule.window, rule.negatable)
                    )
        self._form_masks: dict[str, int] = {}
        prefix_list: list[tuple[str, int]] = []
        self._num = 0
        # bit -> forms of several tokens, for the PhraseMatcher (see RuleSet.matchers)
        self.phrases: dict[int, list[str]] = {}
        for symbol, bit in self._bits.items():
            if symbol[0] == "concept":
                key = (symbol[1], symbol[2])
                self._add_forms(forms.get(key, ()), bit, one_token)
                prefix_list += [(p, bit) for p in prefixes.get(key, ())]
            elif symbol[0] == "literal":
                self._add_forms((symbol[1],), bit, one_token)
            else:
                self._num = bit
        # length -> prefix -> bits: a word is looked up once per prefix length (a handful)
        # instead of tested against every prefix.
        self._prefixes: dict[int, dict[str, int]] = {}
        for prefix, bit in prefix_list:
            by_prefix = self._prefixes.setdefault(len(prefix), {})
            by_prefix[prefix] = by_prefix.get(prefix, 0) | bit
        self._negators = negators
        self._cache: dict[int, int] = {}
        # Each variant under one of its symbols (the one with the fewest forms, a guess at the
        # rarest): a message only tries the variants filed under a symbol it contains.
        weight = {bit: self._rarity(symbol, forms, prefixes)
                  for symbol, bit in self._bits.items()}
        # (all symbol bits, number) of the variants, by anchor: the test whether a variant's
        # symbols all occur reads two local ints instead of a dataclass per candidate.
        self._by_anchor: dict[int, list[tuple[int, int]]] = {}
        for n, c in enumerate(self._compiled):
            anchor = min(c.bits, key=lambda b: (weight[b], b))
            self._by_anchor.setdefault(anchor, []).append((c.need, n))

    @staticmethod
    def _rarity(
        symbol: tuple[str, ...],
        forms: Mapping[tuple[str, str], frozenset[str]],
        prefixes: Mapping[tuple[str, str], tuple[str, ...]],
    ) -> int:
        """How many words a symbol stands for, roughly (a prefix: many; a number: most)."""
        if symbol[0] == "concept":
            key = (symbol[1], symbol[2])
            return len(forms.get(key, ())) + 100 * len(prefixes.get(key, ()))
        if symbol[0] == "literal":
            return 1
        return 1_000_000

    def _add_forms(self, forms: Iterable[str], bit: int, one_token: Callable[[str], bool]) -> None:
        for form in forms:
            if one_token(form):
                self._form_masks[form] = self._form_masks.get(form, 0) | bit
            else:
                self.phrases.setdefault(bit, []).append(form)

    def _bit(self, symbol: tuple[str, ...]) -> int:
        if symbol not in self._bits:
            self._bits[symbol] = 1 << (_FIRST_SYMBOL_BIT + len(self._bits))
        return self._bits[symbol]

    def __len__(self) -> int:
        return len(self._compiled)

    def _mask(self, word: str) -> int:
        mask = self._form_masks.get(word, 0)
        for length, by_prefix in self._prefixes.items():
            mask |= by_prefix.get(word[:length], 0)
        if self._num and _DIGIT.search(word):
            mask |= self._num
        if word in self._negators or word.endswith(("n't", "n\u2019t")):
            mask |= _NEG
        if word.isspace():
            mask |= _SPACE | (_BREAK if word.count("\n") >= 2 else 0)
        return mask

    def masks(self, doc: Doc) -> list[int]:
        """One bitmask per token of ``doc``."""
        if len(self._cache) > _CACHE_LIMIT:
            self._cache.clear()
        cache = self._cache
        hashes = doc.to_array("LOWER").tolist()
        strings = doc.vocab.strings
        for h in set(hashes).difference(cache):
            cache[h] = self._mask(strings[h])
        return list(map(cache.__getitem__, hashes))

    def find(
        self, doc: Doc, phrase_hits: Iterable[tuple[int, int, int]] = ()
    ) -> list[tuple[str, int, int]]:
        """(rule id, start token, end token) of each sequence match in ``doc``: for each rule
        and end token the shortest span; spans with a negator inside are left out for
        negatable rules. ``phrase_hits``: (bit, start, end) of the forms in :attr:`phrases`
        that the PhraseMatcher found."""
        if not self._compiled or not len(doc):
            return []
        masks = self.masks(doc)
        phrase_hits = list(phrase_hits)
        present = 0
        for m in set(masks):
            present |= m
        for bit, _, _ in phrase_hits:
            present |= bit
        by_anchor = self._by_anchor
        numbers: list[int] = []
        rest = present
        while rest:
            bit = rest & -rest
            filed = by_anchor.get(bit)
            if filed:
                numbers += [n for need, n in filed if need & present == need]
            rest ^= bit
        if not numbers:
            return []
        numbers.sort()  # the order of the rules, as before: matches come out in that order
        todo = list(map(self._compiled.__getitem__, numbers))
        # Positions count the tokens that are not whitespace (a line break is no word); no
        # match spans a blank line. numpy: no Python step per token.
        space = doc.to_array("IS_SPACE").astype(bool)
        rank = numpy.cumsum(~space).tolist()
        breaks = [i for i in numpy.flatnonzero(space).tolist() if masks[i] & _BREAK]
        needed = 0
        for c in todo:
            needed |= c.need
        occurrences, negators = _occurrences(masks, rank, phrase_hits, needed)
        out: list[tuple[str, int, int]] = []
        for c in todo:
            for first, last in _search(c.bits, c.window, rank, occurrences):
                if _within(breaks, first, last):
                    continue
                if c.negatable and _within(negators, first - 1, last + 1):
                    continue
                out.append((c.rule_id, first, last + 1))
        return out


Occurrences = dict[int, tuple[list[int], list[tuple[int, int]]]]


def _within(positions: list[int], after: int, before: int) -> bool:
    """Whether a position of the sorted ``positions`` lies strictly between the two."""
    i = bisect.bisect_right(positions, after)
    return i < len(positions) and positions[i] < before


def _occurrences(
    masks: list[int], rank: list[int], phrase_hits: list[tuple[int, int, int]], needed: int
) -> tuple[Occurrences, list[int]]:
    """bit -> (ranks, (first, last) tokens) of each word or phrase that belongs to one of the
    ``needed`` symbols, in order of position; and the negators' positions. Most words are
    neither: skipped with one comparison."""
    wanted = needed | _NEG
    found: list[tuple[int, int, int]] = [(i, i, m) for i, m in enumerate(masks) if m & wanted]
    negators = [i for i, _, m in found if m & _NEG]
    found += [(s, e - 1, bit) for bit, s, e in phrase_hits if bit & needed]
    found.sort(key=lambda f: rank[f[0]])
    out: Occurrences = {}
    for first, last, mask in found:
        mask &= needed
        at, span = rank[first], (first, last)
        while mask:
            bit = mask & -mask
            entry = out.get(bit)
            if entry is None:
                out[bit] = ([at], [span])
            else:
                entry[0].append(at)
                entry[1].append(span)
            mask ^= bit
    return out, negators


def _search(
    bits: tuple[int, ...],
    window: int,
    rank: list[int],
    occurrences: Occurrences,
) -> list[tuple[int, int]]:
    """(first, last) tokens of matches of ``bits`` in order, with at most ``window`` counted
    tokens between consecutive elements; for each last token the latest possible first one."""
    states = occurrences.get(bits[0], ([], []))[1]
    for bit in bits[1:]:
        ranks, spans = occurrences.get(bit, ([], []))
        best: dict[int, int] = {}
        for start, end in states:
            after = rank[end]
            lo = bisect.bisect_right(ranks, after)
            hi = bisect.bisect_right(ranks, after + window + 1)
            for _, last in spans[lo:hi]:
                if best.get(last, -1) < start:
                    best[last] = start
        states = sorted((s, q) for q, s in best.items())
        if not states:
            break
    return states
