"""The rule files' parses kept between processes (``classifiers.toml_cache``): the parse from
the file is tomllib's for every shipped rule file; a changed file gets a cache file of its
own; a corrupt or foreign cache file is parsed again and replaced, never trusted; no file
when caching is off; what marshal cannot hold is parsed and left uncached."""

from __future__ import annotations

import hashlib
import marshal
import tomllib
from pathlib import Path

import pytest

from classifiers import toml_cache
from classifiers.language import SUPPORTED
from classifiers.language_words import exclusive_words
from classifiers.lemma_cache import CACHE_ENV
from classifiers.rules import DEFAULT_RULES_DIR, RulesError, read_rules

TEXT = b'[[rules]]\nid = "x.one"\nphrases = ["purchase order", "bestelling"]\nweight = 1.5\n'


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "toml"


def test_every_rule_file_parses_as_tomllib_does_cold_and_warm(folder: Path) -> None:
    files = sorted(DEFAULT_RULES_DIR.rglob("*.toml"))
    expected = [tomllib.loads(p.read_bytes().decode("utf-8")) for p in files]
    assert [toml_cache.loads(p.read_bytes()) for p in files] == expected  # cold: writes
    assert len(list(folder.iterdir())) == len({p.read_bytes() for p in files})
    assert [toml_cache.loads(p.read_bytes()) for p in files] == expected  # warm: reads


def test_rules_and_language_words_read_from_the_cache_as_without_it(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached, words = read_rules(), exclusive_words(SUPPORTED)
    assert folder.is_dir()
    assert read_rules().version == cached.version  # warm
    monkeypatch.setenv(CACHE_ENV, "off")
    plain = read_rules()
    assert plain.version == cached.version
    assert set(plain.content_rules) == set(cached.content_rules)
    assert exclusive_words(SUPPORTED) == words


def test_a_changed_file_gets_a_cache_file_of_its_own(folder: Path) -> None:
    assert toml_cache.loads(TEXT)["rules"][0]["weight"] == 1.5
    changed = TEXT.replace(b"1.5", b"2.5")
    assert toml_cache.loads(changed)["rules"][0]["weight"] == 2.5
    assert toml_cache.cache_file(TEXT) != toml_cache.cache_file(changed)
    assert len(list(folder.iterdir())) == 2


@pytest.mark.parametrize("damage", ["truncated", "foreign", "empty"])
def test_a_broken_cache_file_is_parsed_again_and_replaced(folder: Path, damage: str) -> None:
    path = toml_cache.cache_file(TEXT)
    assert path is not None
    toml_cache.loads(TEXT)
    good = path.read_bytes()
    # a payload whose checksum matches but that is not a parse (a list) is refused as well
    foreign = marshal.dumps(["not", "a", "parse"])
    path.write_bytes({"truncated": good[:-7], "empty": b"",
                      "foreign": hashlib.sha256(foreign).digest() + foreign}[damage])
    assert toml_cache.loads(TEXT) == tomllib.loads(TEXT.decode())
    assert path.read_bytes() == good


def test_a_tampered_payload_is_not_trusted(folder: Path) -> None:
    path = toml_cache.cache_file(TEXT)
    assert path is not None
    toml_cache.loads(TEXT)
    raw = bytearray(path.read_bytes())
    at = raw.index(b"bestelling")
    raw[at:at + 10] = b"bestellinX"  # a marshal that still loads, with another phrase
    path.write_bytes(bytes(raw))
    assert toml_cache.loads(TEXT) == tomllib.loads(TEXT.decode())


def test_off_means_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, "off")
    assert toml_cache.cache_file(TEXT) is None
    assert toml_cache.loads(TEXT) == tomllib.loads(TEXT.decode())


def test_dates_are_parsed_and_left_uncached(folder: Path) -> None:
    text = b"when = 2026-12-07T23:00:00Z\n"
    assert toml_cache.loads(text) == tomllib.loads(text.decode())
    assert not folder.exists()


def test_invalid_toml_still_fails_as_before(tmp_path: Path, folder: Path) -> None:
    root = tmp_path / "rules"
    (root / "en").mkdir(parents=True)
    (root / "headers.toml").write_text("[[rules]\n")
    with pytest.raises(RulesError, match="not valid TOML"):
        read_rules(root)
