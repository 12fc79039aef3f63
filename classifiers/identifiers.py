"""Extract business identifiers (PO, RMA, quote, serial, drawing numbers) from a message.

Patterns come from ``rules/identifiers.toml``: a label regex (the word that announces the
number, e.g. "PO#", "S/N", "Zeichnungs-Nr.") and a shape regex for the number itself. The
label is not part of the value ("PO 4500871234" -> "4500871234"); numbers whose prefix is part
of the number ("RMA-24-0412") are matched by shape alone. Identifiers are searched in the
subject and the whole body including quoted history, because a reply that quotes our order
confirmation still belongs to that order. Case tags in brackets ("[ACME-2031]") are threading
keys and are never returned.
"""

from __future__ import annotations

import re

from classifiers.rules import IdentifierPattern, RuleSet
from classifiers.types import Identifier

# Identifiers are found in the first part of very large bodies only; beyond that the text is
# almost always an attached listing, and scanning megabytes would slow the worker down.
MAX_SCAN = 100_000


def _plausible(value: str) -> bool:
    """A business number has several digits; rejects quantities ("order 500 pcs") and
    product codes ("MV-40") that happen to follow a label word."""
    digits = sum(c.isdigit() for c in value)
    if digits >= 4:
        return True
    return digits == 3 and "-" in value and any(c.isalpha() for c in value)


def _combined(rules: RuleSet) -> list[tuple[re.Pattern[str], list[IdentifierPattern]]]:
    """All patterns as two alternations (labelled: case-insensitive; shapes: case-sensitive),
    so the text is scanned twice instead of once per pattern. Built once per rule set."""
    cached = rules._combined_identifiers
    if cached is None:
        cached = []
        for flags in (0, re.I):  # explicit formats first: they win ties over list items
            group = [p for p in rules.identifier_patterns if p.regex.flags & re.I == flags]
            if not group:
                continue
            parts = [
                p.regex.pattern.replace("(?P<value>", f"(?P<v{n}>", 1)
                for n, p in enumerate(group)
            ]
            cached.append((re.compile("|".join(f"(?:{x})" for x in parts), flags), group))
        rules._combined_identifiers = cached
    return cached


def _spans(text: str, rules: RuleSet) -> list[tuple[int, int, str, str]]:
    found: list[tuple[int, int, str, str]] = []
    for regex, group in _combined(rules):
        for m in regex.finditer(text):
            n = next(i for i in range(len(group)) if m.group(f"v{i}") is not None)
            pat = group[n]
            value = m.group(f"v{n}")
            if _plausible(value):
                found.append((m.start(f"v{n}"), m.end(f"v{n}"), pat.kind, value))
            if pat.list_continuation is None:
                continue
            pos = m.end(f"v{n}")
            while (c := pat.list_continuation.match(text, pos)) is not None:
                if _plausible(c.group("value")):
                    found.append((c.start("value"), c.end("value"), pat.kind, c.group("value")))
                pos = c.end("value")
    return found


def extract_identifiers(subject: str, body: str, rules: RuleSet) -> tuple[Identifier, ...]:
    """Identifiers in order of first appearance (subject first), deduplicated ignoring case."""
    out: list[Identifier] = []
    seen: set[str] = set()
    for text in (subject or "", (body or "")[:MAX_SCAN]):
        spans = sorted(_spans(text, rules), key=lambda s: (s[0], -(s[1] - s[0])))
        taken: list[tuple[int, int]] = []
        for start, end, kind, value in spans:
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue  # overlaps a longer or earlier match of the same number
            taken.append((start, end))
            key = value.lower()
            if key not in seen:
                seen.add(key)
                out.append(Identifier(kind, value))
    return tuple(out)
