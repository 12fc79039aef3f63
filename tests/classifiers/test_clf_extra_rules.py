"""An installation's own rules folder (``[classifier] extra_rules``): merged, versioned, checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers import RulesError, load_rules
from classifiers.matching import match_message
from classifiers.rules import RuleSet
from gateway.config import Settings, parse_config
from gateway.core.errors import RulesConfigError
from gateway.processing.classification import rules_for

BASE = {
    "en/concepts.toml": 'negators = ["not"]\n[concepts.order_verb]\nlemmas = ["order"]\n',
    "en/order.toml": '[[rules]]\nid = "en.order.verb"\nweight = 3\nsequence = ["@order_verb"]\n'
                     'examples = ["We ordered two."]\ncounter_examples = ["If we order."]\n',
}
EXTRA_RULE = (
    '[[rules]]\nid = "site.order.call_off"\nweight = 4\n'
    'sequence = ["@order_verb", "#num"]\nwindow = 2\n'
    'examples = ["Please book 40 against the frame contract.", "We ordered 12 more."]\n'
    'counter_examples = ["We did not book 40."]\n'
)


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, "utf-8")
    return root


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return _write(tmp_path / "rules", BASE)


def _fired(rules: RuleSet, text: str) -> set[str]:
    return {h.rule.id for h in match_message([("body", text)], "en", rules)}


def test_extra_rules_and_concepts_are_merged(base: Path, tmp_path: Path) -> None:
    extra = _write(tmp_path / "site", {
        "en/concepts.toml": '[concepts.order_verb]\nforms = ["book", "booked"]\n',
        "en/order.toml": EXTRA_RULE,
    })
    rules = load_rules(base, extra_rules=extra)
    assert set(rules.content_rules) == {"en.order.verb", "site.order.call_off"}
    assert "site.order.call_off" in _fired(rules, "Please book 40 against the frame contract.")
    # the shipped rule sees the forms the installation added to its concept
    assert "en.order.verb" in _fired(rules, "We booked it.")
    assert "en.order.verb" not in _fired(load_rules(base), "We booked it.")
    assert str(extra / "en" / "order.toml") in rules.source_files


def test_extra_rules_are_part_of_the_version(base: Path, tmp_path: Path) -> None:
    extra = _write(tmp_path / "site", {
        "en/concepts.toml": '[concepts.order_verb]\nforms = ["book"]\n',
        "en/order.toml": EXTRA_RULE,
    })
    shipped = load_rules(base).version
    with_extra = load_rules(base, extra_rules=extra).version
    assert with_extra != shipped
    (extra / "en" / "order.toml").write_text(EXTRA_RULE + "# reviewed\n", "utf-8")
    assert load_rules(base, extra_rules=extra).version not in (shipped, with_extra)


def test_an_extra_id_may_not_clash_with_a_shipped_one(base: Path, tmp_path: Path) -> None:
    extra = _write(tmp_path / "site", {
        "en/order.toml": '[[rules]]\nid = "en.order.verb"\nweight = 2\nphrases = ["call-off"]\n',
    })
    with pytest.raises(RulesError, match=r"rule 'en.order.verb': duplicate id"):
        load_rules(base, extra_rules=extra)


def test_an_extra_rule_whose_example_fails_is_refused(base: Path, tmp_path: Path) -> None:
    extra = _write(tmp_path / "site", {"en/order.toml": EXTRA_RULE})  # "book" is no form here
    with pytest.raises(RulesError) as err:
        load_rules(base, extra_rules=extra)
    message = str(err.value)
    assert message.startswith(f"{extra / 'en' / 'order.toml'}: rule 'site.order.call_off': "
                              "example 1 does not fire: 'Please book 40")
    assert "\n" not in message


def test_extra_rules_folder_holds_only_language_files(base: Path, tmp_path: Path) -> None:
    extra = _write(tmp_path / "site", {"headers.toml": '[[rules]]\nid = "x"\n'})
    with pytest.raises(RulesError, match="unexpected rule file location"):
        load_rules(base, extra_rules=extra)
    with pytest.raises(RulesError, match="extra_rules folder not found"):
        load_rules(base, extra_rules=tmp_path / "missing")


def test_configured_extra_rules_are_loaded_and_a_broken_one_is_a_config_error(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    # on top of the shipped rules, which may not have this concept
    rule = EXTRA_RULE.replace("We ordered 12 more.", "We book 12 more.")
    _write(home / "rules.d", {
        "en/concepts.toml": '[concepts.order_verb]\nforms = ["book"]\n',
        "en/order.toml": rule,
    })
    settings = Settings(home, parse_config('[classifier]\nextra_rules = "rules.d"\n'))
    rules = rules_for(settings, fresh=True)
    assert "site.order.call_off" in rules.content_rules
    assert rules.version != rules_for(None).version

    (home / "rules.d" / "en" / "order.toml").write_text(
        rule.replace("We did not book 40.", "We book 40."), "utf-8"
    )
    with pytest.raises(RulesConfigError) as err:
        rules_for(settings, fresh=True)
    assert "counter_example 1 fires: 'We book 40.'" in str(err.value)
    assert "\n" not in str(err.value)
