"""Recurring chunks taught to the tokenizer: the same tokens, fewer splits, a bounded vocabulary."""

from __future__ import annotations

from typing import Any

import pytest

from classifiers import load_rules
from classifiers.recurring import RecurringWords


def _tokens(doc: Any) -> list[tuple[str, int, str, str, bool]]:
    return [(t.text, t.idx, t.whitespace_, t.lower_, t.is_space) for t in doc]


def _pipelines(recurring: RecurringWords) -> tuple[Any, Any]:
    import spacy

    from classifiers.affixes import speed_up

    nlp, fresh = spacy.blank("en"), spacy.blank("en")
    speed_up(nlp, recurring.misses)
    speed_up(fresh)
    recurring.misses.clear()  # the special cases, split as the tokenizer was built
    return nlp, fresh


def test_chunks_missed_twice_are_cached_after_a_lesson_with_the_same_tokens() -> None:
    recurring = RecurringWords(budget=100)
    nlp, fresh = _pipelines(recurring)
    # After "I'm" (a special case) spaCy caches nothing of the rest of its text.
    texts = [
        "I'm sure Zqxparticipation, (Wwbrackets) and Tel. 0815 don't Zqxparticipation.",
        "I'm glad: Zqxparticipation, (Wwbrackets) or e-mails can't wait.",
        "I'm once only: Yyunique-4711",
    ]
    for text in texts:
        nlp.make_doc(text)
    assert recurring.misses.count("Zqxparticipation,") == 2
    before = len(nlp.vocab.strings)
    kept = recurring.teach(nlp)
    assert kept == len(nlp.vocab.strings) - before
    assert recurring.budget == 100 - kept and not recurring.misses
    for text in [*texts, "I'd say Zqxparticipation, (Wwbrackets)"]:
        assert _tokens(nlp.make_doc(text)) == _tokens(fresh.make_doc(text))
    assert "Zqxparticipation," not in recurring.misses  # answered by the cache now
    assert "(Wwbrackets)" not in recurring.misses
    assert "Yyunique-4711" in recurring.misses  # missed once: not taught


def test_a_chunk_missed_once_in_two_rounds_is_taught() -> None:
    recurring = RecurringWords(budget=100)
    nlp, _ = _pipelines(recurring)
    nlp.make_doc("I'm here: Kkbeta-1")
    recurring.teach(nlp)
    nlp.make_doc("I'm there: Kkbeta-1")
    recurring.teach(nlp)
    nlp.make_doc("I'm back: Kkbeta-1")
    assert "Kkbeta-1" not in recurring.misses


def test_without_budget_nothing_is_kept() -> None:
    recurring = RecurringWords(budget=0)
    nlp, _ = _pipelines(recurring)
    for _ in range(3):
        nlp.make_doc("I'm here: Kkbeta-1")
    assert recurring.teach(nlp) == 0 and not recurring.misses
    nlp.make_doc("I'm here: Kkbeta-1")
    assert "Kkbeta-1" in recurring.misses


def test_lessons_between_zones_keep_matching_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    import classifiers.recurring as recurring_module
    import classifiers.rules as rules_module
    from classifiers.matching import match_message

    rules = load_rules()
    text = "Please cancel our order 4471 for Zyxwquartz-17, don't ship. Send 30 instead of 12."
    before = [(h.rule.id, h.text, h.field) for h in match_message([("body", text)], "en", rules)]
    monkeypatch.setattr(rules_module, "VOCAB_GROWTH", 5)
    monkeypatch.setattr(recurring_module, "TEACH_EVERY", 2)
    nlp = rules.pipeline("en")
    misses = rules._recurring["en"].misses
    for n in range(12):  # zones renewed, lessons between them
        match_message([("body", f"I'm asking: Qqvv-{n} (Wwzz) hold it, don't ship.")], "en", rules)
    assert nlp.vocab.in_memory_zone
    assert "(Wwzz)" not in misses  # taught: cached although it stands after "I'm"
    assert "qqvv-3" not in nlp.vocab.strings  # met once: freed with its zone
    after = [(h.rule.id, h.text, h.field) for h in match_message([("body", text)], "en", rules)]
    assert after == before and before
