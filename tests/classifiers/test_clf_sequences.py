"""Rule format v2: concept lexicons, sequence rules, negation and condition modifiers.

Each test writes a small rules folder of its own (invented sentences), so the shipped rules
can change without touching these tests; matching runs on blank spaCy pipelines.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers import RulesError, load_rules
from classifiers.matching import match_message
from classifiers.rules import RuleSet

EN_CONCEPTS = """
description = "test lexicon"
negators = ["never", "not"]
conditionals = ["provided"]

[concepts.order_verb]
lemmas = ["order"]

[concepts.order_document]
forms = ["po", "pos"]
prefixes = ["quotation"]

[concepts.determiner]
forms = ["the", "our", "this"]

[concepts.ship_verb]
lemmas = ["ship", "send"]
"""

DE_CONCEPTS = """
negators = ["nicht", "kein", "keine"]
conditionals = ["falls", "wenn"]

[concepts.bestellen]
lemmas = ["bestellen"]
prefixes = ["bestell"]

[concepts.stueck]
forms = ["stück", "stk"]
"""


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, "utf-8")
    return root


def _rule(rule_id: str, body: str, weight: int = 3) -> str:
    return f'\n[[rules]]\nid = "{rule_id}"\nweight = {weight}\n{body}\n'


def _rules(tmp_path: Path, files: dict[str, str]) -> RuleSet:
    return load_rules(_write(tmp_path / "rules", files))


def _fired(rules: RuleSet, text: str, lang: str = "en") -> set[str]:
    return {h.rule.id for h in match_message([("body", text)], lang, rules)}


@pytest.fixture
def en_rules(tmp_path: Path) -> RuleSet:
    return _rules(tmp_path, {
        "en/concepts.toml": EN_CONCEPTS,
        "en/order.toml": _rule("en.order.verb_doc", 'sequence = ["@order_verb", "?@determiner", '
                               '"@order_document"]\nwindow = 2')
        + _rule("en.order.qty", 'sequence = ["@order_verb", "#num"]\nwindow = 1')
        + _rule("en.order.just_verb", 'sequence = ["@order_verb"]', 1),
        "en/property.toml": _rule("en.property.ship", 'sequences = [["we", "@ship_verb"], '
                                  '["@ship_verb", "back"]]\nwindow = 1'),
        "en/enquiry.toml": _rule("en.enquiry.ship_q", 'sequence = ["@ship_verb", "?"]\n'
                                 "window = 6"),
        "en/scope.toml": _rule("en.scope.qty_doc", 'change = "quantity"\nsequence = ["#num", '
                               '"@order_document"]\nwindow = 3\nunordered = true'),
    })


def test_lemmas_expand_to_the_forms_of_the_lookup_table(en_rules: RuleSet) -> None:
    forms = en_rules.concept_forms("en")["order_verb"]
    assert {"order", "orders", "ordered", "ordering"} <= forms
    assert "ordered" in en_rules.concept_forms("en")["order_verb"]
    assert {"ship", "shipped", "sent", "sending"} <= en_rules.concept_forms("en")["ship_verb"]
    assert "en.order.just_verb" in _fired(en_rules, "She ordered them yesterday.")
    assert "en.order.just_verb" in _fired(en_rules, "Who orders these?")
    assert "en.order.just_verb" not in _fired(en_rules, "Orderly conduct is expected.")


def test_prefixes_and_forms_both_match(en_rules: RuleSet) -> None:
    assert "en.order.verb_doc" in _fired(en_rules, "We order quotations 12 and 13.")
    assert "en.order.verb_doc" in _fired(en_rules, "We ordered per PO 4711.")
    assert "en.order.verb_doc" not in _fired(en_rules, "We ordered per invoice 4711.")


def test_window_counts_the_words_between_elements(en_rules: RuleSet) -> None:
    assert "en.order.qty" in _fired(en_rules, "ordered 200 pieces")
    assert "en.order.qty" in _fired(en_rules, "ordered about 200 pieces")
    assert "en.order.qty" not in _fired(en_rules, "ordered about the 200 pieces")


def test_optional_element_may_be_absent_or_present(en_rules: RuleSet) -> None:
    # window 2 counts between present elements: the determiner does not use up the window.
    assert "en.order.verb_doc" in _fired(en_rules, "Please order PO 77.")
    assert "en.order.verb_doc" in _fired(en_rules, "we order today via the PO")
    assert "en.order.verb_doc" not in _fired(en_rules, "we order today via email, the PO")


def test_unordered_sequence_matches_both_orders(en_rules: RuleSet) -> None:
    assert "en.scope.qty_doc" in _fired(en_rules, "Change to 300 on the PO please")
    assert "en.scope.qty_doc" in _fired(en_rules, "The PO now says 300.")
    assert "en.scope.qty_doc" not in _fired(en_rules, "The PO is attached and the price is 300")


def test_several_sequences_in_one_rule(en_rules: RuleSet) -> None:
    assert "en.property.ship" in _fired(en_rules, "We shipped the gauges.")
    assert "en.property.ship" in _fired(en_rules, "The gauges were sent back to you.")
    assert "en.property.ship" not in _fired(en_rules, "You shipped the gauges.")


def test_num_element_needs_a_digit(en_rules: RuleSet) -> None:
    assert "en.order.qty" in _fired(en_rules, "order 2x")
    assert "en.order.qty" not in _fired(en_rules, "order two")


def test_negator_before_or_inside_a_sequence_drops_it(en_rules: RuleSet) -> None:
    assert "en.order.qty" not in _fired(en_rules, "We have not ordered 200.")
    assert "en.order.qty" not in _fired(en_rules, "We never ordered 200.")
    assert "en.order.verb_doc" not in _fired(en_rules, "ordered, never the PO")
    assert "en.order.verb_doc" in _fired(en_rules, "No worries. We ordered the PO.")


def test_sequence_does_not_cross_a_blank_line(en_rules: RuleSet) -> None:
    assert "en.order.qty" not in _fired(en_rules, "ordered\n\n200")
    assert "en.order.qty" in _fired(en_rules, "ordered\n200")


def test_conditional_skips_order_rules_and_keeps_enquiry_rules(en_rules: RuleSet) -> None:
    text = "If we order 200, can you ship them this week?"
    fired = _fired(en_rules, text)
    assert "en.order.qty" not in fired
    assert "en.enquiry.ship_q" in fired
    assert "en.order.qty" not in _fired(en_rules, "In case we order 200 we tell you.")
    assert "en.order.qty" not in _fired(en_rules, "Provided that we order 200 ...")
    # a clause ends at a full stop: the condition does not reach the next sentence
    assert "en.order.qty" in _fired(en_rules, "If in doubt, call. We order 200.")


def test_conditional_keep_and_skip_can_be_set_per_rule(tmp_path: Path) -> None:
    rules = _rules(tmp_path, {
        "en/concepts.toml": EN_CONCEPTS,
        "en/order.toml": _rule("en.order.keep", 'sequence = ["@order_verb"]\nconditional = "keep"'),
        "en/enquiry.toml": _rule("en.enquiry.skip",
                                 'sequence = ["@ship_verb"]\nconditional = "skip"'),
    })
    fired = _fired(rules, "if we order, will you ship?")
    assert fired == {"en.order.keep"}


def test_language_rules_use_their_own_concepts_and_negators(tmp_path: Path) -> None:
    rules = _rules(tmp_path, {
        "en/concepts.toml": EN_CONCEPTS,
        "de/concepts.toml": DE_CONCEPTS,
        "de/order.toml": _rule("de.order.menge", 'sequence = ["@bestellen", "#num", "@stueck"]\n'
                               "window = 3\nunordered = true"),
    })
    assert "de.order.menge" in _fired(rules, "Wir bestellten 200 Stück.", "de")
    assert "de.order.menge" in _fired(rules, "Hiermit 200 Stk bestellt", "de")
    assert "de.order.menge" in _fired(rules, "Bestellung: 200 Stück", "de")
    assert "de.order.menge" not in _fired(rules, "Wir bestellen keine 200 Stück.", "de")
    assert "de.order.menge" not in _fired(rules, "Falls wir 200 Stück bestellen", "de")


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"en/order.toml": _rule("en.order.x", 'patterns = [[{LEMMA = "order"}]]')},
         "use a concept with lemmas"),
        ({"en/order.toml": _rule("en.order.x", 'sequence = ["@nothing"]')},
         "unknown concept '@nothing'"),
        ({"en/order.toml": _rule("en.order.x", 'sequence = ["a", "b", "c", "d"]\n'
                                 "unordered = true")}, "unordered needs sequences of 2 to 3"),
        ({"en/order.toml": _rule("en.order.x", 'sequence = ["?a"]')}, "at least one element"),
        ({"en/order.toml": _rule("en.order.x", 'sequence = ["Bitte"]')}, "lower-case"),
        ({"en/order.toml": _rule("en.order.x", 'sequence = ["#number"]')}, "#num"),
        ({"en/order.toml": _rule("en.order.x", 'sequence = ["a"]\nwindow = 13')}, "window"),
        ({"en/order.toml": _rule("en.order.x", 'sequence = ["a"]\nconditional = "maybe"')},
         "conditional must be"),
        ({"en/order.toml": _rule("en.order.x", 'phrases = ["a"]\nexamples = "a"')},
         "examples must be a list"),
        ({"en/concepts.toml": "[concepts.Bad]\nforms = ['x']\n"}, "concept names"),
        ({"en/concepts.toml": "[concepts.empty]\nnote = 'x'\n"}, "prefixes or suffixes"),
        ({"pl/concepts.toml": "[concepts.zamowic]\nlemmas = ['zamówić']\n"},
         "no lemma table"),
    ],
)
def test_malformed_v2_rule_is_refused_naming_file_and_rule(
    tmp_path: Path, files: dict[str, str], problem: str
) -> None:
    with pytest.raises(RulesError) as err:
        _rules(tmp_path, {"en/concepts.toml": EN_CONCEPTS, **files})
    message = str(err.value)
    assert problem in message
    assert Path(next(iter(files))).name in message
    assert "\n" not in message


def test_unknown_concept_names_file_rule_and_concept(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as err:
        _rules(tmp_path, {"en/concepts.toml": EN_CONCEPTS,
                          "de/order.toml": _rule("de.order.x", 'sequence = ["@order_verb"]')})
    # English concepts are not visible in German rules
    assert "de/order.toml" in str(err.value)
    assert "'de.order.x'" in str(err.value)
    assert "'@order_verb'" in str(err.value)


def test_polish_concepts_use_forms_and_prefixes(tmp_path: Path) -> None:
    rules = _rules(tmp_path, {
        "pl/concepts.toml": "[concepts.zamowic]\nprefixes = ['zamówi', 'zamawia']\n",
        "pl/order.toml": _rule("pl.order.x", 'sequence = ["@zamowic", "#num"]\nwindow = 2'),
    })
    assert "pl.order.x" in _fired(rules, "Zamawiamy 300 sztuk.", "pl")
    assert "pl.order.x" in _fired(rules, "Chcemy zamówić 300 sztuk.", "pl")


def test_forms_the_tokenizer_splits_stand_for_one_element(tmp_path: Path) -> None:
    rules = _rules(tmp_path, {
        "en/concepts.toml": '[concepts.doc]\nforms = ["call-off", "qty.", "po"]\n'
                            '[concepts.move]\nlemmas = ["move"]\nforms = ["re-schedule"]\n',
        "en/scope.toml": _rule("en.scope.move_doc", 'change = "date"\n'
                               'sequence = ["@move", "@doc", "#num"]\nwindow = 1'),
        "en/order.toml": _rule("en.order.pull_in", 'sequence = ["pull-in", "@doc"]\nwindow = 2'),
    })
    assert "en.scope.move_doc" in _fired(rules, "Please re-schedule the call-off 4711.")
    assert "en.scope.move_doc" in _fired(rules, "We moved qty. 20 to May")
    assert "en.scope.move_doc" in _fired(rules, "Please move PO 12")
    assert "en.scope.move_doc" not in _fired(rules, "Please re-schedule the call-off.")
    assert "en.order.pull_in" in _fired(rules, "A pull-in of the call-off")
