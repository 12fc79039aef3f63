"""Words that name one supported language: evidence for identification on short text.

py3langid decides well on a line or more, but a one-line mail or a terse subject gives its
byte n-grams little to go on, and close pairs (pt/es, sv/da, nl/de) tip on a few bytes:
"Gostaríamos de encomendar 10 unidades" came out Spanish. The rule writers' lexicons
(``classifiers/rules/<lang>/*.toml``: concept forms and lemmas, phrases, the words of
sequences, negators, conditionals) hold
thousands of business words per language; a word that occurs in exactly one language's
lexicon ("encomendar" pt, "leveransadress" sv) is evidence for that language. Words shorter
than three letters are left out ("de", "no", "po" are words in several languages).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from classifiers import toml_cache

# The shipped rules (classifiers.rules.DEFAULT_RULES_DIR; not imported: rules imports language).
DEFAULT_RULES_DIR = Path(__file__).resolve().parent / "rules"
_MIN_LEN = 3
_LEXICON_KEYS = frozenset({"forms", "lemmas", "negators", "conditionals", "phrases",
                           "sequences", "sequence"})
# Sequence items that are not words: a concept ("@order_doc"), an optional or negated item.
_NOT_A_WORD = ("@", "?", "!")
WORD = re.compile(r"[^\W\d_]+")


def _strings(node: object) -> Iterable[str]:
    """Every string listed under a lexicon key anywhere in a parsed rules file."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _LEXICON_KEYS:
                yield from _listed(value)
            else:
                yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _listed(value: object) -> Iterable[str]:
    """The words of a lexicon list (a sequence is a list of lists; concepts are skipped)."""
    if isinstance(value, str):
        if not value.startswith(_NOT_A_WORD):
            yield value
    elif isinstance(value, list):
        for item in value:
            yield from _listed(item)


def exclusive_words(
    languages: Iterable[str], rules_dir: Path = DEFAULT_RULES_DIR
) -> dict[str, str]:
    """Lower-case word -> the one language among ``languages`` whose lexicon lists it."""
    owners: dict[str, set[str]] = {}
    for lang in languages:
        for path in sorted((rules_dir / lang).glob("*.toml")):
            data = toml_cache.loads(path.read_bytes())  # the parse read_rules made
            for text in _strings(data):
                for word in WORD.findall(text.lower()):
                    owners.setdefault(word, set()).add(lang)
    return {w: next(iter(o)) for w, o in owners.items() if len(o) == 1 and len(w) >= _MIN_LEN}


@lru_cache(maxsize=1)
def default_exclusive_words(languages: tuple[str, ...]) -> dict[str, str]:
    """``exclusive_words`` of the shipped rules, read once per process."""
    return exclusive_words(languages)
