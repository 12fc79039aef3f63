"""Judging a rule change before it is put in force: replay staff-classified messages and
labelled corpora through the rules in force and a candidate (gateway/workflows/rule_eval.py),
suggest words of corrected messages no rule covers (gateway/workflows/rule_suggest.py), run
every rule's examples. Installation-level: reading archived messages is recorded in the access
log with the actor by gateway/workflows/rule_eval.py before any blob is read. """

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.processing.classification import rules_for
from gateway.services.base import View
from gateway.services.rows import Listing
from gateway.workflows.rule_eval import Comparison, Labelled, compare, load_corpus, staff_labelled
from gateway.workflows.rule_suggest import Suggestion, suggest

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.core.context import Context


@dataclasses.dataclass(frozen=True)
class Evaluation(View):
    """Both rule sets' figures on the same messages and every decision that would change."""

    in_force_version: str
    candidate_version: str
    staff_messages: int
    corpus_messages: int
    comparison: Comparison

    def to_json(self) -> Any:
        return {"rules": {"in_force": self.in_force_version,
                          "candidate": self.candidate_version},
                "messages": {"staff": self.staff_messages, "corpus": self.corpus_messages},
                "in_force": self.comparison.in_force.to_dict(),
                "candidate": self.comparison.candidate.to_dict(),
                "changes": [c.to_dict() for c in self.comparison.changes]}


@dataclasses.dataclass(frozen=True)
class WordSuggestion(View):
    category: str  # the corrected category, or "scope"
    language: str
    ngram: str
    count: int  # corrected messages it occurs in


@dataclasses.dataclass(frozen=True)
class Suggestions(Listing[WordSuggestion]):
    corrected: int = 0  # corrected messages looked at


@dataclasses.dataclass(frozen=True)
class ExampleCheck(View):
    rules_version: str
    rules: int
    problems: tuple[str, ...]


def evaluate(ctx: Context, *, actor: str, rules: Path | None = None,
             extra_rules: Path | None = None, corpora: Sequence[Path] = ()) -> Evaluation:
    """Score the candidate (``rules`` / ``extra_rules`` in place of the installation's; none
    given: the rules in force against themselves) on the installation's staff-classified
    messages (their reading recorded with the actor) and the labelled ``corpora``."""
    return _evaluate(ctx.settings, corpora, rules, extra_rules,
                     lambda: staff_labelled(ctx, actor))


def evaluate_corpora(*, rules: Path | None = None, extra_rules: Path | None = None,
                     corpora: Sequence[Path]) -> Evaluation:
    """:func:`evaluate` without an installation: the shipped rules against a candidate folder
    on labelled corpora only (no archive is read, nothing is recorded)."""
    return _evaluate(None, corpora, rules, extra_rules, list)


def _evaluate(settings: Settings | None, corpora: Sequence[Path], rules: Path | None,
              extra_rules: Path | None, staff_messages: Callable[[], list[Labelled]]
              ) -> Evaluation:
    labelled = [item for folder in corpora for item in load_corpus(folder)]
    in_force = rules_for(settings, fresh=True)
    candidate = (in_force if rules is None and extra_rules is None
                 else rules_for(settings, rules_path=rules, extra_rules=extra_rules))
    staff = staff_messages()  # read last: a broken candidate refuses before any access
    return Evaluation(in_force.version, candidate.version, len(staff), len(labelled),
                      compare(staff + labelled, in_force, candidate))


def suggest_words(ctx: Context, *, actor: str, min_count: int = 2) -> Suggestions:
    """Frequent words of the messages staff corrected that no rule covers, per category and
    language, each in at least ``min_count`` of them."""
    rules = rules_for(ctx.settings, fresh=True)
    corrected = staff_labelled(ctx, actor, corrected_only=True)
    found: list[Suggestion] = suggest(corrected, rules, min_count=min_count)
    return Suggestions(tuple(WordSuggestion(s.category, s.language, s.ngram, s.count)
                             for s in found), corrected=len(corrected))


def check_examples(settings: Settings | None, *, rules: Path | None = None) -> ExampleCheck:
    """Run every rule's examples and counter-examples: a folder given is checked on its own,
    else the rules in force (the installation's when ``settings``, else the shipped ones).
    Takes settings, not the installation: it reads no database and no archive."""
    from classifiers.examples import check_examples as run_examples

    ruleset = (rules_for(settings, fresh=True) if rules is None
               else rules_for(None, rules_path=rules))
    return ExampleCheck(ruleset.version, ruleset.rule_count, tuple(run_examples(ruleset)))
