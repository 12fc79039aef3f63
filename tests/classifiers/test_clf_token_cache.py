"""The one-token answers kept between processes (``classifiers.token_cache``): a sequence
index built from the file is the one built from the tokenizer; a word the file lacks is
asked of the tokenizer and added; a broken file is rebuilt, never trusted; the file's name
changes with the tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifiers import token_cache
from classifiers.lemma_cache import CACHE_ENV
from classifiers.rules import RuleSet, _one_token, read_rules
from classifiers.token_cache import OneToken, cache_file

LANG = "fr"  # elisions ("l'") and hyphenated forms: answers that are not all True


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    path = cache_file(LANG)
    assert path is not None and path.is_relative_to(tmp_path)
    return path


def _index(rules: RuleSet) -> tuple[dict[str, int], dict[int, list[str]]]:
    index = rules.sequence_index(LANG)
    return dict(index._form_masks), {bit: sorted(f) for bit, f in index.phrases.items()}


@pytest.fixture(scope="module")
def uncached() -> tuple[dict[str, int], dict[int, list[str]]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, "off")
        assert cache_file(LANG) is None
        return _index(read_rules())


def test_an_index_from_the_file_is_the_one_from_the_tokenizer(
        cache: Path, uncached: tuple[dict[str, int], dict[int, list[str]]]) -> None:
    assert uncached[1], "some forms are phrases of several tokens"
    assert _index(read_rules()) == uncached  # cold: asks the tokenizer, writes the file
    answers = json.loads(cache.read_text())["one_token"]
    assert len(answers) > 1000 and not all(answers.values())
    assert _index(read_rules()) == uncached  # warm: from the file


def test_the_file_answers_and_new_words_are_asked_and_added(cache: Path) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"format": token_cache._FORMAT,
                                 "one_token": {"commande": False}}))
    asked: list[str] = []

    def ask(word: str) -> bool:
        asked.append(word)
        return word == "offre"

    one = OneToken(cache, ask)
    assert one("commande") is False  # the file's answer, however wrong, is not asked again
    assert one("offre") is True and one("l'") is False and one("offre") is True
    assert asked == ["offre", "l'"]
    one.save()
    assert json.loads(cache.read_text())["one_token"] == {
        "commande": False, "offre": True, "l'": False}


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"format": 1, "one_token": [1]}',
                                     b'{"format": 1, "one_token": {"x": "yes"}}',
                                     b'{"format": 999, "one_token": {"x": true}}'])
def test_a_broken_file_is_read_as_empty_and_replaced(cache: Path, content: bytes) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_bytes(content)
    from spacy.lang.fr import French
    nlp = French()
    one = OneToken(cache, lambda w: _one_token(nlp, w))
    assert one("aujourd'hui") is True and one("l'") is True and one("deux mots") is False
    one.save()
    assert json.loads(cache.read_text())["one_token"] == {
        "aujourd'hui": True, "l'": True, "deux mots": False}


def test_an_unwritable_folder_costs_the_tokenizer_calls_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocker))
    one = OneToken(cache_file(LANG), lambda w: True)
    assert one("offre")
    one.save()  # logs, does not raise


def test_the_file_name_follows_the_tokenizer(cache: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_file("de") != cache
    token_cache._tokenizer_identity.cache_clear()
    monkeypatch.setattr(token_cache, "_FORMAT", token_cache._FORMAT + 1)
    try:
        assert cache_file(LANG) != cache
    finally:
        token_cache._tokenizer_identity.cache_clear()


def test_a_rule_change_meets_no_stale_answer(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Rules that add a form the tokenizer splits ("call-off"): built over a file made from
    the rules before, the index has it as a phrase, as without any cache, and it matches."""
    from classifiers import load_rules
    from classifiers.matching import match_message

    def rules(forms: str) -> RuleSet:
        root = tmp_path / f"rules-{len(forms)}"
        for rel, text in {
            "en/concepts.toml": f'[concepts.order_word]\nforms = [{forms}]\n',
            "en/order.toml": '[[rules]]\nid = "en.order.word"\nweight = 3\n'
                             'sequence = ["@order_word", "#num"]\nwindow = 4\n',
        }.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, "utf-8")
        return load_rules(root)

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    rules(forms='"order"').sequence_index("en")  # the file as the old rules left it
    path = cache_file("en")
    assert path is not None
    assert "call-off" not in json.loads(path.read_text())["one_token"]
    new = rules(forms='"order", "call-off"')
    index = new.sequence_index("en")
    assert "call-off" not in index._form_masks
    assert "call-off" in {f for forms in index.phrases.values() for f in forms}
    assert json.loads(path.read_text())["one_token"]["call-off"] is False
    hits = match_message([("body", "Please send a call-off for 40 pieces.")], "en", new)
    assert "en.order.word" in {h.rule.id for h in hits}
    monkeypatch.setenv(CACHE_ENV, "off")
    uncached = rules(forms='"order", "call-off"').sequence_index("en")
    assert (uncached._form_masks, uncached.phrases) == (index._form_masks, index.phrases)
