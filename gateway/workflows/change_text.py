"""What a scope change changes, in words a customer confirmation can quote ("quantity 200 →
400; delivery date 15 January 2027 → 1 February 2027"): the ``${change}`` of a scope-change
confirmation template.

Read from the review's own data: its evidence (which changes the scope rules found: quantity,
date, ...), the text of the message that asked for the change (its snippet: the first 500
characters of its text) and, for the value before, the order it changes (the first order
message of the case or of the cases linked to it as enquiry/order). A value that cannot be
read is left out, never guessed: with nothing readable the review's summary is used, as before.
One line (a template may put it in a subject).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.events import case_family
from gateway.db.models import Case, Message
from gateway.db.reviews import Review

_UNIT = (r"(?:pieces|piece|pcs|pc|units|unit|off|sets|items|stk|stück|pièces|pezzi|"
         r"housings|parts)")
_NUMBER = r"\d[\d,.']*"
# "to 400 pieces", "from 250 to 400", "quantity ... to 400"
_NEW_QUANTITY = re.compile(rf"\bto\s+({_NUMBER})\s*{_UNIT}\b|\bquantity\b[^.;\n]{{0,60}}?"
                           rf"\bto\s+({_NUMBER})\b", re.I)
_OLD_QUANTITY = re.compile(rf"\bfrom\s+({_NUMBER})\s*(?:{_UNIT}\s*)?to\s+{_NUMBER}", re.I)
_ORDERED_QUANTITY = re.compile(rf"\bfor\s+({_NUMBER})\s+\w|\b({_NUMBER})\s*{_UNIT}\b", re.I)
_MONTHS = (r"(?:January|February|March|April|May|June|July|August|September|October|"
           r"November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?")
_DATE = (rf"(?:\d{{1,2}}\.?\s+{_MONTHS}\s+\d{{4}}|{_MONTHS}\s+\d{{1,2}},?\s+\d{{4}}|"
         r"\d{4}-\d{2}-\d{2}|\d{1,2}\.\d{1,2}\.\d{4}|(?:calendar\s+)?week\s+\d{1,2})")
_NEW_DATE = re.compile(rf"\bto\s+({_DATE})", re.I)
_ANY_DATE = re.compile(rf"({_DATE})", re.I)
_DELIVERY_DATE = re.compile(rf"deliver\w*[^.;\n]{{0,30}}?({_DATE})", re.I)


def describe_change(session: Session, review: Review, linked: Iterable[int] = ()) -> str:
    """The change of ``review`` in one line; ``linked``: cases whose order it may change."""
    kinds = _changed(review)
    request = _snippet(session, review.trigger_message_pk)
    order = _order_snippet(session, review, linked)
    parts, covered = [], {"reference"}
    if "quantity" in kinds:
        new = _first(_NEW_QUANTITY, request)
        if new:
            old = _first(_OLD_QUANTITY, request) or _first(_ORDERED_QUANTITY, order)
            parts.append(f"quantity {old} → {new}" if old and old != new else
                         f"quantity → {new}")
            covered.add("quantity")
    if "date" in kinds:
        new = _first(_NEW_DATE, request) or _first(_ANY_DATE, request)
        if new:
            old = _first(_DELIVERY_DATE, order)
            parts.append(f"delivery date {old} → {new}" if old and old != new else
                         f"delivery date → {new}")
            covered.add("date")
    parts += sorted(kinds - covered)
    if not parts:
        return " ".join(review.summary.split())
    return "; ".join(parts)


def _changed(review: Review) -> set[str]:
    """The changes the scope rules named ("quantity", "date", ...), from the review's
    evidence texts ("quantity: ...")."""
    found = set()
    for item in review.evidence or ():
        if isinstance(item, dict) and ".scope." in str(item.get("rule_id", "")):
            name = str(item.get("text", "")).split(":", 1)[0].strip().lower()
            if name and " " not in name:
                found.add(name)
    return found


def _snippet(session: Session, message_pk: int | None) -> str:
    if message_pk is None:
        return ""
    message = session.get(Message, message_pk)
    return message.snippet if message is not None else ""


def _order_snippet(session: Session, review: Review, linked: Iterable[int]) -> str:
    """The text of the order the change is to: the first inbound order message before the
    change, on its case, a case merged into it or a linked enquiry/order case."""
    case = session.get(Case, review.case_id)
    cases = [*(case_family(session, case) if case is not None else [review.case_id]), *linked]
    query = (select(Message.snippet).where(
        Message.case_id.in_(cases), Message.direction == "inbound",
        Message.category == "order").order_by(Message.id).limit(1))
    if review.trigger_message_pk is not None:
        query = query.where(Message.id < review.trigger_message_pk)
    return session.scalar(query) or ""


def _first(pattern: re.Pattern[str], text: str) -> str:
    match = pattern.search(text)
    if match is None:
        return ""
    value = next((group for group in match.groups() if group), "")
    return " ".join(value.split()).rstrip(".,")
