"""Rules that test themselves: every content rule's ``examples`` must fire and its
``counter_examples`` must not, matched exactly as mail is.

Why a module of its own: running an example needs the matcher (``matching.py``), which needs
the rule set (``rules.py``); the loader that checks sits above both, so neither imports the
other back. :func:`load_rules` is what every caller uses: the shipped rules are checked by the
test suite and ``commgate rules check``; an installation's ``extra_rules`` folder is checked
each time it is loaded, so a rule that does not do what its author showed is refused at start.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from classifiers.matching import match_message
from classifiers.rules import ContentRule, RulesError, RuleSet, read_rules


def load_rules(
    path: Path | None = None,
    extra_identifier_patterns: Sequence[tuple[str, str]] = (),
    extra_rules: Path | None = None,
) -> RuleSet:
    """Read the rules (:func:`classifiers.rules.read_rules`) and run the examples of the
    installation's own rules; a failing one raises :class:`RulesError` with one line."""
    ruleset = read_rules(path, extra_identifier_patterns, extra_rules)
    if ruleset.extra_rule_ids:
        problems = check_examples(ruleset, rule_ids=ruleset.extra_rule_ids)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise RulesError(problems[0] + more)
    return ruleset


def check_examples(
    ruleset: RuleSet,
    languages: Sequence[str] | None = None,
    *,
    rule_ids: Sequence[str] | None = None,
) -> list[str]:
    """One problem line per example that does not fire and counter-example that does.

    Each example is matched on its own, as the body of a mail in the rule's language (or in
    the first of the rule's ``fields`` when it is not scored on the body), exactly as mail is:
    same tokenizer, negation and condition handling. Empty list: every rule does what its
    examples say. ``languages`` / ``rule_ids`` limit the check to those rules.
    """
    wanted = set(rule_ids) if rule_ids is not None else None
    problems: list[str] = []
    for rule in ruleset.content_rules.values():
        if languages is not None and rule.language not in languages:
            continue
        if wanted is not None and rule.id not in wanted:
            continue
        fld = "body" if "body" in rule.fields else rule.fields[0]

        def fires(text: str, rule: ContentRule = rule, fld: str = fld) -> bool:
            hits = match_message([(fld, text)], rule.language, ruleset)
            return any(h.rule.id == rule.id for h in hits)

        where = f"{rule.source}: rule {rule.id!r}"
        for n, text in enumerate(rule.examples, start=1):
            if not fires(text):
                problems.append(f"{where}: example {n} does not fire: {text!r}")
        for n, text in enumerate(rule.counter_examples, start=1):
            if fires(text):
                problems.append(f"{where}: counter_example {n} fires: {text!r}")
    return problems
