"""Run the phrase and token matchers of one language over one text field.

A rule counts once per field however often it matches (repetition is not more evidence), and
a match right after a negator ("we have not shipped", "do not cancel") is ignored unless the
rule is marked ``negatable = false`` (rules that themselves express a negation).
"""

from __future__ import annotations

from dataclasses import dataclass

from spacy.tokens import Doc

from classifiers.rules import ContentRule, RuleSet

# How many tokens before a match are searched for a negator; stops at punctuation.
NEGATION_WINDOW = 3


@dataclass(frozen=True)
class Hit:
    """One content rule that matched: the rule, the matched text and the field."""

    rule: ContentRule
    text: str
    field: str


def _negated(doc: Doc, start: int, negators: frozenset[str]) -> bool:
    for i in range(start - 1, max(start - 1 - NEGATION_WINDOW, -1), -1):
        tok = doc[i]
        if tok.is_punct or "\n" in tok.text:
            return False
        if tok.lower_ in negators:
            return True
    return False


def match_field(text: str, field: str, lang: str, rules: RuleSet) -> list[Hit]:
    """All rules of ``lang`` that fire on ``text``; first match per rule is the evidence."""
    if not text.strip():
        return []
    nlp = rules.pipeline(lang)
    phrase, token = rules.matchers(lang)
    doc = nlp.make_doc(text)
    negators = rules.negators.get(lang, frozenset())
    found = phrase(doc) + (token(doc) if len(token) else [])
    matches = sorted(found, key=lambda m: (m[1], -m[2]))
    hits: dict[str, Hit] = {}
    for match_id, start, end in matches:
        rule_id = nlp.vocab.strings[match_id]
        rule = rules.content_rules[rule_id]
        if rule_id in hits or field not in rule.fields:
            continue
        if rule.negatable and _negated(doc, start, negators):
            continue
        hits[rule_id] = Hit(rule, doc[start:end].text, field)
    return list(hits.values())
