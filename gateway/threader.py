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
archive (that is what sha256 is for). The decision itself is a pure function of a
:class:`ThreadIndex`, which is loaded for a whole batch with a few queries and then updated in
memory as each message of the batch is filed, so replies within one batch thread correctly.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.models import Case, Message
from gateway.parsing import ParsedMessage

MAX_REFERENCES = 100
_QUERY_CHUNK = 500

CaseKey = Hashable  # an existing case's id, or a case opened earlier in the same batch


@dataclass(frozen=True)
class ThreadDecision:
    case: CaseKey | None  # None: open a new case
    rule: str
    key: str = ""
    possible_follow_up_of: str | None = None


@dataclass
class ThreadIndex:
    """What threading needs to know about the cases a batch of messages may join."""

    case_by_message_id: dict[str, CaseKey] = field(default_factory=dict)
    case_by_ref: dict[str, CaseKey] = field(default_factory=dict)
    customer_domain: dict[CaseKey, str] = field(default_factory=dict)
    participants: dict[CaseKey, set[str]] = field(default_factory=dict)

    def file(self, parsed: ParsedMessage, case: CaseKey, customer_domain: str = "") -> None:
        """Remember a message just filed, so later messages of the batch can join it."""
        if parsed.message_id:
            self.case_by_message_id.setdefault(parsed.message_id, case)
        if parsed.from_addr:
            self.participants.setdefault(case, set()).add(parsed.from_addr)
        if customer_domain:
            self.customer_domain.setdefault(case, customer_domain)


@lru_cache(maxsize=16)
def case_tag_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"\[\s*{re.escape(prefix)}-(\d{{1,9}})\s*\]", re.IGNORECASE)


def case_ref(prefix: str, number: int) -> str:
    return f"{prefix}-{number:06d}"


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower() if "@" in address else ""


def tagged_ref(parsed: ParsedMessage, prefix: str) -> str | None:
    match = case_tag_pattern(prefix).search(parsed.subject)
    return case_ref(prefix, int(match.group(1))) if match else None


def ancestors(parsed: ParsedMessage) -> list[tuple[str, str]]:
    """(message id, rule) in the order they are tried: In-Reply-To, then References newest first."""
    candidates = [(mid, "in-reply-to") for mid in parsed.in_reply_to]
    candidates += [(mid, "references") for mid in reversed(parsed.references)]
    seen: set[str] = set()
    ordered = []
    for mid, rule in candidates:
        if mid != parsed.message_id and mid not in seen:
            seen.add(mid)
            ordered.append((mid, rule))
    return ordered[:MAX_REFERENCES]


def decide_thread(
    parsed: ParsedMessage,
    index: ThreadIndex,
    prefix: str,
    free_mail_domains: Sequence[str],
    bounced_message_id: str | None = None,
) -> ThreadDecision:
    if parsed.message_id and parsed.message_id in index.case_by_message_id:
        return ThreadDecision(index.case_by_message_id[parsed.message_id], "same-message-id",
                              parsed.message_id)
    for mid, rule in ancestors(parsed):
        if mid in index.case_by_message_id:
            return ThreadDecision(index.case_by_message_id[mid], rule, mid)
    # A bounce names the message it returns; it belongs with that message's case.
    if bounced_message_id and bounced_message_id in index.case_by_message_id:
        return ThreadDecision(index.case_by_message_id[bounced_message_id], "bounce-of",
                              bounced_message_id)
    ref = tagged_ref(parsed, prefix)
    if ref and ref in index.case_by_ref:
        case = index.case_by_ref[ref]
        if _is_participant(index, case, parsed.from_addr, free_mail_domains):
            return ThreadDecision(case, "case-tag", ref)
        return ThreadDecision(None, "new-case", ref, possible_follow_up_of=ref)
    return ThreadDecision(None, "new-case")


def _is_participant(index: ThreadIndex, case: CaseKey, sender: str,
                    free_mail_domains: Sequence[str]) -> bool:
    if not sender:
        return False
    if sender in index.participants.get(case, set()):
        return True
    domain = domain_of(sender)
    return (bool(domain) and domain == index.customer_domain.get(case)
            and domain not in free_mail_domains)


def load_index(session: Session, messages: Iterable[ParsedMessage], prefix: str,
               extra_ids: Iterable[str] = ()) -> ThreadIndex:
    """Everything the database knows that these messages could thread to, in a few queries."""
    batch = list(messages)
    index = ThreadIndex()
    ids = {mid for p in batch for mid, _ in ancestors(p)}
    ids |= {p.message_id for p in batch if p.message_id} | set(extra_ids)
    for chunk in _chunks(sorted(ids)):
        for message_id, case_id in session.execute(
                select(Message.message_id, Message.case_id)
                .where(Message.message_id.in_(chunk)).order_by(Message.id)):
            index.case_by_message_id.setdefault(message_id, case_id)
    refs = {ref for p in batch if (ref := tagged_ref(p, prefix))}
    if refs:
        for case_id, ref, domain in session.execute(
                select(Case.id, Case.ref, Case.customer_domain).where(Case.ref.in_(refs))):
            index.case_by_ref[ref] = case_id
            index.customer_domain[case_id] = domain
        tagged = list(index.case_by_ref.values())
        for case_id, sender in session.execute(
                select(Message.case_id, Message.from_addr).distinct()
                .where(Message.case_id.in_(tagged))):
            index.participants.setdefault(case_id, set()).add(sender)
    return index


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _QUERY_CHUNK):
        yield items[start:start + _QUERY_CHUNK]
