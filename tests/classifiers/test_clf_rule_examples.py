"""Every shipped content rule documents and tests itself with examples and counter-examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers import load_rules
from classifiers.examples import check_examples
from classifiers.rules import RuleSet


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_rules()


def test_every_example_fires_and_no_counter_example_does(shipped: RuleSet) -> None:
    problems = check_examples(shipped)
    assert problems == [], "\n".join(problems)


def test_every_content_rule_has_examples_and_counter_examples(shipped: RuleSet) -> None:
    lacking = sorted(
        f"{r.source}: {r.id}"
        for r in shipped.content_rules.values()
        if not r.examples or not r.counter_examples
    )
    assert lacking == [], f"{len(lacking)} rules lack examples:\n" + "\n".join(lacking)


def test_a_broken_example_is_reported_with_file_and_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules" / "en"
    rules.mkdir(parents=True)
    (rules / "order.toml").write_text(
        '[[rules]]\nid = "en.order.hereby"\nweight = 3\nphrases = ["we hereby order"]\n'
        'examples = ["We hereby order 10 pumps.", "Please send 10 pumps."]\n'
        'counter_examples = ["We do not hereby order anything.", "We hereby order nothing."]\n',
        "utf-8",
    )
    problems = check_examples(load_rules(tmp_path / "rules"))
    assert problems == [
        "en/order.toml: rule 'en.order.hereby': example 2 does not fire: 'Please send 10 pumps.'",
        "en/order.toml: rule 'en.order.hereby': counter_example 2 fires: "
        "'We hereby order nothing.'",
    ]
    assert check_examples(load_rules(tmp_path / "rules"), languages=["de"]) == []


def test_an_elision_is_one_token_glued_to_its_word(tmp_path: Path) -> None:
    rules = tmp_path / "rules" / "fr"
    rules.mkdir(parents=True)
    (rules / "concepts.toml").write_text(
        '[concepts.det]\nforms = ["l\'", "d\'", "le"]\n[concepts.doc]\nforms = ["offre"]\n',
        "utf-8",
    )
    (rules / "order.toml").write_text(
        '[[rules]]\nid = "fr.order.offre"\nweight = 2\nsequence = ["@det", "@doc"]\nwindow = 0\n'
        'examples = ["Nous acceptons l\'offre."]\ncounter_examples = ["Une offre."]\n',
        "utf-8",
    )
    assert check_examples(load_rules(tmp_path / "rules")) == []
