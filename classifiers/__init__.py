"""commgate classifiers: a parsed message in, an explainable classification out.

Pure library: no database and no I/O beyond reading its own rule files (``rules/``).
See ``classify.py`` for how the decision is scored.
"""

from classifiers import spacy_cli

spacy_cli.defer()  # before any spaCy import: its command line is never used here (17 MB)

from classifiers.classify import classify  # noqa: E402
from classifiers.examples import check_examples, load_rules  # noqa: E402
from classifiers.rules import RulesError, RuleSet  # noqa: E402
from classifiers.types import (  # noqa: E402
    CATEGORIES,
    Classification,
    Evidence,
    Identifier,
    MessageInput,
)

__all__ = [
    "CATEGORIES",
    "Classification",
    "Evidence",
    "Identifier",
    "MessageInput",
    "RuleSet",
    "RulesError",
    "check_examples",
    "classify",
    "load_rules",
]
