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
