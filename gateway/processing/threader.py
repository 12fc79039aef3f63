"""Which case does a message belong to? Decided from headers the archive keeps, in a fixed order.

1. ``signed-reference``: an id in In-Reply-To/References (or, for our own outbound copies, the
   message's own Message-ID) that carries our HMAC-signed case token: that case, even when the
   customer's client rewrote the subject. A forged or altered token is simply not ours.
2. ``same-message-id``: another copy of a message already filed (a retried delivery with
   different bytes) joins that message's case, so a retry never opens a second case.
3. ``in-reply-to`` / ``references``: the nearest ancestor that we have, In-Reply-To first, then
   References from the newest id backwards (the whole chain, so a missing parent is bridged).
4. ``referenced-by``: a parent that arrives after its replies joins the case they opened. Cases
   opened only for its replies (every message references it) are merged into the parent's case
   afterwards, also when the parent itself threaded elsewhere by rules 1-3 (a system merge,
   reversible like a staff merge). A message answered in more than five cases is taken for a
   mass mailing: its replies stay apart.
5. ``shared-reference``: a reply whose ancestors we never saw joins a case of the same
   correspondent whose messages reference the same missing id (a ticket system's ghost root).
6. ``bounce-of``: a bounce joins the case of the message it returns.
7. ``thread-index``: Outlook's Thread-Index names the conversation (its first 22 bytes).
8. ``case-tag``: ``[PREFIX-000123]`` in the subject, accepted only when the sender already took
   part in that case or writes from its customer's own (not free-mail) domain. A stranger who
   knows a case number gets a new case linked as a possible follow-up instead.
   Rules 2-4, 6 and 7 link by ids the sender chose, so they too join only a case the sender
   takes part in (wrote, or was in To/Cc of, one of its messages, or writes from the customer's
   domain or ours); a stranger's message gets a new case linked as a possible follow-up in the
   same way. A bounce joins freely only when it returns our own outbound mail.
9. ``subject``: for a message that says it is a reply or forward (a ``Re:``/``AW:``... prefix
   or references we do not have), the normalised subject (prefixes and case tags stripped) of
   an inbound message from the same correspondent within ``threading.subject_window_days``;
   never for generic or very short subjects. A fresh mail that merely repeats a subject (the
   weekly "Call-off framework order 4711") opens its own case.
10. ``new-case``.

Message-IDs are chosen by senders, so they only ever *join* threads; they never address the
archive (that is what sha256 is for). The decision itself is a pure function of a
:class:`ThreadIndex`, which is loaded for a whole batch with a few queries and then updated in
memory as each message of the batch is filed, so replies within one batch thread correctly.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.db.models import Case, CaseLink, Message, MessageReference
from gateway.processing.parsing import ParsedMessage

MAX_REFERENCES = 100
MIN_SUBJECT_CHARS = 8
MAX_REHOMED_CASES = 5
CONVERSATION_BYTES = 22
_QUERY_CHUNK = 500

_T = TypeVar("_T")
CaseKey = Hashable  # an existing case's id, or a case opened earlier in the same batch
SignedRef = Callable[[str], "str | None"]

# Reply and forward markers of the common clients and languages, with counters ("RE[2]:",
# "Re^2:", "AW(3):"), stripped repeatedly from the start; RFC 5256 base subject rules besides.
_PREFIX = re.compile(
    r"^\s*(?:re|fwd?|aw|wg|wtr|sv|vs|vb|tr|antw|antwort|odp|rif|r|res|enc|rv|ref|réf|i|ynt|atb|fs|vl"
    r"|doorst|pd|př|přeposlat|πρ|回复|回覆|转发|答复)\s*(?:\[\d+\]|\^\d+|\(\d+\))?\s*[:\uff1a]\s*",
    re.IGNORECASE)
_BLOB = re.compile(r"^\s*\[[^\[\]]*\]\s*")
_FWD_TRAILER = re.compile(r"\s*\((?:fwd?)\)\s*$", re.IGNORECASE)
_FWD_WRAPPED = re.compile(r"^\[(?:fwd?):\s*(.*)\]$", re.IGNORECASE)
_TICKET_TAG = re.compile(r"\[\s*[A-Za-z][A-Za-z0-9]{1,15}\s*[-#]\s*\d{1,12}\s*\]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ThreadKeys:
    """Everything threading reads from one message, derived once from its parsed headers."""

    message_id: str | None
    ancestors: tuple[tuple[str, str], ...]  # (id, rule) in the order they are tried
    chain: tuple[str, ...]  # every referenced id, as stored in message_references
    signed: tuple[tuple[str, str], ...]  # (message id, case reference) of our own signed ids
    conversation: str | None
    norm_subject: str
    tags: frozenset[str]  # case/ticket tags in the subject, upper-cased
    tagged_ref: str | None  # our own case tag, as a case reference
    sender: str
    inbound: bool
    when: datetime | None
    is_reply: bool = False  # says it answers or forwards something (prefix or references)
    recipients: frozenset[str] = frozenset()  # To and Cc, lower-cased: they take part too


@dataclass(frozen=True)
class ThreadDecision:
    case: CaseKey | None  # None: open a new case
    rule: str
    key: str = ""
    possible_follow_up_of: str | None = None
    follow_up_case: CaseKey | None = None  # the tagged case a stranger's new case is linked to
    merge_orphans: tuple[CaseKey, ...] = ()  # cases holding only replies to this message


@dataclass(frozen=True)
class SubjectSeen:
    when: datetime | None
    case: CaseKey
    tags: frozenset[str]


@dataclass
class ThreadIndex:
    """What threading needs to know about the cases a batch of messages may join."""

    case_by_message_id: dict[str, CaseKey] = field(default_factory=dict)
    case_by_ref: dict[str, CaseKey] = field(default_factory=dict)
    customer_domain: dict[CaseKey, str] = field(default_factory=dict)
    # Who takes part in a case (lower-cased): the senders and the To/Cc of its messages.
    participants: dict[CaseKey, set[str]] = field(default_factory=dict)
    refs: dict[CaseKey, str] = field(default_factory=dict)  # case -> its reference, if loaded
    # Looked-up ids of mail we sent: outbound, or (a copy filed inbound) from one of our aliases.
    sent_by_us: set[str] = field(default_factory=set)
    our_addresses: frozenset[str] = frozenset()  # our aliases and their domains: staff
    our_domains: frozenset[str] = frozenset()
    # An id -> the cases of messages that reference it (re-homing, shared ghost parents).
    referenced_by: dict[str, list[CaseKey]] = field(default_factory=dict)
    case_by_conversation: dict[str, CaseKey] = field(default_factory=dict)
    by_subject: dict[tuple[str, str], list[SubjectSeen]] = field(
        default_factory=lambda: defaultdict(list))
    # Orphan detection: how many messages a case holds, and how many reference a given id.
    case_size: dict[CaseKey, int] = field(default_factory=lambda: defaultdict(int))
    referencing: dict[tuple[CaseKey, str], int] = field(default_factory=lambda: defaultdict(int))
    pinned: set[CaseKey] = field(default_factory=set)  # split by staff: never merged by us
    merged: dict[CaseKey, CaseKey] = field(default_factory=dict)

    def resolve(self, case: CaseKey) -> CaseKey:
        seen = {case}
        while case in self.merged:
            case = self.merged[case]
            if case in seen:
                break
            seen.add(case)
        return case

    def file(self, keys: ThreadKeys, case: CaseKey, customer_domain: str = "") -> None:
        """Remember a message just filed, so later messages of the batch can join it."""
        if keys.message_id:
            self.case_by_message_id.setdefault(keys.message_id, case)
            if not keys.inbound or keys.sender.lower() in self.our_addresses:
                self.sent_by_us.add(keys.message_id)
        if keys.sender or keys.recipients:
            people = self.participants.setdefault(case, set())
            people.update(keys.recipients)
            if keys.sender:
                people.add(keys.sender.lower())
        if customer_domain:
            self.customer_domain.setdefault(case, customer_domain)
        for ref in keys.chain:
            self.add_reference(ref, case)
            self.referencing[(case, ref)] += 1
        self.case_size[case] += 1
        if keys.conversation:
            self.case_by_conversation.setdefault(keys.conversation, case)
        if keys.inbound and keys.norm_subject and keys.sender:
            self.by_subject[(keys.norm_subject, keys.sender)].append(
                SubjectSeen(keys.when, case, keys.tags))

    def add_reference(self, ref: str, case: CaseKey) -> None:
        cases = self.referenced_by.setdefault(ref, [])
        if case not in cases:
            cases.append(case)

    def referencing_cases(self, message_id: str | None) -> list[CaseKey]:
        """The (surviving) cases whose messages reference ``message_id``, oldest first."""
        found = (self.resolve(c) for c in self.referenced_by.get(message_id or "", ()))
        return list(dict.fromkeys(found))

    def merge(self, source: CaseKey, target: CaseKey) -> None:
        """The orphan case ``source`` is being merged into ``target`` (effective after flush)."""
        self.merged[source] = target
        self.case_size[target] += self.case_size.pop(source, 0)
        self.participants.setdefault(target, set()).update(self.participants.get(source, ()))

    def is_orphan_case(self, case: CaseKey, parent_id: str) -> bool:
        """Was ``case`` opened only for replies to ``parent_id`` (every message references it)?"""
        size = self.case_size.get(case, 0)
        return (case not in self.pinned and size > 0
                and self.referencing.get((case, parent_id), 0) >= size)


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


def subject_tags(subject: str, prefix: str) -> frozenset[str]:
    """Case and ticket tags (``[NPC-123]``, ``[Ticket#42]``) normalised for comparison:
    ``NPC-000123``, ``TICKET#42``."""
    ours = {case_ref(prefix, int(n)) for n in case_tag_pattern(prefix).findall(subject)}
    theirs = {_SPACE.sub("", t).strip("[]").upper() for t in _TICKET_TAG.findall(subject)}
    theirs = {t for t in theirs if not t.startswith(f"{prefix.upper()}-")}
    return frozenset(ours | theirs)


def normalise_subject(subject: str, prefix: str = "") -> str:
    """The subject a conversation keeps: reply/forward markers (any language, repeated, with
    counters), list and case tags, ``(fwd)`` trailers stripped (RFC 5256 base subject), space
    collapsed, lower-cased."""
    text = _SPACE.sub(" ", subject).strip()
    if prefix:
        text = case_tag_pattern(prefix).sub(" ", text)
    text = _TICKET_TAG.sub(" ", text)
    while True:
        before = text
        text = _FWD_TRAILER.sub("", text).strip()
        text = _PREFIX.sub("", text)
        stripped = _BLOB.sub("", text)
        if stripped.strip():
            text = stripped
        wrapped = _FWD_WRAPPED.match(text.strip())
        if wrapped:
            text = wrapped.group(1)
        text = text.strip()
        if text == before:
            break
    return _SPACE.sub(" ", text).strip().lower()[:255]


def is_reply_subject(subject: str, prefix: str = "") -> bool:
    """Does the subject carry a reply or forward marker (after any list or case tags)?"""
    text = case_tag_pattern(prefix).sub(" ", subject) if prefix else subject
    text = _TICKET_TAG.sub(" ", text)
    for _ in range(20):
        stripped = _BLOB.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return bool(_PREFIX.match(text) or _FWD_TRAILER.search(text))


def conversation_id(parsed: ParsedMessage) -> str | None:
    """Outlook's Thread-Index: base64, its first 22 bytes (a FILETIME and a GUID) name the
    conversation; replies append 5-byte blocks."""
    value = parsed.header("thread-index").strip()
    if not value:
        return None
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw[:CONVERSATION_BYTES].hex() if len(raw) >= CONVERSATION_BYTES else None


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


def reference_chain(parsed: ParsedMessage) -> list[str]:
    """The ids stored in ``message_references`` (the same list the pipeline writes)."""
    return list(dict.fromkeys([*parsed.in_reply_to, *parsed.references]))[:200]


def thread_keys(parsed: ParsedMessage, prefix: str, signed_ref: SignedRef, *,
                inbound: bool = True, received_at: datetime | None = None) -> ThreadKeys:
    found = ancestors(parsed)
    own = [parsed.message_id] if parsed.message_id else []
    signed = []
    for mid in dict.fromkeys([*own, *(m for m, _ in found)]):
        ref = signed_ref(mid)
        if ref:
            signed.append((mid, ref))
    return ThreadKeys(
        message_id=parsed.message_id, ancestors=tuple(found),
        chain=tuple(reference_chain(parsed)), signed=tuple(signed),
        conversation=conversation_id(parsed), norm_subject=normalise_subject(parsed.subject,
                                                                             prefix),
        tags=subject_tags(parsed.subject, prefix), tagged_ref=tagged_ref(parsed, prefix),
        sender=parsed.from_addr, inbound=inbound, when=parsed.date or received_at,
        is_reply=bool(parsed.in_reply_to or parsed.references)
        or is_reply_subject(parsed.subject, prefix),
        recipients=frozenset(a.addr.lower() for a in (*parsed.to, *parsed.cc) if a.addr))


@dataclass(frozen=True)
class ThreadingRules:
    """The configured knobs of the fallbacks (from ``[threading]``)."""

    prefix: str = "CASE"
    free_mail_domains: Collection[str] = ()
    generic_subjects: Collection[str] = ()
    subject_window_days: float = 14.0
    own_addresses: Collection[str] = ()


def decide_thread(keys: ThreadKeys, index: ThreadIndex, rules: ThreadingRules,
                 bounced_message_id: str | None = None) -> ThreadDecision:
    """The case ``keys`` joins. A Message-ID is chosen by whoever sends the message, so the rules
    that link by one the sender supplies (rules 2-4 and 7) join only a case the sender takes part
    in; a stranger's message gets a new case linked to the one it pointed at, like a stranger's
    case tag (rule 8)."""
    decision, follow_up = _by_identity(keys, index, rules)
    replies = index.referencing_cases(keys.message_id)
    if len(replies) > MAX_REHOMED_CASES:
        replies = []  # answered in many separate cases: a mass mailing, not one conversation
    joinable = [c for c in replies if _may_join(index, c, keys, rules)]
    if decision is None and joinable:
        decision = ThreadDecision(joinable[0], "referenced-by", keys.message_id or "")
    if follow_up is None and replies and not joinable:
        follow_up = (replies[0], keys.message_id or "")
    if decision is not None:
        # A parent arriving after its replies gathers the cases opened only for them (never
        # a stranger's parent: that would move a customer's replies into the stranger's case).
        orphans = tuple(c for c in joinable if c != decision.case
                        and index.is_orphan_case(c, keys.message_id or ""))
        if orphans:
            return ThreadDecision(decision.case, decision.rule, decision.key,
                                  merge_orphans=orphans)
        return decision
    for mid, _ in keys.ancestors:
        for case in index.referencing_cases(mid):
            if _is_participant(index, case, keys.sender, rules.free_mail_domains):
                return ThreadDecision(case, "shared-reference", mid)
    if bounced_message_id and bounced_message_id in index.case_by_message_id:
        case = index.resolve(index.case_by_message_id[bounced_message_id])
        # A delivery report returns our own mail; any other "bounce" is a stranger's claim.
        if bounced_message_id in index.sent_by_us or _may_join(index, case, keys, rules):
            return ThreadDecision(case, "bounce-of", bounced_message_id)
        follow_up = follow_up or (case, bounced_message_id)
    if keys.conversation and keys.conversation in index.case_by_conversation:
        case = index.resolve(index.case_by_conversation[keys.conversation])
        if _may_join(index, case, keys, rules):
            return ThreadDecision(case, "thread-index", keys.conversation)
        follow_up = follow_up or (case, keys.conversation)
    if keys.tagged_ref and keys.tagged_ref in index.case_by_ref:
        case = index.resolve(index.case_by_ref[keys.tagged_ref])
        if _is_participant(index, case, keys.sender, rules.free_mail_domains):
            return ThreadDecision(case, "case-tag", keys.tagged_ref)
        return ThreadDecision(None, "new-case", keys.tagged_ref,
                              possible_follow_up_of=keys.tagged_ref, follow_up_case=case)
    by_subject = _by_subject(keys, index, rules)
    if by_subject is not None:
        return by_subject
    if follow_up is not None:
        case, key = follow_up
        return ThreadDecision(None, "new-case", key, possible_follow_up_of=index.refs.get(case),
                              follow_up_case=case)
    return ThreadDecision(None, "new-case")


def _by_identity(keys: ThreadKeys, index: ThreadIndex, rules: ThreadingRules
                 ) -> tuple[ThreadDecision | None, tuple[CaseKey, str] | None]:
    """Rules 1-3: what the message's own ids and its ancestors' ids say; and, when they name
    only cases the sender takes no part in, the first of them (case, id) for a follow-up link.

    Our signed token joins whoever sends it: it proves the sender saw our mail."""
    for _, ref in keys.signed:
        if ref in index.case_by_ref:
            return ThreadDecision(index.resolve(index.case_by_ref[ref]), "signed-reference",
                                  ref), None
    follow_up: tuple[CaseKey, str] | None = None
    found = [(keys.message_id, "same-message-id")] if keys.message_id else []
    for mid, rule in [*found, *keys.ancestors]:
        if mid in index.case_by_message_id:
            case = index.resolve(index.case_by_message_id[mid])
            if _may_join(index, case, keys, rules):
                return ThreadDecision(case, rule, mid), None
            follow_up = follow_up or (case, mid)
    return None, follow_up


def subject_is_specific(norm_subject: str, generic_subjects: Collection[str]) -> bool:
    return len(norm_subject) >= MIN_SUBJECT_CHARS and norm_subject not in generic_subjects


def _by_subject(keys: ThreadKeys, index: ThreadIndex,
                rules: ThreadingRules) -> ThreadDecision | None:
    if (not rules.subject_window_days or not keys.inbound or not keys.sender
            or not keys.is_reply or keys.sender in rules.own_addresses
            or not subject_is_specific(keys.norm_subject, rules.generic_subjects)):
        return None
    window = timedelta(days=rules.subject_window_days)
    best: SubjectSeen | None = None
    for seen in index.by_subject.get((keys.norm_subject, keys.sender), ()):
        if keys.when is None or seen.when is None or abs(keys.when - seen.when) > window:
            continue
        if keys.tags and seen.tags and not keys.tags & seen.tags:
            continue  # two different tickets that happen to share a subject
        if best is None or best.when is None or seen.when >= best.when:
            best = seen
    if best is None:
        return None
    return ThreadDecision(index.resolve(best.case), "subject", keys.norm_subject)


def _may_join(index: ThreadIndex, case: CaseKey, keys: ThreadKeys,
              rules: ThreadingRules) -> bool:
    """May a message that names ``case`` by a Message-ID join it? Our own outbound copies
    always; inbound mail only from someone who takes part in the case."""
    return not keys.inbound or _is_participant(index, case, keys.sender,
                                               rules.free_mail_domains)


def _is_participant(index: ThreadIndex, case: CaseKey, sender: str,
                    free_mail_domains: Collection[str]) -> bool:
    """The sender wrote or received (To/Cc) a message of the case, or writes from the
    customer's own domain (a colleague) or from ours (staff answering from their own mailbox),
    unless that is a free-mail domain."""
    sender = sender.lower()
    if not sender:
        return False
    if sender in index.participants.get(case, set()) or sender in index.our_addresses:
        return True
    domain = domain_of(sender)
    return (bool(domain) and domain not in free_mail_domains
            and (domain == index.customer_domain.get(case)
                 or domain in index.our_domains))


def load_index(session: Session, batch: Sequence[ThreadKeys], rules: ThreadingRules,
               extra_ids: Iterable[str] = ()) -> ThreadIndex:
    """Everything the database knows that these messages could thread to, in a few queries."""
    index = ThreadIndex()
    own_ids = {k.message_id for k in batch if k.message_id}
    ids = {mid for k in batch for mid, _ in k.ancestors} | own_ids | set(extra_ids)
    index.our_addresses = frozenset(a.lower() for a in rules.own_addresses)
    index.our_domains = frozenset(domain_of(a) for a in index.our_addresses) - frozenset(
        rules.free_mail_domains)
    for chunk in _chunks(sorted(ids)):
        for message_id, case_id, direction, sender in session.execute(
                select(Message.message_id, Message.case_id, Message.direction,
                       Message.from_addr)
                .where(Message.message_id.in_(chunk)).order_by(Message.id)):
            assert message_id is not None  # it matched in_(chunk)
            index.case_by_message_id.setdefault(message_id, case_id)
            if direction == "outbound" or sender.lower() in index.our_addresses:
                index.sent_by_us.add(message_id)
    # Messages already filed that reference one of ours (re-homing) or a missing ancestor of
    # ours (shared ghost parent).
    wanted = sorted((ids - set(extra_ids)) - set(index.case_by_message_id) | own_ids)
    for chunk in _chunks(wanted):
        for ref, case_id in session.execute(
                select(MessageReference.ref, Message.case_id)
                .join(Message, Message.id == MessageReference.message_pk)
                .where(MessageReference.ref.in_(chunk)).order_by(MessageReference.message_pk)):
            index.add_reference(ref, case_id)
    _load_orphan_counts(session, index, own_ids)
    conversations = sorted({k.conversation for k in batch if k.conversation})
    for chunk in _chunks(conversations):
        for conversation, case_id in session.execute(
                select(Message.thread_index, Message.case_id)
                .where(Message.thread_index.in_(chunk)).order_by(Message.id)):
            assert conversation is not None  # it matched in_(chunk)
            index.case_by_conversation.setdefault(conversation, case_id)
    _load_subjects(session, index, batch, rules)
    refs = {ref for k in batch for _, ref in k.signed} | {
        k.tagged_ref for k in batch if k.tagged_ref}
    _load_cases(session, index, refs)
    named = {*index.case_by_message_id.values(), *index.case_by_conversation.values(),
             *(c for cases in index.referenced_by.values() for c in cases)}
    _load_participants(session, index, {index.resolve(c) for c in named}
                       | {index.resolve(c) for c in index.case_by_ref.values()})
    return index


def _load_orphan_counts(session: Session, index: ThreadIndex, own_ids: set[str]) -> None:
    """For cases holding replies to messages of this batch: their size and how many of their
    messages reference that parent, so the threader can tell an orphan case."""
    pairs = {(case, mid) for mid in own_ids for case in index.referenced_by.get(mid, ())}
    if not pairs:
        return
    cases = sorted({case for case, _ in pairs if isinstance(case, int)})  # all loaded ids
    for case_id, size in session.execute(
            select(Message.case_id, func.count()).where(Message.case_id.in_(cases))
            .group_by(Message.case_id)):
        index.case_size[case_id] = size
    parents = sorted({mid for _, mid in pairs})
    for case_id, ref, count in session.execute(
            select(Message.case_id, MessageReference.ref,
                   func.count(func.distinct(MessageReference.message_pk)))
            .join(Message, Message.id == MessageReference.message_pk)
            .where(Message.case_id.in_(cases), MessageReference.ref.in_(parents))
            .group_by(Message.case_id, MessageReference.ref)):
        index.referencing[(case_id, ref)] = count
    index.pinned |= set(session.scalars(
        select(CaseLink.case_id).where(CaseLink.case_id.in_(cases),
                                       CaseLink.kind == "split-from")))
    index.pinned |= set(session.scalars(
        select(Case.id).where(Case.id.in_(cases), Case.merged_into_id.is_not(None))))


def _load_subjects(session: Session, index: ThreadIndex, batch: Sequence[ThreadKeys],
                   rules: ThreadingRules) -> None:
    if not rules.subject_window_days:
        return
    wanted = {(k.norm_subject, k.sender) for k in batch if k.inbound and k.sender and k.is_reply
              and subject_is_specific(k.norm_subject, rules.generic_subjects)}
    if not wanted:
        return
    subjects = sorted({s for s, _ in wanted})
    senders = sorted({s for _, s in wanted})
    for chunk in _chunks(subjects):
        for norm, sender, case_id, date, filed_at, subject in session.execute(
                select(Message.norm_subject, Message.from_addr, Message.case_id, Message.date,
                       Message.filed_at, Message.subject)
                .where(Message.norm_subject.in_(chunk), Message.from_addr.in_(senders),
                       Message.direction == "inbound").order_by(Message.id)):
            if (norm, sender) in wanted:
                index.by_subject[(norm, sender)].append(SubjectSeen(
                    date or filed_at, case_id, subject_tags(subject, rules.prefix)))


def _load_cases(session: Session, index: ThreadIndex, refs: set[str]) -> None:
    """Cases named by signed ids or tags (followed to the survivor of a merge), their customer
    domain and participants."""
    if not refs:
        return
    merged_into: dict[int, int] = {}
    for case_id, ref, domain, into in session.execute(
            select(Case.id, Case.ref, Case.customer_domain, Case.merged_into_id)
            .where(Case.ref.in_(sorted(refs)))):
        index.case_by_ref[ref] = case_id
        index.customer_domain[case_id] = domain
        if into is not None:
            merged_into[case_id] = into
    pending = set(merged_into.values()) - set(index.customer_domain)
    for _ in range(10):  # chains of merges are short; bounded to be safe
        if not pending:
            break
        found = session.execute(select(Case.id, Case.customer_domain, Case.merged_into_id)
                                .where(Case.id.in_(sorted(pending)))).all()
        pending = set()
        for case_id, domain, into in found:
            index.customer_domain[case_id] = domain
            if into is not None:
                merged_into[case_id] = into
                pending.add(into)
        pending -= set(index.customer_domain)
    index.merged.update(merged_into.items())


def _load_participants(session: Session, index: ThreadIndex, cases: set[CaseKey]) -> None:
    """For the cases a batch names: reference, customer domain, and who took part (senders
    and To/Cc of their messages), so the threader can tell a participant from a stranger."""
    wanted = sorted(c for c in cases if isinstance(c, int))
    for chunk in _chunks(wanted):
        for case_id, ref, domain in session.execute(
                select(Case.id, Case.ref, Case.customer_domain).where(Case.id.in_(chunk))):
            index.refs[case_id] = ref
            index.customer_domain.setdefault(case_id, domain)
        for case_id, sender, to, cc in session.execute(
                select(Message.case_id, Message.from_addr, Message.to_addrs, Message.cc_addrs)
                .where(Message.case_id.in_(chunk))):
            people = index.participants.setdefault(case_id, set())
            people.update(a.lower() for a in (sender, *(to or ()), *(cc or ())) if a)


def _chunks(items: Sequence[_T]) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), _QUERY_CHUNK):
        yield items[start:start + _QUERY_CHUNK]
