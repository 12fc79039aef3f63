"""Concept lexicons (``<lang>/concepts.toml``): word classes that sequence rules combine.

A concept is a set of lower-case word forms, given as

* ``lemmas``: expanded, when a language's matchers are first built (its first message), to
  every form that spaCy's lookup table (spacy-lookups-data, table ``lemma_lookup``) maps to
  one of them, plus the lemma itself. The pipelines stay tokenizer-only (a lemmatizer per
  message would cost more than the whole match), so lemmas are turned into forms once;
* ``forms``: exact forms, for gaps in the table and for words of any language;
* ``prefixes``: the word starts with one of them (Polish has no table; Czech and Portuguese
  tables are thin);
* ``suffixes``: the word ends with one of them after at least ``MIN_COMPOUND_HEAD`` letters
  of its own: the head of a compound noun (de "Auftragsbestätigung", nl "orderbevestiging",
  da "leveringsdato"), which no table lists and which names what the compound is.

The table is read from the same file ``spacy.lookups.load_lookups`` reads, before spaCy hashes
its keys (a loaded ``Table`` keeps only hashes, so the forms of a lemma cannot be listed from
it). Only the forms that concepts need are kept; the table itself is dropped and its memory
handed back to the system (a table holds up to 800,000 entries, the daemon must stay below
300 MB with all languages).

Languages without a table (Polish) refuse ``lemmas`` with a message that says to list forms
or prefixes: a silent fallback would let a rule writer believe inflected forms are covered.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import gzip
import json
import re
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from classifiers.lemma_cache import cache_file, lemma_forms

CONCEPTS_FILE = "concepts.toml"
CONCEPT_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_CONCEPT_KEYS = {"note", "lemmas", "forms", "prefixes", "suffixes", "not_endings"}
# Letters a word must have before a suffix for it to count as a compound's head ("bestätigung"
# alone is a form, "xbestätigung" no compound); shorter suffixes than this are refused.
MIN_COMPOUND_HEAD = 3
MIN_SUFFIX = 4
_TOP_KEYS = {"description", "negators", "not_negators", "conditionals", "concepts"}
# English conditionals apply to every language (English is mixed into business mail everywhere).
ENGLISH_CONDITIONALS: tuple[str, ...] = ("if", "whether", "unless", "in case", "should we", "once")


class ConceptError(ValueError):
    """Raised by :func:`parse_concepts` for a malformed concepts file: (rule id, problem)."""

    def __init__(self, rule_id: str, problem: str) -> None:
        super().__init__(problem)
        self.rule_id = rule_id
        self.problem = problem


@dataclass(frozen=True)
class Concept:
    """One word class of one language, as written in its concepts file."""

    name: str
    language: str
    lemmas: frozenset[str]
    forms: frozenset[str]
    prefixes: tuple[str, ...]
    note: str = ""
    suffixes: tuple[str, ...] = ()
    # Forms of the lemmas that end so are left out: an Italian past participle reports an act,
    # it never requests one ("grazie per averci inviato l'offerta"; branch i12-intl). Listed
    # forms are kept.
    not_endings: tuple[str, ...] = ()

    def merged(self, other: Concept) -> Concept:
        """This concept extended by an installation's concept of the same name."""
        return Concept(
            name=self.name,
            language=self.language,
            lemmas=self.lemmas | other.lemmas,
            forms=self.forms | other.forms,
            prefixes=tuple(dict.fromkeys(self.prefixes + other.prefixes)),
            note=self.note or other.note,
            suffixes=tuple(dict.fromkeys(self.suffixes + other.suffixes)),
            not_endings=tuple(dict.fromkeys(self.not_endings + other.not_endings)),
        )


@dataclass(frozen=True)
class Lexicon:
    """What one concepts file declares: negators, conditionals and concepts."""

    negators: frozenset[str]
    conditionals: frozenset[str]
    concepts: dict[str, Concept]
    # English negators that are ordinary words here (Portuguese "no" = "in the"): not negators.
    not_negators: frozenset[str] = frozenset()


def _words(value: Any, key: str, rule_id: str, *, phrases: bool = False) -> frozenset[str]:
    """A list of non-empty lower-cased words (``phrases``: several words allowed)."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConceptError(rule_id, f"{key} must be a list of non-empty strings")
    out = [" ".join(v.lower().split()) for v in value]
    if not phrases:
        spaced = [v for v in out if " " in v]
        if spaced:
            raise ConceptError(rule_id, f"{key} must be single words, not {spaced[0]!r} "
                               "(combine words with a sequence)")
    return frozenset(out)


@cache
def has_lemma_table(lang: str) -> bool:
    """Whether spacy-lookups-data has a ``lemma_lookup`` table for ``lang``."""
    from spacy.util import registry

    return lang in registry.lookups and "lemma_lookup" in registry.lookups.get(lang)


def parse_concepts(lang: str, data: Mapping[str, Any]) -> Lexicon:
    """Validate one language's concepts file (already parsed TOML)."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConceptError("-", f"unknown top-level keys {sorted(unknown)}")
    negators = _words(data.get("negators", []), "negators", "negators")
    not_negators = _words(data.get("not_negators", []), "not_negators", "not_negators")
    conditionals = _words(data.get("conditionals", []), "conditionals", "conditionals",
                          phrases=True)
    table = data.get("concepts", {})
    if not isinstance(table, dict):
        raise ConceptError("-", "concepts must be tables [concepts.NAME]")
    concepts = {name: _concept(lang, name, entry) for name, entry in table.items()}
    return Lexicon(negators, conditionals, concepts, not_negators)


def _concept(lang: str, name: str, entry: Any) -> Concept:
    where = f"@{name}"
    if not CONCEPT_NAME.match(name):
        raise ConceptError(where, "concept names are [a-z][a-z0-9_]*")
    if not isinstance(entry, dict):
        raise ConceptError(where, "a concept is a table with lemmas, forms or prefixes")
    unknown = set(entry) - _CONCEPT_KEYS
    if unknown:
        raise ConceptError(where, f"unknown keys {sorted(unknown)}")
    lemmas = _words(entry.get("lemmas", []), "lemmas", where)
    forms = _words(entry.get("forms", []), "forms", where)
    prefixes = _words(entry.get("prefixes", []), "prefixes", where)
    suffixes = _words(entry.get("suffixes", []), "suffixes", where)
    not_endings = _words(entry.get("not_endings", []), "not_endings", where)
    if not_endings and not lemmas:
        raise ConceptError(where, "not_endings leave forms of the lemmas out: list lemmas too")
    if not (lemmas or forms or prefixes or suffixes):
        raise ConceptError(where, "a concept needs lemmas, forms, prefixes or suffixes")
    short = sorted(s for s in suffixes if len(s) < MIN_SUFFIX)
    if short:
        raise ConceptError(where, f"suffixes need {MIN_SUFFIX} letters or more, not {short[0]!r} "
                           "(a short ending names no compound's head)")
    if lemmas and not has_lemma_table(lang):
        raise ConceptError(where, f"{lang!r} has no lemma table in spacy-lookups-data, so "
                           "lemmas cannot be expanded: list the words under forms or prefixes")
    return Concept(name, lang, lemmas, forms, tuple(sorted(prefixes)),
                   str(entry.get("note", "")), tuple(sorted(suffixes)), tuple(sorted(not_endings)))


def merge_lexicons(base: Lexicon | None, extra: Lexicon) -> Lexicon:
    """``extra`` (an installation's file) added to ``base`` (the shipped one)."""
    if base is None:
        return extra
    concepts = dict(base.concepts)
    for name, concept in extra.concepts.items():
        concepts[name] = concepts[name].merged(concept) if name in concepts else concept
    return Lexicon(base.negators | extra.negators, base.conditionals | extra.conditionals,
                   concepts, base.not_negators | extra.not_negators)


# One ``"form": "lemma"`` or ``"form": ["lemma", ...]`` entry of a lookup table's JSON text.
_TABLE_ENTRY = re.compile(rb'"((?:[^"\\]|\\.)*)"\s*:\s*("(?:[^"\\]|\\.)*"|\[[^\]]*\])')


def _table_entries(lang: str) -> Iterator[re.Match[bytes]]:
    """Each entry of ``lang``'s ``lemma_lookup`` table (the file spaCy's ``load_language_data``
    reads, plain or gzipped), read 1 MB at a time: the whole text of the largest tables is
    26 MB, and holding it was the daemon's peak RSS. A match always ends with a complete
    string or list, so an entry cut by a chunk's end is found in the next one."""
    path = _table_path(lang)
    with gzip.open(path) if path.suffix == ".gz" else path.open("rb") as fh:
        rest = b""
        while chunk := fh.read(1 << 20):
            text = rest + chunk
            end = 0
            for m in _TABLE_ENTRY.finditer(text):
                yield m
                end = m.end()
            rest = text[end:]


def _table_path(lang: str) -> Path:
    """The file of ``lang``'s ``lemma_lookup`` table: the registered path, or that path with
    ``.gz`` added when only the gzipped file exists (as ``load_language_data`` reads it)."""
    from spacy.util import registry

    path = Path(registry.lookups.get(lang)["lemma_lookup"])
    return path if path.exists() else path.with_suffix(path.suffix + ".gz")


def _string(raw: bytes) -> str:
    """A JSON string's content, decoded and unescaped (few table entries have escapes)."""
    text = raw.decode("utf-8")
    return str(json.loads(f'"{text}"')) if "\\" in text else text


def _lemma_hits(lang: str, wanted: Container[str]) -> dict[str, tuple[str, ...]]:
    """form -> lemmas of the table entries with a lemma in ``wanted`` (lower-cased).

    The table is scanned one entry at a time instead of loaded as a dict: the dict
    of the largest tables (Portuguese: 800,000 entries) took 200 MB for a moment, and that
    moment was the daemon's peak RSS. A form listed twice counts with its last entry, as in
    the dict."""
    hits: dict[str, tuple[str, ...]] = {}
    for m in _table_entries(lang):
        value = m.group(2)
        if value[:1] == b"[":
            lemmas = tuple(str(v) for v in json.loads(value))
        else:
            lemmas = (_string(value[1:-1]),)
        form = _string(m.group(1))
        if any(v.lower() in wanted for v in lemmas):
            hits[form] = lemmas
        elif form in hits:
            del hits[form]
    return hits


def _release_memory() -> None:
    """Hand freed heap pages back to the system (glibc keeps them otherwise: +60 MB RSS per
    large table). Elsewhere this is a no-op."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def expand(lang: str, concepts: Iterable[Concept]) -> dict[str, frozenset[str]]:
    """Every form of each concept (name -> lower-case forms; prefixes are not included).

    The forms of a lemma come from the lemma form cache (:mod:`classifiers.lemma_cache`)
    where another process found them before; the table is read at most once per call, only
    for the lemmas the cache lacks, and dropped before returning."""
    concepts = list(concepts)
    wanted = {lemma for c in concepts for lemma in c.lemmas}
    by_lemma: dict[str, set[str]] = {}
    if wanted:
        by_lemma = lemma_forms(cache_file(lang, _table_path(lang)), wanted,
                               lambda missing: _scan_forms(lang, missing))
    return {
        c.name: frozenset(c.forms.union(*(
            {f for f in by_lemma[lemma] if not f.endswith(c.not_endings)} for lemma in c.lemmas
        )))
        for c in concepts
    }


def _scan_forms(lang: str, wanted: set[str]) -> dict[str, set[str]]:
    """lemma -> its forms (itself included) from ``lang``'s table, for each lemma of
    ``wanted``. A lemma's forms do not depend on which other lemmas are asked for (the last
    entry of a form decides), which is what lets the cache keep them one by one."""
    by_lemma: dict[str, set[str]] = {lemma: {lemma} for lemma in wanted}
    for form, lemmas in _lemma_hits(lang, by_lemma).items():
        for value in lemmas:
            hit = by_lemma.get(value.lower())
            if hit is not None:
                hit.add(form.lower())
    _release_memory()
    return by_lemma
