"""Whole mails in one language through ``classifiers.classify``: the shared check of the
per-language tests (test_clf_languages_*.py), which hold only their mails."""

from __future__ import annotations

from dataclasses import dataclass

from classifiers import MessageInput, RuleSet, classify, load_rules

RULES = load_rules()
CATEGORY_FILES = {"enquiry", "order", "feedback", "property", "other", "scope"}


@dataclass(frozen=True)
class Mail:
    name: str
    language: str
    subject: str
    body: str
    category: str
    scope_change: bool


def assert_classified_in_its_language(mail: Mail, rules: RuleSet = RULES) -> None:
    """Detected language, category and scope flag as labelled, decided by a rule, and the
    language's own rules took part (not only the English ones every mail gets)."""
    result = classify(MessageInput(subject=mail.subject, body_text=mail.body), rules)
    assert result.language == mail.language
    assert (result.category, result.scope_change) == (mail.category, mail.scope_change), (
        result.evidence
    )
    if result.category != "other":
        assert not result.needs_triage
        assert any(e.rule_id.startswith(f"{mail.language}.") for e in result.evidence)


def assert_own_rule_folders(languages: tuple[str, ...], rules: RuleSet = RULES) -> None:
    """Each language has rules of every category and scope of its own."""
    assert set(languages) <= set(rules.languages())
    for lang in languages:
        categories = {r.category for r in rules.content_rules.values() if r.language == lang}
        assert categories == CATEGORY_FILES, lang
