"""The compact language tables kept between processes (``classifiers.langid_model``): a
process reading them decides every text as one that built them from the model file; a
broken or foreign cache file is rebuilt, never trusted; the file's name changes with what
the tables are made from."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from classifiers import langid_model
from classifiers.langid_model import assemble, build_tables, cache_file, load_identifier
from classifiers.language import SUPPORTED
from classifiers.lemma_cache import CACHE_ENV


@pytest.fixture(scope="module")
def built() -> dict[str, np.ndarray]:
    return build_tables(SUPPORTED)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    path = cache_file(SUPPORTED)
    assert path is not None and path.is_relative_to(tmp_path)
    return path


def _texts() -> list[str | bytes]:
    rng = random.Random(17)
    texts: list[str | bytes] = ["Bitte liefern Sie 40 Stück bis Freitag.",
                                "Could you send the revised quote?", "Merci pour votre offre"]
    for _ in range(200):  # any byte, any code point: every column class is walked
        texts.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))))
        texts.append("".join(chr(rng.randrange(32, 0x3000)) for _ in range(rng.randint(0, 80))))
    return texts


def _same_decisions(a: langid_model.CompactIdentifier, b: langid_model.CompactIdentifier) -> None:
    assert a.nb_classes == b.nb_classes
    assert a.tk_nextmove == b.tk_nextmove and a._rowbase == b._rowbase
    assert a._byte_classes == b._byte_classes
    for text in _texts():
        assert a._decide(text).tobytes() == b._decide(text).tobytes(), text


def test_cached_tables_decide_as_built_ones(cache: Path, built: dict[str, np.ndarray]) -> None:
    fresh = assemble(built)
    cold = load_identifier(SUPPORTED)  # builds, then writes the file
    assert cache.is_file()
    warm = load_identifier(SUPPORTED)  # from the file
    _same_decisions(cold, fresh)
    _same_decisions(warm, fresh)


def test_the_cache_is_read_not_rebuilt(cache: Path, built: dict[str, np.ndarray],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    langid_model._write_cache(cache, built)

    def no_build(languages: object) -> dict[str, np.ndarray]:
        raise AssertionError("built although cached")

    monkeypatch.setattr(langid_model, "build_tables", no_build)
    _same_decisions(load_identifier(SUPPORTED), assemble(built))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "foreign", "misfit", "empty"])
def test_a_broken_cache_file_is_rebuilt(cache: Path, built: dict[str, np.ndarray],
                                        damage: str) -> None:
    langid_model._write_cache(cache, built)
    whole = cache.read_bytes()
    if damage == "truncated":
        cache.write_bytes(whole[: len(whole) // 2])
    elif damage == "garbage":
        cache.write_bytes(whole[:1000] + bytes(reversed(whole[1000:5000])) + whole[5000:])
    elif damage == "foreign":  # a valid .npz without our arrays
        with cache.open("wb") as fh:
            np.savez(fh, other=np.arange(3))
    elif damage == "misfit":  # our arrays, but rows pointing past the table
        langid_model._write_cache(cache, dict(built, rows=built["rows"] + 60000))
    else:
        cache.write_bytes(b"")
    assert langid_model._read_cache(cache) is None
    _same_decisions(load_identifier(SUPPORTED), assemble(built))
    assert cache.read_bytes() == whole  # replaced by a good file


def test_an_unwritable_cache_costs_a_build_only(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                built: dict[str, np.ndarray]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocker))
    _same_decisions(load_identifier(SUPPORTED), assemble(built))
    monkeypatch.setenv(CACHE_ENV, "off")
    assert cache_file(SUPPORTED) is None


def test_the_file_name_follows_what_the_tables_are_made_from(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_file(SUPPORTED) == cache
    assert cache_file([*SUPPORTED][:-1]) != cache
    monkeypatch.setattr(langid_model, "_FORMAT", langid_model._FORMAT + 1)
    assert cache_file(SUPPORTED) != cache


def test_the_cached_transition_table_is_the_files_mapped_pages(
        cache: Path, built: dict[str, np.ndarray]) -> None:
    """Read from the cache, the 30 MB table is a read-only map of the file (pages shared by
    every process and read in only where a walk goes), not a copy in this process."""
    langid_model._write_cache(cache, built)
    identifier = load_identifier(SUPPORTED)
    table = identifier.tk_nextmove
    assert isinstance(table, memoryview) and table.readonly and table.format == "I"
    maps = Path("/proc/self/maps")
    if maps.exists():
        assert str(cache) in maps.read_text()
    _same_decisions(identifier, assemble(built))
    # written by a process that built the tables, they are read back mapped too
    cache.unlink()
    assert isinstance(load_identifier(SUPPORTED).tk_nextmove, memoryview)
    assert cache.is_file()
