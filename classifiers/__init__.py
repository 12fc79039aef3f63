"""commgate classifiers: a parsed message in, an explainable classification out.

Pure library: no database and no I/O beyond reading its own rule files (``rules/``).
See ``classify.py`` for how the decision is scored.
"""

from classifiers.classify import classify
from classifiers.examples import check_examples, load_rules
from classifiers.rules import RulesError, RuleSet
from classifiers.types import (
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
