"""Literals and concept forms with an apostrophe: a clitic the tokenizer splits off only
after listed words ("we've" -> "we", "'ve"), an elision ("j'", "l'"), and either apostrophe
(' or \u2019) in the rule or in the mail. Small rule folders of their own (invented
sentences), on blank spaCy pipelines."""

from __future__ import annotations

import pytest

from classifiers import load_rules
from classifiers.matching import match_message
from classifiers.rules import RuleSet

CONCEPTS = {
    "en": '[concepts.perfect]\nforms = ["\'ve", "have"]\n[concepts.first]\nforms = ["i\'m"]\n',
    "fr": '[concepts.avoir]\nforms = ["ai"]\n',
    "it": '[concepts.ordine]\nforms = ["ordine", "ordini"]\n',
}
RULES = {
    "en": ('sequences = [["we", "\'ve", "lost"], ["@perfect", "shipped"], '
           '["you", "\u2019ve", "received"], ["@first", "waiting"]]'),
    "fr": 'sequences = [["j\'", "@avoir", "commandé"], ["l\u2019", "offre"], ["j\'ai", "reçu"]]',
    "it": 'sequences = [["l\'", "@ordine"], ["dell\'", "ordine"]]',
}


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    root = tmp_path_factory.mktemp("rules")
    for lang in CONCEPTS:
        (root / lang).mkdir()
        (root / lang / "concepts.toml").write_text(CONCEPTS[lang], "utf-8")
        (root / lang / "feedback.toml").write_text(
            f'[[rules]]\nid = "{lang}.feedback.apos"\nweight = 3\n{RULES[lang]}\n', "utf-8")
    return load_rules(root)


def _fired(rules: RuleSet, text: str, lang: str) -> bool:
    return any(h.rule.id == f"{lang}.feedback.apos"
               for h in match_message([("body", text)], lang, rules))


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "We've lost the slot."),
        ("en", "We\u2019ve lost the slot."),  # the typographic apostrophe in the mail
        ("en", "They've shipped the wrong part."),  # "'ve" as a concept form
        ("en", "They\u2019ve shipped the wrong part."),
        ("en", "You've received a new review"),  # the rule has "\u2019ve", the mail "'ve"
        ("en", "I'm still waiting"),  # a form of two tokens ("i", "'m")
        ("en", "I\u2019m still waiting"),
        ("fr", "J'ai commandé deux pompes."),
        ("fr", "J\u2019ai commandé deux pompes."),
        ("fr", "Merci pour l'offre."),  # the rule has "l\u2019", the mail "l'"
        ("fr", "J\u2019ai reçu le colis."),  # a literal of two tokens, the other apostrophe
        ("it", "Vi mando l'ordine."),
        ("it", "Vi mando l\u2019ordine."),
        ("it", "Lo stato dell\u2019ordine?"),
    ],
)
def test_apostrophe_forms_match_either_apostrophe(rules: RuleSet, lang: str, text: str) -> None:
    assert _fired(rules, text, lang)


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "We lost the slot."),
        ("en", "We'll lose the slot."),
        ("en", "'ve lost"),  # no "we" before it
        ("en", "we ve lost it"),  # no apostrophe: not the rule's form
        ("en", "We shipped the wrong part."),
        ("en", "I am waiting"),
        ("fr", "Nous avons commandé deux pompes."),
        ("fr", "Merci pour votre offre."),
        ("it", "Vi mando un ordine."),
        ("it", "Lo stato del ordine?"),
    ],
)
def test_without_the_apostrophe_form_nothing_matches(rules: RuleSet, lang: str, text: str) -> None:
    assert not _fired(rules, text, lang)
