"""The lemma form cache: the same forms as a scan of the table, the table read only for lemmas
no process asked for before, and a broken or unwritable cache costing a scan, never a result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifiers.concepts import Concept, _table_path, expand
from classifiers.lemma_cache import CACHE_ENV, cache_file

LANG = "nl"  # a small table: each scan is well under a second


def _concept(name: str, *lemmas: str) -> Concept:
    return Concept(name, LANG, frozenset(lemmas), frozenset(), ())


ORDER = _concept("order", "bestellen", "leveren")
CANCEL = _concept("cancel", "annuleren")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    path = cache_file(LANG, _table_path(LANG))
    assert path is not None and path.is_relative_to(tmp_path)
    return path


@pytest.fixture(scope="module")
def scanned() -> dict[str, frozenset[str]]:
    """What a scan of the table without any cache gives."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, "off")
        assert cache_file(LANG, _table_path(LANG)) is None
        return expand(LANG, [ORDER, CANCEL])


def _forms(path: Path) -> dict[str, list[str]]:
    forms: dict[str, list[str]] = json.loads(path.read_text())["forms"]
    return forms


def test_cached_forms_are_the_scanned_ones(cache: Path,
                                           scanned: dict[str, frozenset[str]]) -> None:
    assert "bestelde" in scanned["order"] and "geannuleerd" in scanned["cancel"]
    assert expand(LANG, [ORDER, CANCEL]) == scanned  # cold: scans, then writes the file
    assert set(_forms(cache)) == {"bestellen", "leveren", "annuleren"}
    assert expand(LANG, [ORDER, CANCEL]) == scanned  # warm: from the file


def test_a_cached_lemma_is_not_looked_up_in_the_table_again(cache: Path) -> None:
    expand(LANG, [ORDER])
    forms = _forms(cache)
    forms["bestellen"].append("marker-only-in-the-cache")
    cache.write_text(json.dumps({"format": 1, "forms": forms}))
    assert "marker-only-in-the-cache" in expand(LANG, [ORDER])["order"]


def test_only_the_missing_lemmas_are_scanned_and_added(cache: Path,
                                                       scanned: dict[str, frozenset[str]]) -> None:
    expand(LANG, [ORDER])
    forms = _forms(cache)
    forms["bestellen"].append("marker-only-in-the-cache")
    cache.write_text(json.dumps({"format": 1, "forms": forms}))
    both = expand(LANG, [ORDER, CANCEL])
    assert both["cancel"] == scanned["cancel"]
    assert "marker-only-in-the-cache" in both["order"]  # kept, not scanned again
    assert set(_forms(cache)) == {"bestellen", "leveren", "annuleren"}


@pytest.mark.parametrize("text", ["{not json", '{"forms": {"bestellen": "x"}}', "[]"])
def test_a_broken_cache_file_is_read_as_empty_and_replaced(
        cache: Path, scanned: dict[str, frozenset[str]], text: str) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_text(text)
    assert expand(LANG, [ORDER, CANCEL]) == scanned
    assert set(_forms(cache)) == {"bestellen", "leveren", "annuleren"}


def test_an_unwritable_cache_costs_a_scan_not_a_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        scanned: dict[str, frozenset[str]], caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    assert expand(LANG, [ORDER, CANCEL]) == scanned
    assert "not usable" in caplog.text and "reading the lemma table instead" in caplog.text


def test_a_new_table_gets_a_file_of_its_own(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    table = tmp_path / "table.json"
    table.write_text("{}")
    first = cache_file(LANG, table)
    table.write_text('{"a": "b"}')
    assert cache_file(LANG, table) != first
