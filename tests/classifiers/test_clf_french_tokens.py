"""The compact French ``token_match`` (classifiers/french_tokens.py) accepts exactly the strings
spaCy's pattern accepts, and French pipelines use it."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
import spacy

from classifiers.french_tokens import _spacy_pattern, compact_token_match, use_compact_token_match
from classifiers.rules import read_rules

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SEPARATORS = ["-", "\u2013", "\u2014", "\u2010", "\u2011", "'", "\u2019", "`", "", " ", "\n"]


@pytest.fixture(scope="module")
def spacy_match() -> Any:
    """spaCy's own pattern, compiled here from its module's alternatives."""
    import spacy.lang.fr.tokenizer_exceptions as te

    return re.compile(_spacy_pattern(te._regular_exp)).match


def _strings(seed: int, count: int) -> list[str]:
    """Strings built from the pattern's own pieces (prefixes, joining words, the hand-written
    forms' stems) glued to words of the fixture mails, with every hyphen and apostrophe."""
    import spacy.lang.fr.tokenizer_exceptions as te

    words = sorted(
        {w for p in FIXTURES.rglob("*.eml") for w in p.read_text("utf-8", "replace").split()}
    )[:20_000]
    stems = [re.sub(r"\[[^\]]*\]|[\^$*+?]", "-", m).strip("-") for m in te._regular_exp[:48]]
    heads = [
        *te._hyphen_prefix,
        *te._elision_prefix,
        *te._hyphen_combination,
        *stems,
        "anti",
        "Anti",
        "AUTO",
        "néo",
        "saint",
        "Saint",
        "grand",
        "entr",
        "r",
        "la",
        "de",
    ]
    rng = random.Random(seed)
    out = list(words) + stems
    for _ in range(count):
        head = re.sub(r"\[([^\]])[^\]]*\]|[?()]", r"\1", rng.choice(heads))
        parts = [rng.choice(words + heads) if rng.random() < 0.3 else head]
        for _ in range(rng.randint(1, 3)):
            parts += [rng.choice(SEPARATORS), rng.choice(words + heads + ["l'homme", "x"])]
        out.append("".join(parts))
    return out


def test_same_strings_as_spacy(spacy_match: Any) -> None:
    compact = compact_token_match()
    assert compact is not None
    strings = _strings(1, 60_000)
    accepted = [s for s in strings if spacy_match(s)]
    assert len(accepted) > 2_000  # the strings reach the pattern's alternatives
    assert [s for s in strings if bool(spacy_match(s)) != bool(compact.match(s))] == []


def test_much_smaller_than_spacys() -> None:
    compact = compact_token_match()
    import spacy.lang.fr.tokenizer_exceptions as te

    assert compact is not None
    assert len(compact.pattern) * 20 < len(_spacy_pattern(te._regular_exp))


def test_french_pipelines_use_it() -> None:
    use_compact_token_match()
    compact = compact_token_match()
    assert compact is not None
    assert spacy.blank("fr").tokenizer.token_match == compact.match
    nlp = read_rules().pipeline("fr")
    text = "L'anti-inflammatoire, est-ce aujourd'hui ? entr'abat porte-monnaie New-York-x"
    assert [t.text for t in nlp.make_doc(text)] == [
        "L'",
        "anti-inflammatoire",
        ",",
        "est",
        "-ce",
        "aujourd'hui",
        "?",
        "entr'abat",
        "porte-monnaie",
        "New",
        "-",
        "York",
        "-",
        "x",
    ]
