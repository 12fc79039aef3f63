"""Frozen value types that cross the classifier's boundary (see ARCHITECTURE.md, habit 5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Priority order: when several categories have enough evidence, the earliest one wins
# (a customer-property notice must never be buried under the order it refers to).
CATEGORIES: tuple[str, ...] = ("property", "order", "feedback", "enquiry", "other")

IDENTIFIER_KINDS: tuple[str, ...] = ("po", "rma", "quote", "serial", "drawing")

# "case": a context rule read it from the case the message was threaded into (context.py).
EVIDENCE_FIELDS: tuple[str, ...] = ("header", "subject", "body", "attachment", "case")

# Which step of the decision chose the category: a header verdict, a content rule, a business
# rule below the threshold, or the fallback when nothing matched. The last two are guesses
# (``needs_triage``): a person confirms them.
DECIDED_BY: tuple[str, ...] = ("header", "rule", "weak-rule", "fallback")


@dataclass(frozen=True)
class MessageInput:
    """A parsed message as the gateway hands it over; the classifier never sees raw bytes."""

    subject: str
    body_text: str
    from_addr: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "text/plain"
    report_type: str = ""
    attachment_names: tuple[str, ...] = ()
    attachment_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Identifier:
    """A business identifier (PO, RMA, quote, serial or drawing number) as written."""

    kind: str
    value: str


@dataclass(frozen=True)
class Evidence:
    """One rule that fired: which rule, on which text, in which part of the message."""

    rule_id: str
    text: str
    field: str


@dataclass(frozen=True)
class Classification:
    """The classifier's decision plus everything needed to explain and reproduce it."""

    category: str
    scope_change: bool
    identifiers: tuple[Identifier, ...]
    language: str
    confidence: float
    evidence: tuple[Evidence, ...]
    rules_version: str
    # Message-ID of our message that a bounce reports as undelivered, when the bounce quotes
    # it (text/rfc822-headers or a quoted header block); lets the gateway link the bounce.
    bounced_message_id: str | None = None
    forwarded: bool = False
    decided_by: str = "rule"
    # No rule decided the category: a guess (the fallback or the alias's queue prior) that
    # staff confirm or correct in the triage queue.
    needs_triage: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored next to the case event that records the decision."""
        return {
            "category": self.category,
            "scope_change": self.scope_change,
            "identifiers": [{"kind": i.kind, "value": i.value} for i in self.identifiers],
            "language": self.language,
            "confidence": self.confidence,
            "evidence": [
                {"rule_id": e.rule_id, "text": e.text, "field": e.field} for e in self.evidence
            ],
            "rules_version": self.rules_version,
            "bounced_message_id": self.bounced_message_id,
            "forwarded": self.forwarded,
            "decided_by": self.decided_by,
            "needs_triage": self.needs_triage,
        }
