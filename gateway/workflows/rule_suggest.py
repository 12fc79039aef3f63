"""Phrase candidates for new rules, from the messages staff had to correct.

For each message whose category or scope flag a person corrected and that the given rules
still decide otherwise, the subject and the new text
(no quoted history, signature or footer: ``classifiers.prepare.new_text``) are cut into words
with the language's ``spacy.blank`` tokenizer; the language's stop words
(``nlp.Defaults.stop_words``), numbers and punctuation are dropped, and word n-grams (1-3) are
taken over what remains within one line. An n-gram counts once per message; one that lies
inside the text some rule already matched in that message is covered and left out. What
remains at least ``min_count`` times, per corrected category (or "scope" for a flag corrected
to yes) and language, is a candidate for a person to generalise into a rule: never to copy
as it stands (see docs/classifier.md, "Writing a rule").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from classifiers.prepare import new_text
from gateway.processing.parsing import parse_message
from gateway.workflows.rule_eval import Labelled, classify_raw

if TYPE_CHECKING:
    from spacy.language import Language

    from classifiers import Classification, RuleSet

MAX_N = 3
TOP = 20


@dataclass(frozen=True)
class Suggestion:
    category: str  # the corrected category, or "scope"
    language: str
    ngram: str
    count: int  # corrected messages it occurs in

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "language": self.language, "ngram": self.ngram,
                "count": self.count}


@lru_cache(maxsize=16)
def _blank(language: str) -> Language:
    import spacy

    try:
        return spacy.blank(language)
    except ImportError:  # a code spaCy has no language class for
        return spacy.blank("xx")


def words(text: str, language: str) -> list[list[str]]:
    """Lower-cased content words per line: stop words, numbers and punctuation dropped."""
    nlp = _blank(language)
    stop = nlp.Defaults.stop_words
    runs = []
    for line in text.splitlines():
        kept = [t.lower_ for t in nlp.make_doc(line)
                if t.is_alpha and len(t) > 1 and t.lower_ not in stop]
        if kept:
            runs.append(kept)
    return runs


def ngrams(runs: Iterable[Sequence[str]], max_n: int = MAX_N) -> set[tuple[str, ...]]:
    return {tuple(run[i:i + n]) for run in runs for n in range(1, max_n + 1)
            for i in range(len(run) - n + 1)}


def suggest(corrected: Sequence[Labelled], rules: RuleSet, min_count: int = 2,
            top: int = TOP) -> list[Suggestion]:
    """The uncovered n-grams of corrected messages, most frequent first per group."""
    counts: dict[tuple[str, str], Counter[tuple[str, ...]]] = {}
    for item in corrected:
        result = classify_raw(item.raw, rules)
        groups = _groups(item, result)
        if not groups:  # the rules decide it as the person did by now
            continue
        parsed = parse_message(item.raw)
        text = f"{parsed.subject}\n{new_text(parsed.text, parsed.subject)}"
        found = ngrams(words(text, result.language))
        covered = ngrams(words("\n".join(e.text for e in result.evidence), result.language))
        for group in groups:
            counts.setdefault((group, result.language), Counter()).update(found - covered)
    out = []
    for (group, language), counter in sorted(counts.items()):
        ranked = sorted(((c, g) for g, c in counter.items() if c >= min_count),
                        key=lambda cg: (-cg[0], -len(cg[1]), cg[1]))
        out += [Suggestion(group, language, " ".join(g), c) for c, g in ranked[:top]]
    return out


def _groups(item: Labelled, result: Classification) -> list[str]:
    """Which rules are missing: the person's category where the rules say another, and
    scope where the person said yes and the rules say no."""
    groups = []
    if item.expected.category != result.category:
        groups.append(item.expected.category)
    if item.expected.scope_change and not result.scope_change:
        groups.append("scope")
    return groups
