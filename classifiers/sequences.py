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
element however many tokens it has. A text is then a table of packed masks, a row a token,
gathered with numpy; the sequences whose symbols do not all occur in it are dropped with one
AND over all of them, and the few others are searched in plain Python over bitsets of the
positions of their symbols. The semantics are the Matcher's with a
bounded wildcard ``{"OP": "{0,W}"}`` between elements, except that whitespace tokens (line
breaks) are not counted and a sequence never crosses a blank line (a paragraph or field break).

Optional elements (``?``) are compiled into variants with and without them, and ``unordered``
into the permutations of each variant, so "window" always means the gap between two elements
that are present.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from classifiers.concepts import MIN_COMPOUND_HEAD

if TYPE_CHECKING:
    import numpy
    from spacy.strings import StringStore
    from spacy.tokens import Doc

NUM = "#num"
MAX_ELEMENTS = 6
MAX_UNORDERED = 3
_NEG, _SPACE, _BREAK = 1, 2, 4  # marker bits of negators, whitespace and blank lines
_FIRST_SYMBOL_BIT = 3
_NEG_NUMBER, _BREAK_NUMBER = _NEG.bit_length() - 1, _BREAK.bit_length() - 1
_DIGIT = re.compile(r"\d")
_CACHE_LIMIT = 5_000  # distinct words remembered per language (about 0.4 MB) before renewal
# Words added to the index's word table before they are sorted in: a merge sorts the whole
# table, a word waiting costs a dict look-up in the few texts that have it.
_MERGE_AT = 256


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


_APOSTROPHES = str.maketrans("\u2019", "'"), str.maketrans("'", "\u2019")


def _apostrophe_variants(forms: Iterable[str]) -> dict[str, None]:
    """``forms`` and each with the other apostrophe ("we've" / "we\u2019ve", "l'" / "l\u2019"),
    in order and once each: a rule's form matches mail written with either."""
    out: dict[str, None] = {}
    for form in forms:
        out[form] = None
        if "'" in form or "\u2019" in form:
            for table in _APOSTROPHES:
                out[form.translate(table)] = None
    return out


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


# slots: 15,000 of them in a daemon, no __dict__ each. eq=False: hashed by identity, as the
# keys of the variants searched per token (``_spans_search``): a value hash would hash all
# five fields at every look-up, and two equal variants give the same matches either way.
@dataclass(frozen=True, slots=True, eq=False)
class _Compiled:
    rule_id: str
    numbers: tuple[int, ...]  # bit number of each element's symbol
    window: int
    negatable: bool
    spread: tuple[int, ...]  # _spread_steps(window)


class SequenceIndex:
    """The sequence rules of one matcher language (its own and English) with their symbols."""

    def __init__(
        self,
        rules: Iterable[SequenceRule],
        forms: Mapping[tuple[str, str], frozenset[str]],
        prefixes: Mapping[tuple[str, str], tuple[str, ...]],
        negators: frozenset[str],
        one_token: Callable[[str], bool] = lambda word: True,
        suffixes: Mapping[tuple[str, str], tuple[str, ...]] | None = None,
    ) -> None:
        """``forms`` / ``prefixes`` / ``suffixes``: (language, concept name) -> lower-case
        forms / prefixes / compound heads;
        ``one_token(word)``: whether the language's tokenizer keeps ``word`` as one token."""
        # Imported here, into the module's namespace (every other use of it follows an
        # index's construction): a process that classifies nothing (the daemon) never loads
        # it, and the per-message methods pay no import statement.
        global numpy
        import numpy
        self._bits: dict[tuple[str, ...], int] = {}
        self._compiled: list[_Compiled] = []
        # One int object per bit number, one tuple per distinct list of them (the variants of
        # a rule repeat both): the same values, in a fifth of the objects.
        bit_numbers: dict[tuple[str, ...], int] = {}
        tuples: dict[tuple[int, ...], tuple[int, ...]] = {}

        def bit_number(symbol: tuple[str, ...]) -> int:
            if symbol not in bit_numbers:
                bit_numbers[symbol] = self._bit(symbol).bit_length() - 1
            return bit_numbers[symbol]

        for rule in rules:
            for seq in rule.sequences:
                for variant in variants(seq, rule.unordered):
                    numbers = tuple(bit_number(e.symbol(rule.language)) for e in variant)
                    numbers = tuples.setdefault(numbers, numbers)
                    self._compiled.append(
                        _Compiled(
                            rule.rule_id,
                            numbers,
                            rule.window,
                            rule.negatable,
                            _spread_steps(rule.window),
                        )
                    )
        self._form_masks: dict[str, int] = {}
        prefix_list: list[tuple[str, int]] = []
        # suffix -> bits of the concepts whose compounds end with it
        self._tails: dict[str, int] = {}
        self._num = 0
        # bit -> forms of several tokens, for the PhraseMatcher (see RuleSet.matchers)
        self.phrases: dict[int, list[str]] = {}
        for symbol, bit in self._bits.items():
            if symbol[0] == "concept":
                key = (symbol[1], symbol[2])
                self._add_forms(forms.get(key, ()), bit, one_token)
                prefix_list += [(p, bit) for p in _apostrophe_variants(prefixes.get(key, ()))]
                for tail in (suffixes or {}).get(key, ()):
                    self._tails[tail] = self._tails.get(tail, 0) | bit
            elif symbol[0] == "literal":
                self._add_forms((symbol[1],), bit, one_token)
            else:
                self._num = bit
        # Forms with the same mask share one int object (a language's 2,800-7,800 forms have
        # 900-1,300 distinct masks of up to 835 bits, about 130 bytes each): 4.5 MB less over
        # the 11 languages of a daemon, the same values.
        masks: dict[int, int] = {}
        for form, m in self._form_masks.items():  # values replaced in place: no new dict
            self._form_masks[form] = masks.setdefault(m, m)
        # Every leading part of a prefix -> the bits of the prefixes equal to it (0 for none):
        # a word is looked up one leading part longer at a time, and most words leave the
        # table after a letter or two, instead of one look-up per prefix length.
        self._leads: dict[str, int] = {}
        for prefix, bit in prefix_list:
            for end in range(1, len(prefix)):
                self._leads.setdefault(prefix[:end], 0)
            self._leads[prefix] = self._leads.get(prefix, 0) | bit
        # The lengths of the suffixes, longest first: a new word is looked up once per length.
        self._tail_sizes = sorted({len(t) for t in self._tails}, reverse=True)
        self._negators = negators
        # bit numbers of the symbols and negators of whitespace words (none expected; see find)
        self._spaced: set[int] = set()
        self._words = _WordMasks(_FIRST_SYMBOL_BIT + len(self._bits), self._mask)
        # Each variant's symbols as a packed mask, one column a variant (rows of 64 bits): which
        # variants have all their symbols in a text is an AND and an OR down the columns.
        # (A symbol may occur twice in a variant: "#num" ... "#num".)
        self._needs = numpy.ascontiguousarray(
            self._words.pack(
                [functools.reduce(operator.or_, (1 << n for n in c.numbers))
                 for c in self._compiled]
            ).view(numpy.uint64).T
        )

    def _add_forms(self, forms: Iterable[str], bit: int, one_token: Callable[[str], bool]) -> None:
        for form in _apostrophe_variants(forms):
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
        leads = self._leads
        for end in range(1, len(word) + 1):
            bits = leads.get(word[:end])
            if bits is None:
                break
            mask |= bits
        if self._tail_sizes:
            mask |= self._tail_mask(word)
        if self._num and not word.isalpha() and _DIGIT.search(word):  # letters: no digit
            mask |= self._num
        if word in self._negators or word.endswith(("n't", "n\u2019t")):
            mask |= _NEG
        if word.isspace():  # spaCy's IS_SPACE of the token (its lower-case form is itself)
            self._spaced.update(n for n in range(mask.bit_length()) if mask >> n & 1)
            mask |= _SPACE | (_BREAK if word.count("\n") >= 2 else 0)
        return mask

    def _tail_mask(self, word: str) -> int:
        """The bits of the compound heads ``word`` ends with, after ``MIN_COMPOUND_HEAD``
        letters of its own (a word only as long as the suffix is a form, listed or not)."""
        mask = 0
        size = len(word)
        for n in self._tail_sizes:
            if size - n >= MIN_COMPOUND_HEAD:
                mask |= self._tails.get(word[-n:], 0)
        return mask

    def find(
        self,
        doc: Doc,
        phrase_hits: Iterable[tuple[int, int, int]] = (),
        columns: numpy.ndarray | None = None,
    ) -> list[tuple[str, int, int]]:
        """(rule id, start token, end token) of each sequence match in ``doc``: for each rule
        and end token the shortest span; spans with a negator inside are left out for
        negatable rules. ``phrase_hits``: (bit, start, end) of the forms in :attr:`phrases`
        that the PhraseMatcher found. ``columns``: ``doc.to_array(["LOWER"])``, when the caller
        has it already. Whitespace tokens are told by their word masks, not by an
        ``IS_SPACE`` column: one attribute fewer read per token."""
        if not self._compiled or not len(doc):
            return []
        if columns is None:
            columns = doc.to_array(["LOWER"])
        # Every token's word mask, packed (one row of bytes a token), in a few numpy calls:
        # no Python step per token or per word unless the word is new. (Here and below the
        # array methods ``x.nonzero()[0]`` and ``x.cumsum()`` of 1-D arrays, not
        # ``numpy.flatnonzero`` / ``numpy.cumsum``: the same arrays without the functions'
        # ``__array_function__`` dispatch and ``ravel``.)
        words = self._words
        rows = words.rows(columns, doc.vocab.strings)
        absent = ~numpy.bitwise_or.reduce(rows.view(numpy.uint64), axis=0)
        hits = [(bit.bit_length() - 1, start, end) for bit, start, end in phrase_hits]
        if hits:
            absent &= ~words.pack([sum({1 << n for n, _, _ in hits})]).view(numpy.uint64)[0]
        # Variants with all their symbols in the text, in the order of the rules (matches
        # come out in that order).
        lacking = numpy.bitwise_or.reduce(self._needs & absent[:, None], axis=0)
        numbers = (lacking == 0).nonzero()[0].tolist()
        if not numbers:
            return []
        todo = list(map(self._compiled.__getitem__, numbers))
        # The symbols they need (and the negators): the only positions read below.
        # (One OR down their packed columns, read back as bit numbers: a Python set union of
        # ~35 tuples and a list turned into an array cost more.)
        need = numpy.bitwise_or.reduce(self._needs.take(numbers, axis=1), axis=1)
        need[0] |= _NEG
        needed = numpy.unpackbits(need.view(numpy.uint8), bitorder="little").nonzero()[0]
        at = _Positions(rows, (rows[:, 0] & _SPACE) == 0, needed)
        # A symbol found as a form of several tokens (or, never seen, as a whitespace word)
        # has occurrences that are not one position each: its variants are searched over the
        # tokens of each occurrence instead (all variants if a whitespace word negates).
        odd = {n for n, _, _ in hits} | self._spaced
        slow = [c for c in todo if not odd.isdisjoint(c.numbers)] if odd else []
        if _NEG_NUMBER in odd:
            slow = todo
        if not slow:
            return at.matches(todo, {})
        if self._spaced:  # a whitespace word with a symbol: its tokens are read one by one
            occurrences, negators = _occurrences(
                words.ints(rows), at.rank(), [(1 << n, s, e) for n, s, e in hits],
                _symbols(slow),
            )
            breaks = at.blank
        else:  # (nearly always) the occurrences of single words are the position bits
            occurrences, negators, breaks = at.occurrences(slow, hits)
        searched = _spans_search(slow, at.rank(), occurrences, negators, breaks)
        return at.matches(todo, searched)


class _WordMasks:
    """Each distinct lower-case word's symbol mask, computed once (by ``mask(word)``) and kept
    as a row of a byte table (bit n of the mask: bit n % 8 of byte n // 8; whole 64-bit words
    a row). A text's masks are then one gather from the table instead of a Python step per
    token and per word."""

    def __init__(self, width: int, mask: Callable[[str], int]) -> None:
        self._size = (width + 63) // 64 * 8  # bytes a row
        self._mask = mask
        self._clear()

    def _clear(self) -> None:
        self._keys = numpy.zeros(0, dtype=numpy.uint64)  # hashes, ascending ...
        self._rows = numpy.zeros(0, dtype=numpy.intp)  # ... and their rows in the table
        self._recent: dict[int, int] = {}  # hash -> row of the words added since
        self._table = numpy.zeros((256, self._size), dtype=numpy.uint8)
        self._again = numpy.zeros(256, dtype=numpy.bool_)  # rows looked up by a later text
        self._used = 0

    def _renew(self) -> None:
        """Start a new table with the words of the old one that a text after their first
        looked up (at most half the table's limit, the oldest first): the words every mail
        has ("the", "order", "please") are not classified again after each renewal, the
        numbers and names seen once are dropped. Masks depend on the word alone."""
        if self._recent:
            self._merge()
        keep = self._again[: self._used].nonzero()[0][: _CACHE_LIMIT // 2]
        hashes = numpy.zeros(self._used, dtype=numpy.uint64)
        hashes[self._rows] = self._keys
        table = self._table.take(keep, axis=0)
        keys = hashes.take(keep)
        self._clear()
        count = len(keep)
        if count:
            order = keys.argsort()  # sorted key i is in row order[i] of the new table
            self._keys, self._rows = keys.take(order), order
            size = max(count, len(self._table))
            self._table = numpy.zeros((size, self._size), dtype=numpy.uint8)
            self._table[:count] = table
            self._again = numpy.zeros(size, dtype=numpy.bool_)
            self._used = count

    def pack(self, masks: list[int]) -> numpy.ndarray:
        """The rows of ``masks`` (Python ints below ``width`` bits)."""
        size = self._size
        data = b"".join(m.to_bytes(size, "little") for m in masks)
        return numpy.frombuffer(data, dtype=numpy.uint8).reshape(len(masks), size)

    def ints(self, rows: numpy.ndarray) -> list[int]:
        """The masks ``rows`` as Python ints."""
        data, size = rows.tobytes(), self._size
        return [int.from_bytes(data[i : i + size], "little") for i in range(0, len(data), size)]

    def rows(self, hashes: numpy.ndarray, strings: StringStore) -> numpy.ndarray:
        """The mask rows of ``hashes`` (one a token), classifying the words not seen before.
        The words known for longer are found by a binary search over their sorted hashes;
        those added since (a few a text) by a dict, merged into the sorted ones in bulk."""
        if self._used > _CACHE_LIMIT:
            self._renew()
        keys = self._keys
        if len(keys):
            at = keys.searchsorted(hashes)
            found = keys.take(at, mode="clip") == hashes
            rows = self._rows.take(at, mode="clip")
            if found.all():
                self._again[rows] = True
                return self._table.take(rows, axis=0)
            lost = (~found).nonzero()[0]
        else:
            lost = numpy.arange(len(hashes))
            rows = numpy.zeros(len(hashes), dtype=numpy.intp)
        recent = self._recent
        others = hashes.take(lost).tolist()
        new = set(others).difference(recent)
        known = self._used  # rows below it were added for an earlier text
        if new:
            self._add(new, strings)
        rows[lost] = list(map(recent.__getitem__, others))
        self._again[rows.compress(rows < known)] = True
        if len(recent) > _MERGE_AT:
            self._merge()
        return self._table.take(rows, axis=0)

    def _add(self, new: set[int], strings: StringStore) -> None:
        start, end = self._used, self._used + len(new)
        if end > len(self._table):
            grown = numpy.zeros((max(end, 2 * len(self._table)), self._size), numpy.uint8)
            grown[:start] = self._table[:start]
            self._table = grown
            again = numpy.zeros(len(grown), dtype=numpy.bool_)
            again[:start] = self._again[:start]
            self._again = again
        words = list(new)
        self._table[start:end] = self.pack([self._mask(strings[h]) for h in words])
        self._recent.update(zip(words, range(start, end), strict=True))
        self._used = end

    def _merge(self) -> None:
        # The new hashes appended to the sorted ones and the whole sorted again: a stable
        # sort finds the sorted run and merges the short tail in one pass (numpy.insert, in
        # Python, cost several times more). The hashes are distinct: a recent one was not
        # among the sorted ones.
        count = len(self._recent)
        keys = numpy.concatenate(
            (self._keys, numpy.fromiter(self._recent, dtype=numpy.uint64, count=count))
        )
        rows = numpy.concatenate(
            (self._rows, numpy.fromiter(self._recent.values(), dtype=numpy.intp, count=count))
        )
        order = keys.argsort(kind="stable")
        self._keys, self._rows = keys.take(order), rows.take(order)
        self._recent = {}


class _Positions:
    """Where the symbols, negators and blank lines of a text are, as bitsets over the counted
    positions (bit r: the r-th token that is not whitespace; a whitespace token has the
    position of the word before it). "B within W positions after A" is then a shift and an
    AND over all occurrences at once instead of a Python step per occurrence."""

    def __init__(
        self, rows: numpy.ndarray, counted: numpy.ndarray, needed: numpy.ndarray
    ) -> None:
        """``rows``: each token's packed word mask; ``needed``: the bit numbers whose positions
        are wanted (the others are not read). Position p is the (p + 1)-th word; the blank
        lines are at the position of the word before them (none before the first word: nothing
        is searched there). Whitespace tokens carry nothing else that the variants searched
        here read (a whitespace word with a symbol or a negator sends them to
        :func:`_spans_search`)."""
        self.counted = counted
        self._rank: list[int] = []
        self._tokens: list[int] = []
        # The words' bits, one run of bits per number, packed, read as a Python int each.
        picked = rows.compress(counted, axis=0).T.take(needed >> 3, axis=0)
        picked &= numpy.left_shift(1, needed & 7).astype(numpy.uint8)[:, None]
        packed = numpy.packbits(picked, axis=-1, bitorder="little")
        numbers, size = needed.tolist(), packed.shape[1]
        order: Iterator[Literal["little"]] = itertools.repeat("little")
        single = (
            # Each run as one bytes object (a fixed-width bytes item a run; ``tolist`` drops
            # its trailing zero bytes, the high end of a little-endian int: the same value)
            # instead of a slice of the whole buffer a run.
            dict(zip(numbers, map(int.from_bytes, packed.view(f"S{size}").ravel().tolist(),
                                  order), strict=True))
            if size else dict.fromkeys(numbers, 0)
        )
        breaks = 0
        blank = (rows[:, 0] & _BREAK).nonzero()[0]
        self.blank: list[int] = blank.tolist()  # the tokens of blank lines
        if len(blank):
            for at in counted.cumsum().take(blank).tolist():
                if at:
                    breaks |= 1 << (at - 1)
        single[_BREAK_NUMBER] = breaks
        self.single = single

    def rank(self) -> list[int]:
        """Each token's count of the counted tokens up to it (itself included)."""
        if not self._rank:
            self._rank = self.counted.cumsum().tolist()
        return self._rank

    def tokens(self) -> list[int]:
        """Each position's token."""
        if not self._tokens:
            self._tokens = self.counted.nonzero()[0].tolist()
        return self._tokens

    def occurrences(
        self, slow: list[_Compiled], hits: list[tuple[int, int, int]]
    ) -> tuple[Occurrences, list[int], list[int]]:
        """What :func:`_occurrences` gives for the symbols of ``slow`` (and the forms of
        several tokens ``hits``: bit number, first token, end), and the blank lines'
        tokens, read from the position bitsets instead of every token's mask: the same when
        no whitespace word carries a symbol or a negator (whitespace tokens have no position
        and no bit here). A symbol's single words come in position order, each before a
        form of several tokens that starts at its token, as ``_occurrences`` sorts them."""
        single, tokens, rank = self.single, self.tokens(), self.rank()
        out: Occurrences = {}
        for n in sorted(_numbers(slow)):
            positions = _set_bits(single.get(n, 0))
            ranks = [p + 1 for p in positions]
            spans = [(tokens[p], tokens[p]) for p in positions]
            extra = [(rank[s], (s, e - 1)) for m, s, e in hits if m == n]
            if extra:
                merged = sorted(
                    [*zip(ranks, spans, strict=True), *extra], key=operator.itemgetter(0)
                )
                ranks = [r for r, _ in merged]
                spans = [f for _, f in merged]
            if ranks:
                out[1 << n] = (ranks, spans)
        negators = [tokens[p] for p in _set_bits(single.get(_NEG_NUMBER, 0))]
        return out, negators, self.blank

    def matches(
        self, todo: list[_Compiled], searched: dict[_Compiled, list[tuple[str, int, int]]]
    ) -> list[tuple[str, int, int]]:
        """What :meth:`SequenceIndex.find` returns for the variants ``todo``; those in
        ``searched`` are taken from there."""
        single = self.single
        negators = single.get(_NEG_NUMBER, 0)
        breaks = single.get(_BREAK_NUMBER, 0)
        out: list[tuple[str, int, int]] = []
        tokens: list[int] = []
        for c in todo:
            if searched and c in searched:
                out += searched[c]
                continue
            # For each element: the positions where a chain of the elements up to it, each
            # within the window after the one before, can end (bitsets). Inline, not a
            # function: most variants die at their second element (44 tried a message, 4
            # reach their last).
            numbers = c.numbers
            ends = single[numbers[0]]
            reached = [ends]
            for n in numbers[1:]:
                starts = ends << 1
                for k in c.spread:
                    starts |= starts << k
                ends = starts & single[n]
                if not ends:
                    break
                reached.append(ends)
            if not ends:
                continue
            found: list[tuple[int, int]] = []
            while ends:
                last = ends.bit_length() - 1
                ends ^= 1 << last
                # The latest start: at each element back, the latest reachable position
                # before the current one (it lies within the window, since the current one
                # was reached from some position there; and a later position never leads to
                # an earlier start).
                first = last
                for before in reversed(reached[:-1]):
                    first = (before & ((1 << first) - 1)).bit_length() - 1
                inside = (1 << last) - (1 << first)  # positions first .. last - 1
                if breaks & inside:
                    continue  # a blank line after one of them, before the last
                if c.negatable and negators & (inside | 1 << last):
                    continue
                found.append((first, last))
            if not found:
                continue
            if not tokens:
                tokens = self.tokens()  # position -> token
            found.sort()
            out += [(c.rule_id, tokens[f], tokens[q] + 1) for f, q in found]
        return out


@functools.cache  # one tuple per window for the thousands of variants that share it
def _spread_steps(window: int) -> tuple[int, ...]:
    """Shifts whose successive ORs (x |= x << k) set bits 0..window after each set bit."""
    steps: list[int] = []
    covered = 0
    while covered < window:
        step = min(covered + 1, window - covered)
        steps.append(step)
        covered += step
    return tuple(steps)


def _set_bits(bits: int) -> list[int]:
    """The numbers of the set bits of ``bits``, lowest first (positions of a bitset)."""
    out: list[int] = []
    while bits:
        low = bits & -bits
        out.append(low.bit_length() - 1)
        bits ^= low
    return out


def _numbers(slow: list[_Compiled]) -> set[int]:
    """The bit numbers of the symbols of ``slow``."""
    return set().union(*(c.numbers for c in slow))


def _symbols(slow: list[_Compiled]) -> int:
    """The bits of the symbols of ``slow``."""
    needed = 0
    for n in _numbers(slow):
        needed |= 1 << n
    return needed


def _spans_search(
    slow: list[_Compiled],
    rank: list[int],
    occurrences: Occurrences,
    negators: list[int],
    breaks: list[int],
) -> dict[_Compiled, list[tuple[str, int, int]]]:
    """The matches of the variants ``slow``, searched over the first and last token of each
    occurrence of their symbols (``occurrences``, from :func:`_occurrences` or
    :meth:`_Positions.occurrences`; ``negators`` and ``breaks``: the tokens of negators and
    blank lines, ascending; ``rank``: each token's count of counted tokens)."""
    out: dict[_Compiled, list[tuple[str, int, int]]] = {}
    for c in slow:
        out[c] = [
            (c.rule_id, first, last + 1)
            for first, last in _search(c.numbers, c.window, rank, occurrences)
            if not _within(breaks, first, last)
            and not (c.negatable and _within(negators, first - 1, last + 1))
        ]
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
    numbers: tuple[int, ...],
    window: int,
    rank: list[int],
    occurrences: Occurrences,
) -> list[tuple[int, int]]:
    """(first, last) tokens of matches of the symbols ``numbers`` (bit numbers) in order,
    with at most ``window`` counted tokens between consecutive elements; for each last token
    the latest possible first one."""
    states = occurrences.get(1 << numbers[0], ([], []))[1]
    for n in numbers[1:]:
        ranks, spans = occurrences.get(1 << n, ([], []))
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
