"""The English phrases in one matcher that every language shares (classifiers/phrases.py) give
exactly what one matcher of a language's and the English phrases gave: the same matches in the
same order, over every rule's examples in every language."""

from __future__ import annotations

import pytest
import spacy

from classifiers.language import DEFAULT
from classifiers.phrases import LanguagePhrases, SharedPhrases
from classifiers.rules import SEQUENCE_FORM, RuleSet, phrase_entries, read_rules

Match = tuple[str, int, int]


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return read_rules()


def _one_matcher(rules: RuleSet, lang: str) -> spacy.matcher.PhraseMatcher:
    """One matcher of both, as each language had until 2026-12-07."""
    nlp = rules.pipeline(lang)
    matcher = spacy.matcher.PhraseMatcher(nlp.vocab, attr="LOWER")
    for rule in rules.content_rules.values():
        if rule.language in (lang, DEFAULT):
            for key, phrases in phrase_entries(rule):
                matcher.add(key, [nlp.make_doc(p) for p in phrases])
    for bit, forms in rules.sequence_index(lang).phrases.items():
        matcher.add(f"{SEQUENCE_FORM}{bit}", [nlp.make_doc(f) for f in forms])
    return matcher


def _texts(rules: RuleSet) -> list[str]:
    """Every rule's examples and phrases (of every language), and all of them in one text."""
    texts = [t for r in rules.content_rules.values()
             for t in (*r.examples, *r.counter_examples, *r.phrases, *r.near[0], *r.near[1])]
    return [*texts, " . ".join(texts)]


@pytest.mark.parametrize("lang", sorted(read_rules().languages()))
def test_matches_are_those_of_one_matcher_of_both(rules: RuleSet, lang: str) -> None:
    nlp = rules.pipeline(lang)
    one = _one_matcher(rules, lang)
    phrases, _ = rules.matchers(lang)
    texts = _texts(rules)
    compared = 0
    for text in texts:
        doc = nlp.make_doc(text)
        expected = [(nlp.vocab.strings[m], s, e) for m, s, e in one(doc)]
        assert phrases(doc, doc.to_array(["LOWER"])) == expected, text[:200]
        compared += len(expected)
    assert compared > 1_000  # the comparison is not empty


def test_every_language_shares_the_english_phrases(rules: RuleSet) -> None:
    """A language's own matcher keeps few of the 1,151 English phrases: those its tokenizer
    splits otherwise and those with the tokens of one of its own phrases."""
    english = sum(len(p) for r in rules.content_rules.values() if r.language == DEFAULT
                  for _, p in phrase_entries(r))
    assert english > 1_000
    shared = rules.english_phrases()
    for lang in rules.languages():
        phrases, _ = rules.matchers(lang)
        assert phrases.shared is shared
        assert phrases.english_kept <= english // 10, lang
        if lang != DEFAULT:
            assert phrases.english_kept > 0, lang  # "don't", "e-mail" and loanwords at least


def _small(own: list[tuple[str, tuple[str, ...]]], english: list[tuple[str, tuple[str, ...]]]
           ) -> tuple[LanguagePhrases, spacy.language.Language]:
    """German phrases ``own`` and English ones ``english``, matched the shared way."""
    de = spacy.blank("de")
    shared = SharedPhrases(spacy.blank("en"), english)
    entries = [(k, p, False) for k, p in own] + [(k, p, True) for k, p in english]
    return LanguagePhrases(de, entries, shared), de


def _run(phrases: LanguagePhrases, nlp: spacy.language.Language, text: str) -> list[Match]:
    doc = nlp.make_doc(text)
    return phrases(doc, doc.to_array(["LOWER"]))


def test_a_phrase_the_language_splits_otherwise_is_matched_as_it_splits_it() -> None:
    # English tokens: "do", "n't"; German: one token "don't". The shared matcher's "do n't"
    # is not what a German matcher of both held.
    de = spacy.blank("de")
    assert len(de.make_doc("don't")) == 1 and len(spacy.blank("en").make_doc("don't")) == 2
    phrases, nlp = _small([], [("en.no", ("don't",)), ("en.ship", ("ship",))])
    assert phrases.english_kept == 1
    assert _run(phrases, nlp, "We don't ship") == [("en.no", 1, 2), ("en.ship", 2, 3)]
    assert _run(phrases, nlp, "We do n't ship") == [("en.ship", 3, 4)]


def test_keys_of_one_span_come_in_the_order_of_one_matcher_of_both() -> None:
    # "po" is a phrase of a German rule and of two English ones: one matcher of both gives
    # the three keys of the span in its hash table's order, so the language's own matcher
    # holds the English "po" too.
    own = [("de.po", ("po",))]
    english = [("en.a", ("po", "order")), ("en.b", ("po",))]
    phrases, nlp = _small(own, english)
    one = spacy.matcher.PhraseMatcher(nlp.vocab, attr="LOWER")
    for key, p in [*own, *english]:
        one.add(key, [nlp.make_doc(x) for x in p])
    doc = nlp.make_doc("Our PO and the order")
    expected = [(nlp.vocab.strings[m], s, e) for m, s, e in one(doc)]
    assert sorted(k for k, _, _ in expected) == ["de.po", "en.a", "en.a", "en.b"]
    assert _run(phrases, nlp, "Our PO and the order") == expected
    assert phrases.english_kept == 2  # both English "po"; "order" stays shared
