"""Score a message against the rules and decide category, scope change and confidence.

How the decision is made (every step is visible in the returned evidence):

1. **New text.** Quoted history and signatures are removed (``prepare.py``); only the subject
   and the new text are scored. Identifiers are taken from subject and the whole body.
2. **Language.** Function-word counts (``language.py``). Rules of that language are applied,
   plus the English rules, because English phrases are common in any business mail.
3. **Content scores.** Each content rule that matches adds its ``weight`` to its category
   once (repetition is not more evidence). A match in the subject counts ``SUBJECT_FACTOR``
   times its weight, because the subject is the sender's own summary.
4. **Header verdict** (``headers.py``). A ``final`` header rule (bounce, read receipt,
   auto-reply) makes the mail "other". Otherwise header evidence of at least
   ``HEADER_THRESHOLD`` makes it "other" unless the best business score reaches both
   ``OVERRIDE_MIN`` and the header score: an ERP purchase order or a web-form RFQ is
   machine-generated but carries a customer's business content.
5. **Other content.** When the "other" content score (newsletter, spam, auto-reply wording)
   is at least ``MIN_SCORE`` and not below the best business score, the mail is "other".
6. **Priority.** Business categories with at least ``MIN_SCORE`` and at least
   ``PRIORITY_FRACTION`` of the best business score are candidates; the first candidate in
   the order property > order > feedback > enquiry wins. The fraction keeps a faint property
   hint from outranking a clear order.
7. **Fallback.** No candidate: the best business category if anything matched, else enquiry
   if the text asks something ("?") or requests a scope change, else "other".
8. **Scope change.** Sum of scope rule weights (negative weights for "no changes") must reach
   ``SCOPE_MIN``; never for "other" mail. The evidence names what changes.
9. **Confidence** = strength x separation, where strength = 1 - exp(-s / 4) for the winning
   score s, and separation = 0.5 + 0.5 (s - r) / (s + r) against the best other score r
   (header score counted for "other"). Fallback decisions get ``FALLBACK_CONFIDENCE``.
"""

from __future__ import annotations

import math
from functools import lru_cache

from classifiers.headers import evaluate_headers
from classifiers.identifiers import extract_identifiers
from classifiers.language import DEFAULT, detect_language
from classifiers.matching import Hit, match_field
from classifiers.prepare import MAX_NEW_TEXT, new_text
from classifiers.rules import SCOPE, RuleSet, load_rules
from classifiers.types import CATEGORIES, Classification, Evidence, MessageInput

SUBJECT_FACTOR = 1.5
MIN_SCORE = 2.5
PRIORITY_FRACTION = 0.5
HEADER_THRESHOLD = 3.0
OVERRIDE_MIN = 5.0
SCOPE_MIN = 3.0
FALLBACK_CONFIDENCE = 0.3
BUSINESS: tuple[str, ...] = tuple(c for c in CATEGORIES if c != "other")
_MAX_SUBJECT = 1_000


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    """The package's own rules, loaded once per process."""
    return load_rules()


def _hits(subject: str, text: str, lang: str, rules: RuleSet) -> list[Hit]:
    langs = [lang] if lang in rules.languages() else []
    if DEFAULT not in langs and DEFAULT in rules.languages():
        langs.append(DEFAULT)
    hits: list[Hit] = []
    for lg in langs:
        hits += match_field(subject, "subject", lg, rules)
        hits += match_field(text, "body", lg, rules)
    return hits


def _weights(hits: list[Hit]) -> dict[str, tuple[float, Hit]]:
    """Best weighted hit per rule id: a rule counts once, the subject counts more."""
    best: dict[str, tuple[float, Hit]] = {}
    for hit in hits:
        w = hit.rule.weight * (SUBJECT_FACTOR if hit.field == "subject" else 1.0)
        if hit.rule.id not in best or abs(w) > abs(best[hit.rule.id][0]):
            best[hit.rule.id] = (w, hit)
    return best


def _decide(
    scores: dict[str, float], header_score: float, header_final: bool, asks: bool
) -> tuple[str, bool]:
    """Return (category, decided_by_fallback)."""
    top = max(scores[c] for c in BUSINESS)
    if header_final:
        return "other", False
    if header_score >= HEADER_THRESHOLD and top < max(OVERRIDE_MIN, header_score):
        return "other", False
    if scores["other"] >= MIN_SCORE and scores["other"] >= top:
        return "other", False
    for cat in BUSINESS:
        if scores[cat] >= MIN_SCORE and scores[cat] >= PRIORITY_FRACTION * top:
            return cat, False
    if top > 0:
        return max(BUSINESS, key=lambda c: scores[c]), True
    return ("enquiry" if asks else "other"), True


def _confidence(category: str, scores: dict[str, float], header_score: float) -> float:
    eff = dict(scores)
    eff["other"] = scores["other"] + header_score
    s = eff[category]
    r = max((v for c, v in eff.items() if c != category), default=0.0)
    if s <= 0:
        return FALLBACK_CONFIDENCE
    strength = 1.0 - math.exp(-s / 4.0)
    separation = 0.5 + 0.5 * (s - r) / (s + r) if s + r > 0 else 0.5
    return round(max(0.05, min(0.99, strength * separation)), 3)


def classify(msg: MessageInput, rules: RuleSet | None = None) -> Classification:
    """Classify one parsed message; never raises on any text input."""
    rs = rules if rules is not None else default_rules()
    subject = (msg.subject or "")[:_MAX_SUBJECT]
    body = msg.body_text or ""
    text = new_text(body[: MAX_NEW_TEXT * 10], subject)
    language = detect_language(text or subject)
    weighted = _weights(_hits(subject, text, language, rs))

    scores = {c: 0.0 for c in CATEGORIES}
    scope_score = 0.0
    for w, hit in weighted.values():
        if hit.rule.category == SCOPE:
            scope_score += w
        else:
            scores[hit.rule.category] += w
    header = evaluate_headers(msg, rs)
    asks = "?" in text or "?" in subject or scope_score >= SCOPE_MIN
    category, fallback = _decide(scores, header.score, header.final, asks)
    scope_change = category != "other" and scope_score >= SCOPE_MIN
    confidence = FALLBACK_CONFIDENCE if fallback else _confidence(category, scores, header.score)

    ordered = sorted(weighted.values(), key=lambda wh: (wh[1].field != "subject", -wh[0]))
    evidence = list(header.evidence)
    for _, hit in ordered:
        label = f"{hit.rule.change}: {hit.text}" if hit.rule.category == SCOPE else hit.text
        evidence.append(Evidence(hit.rule.id, label, hit.field))
    return Classification(
        category=category,
        scope_change=scope_change,
        identifiers=extract_identifiers(subject, body, rs),
        language=language,
        confidence=confidence,
        evidence=tuple(evidence),
        rules_version=rs.version,
    )
