"""The bridge from a ParsedMessage to the classifiers package (which knows nothing of us)."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from classifiers import (
    Classification,
    Evidence,
    MessageInput,
    RulesError,
    RuleSet,
    classify,
    load_rules,
)
from gateway.config import Settings
from gateway.core.errors import RulesConfigError
from gateway.processing.parsing import ParsedMessage

MAX_CLASSIFIED_CHARS = 200_000
QUEUE_PRIOR_RULE = "gw.queue_prior"


def to_input(parsed: ParsedMessage) -> MessageInput:
    return MessageInput(
        subject=parsed.subject,
        body_text=parsed.text[:MAX_CLASSIFIED_CHARS],
        from_addr=parsed.from_addr,
        headers=parsed.headers,
        content_type=parsed.content_type,
        report_type=parsed.report_type,
        attachment_names=tuple(a.filename for a in parsed.attachments),
        attachment_types=parsed.part_types,
    )


def classify_parsed(parsed: ParsedMessage, rules: RuleSet) -> Classification:
    return classify(to_input(parsed), rules)


# The case event of a person's classification (gateway/workflows/triage.py): what later filing and
# reclassify must not overrule. Kept here, beside the other triage decisions the pipeline
# takes, so the pipeline does not import the triage workflow.
CLASSIFIED_EVENT = "case_classified"


def needs_person(classification: Classification, triage_below: float) -> bool:
    """Whether a customer's message waits in the triage queue: no rule decided it, or its
    confidence is below ``[classifier] triage_below``."""
    return classification.needs_triage or classification.confidence < triage_below


def triage_reason(classification: Classification, triage_below: float) -> str:
    """Why a message waits, in words for the case history."""
    if classification.needs_triage:
        return f"no rule decided the category ({classification.decided_by})"
    return f"confidence {classification.confidence:.2f} is below {triage_below:.2f}"


def with_queue_prior(result: Classification, prior: str) -> Classification:
    """A message that matched no rule at all goes to its alias's usual category (sales@ gets
    enquiries), still marked ``needs_triage``: a better guess than "other", which needs
    positive evidence. A weak rule match or a header signal is evidence and is kept."""
    if not prior or result.decided_by != "fallback" or result.category == prior:
        return result
    note = Evidence(QUEUE_PRIOR_RULE, f"queue prior of the alias: {prior} "
                    f"(no rule decided; was {result.category})", "header")
    return replace(result, category=prior, evidence=(*result.evidence, note))


def rules_for(settings: Settings | None, *, fresh: bool = False, rules_path: Path | None = None,
              extra_rules: Path | None = None) -> RuleSet:
    """The rule set an installation uses: the shipped rules or its own, plus its own id formats
    and its ``extra_rules`` folder.

    ``fresh`` reads the files again (SIGHUP: they may have changed under the same path).
    ``rules_path`` / ``extra_rules`` put a candidate folder in place of the installation's
    (``commgate rules evaluate|check``); a candidate is always read fresh. A broken rule file,
    or an extra rule whose examples fail, raises :class:`RulesConfigError`: an operator error,
    not a message's.
    """
    load = _load_rules if fresh or rules_path or extra_rules else _cached_rules
    path, extra = rules_path, extra_rules
    patterns: tuple[tuple[str, str], ...] = ()
    if settings is not None:
        cfg = settings.config.classifier
        patterns = tuple((p.kind, p.pattern) for p in cfg.identifier_patterns)
        if path is None and cfg.rules_path:
            path = settings.resolve(cfg.rules_path)
        if extra is None and cfg.extra_rules:
            extra = settings.resolve(cfg.extra_rules)
    return load(path, patterns, extra)


def _load_rules(
    path: Path | None, patterns: tuple[tuple[str, str], ...], extra: Path | None
) -> RuleSet:
    try:
        return load_rules(path, patterns, extra_rules=extra)
    except RulesError as exc:
        raise RulesConfigError(f"classifier rules: {exc}") from None


@lru_cache(maxsize=4)
def _cached_rules(
    path: Path | None, patterns: tuple[tuple[str, str], ...], extra: Path | None
) -> RuleSet:
    # Building the spaCy matchers takes about half a second; do it once per process.
    return _load_rules(path, patterns, extra)
