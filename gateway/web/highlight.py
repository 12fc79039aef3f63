"""The classification evidence of a message on the case page: which rule fired on which words,
with those words marked in the text shown.

Customer text never becomes HTML here: :func:`highlight` returns plain (segment, is_match)
pairs and the template escapes each segment (autoescape) and wraps matches in ``<mark>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Segment = tuple[str, bool]
MAX_PHRASES = 50  # as many evidence items as a message keeps


def highlight(text: str, phrases: Iterable[str]) -> list[Segment]:
    """``text`` cut into segments, each marked whether it is one of ``phrases`` (case does not
    matter, any run of white space matches any other). Overlapping or touching matches are
    joined into one, so segments never overlap and join back into ``text``."""
    spans: list[tuple[int, int]] = []
    for phrase in list(dict.fromkeys(p for p in phrases if p.strip()))[:MAX_PHRASES]:
        pattern = r"\s+".join(re.escape(word) for word in phrase.split())
        spans += [m.span() for m in re.finditer(pattern, text, re.IGNORECASE)]
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    segments: list[Segment] = []
    at = 0
    for start, end in merged:
        if start > at:
            segments.append((text[at:start], False))
        segments.append((text[start:end], True))
        at = end
    if at < len(text) or not segments:
        segments.append((text[at:], False))
    return segments


@dataclass(frozen=True)
class EvidenceItem:
    rule_id: str
    text: str
    field: str  # subject | body | attachment | header
    shown: bool  # found (and marked) in the subject or text shown on the page


@dataclass(frozen=True)
class MessageEvidence:
    """What the case page shows of one message's classification."""

    category: str
    confidence: float | None
    language: str
    scope_change: bool
    needs_triage: bool
    thread_rule: str
    rules_version: str
    identifiers: tuple[Mapping[str, Any], ...]
    items: tuple[EvidenceItem, ...]
    subject: tuple[Segment, ...]
    body: tuple[Segment, ...]  # empty when the text is not shown (purged)


def message_evidence(message: Mapping[str, Any], text: str | None) -> MessageEvidence:
    """The evidence of ``message`` (a row of ``show_case``) with its words marked in its
    subject and in ``text`` (the body shown; None when retention removed it)."""
    stored = [e for e in message.get("evidence") or [] if isinstance(e, Mapping)]
    in_subject = [str(e.get("text", "")) for e in stored if e.get("field") == "subject"]
    in_body = [str(e.get("text", "")) for e in stored if e.get("field") != "subject"]
    subject = highlight(message.get("subject") or "", in_subject)
    body = highlight(text, in_body) if text is not None else []
    return MessageEvidence(
        category=message.get("category") or "",
        confidence=message.get("confidence"),
        language=message.get("language") or "",
        scope_change=bool(message.get("scope_change")),
        needs_triage=bool(message.get("needs_triage")),
        thread_rule=message.get("thread_rule") or "",
        rules_version=message.get("rules_version") or "",
        identifiers=tuple(i for i in message.get("identifiers") or [] if isinstance(i, Mapping)),
        items=tuple(EvidenceItem(str(e.get("rule_id", "")), str(e.get("text", "")),
                                 str(e.get("field", "")),
                                 _marks(str(e.get("text", "")),
                                        subject if e.get("field") == "subject" else body))
                    for e in stored),
        subject=tuple(subject), body=tuple(body))


def _marks(phrase: str, segments: Sequence[Segment]) -> bool:
    """Whether ``phrase`` is among the marked words of ``segments``."""
    return bool(phrase.strip()) and any(
        matched and highlight(piece, [phrase]) != [(piece, False)] for piece, matched in segments)
