"""Rule files: counts, validation errors, version hash."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from classifiers import RulesError, load_rules
from classifiers.language import SUPPORTED
from classifiers.rules import DEFAULT_RULES_DIR


def _count_entries(root: Path) -> int:
    # concepts.toml files hold concepts, not rules
    return sum(
        len(tomllib.loads(p.read_text("utf-8")).get("rules", [])) for p in root.rglob("*.toml")
    )


def test_loaded_rule_count_equals_entries_in_files() -> None:
    rules = load_rules()
    assert rules.rule_count == _count_entries(DEFAULT_RULES_DIR)
    assert rules.rule_count > 60
    # Every supported language has a rules folder of its own (issue 12).
    assert set(rules.languages()) == set(SUPPORTED)


def test_extra_identifier_patterns_are_counted_and_change_the_version() -> None:
    base = load_rules()
    extra = load_rules(extra_identifier_patterns=[("serial", r"\bZX\d{6}\b")])
    assert extra.rule_count == base.rule_count + 1
    assert extra.version != base.version


def test_rules_version_is_stable_hex() -> None:
    a, b = load_rules(), load_rules()
    assert a.version == b.version
    assert len(a.version) == 16
    int(a.version, 16)


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, dest)
    return dest


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text("utf-8") + text, "utf-8")


def test_version_changes_when_a_rule_file_changes(rules_copy: Path) -> None:
    before = load_rules(rules_copy).version
    _append(rules_copy / "en" / "order.toml", "\n# comment\n")
    assert load_rules(rules_copy).version != before


@pytest.mark.parametrize(
    ("file", "entry", "rule_id", "problem"),
    [
        (
            "en/order.toml",
            'id = "en.order.bad"\nweight = 2\nphrases = []\n',
            "en.order.bad",
            "empty phrase list",
        ),
        (
            "en/order.toml",
            'id = "en.order.bad"\nweight = 2\nphrases = ["x"]\ncolour = 1\n',
            "en.order.bad",
            "unknown keys",
        ),
        (
            "en/order.toml",
            'id = "en.order.purchase_order_sent"\nweight = 2\nphrases = ["x"]\n',
            "en.order.purchase_order_sent",
            "duplicate id",
        ),
        (
            "identifiers.toml",
            'id = "id.bad"\nkind = "po"\nlabel = ""\nshape = "(["\n',
            "id.bad",
            "bad regex",
        ),
        (
            "identifiers.toml",
            'id = "id.badkind"\nkind = "invoice"\nlabel = ""\nshape = "X"\n',
            "id.badkind",
            "kind must be one of",
        ),
        (
            "identifiers.toml",
            'id = "id.badshort"\nkind = "quote"\nlabel = ""\nshape = "\\\\d{3}"\nshort = true\n',
            "id.badshort",
            "needs a label",
        ),
        (
            "headers.toml",
            'id = "hdr.bad"\nweight = 2\nfield = "header"\nname = "X"\npattern = "(?P<"\n',
            "hdr.bad",
            "bad regex",
        ),
        (
            "en/scope.toml",
            'id = "en.scope.bad"\nweight = 2\nchange = "mood"\nphrases = ["x"]\n',
            "en.scope.bad",
            "change must be one of",
        ),
    ],
)
def test_malformed_rule_gives_rules_error_naming_the_rule(
    rules_copy: Path, file: str, entry: str, rule_id: str, problem: str
) -> None:
    _append(rules_copy / file, "\n[[rules]]\n" + entry)
    with pytest.raises(RulesError) as err:
        load_rules(rules_copy)
    message = str(err.value)
    assert rule_id in message
    assert problem in message
    assert Path(file).name in message
    assert "\n" not in message


def test_unknown_category_file_is_refused(rules_copy: Path) -> None:
    (rules_copy / "en" / "gossip.toml").write_text(
        '[[rules]]\nid = "en.gossip.x"\nweight = 1\nphrases = ["x"]\n', "utf-8"
    )
    with pytest.raises(RulesError, match="unknown category 'gossip'"):
        load_rules(rules_copy)


def test_invalid_toml_is_refused(rules_copy: Path) -> None:
    _append(rules_copy / "de" / "order.toml", "\n[[rules]\n")
    with pytest.raises(RulesError, match=r"order\.toml"):
        load_rules(rules_copy)


def test_bad_extra_identifier_pattern_is_refused() -> None:
    with pytest.raises(RulesError, match=r"extra\.1\.serial"):
        load_rules(extra_identifier_patterns=[("serial", "([")])


def test_a_grown_vocabulary_is_bounded_and_matching_stays_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import classifiers.rules as rules_module
    from classifiers.matching import match_message

    rules = load_rules()
    text = "Please cancel our order 4471 for Zyxwquartz-17 and send 30 instead of 12."
    before = [(h.rule.id, h.text, h.field) for h in match_message([("body", text)], "en", rules)]
    nlp = rules.pipeline("en")
    assert not nlp.vocab.in_memory_zone
    monkeypatch.setattr(rules_module, "VOCAB_GROWTH", 0)
    match_message([("body", "Unseenword-a Qqvvbb-991 Wwxxzz-7")], "en", rules)
    assert nlp.vocab.in_memory_zone and "qqvvbb-991" in nlp.vocab.strings
    match_message([("body", "Another Vvkkpp-55")], "en", rules)  # closes that zone, opens one
    assert "qqvvbb-991" not in nlp.vocab.strings  # freed with its zone
    assert "zyxwquartz-17" in nlp.vocab.strings  # gathered before the first zone: kept
    after = [(h.rule.id, h.text, h.field) for h in match_message([("body", text)], "en", rules)]
    assert rules.pipeline("en") is nlp  # nothing rebuilt
    assert after == before and before


@pytest.mark.parametrize("lang", ["en", "cs"])
def test_the_lemma_table_scan_reads_every_entry_spacy_reads(lang: str) -> None:
    # en and cs: tables of about 1.1 MB, so entries are cut by the 1 MB read and re-joined.
    from spacy.util import load_language_data, registry

    from classifiers.concepts import _lemma_hits

    class Everything:
        def __contains__(self, item: object) -> bool:
            return True

    table = load_language_data(registry.lookups.get(lang)["lemma_lookup"])
    expected = {k: (v,) if isinstance(v, str) else tuple(v) for k, v in table.items()}
    assert _lemma_hits(lang, Everything()) == expected
