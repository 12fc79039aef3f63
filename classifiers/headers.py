"""Header-level rules: is this mail machine-generated rather than written by a customer?

RFC 3834 (Auto-Submitted), RFC 3464/6522 (delivery-status reports), RFC 8098 (read receipts),
RFC 2369/2919 (List-* headers) and de-facto headers (Precedence, X-Autoreply) tell us a mail
was produced by software. Rules marked ``final`` (bounces, receipts, auto-replies) always mean
category "other"; the rest can be overridden by strong business content, because ERP systems
and web forms also send machine-generated mail that carries a real order or enquiry. Rules
marked ``noise`` (bulk precedence, no-reply senders, Auto-Submitted: auto-generated) never
outweigh clear business content; list headers (RFC 2369/2919) still count against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from classifiers.rules import HeaderRule, RuleSet
from classifiers.types import Evidence, MessageInput

_MAX_VALUE = 2_000


@dataclass(frozen=True)
class HeaderVerdict:
    """Sum of matched header rule weights, whether any was final, and the evidence."""

    score: float
    final: bool
    bounce: bool
    evidence: tuple[Evidence, ...]
    # The part of ``score`` from rules marked ``noise`` (bulk precedence, no-reply senders).
    noise: float = 0.0


def _values(
    rule: HeaderRule, msg: MessageInput, fields: dict[str, list[str]]
) -> list[tuple[str, str]]:
    """(value, evidence field) pairs the rule looks at (``fields``: :func:`_by_name`)."""
    if rule.field == "header":
        return [(v, "header") for v in fields.get(rule.name, ())]
    if rule.field == "content_type":
        return [(msg.content_type, "header")]
    if rule.field == "report_type":
        return [(msg.report_type, "header")] if msg.report_type else []
    if rule.field == "attachment_type":
        return [(t, "attachment") for t in msg.attachment_types]
    if rule.field == "attachment_name":
        return [(n, "attachment") for n in msg.attachment_names]
    if rule.field == "from":
        return [(msg.from_addr, "header")] if msg.from_addr else []
    return [(msg.subject, "subject")]


def _by_name(msg: MessageInput) -> dict[str, list[str]]:
    """The values of each header field (name stripped and lower case), in message order:
    one pass over the fields instead of one per header rule (about 20)."""
    out: dict[str, list[str]] = {}
    for name, value in msg.headers:
        out.setdefault(name.strip().lower(), []).append(value)
    return out


def evaluate_headers(msg: MessageInput, rules: RuleSet) -> HeaderVerdict:
    """Apply every header rule once; a rule with ``requires`` fires only with its partners."""
    fired: dict[str, tuple[HeaderRule, Evidence]] = {}
    fields = _by_name(msg)
    for rule in rules.header_rules:
        for value, fld in _values(rule, msg, fields):
            value = (value or "")[:_MAX_VALUE]
            m = rule.pattern.search(value)
            if m:
                label = f"{rule.name}: {value}" if rule.field == "header" else value
                fired[rule.id] = (rule, Evidence(rule.id, label.strip()[:200], fld))
                break
    kept = {
        rid: pair for rid, pair in fired.items() if all(req in fired for req in pair[0].requires)
    }
    score = sum(rule.weight for rule, _ in kept.values())
    final = any(rule.final for rule, _ in kept.values())
    bounce = any(rule.bounce for rule, _ in kept.values())
    noise = sum(rule.weight for rule, _ in kept.values() if rule.noise)
    return HeaderVerdict(score, final, bounce, tuple(ev for _, ev in kept.values()), noise)
