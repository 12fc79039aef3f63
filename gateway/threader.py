"""Which case does a message belong to? Decided from headers the archive keeps, in a fixed order.

1. ``same-message-id``: another copy of a message already filed (a retried delivery with
   different bytes) joins that message's case, so a retry never opens a second case.
2. ``in-reply-to`` / ``references``: the nearest ancestor that we have, In-Reply-To first, then
   References from the newest id backwards (the whole chain, so a missing parent is bridged).
3. ``case-tag``: ``[PREFIX-000123]`` in the subject, accepted only when the sender already took
   part in that case or writes from its customer's own (not free-mail) domain. A stranger who
   knows a case number gets a new case marked as a possible follow-up instead.
4. ``new-case``.

Message-IDs are chosen by senders, so they only ever *join* threads; they never address the
archive (that is what sha256 is for).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.models import Case, Message
from gateway.parsing import ParsedMessage

MAX_REFERENCES = 100


@dataclass(frozen=True)
class ThreadDecision:
    case_id: int | None  # None: open a new case
    rule: str
    key: str = ""
    possible_follow_up_of: str | None = None


@lru_cache(maxsize=16)
def case_tag_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"\[\s*{re.escape(prefix)}-(\d{{1,9}})\s*\]", re.IGNORECASE)


def case_ref(prefix: str, number: int) -> str:
    return f"{prefix}-{number:06d}"


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower() if "@" in address else ""


def decide_thread(
    session: Session,
    parsed: ParsedMessage,
    prefix: str,
    free_mail_domains: Sequence[str],
) -> ThreadDecision:
    if parsed.message_id:
        case_id = session.scalar(
            select(Message.case_id).where(Message.message_id == parsed.message_id).limit(1))
        if case_id is not None:
            return ThreadDecision(case_id, "same-message-id", parsed.message_id)

    decision = _by_ancestors(session, parsed)
    if decision:
        return decision

    match = case_tag_pattern(prefix).search(parsed.subject)
    if match:
        ref = case_ref(prefix, int(match.group(1)))
        case = session.scalar(select(Case).where(Case.ref == ref))
        if case is not None:
            if _is_participant(session, case, parsed.from_addr, free_mail_domains):
                return ThreadDecision(case.id, "case-tag", ref)
            return ThreadDecision(None, "new-case", ref, possible_follow_up_of=ref)
    return ThreadDecision(None, "new-case")


def _by_ancestors(session: Session, parsed: ParsedMessage) -> ThreadDecision | None:
    candidates: list[tuple[str, str]] = [(mid, "in-reply-to") for mid in parsed.in_reply_to]
    candidates += [(mid, "references") for mid in reversed(parsed.references)]
    candidates = [(mid, rule) for mid, rule in candidates if mid != parsed.message_id]
    candidates = list(dict.fromkeys(candidates))[:MAX_REFERENCES]
    if not candidates:
        return None
    ids = list(dict.fromkeys(mid for mid, _ in candidates))
    found = dict(session.execute(
        select(Message.message_id, Message.case_id).where(Message.message_id.in_(ids))).all())
    for mid, rule in candidates:
        if mid in found:
            return ThreadDecision(found[mid], rule, mid)
    return None


def _is_participant(
    session: Session, case: Case, sender: str, free_mail_domains: Sequence[str]
) -> bool:
    if not sender:
        return False
    known = session.scalar(
        select(Message.id).where(Message.case_id == case.id, Message.from_addr == sender).limit(1))
    if known is not None:
        return True
    domain = domain_of(sender)
    return bool(domain) and domain == case.customer_domain and domain not in free_mail_domains
