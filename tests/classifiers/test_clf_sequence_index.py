"""``SequenceIndex.find`` on its own: the word table (words found by a binary search, the newest
by a dict, merged and renewed in bulk), blank lines, a symbol twice in one sequence."""

from __future__ import annotations

import pytest
import spacy

from classifiers import sequences
from classifiers.sequences import Element, SequenceIndex, SequenceRule

ORDER = Element("concept", "order_verb")
DOCUMENT = Element("concept", "document")
NUM = Element("num", "")


def _index() -> SequenceIndex:
    rules = [
        SequenceRule("order", "en", ((ORDER, DOCUMENT),), 2, False, True),
        SequenceRule("two_numbers", "en", ((NUM, NUM),), 1, False, False),
    ]
    forms = {("en", "order_verb"): frozenset({"order", "ordered"}),
             ("en", "document"): frozenset({"po"})}
    return SequenceIndex(rules, forms, {("en", "document"): ("quotation",)}, frozenset({"not"}))


@pytest.fixture(scope="module")
def nlp() -> spacy.language.Language:
    return spacy.blank("en")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("We order the PO today", [("order", 1, 4)]),
        ("\n\nWe order the PO", [("order", 2, 5)]),  # a blank line before the first word
        ("We order\n\nthe PO", []),  # a blank line inside
        ("We order the big blue PO", []),  # three words between: beyond the window
        ("We do not order the PO", [("order", 3, 6)]),  # one before: the caller's business
        ("We order not the PO", []),  # one inside drops it
        ("order quotations", [("order", 0, 2)]),  # a prefix
        ("Lines 12 and 14, then 20", [("two_numbers", 1, 4)]),  # one symbol twice
        ("12 14", [("two_numbers", 0, 2)]),
        # position runs longer than a byte, zero at their high end (or their low end)
        ("We order the PO" + " and then" * 20, [("order", 1, 4)]),
        ("and then " * 20 + "we order the PO", [("order", 41, 44)]),
        ("", []),
    ],
)
def test_matches(nlp: spacy.language.Language, text: str, expected: list[object]) -> None:
    assert _index().find(nlp.make_doc(text)) == expected


def test_a_word_table_that_merged_and_renewed_finds_the_same(
    nlp: spacy.language.Language, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Texts of many new words (every number is one), through an index whose table merges
    every 3 words and is renewed after 20, give what a fresh index gives each text."""
    monkeypatch.setattr(sequences, "_MERGE_AT", 3)
    monkeypatch.setattr(sequences, "_CACHE_LIMIT", 20)
    used = _index()
    for n in range(40):
        text = f"Re {n}: we ordered PO {n} {n + 1}\n\nand order the quotation {n * 7} now"
        doc = nlp.make_doc(text)
        assert used.find(doc) == _index().find(doc)
        assert used.find(doc) == [
            ("order", 4, 6), ("order", 10, 13), ("two_numbers", 6, 8)
        ]


def test_equal_masks_and_bit_numbers_are_one_object_each() -> None:
    """The shipped rules' indexes hold one int per distinct mask and one tuple per distinct
    list of bit numbers (shared objects, not copies: 5 MB less over 11 languages), and the
    values are those the forms were given."""
    from classifiers import load_rules

    rules = load_rules()
    for lang in ("en", "pt"):
        index = rules.sequence_index(lang)
        masks = list(index._form_masks.values())
        assert len({id(m) for m in masks}) == len(set(masks)) < len(masks)
        numbers = [c.numbers for c in index._compiled]
        assert len({id(n) for n in numbers}) == len(set(numbers)) < len(numbers)
        assert not hasattr(index._compiled[0], "__dict__")
    index = _index()
    assert index._form_masks["order"] == index._form_masks["ordered"] != index._form_masks["po"]


def _phrase_index() -> SequenceIndex:
    """Rules whose document may be a form of several tokens ("call-off", found by the
    caller's PhraseMatcher and handed to ``find`` as phrase hits)."""
    rules = [
        SequenceRule("order", "en", ((ORDER, DOCUMENT),), 2, False, True),
        SequenceRule("order_number", "en", ((ORDER, DOCUMENT, NUM),), 1, False, False),
        SequenceRule("either", "en", ((DOCUMENT, ORDER),), 1, True, True),
    ]
    forms = {("en", "order_verb"): frozenset({"order", "place"}),
             ("en", "document"): frozenset({"po", "call-off", "blanket order"})}
    return SequenceIndex(rules, forms, {}, frozenset({"not"}),
                         one_token=lambda w: "-" not in w and " " not in w)


def _phrase_hits(index: SequenceIndex, doc: spacy.tokens.Doc) -> list[tuple[int, int, int]]:
    """(bit, start, end) of each form of several tokens in ``doc``, as the PhraseMatcher
    gives them (overlapping ones too)."""
    lower = [t.lower_ for t in doc]
    hits = []
    for bit, forms in index.phrases.items():
        for form in forms:
            parts = [t.lower_ for t in _tokens(form)]
            for i in range(len(lower) - len(parts) + 1):
                if lower[i : i + len(parts)] == parts:
                    hits.append((bit, i, i + len(parts)))
    return sorted(hits, key=lambda h: (h[1], h[2]))


_NLP = spacy.blank("en")


def _tokens(form: str) -> list[spacy.tokens.Token]:
    return list(_NLP.make_doc(form))


def test_forms_of_several_tokens_from_position_bits_as_from_every_token(
    nlp: spacy.language.Language,
) -> None:
    """The occurrences of the variants searched over forms of several tokens, read from the
    position bitsets (the usual case), give the matches that reading every token's mask
    gives (the path taken once a whitespace word carried a symbol): random texts of order
    words, documents of one and several tokens, numbers, negators, blank lines, line
    breaks and other words."""
    import random

    rng = random.Random(7)
    pieces = ["order", "place", "po", "call-off", "blanket order", "not", "the", "big",
              "12", "4711", "\n", "\n\n", "call", "off", "-", "blanket"]
    bits_path, tokens_path = _phrase_index(), _phrase_index()
    tokens_path._spaced.add(10_000)  # no symbol has it: only the path changes
    found = 0
    for _ in range(400):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        doc = nlp.make_doc(text)
        hits = _phrase_hits(bits_path, doc)
        expected = tokens_path.find(doc, hits)
        assert bits_path.find(doc, hits) == expected, text
        found += len(expected)
    assert found > 300
    doc = nlp.make_doc("We place the call-off 12 now")
    assert bits_path.find(doc, _phrase_hits(bits_path, doc)) == [
        ("order", 1, 6), ("order_number", 1, 7), ("either", 1, 6)
    ]


def test_a_renewed_word_table_keeps_the_words_of_several_texts(
    nlp: spacy.language.Language, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Renewal keeps the words a later text looked up again (their masks are not computed
    again) and drops those seen in one text only; the matches are a fresh index's."""
    monkeypatch.setattr(sequences, "_MERGE_AT", 3)
    monkeypatch.setattr(sequences, "_CACHE_LIMIT", 30)
    index = _index()
    computed: list[str] = []
    mask = index._words._mask
    index._words._mask = lambda word: computed.append(word) or mask(word)
    for n in range(60):
        text = f"we ordered PO {n} {n + 1000}\n\nand order the quotation {n * 7 + 5000} now"
        doc = nlp.make_doc(text)
        assert index.find(doc) == _index().find(doc)
        assert index.find(doc) == [("order", 1, 3), ("order", 7, 10), ("two_numbers", 3, 5)]
    assert computed.count("order") == computed.count("ordered") == 1  # kept at each renewal
    assert len(index._words._recent) + len(index._words._keys) <= 30 + 3 + 10
    assert index._words._used < 60 * 3  # renewed: the numbers of old texts are gone
