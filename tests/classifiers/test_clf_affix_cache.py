"""What ``classifiers.affixes`` parses from spaCy's affix patterns, kept between processes
(``classifiers.affix_cache``): the answers from the files are the parser's in every language,
cold and warm; a broken, foreign or tampered file is computed again and replaced, never
trusted; no file when caching is off."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import spacy

from classifiers import affix_cache, affixes
from classifiers.language import SUPPORTED
from classifiers.lemma_cache import CACHE_ENV

PIECES = ("\\.\\.+", "[!?]", "(?<=[0-9])%", "km")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "affixes"


def _patterns(lang: str) -> tuple[tuple[str, ...], tuple[str, ...], Any]:
    nlp = spacy.blank(lang)
    tokenizer: Any = nlp.tokenizer
    suffixes = tuple(p for p in map(str, nlp.Defaults.suffixes or ()) if p.strip())
    prefixes = tuple(p for p in map(str, nlp.Defaults.prefixes or ()) if p.strip())
    return suffixes, prefixes, tokenizer.infix_finditer.__self__


def _answers(suffixes: tuple[str, ...], prefixes: tuple[str, ...], infix: Any) -> list[Any]:
    """The three answers as affixes asks them (through the cache)."""
    def ask(kind: str, pieces: tuple[str, ...], last: bool) -> Any:
        return affix_cache.chars(kind, pieces, 0, len(pieces),
                                 lambda: affixes._edges(pieces, 0, last))

    return [ask("last", suffixes, True), ask("first", prefixes, False),
            affix_cache.chars("infix", (infix.pattern,), infix.flags, 1,
                              lambda: [affixes._required_chars(infix, affixes._INFIX_SET)])]


@pytest.mark.parametrize("lang", SUPPORTED)
def test_answers_from_the_files_are_the_parsers_cold_and_warm(lang: str, folder: Path) -> None:
    suffixes, prefixes, infix = _patterns(lang)
    parsed = [affixes._edges(suffixes, 0, True), affixes._edges(prefixes, 0, False),
              [affixes._required_chars(infix, affixes._INFIX_SET)]]
    assert parsed[0] and parsed[1], "tables to keep (French infixes need no character: None)"
    assert _answers(suffixes, prefixes, infix) == parsed  # cold: computed, written
    assert len(list(folder.iterdir())) == 3
    assert _answers(suffixes, prefixes, infix) == parsed  # warm: read


def test_a_pipeline_built_from_the_files_tokenizes_as_one_built_without(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "Order 4500871234... see www.example.com (asap)! 5km 20% €12 it's «x» a—b ¿qué?"
    affixes._edge_table.cache_clear()
    affixes._infix_needs.cache_clear()
    warm = [affixes.blank("de"), affixes.blank("de")]  # the second: lru caches of the first
    affixes._edge_table.cache_clear()
    affixes._infix_needs.cache_clear()
    warm.append(affixes.blank("de"))  # from the files
    monkeypatch.setenv(CACHE_ENV, "off")
    affixes._edge_table.cache_clear()
    affixes._infix_needs.cache_clear()
    plain = affixes.blank("de")
    expected = [(t.text, t.idx) for t in plain.make_doc(text)]
    assert all([(t.text, t.idx) for t in nlp.make_doc(text)] == expected for nlp in warm)


@pytest.mark.parametrize("damage", ["truncated", "tampered", "foreign", "short"])
def test_a_broken_file_is_computed_again_and_replaced(folder: Path, damage: str) -> None:
    computed: list[int] = []

    def compute() -> affix_cache.Answers:
        computed.append(1)
        return affixes._edges(PIECES, 0, True)

    expected = affix_cache.chars("last", PIECES, 0, len(PIECES), compute)
    path = affix_cache.cache_file("last", PIECES, 0)
    assert path is not None and expected is not None
    good = path.read_bytes()
    head, payload = good[:32], good[32:]  # the payload's SHA-256, then the payload
    short = json.dumps({"format": affix_cache._FORMAT, "answers": ["%"]}).encode()
    path.write_bytes({
        "truncated": good[:-5],
        "tampered": head + payload.replace(b'"%"', b'"x"'),
        "foreign": b"{}",
        "short": affix_cache.hashlib.sha256(short).digest() + short,
    }[damage])
    assert affix_cache.chars("last", PIECES, 0, len(PIECES), compute) == expected
    assert computed == [1, 1]
    assert path.read_bytes() == good


def test_none_is_kept_as_an_answer_and_off_means_no_file(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    computed: list[int] = []

    def nothing() -> affix_cache.Answers:
        computed.append(1)
        return None

    assert affix_cache.chars("first", ("(?i)a",), 0, 1, nothing) is None
    assert affix_cache.chars("first", ("(?i)a",), 0, 1, nothing) is None
    assert computed == [1]
    monkeypatch.setenv(CACHE_ENV, "off")
    assert affix_cache.cache_file("first", ("(?i)a",), 0) is None
    assert affix_cache.chars("first", ("b",), 0, 1, lambda: [frozenset("b")]) == [frozenset("b")]
