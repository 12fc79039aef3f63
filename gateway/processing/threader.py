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
   organisational domain or ours); a stranger's message gets a new case linked as a possible
   follow-up in the same way. A bounce joins freely only when it returns our own outbound mail.
9. ``foreign-tag``: a case tag of an earlier system (``threading.foreign_tags``: ``[KPS-31207]``,
   ``[Ticket#4471]``, ``(Case 12345)``) that is an alias of exactly one case. A tag becomes an
   alias when it is in the subject of a message threaded by rules 1-8 except ``bounce-of``, or
   of a message that opened the case; a tag naming two cases names neither. Only a participant
   joins by it (as for rule 8); a stranger's message gets a new case linked as a possible
   follow-up. A known alias is also found without its brackets (``VTR 2211``, ``Ref. VTR-2211``),
   but only a bracketed tag makes one.
10. ``subject``: for a message that says it is a reply or forward (a ``Re:``/``AW:``/
   ``Automatische Antwort:``... prefix, classifiers/subjects.py, or references we do not have),
   the normalised subject (prefixes and case tags stripped) of an inbound message from the same
   correspondent, or to a case the sender was in From/To/Cc of, or from a colleague of the
   customer's organisation who sends or copies it to a customer-side participant, within
   ``threading.subject_window_days``; never for generic or very short subjects, and never when
   the words name two cases (which one a stripped reply answers would be a guess). A fresh mail
   that merely repeats a subject (the weekly "Call-off framework order 4711") opens its own case.
11. ``new-case``.

Message-IDs are chosen by senders, so they only ever *join* threads; they never address the
archive (that is what sha256 is for). The decision itself is a pure function of a
:class:`ThreadIndex`, which is loaded for a whole batch with a few queries and then updated in
memory as each message of the batch is filed, so replies within one batch thread correctly.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property, lru_cache
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from classifiers.subjects import MARKER, strip_automatic
from gateway.config import DEFAULT_FOREIGN_TAGS
from gateway.core.domains import organisational_domain
from gateway.db.models import Case, CaseAlias, CaseLink, Message, MessageReference
from gateway.processing.parsing import ParsedMessage

MAX_REFERENCES = 100
MIN_SUBJECT_CHARS = 8
MAX_REHOMED_CASES = 5
CONVERSATION_BYTES = 22
_QUERY_CHUNK = 500

_T = TypeVar("_T")
CaseKey = Hashable  # an existing case's id, or a case opened earlier in the same batch
SignedRef = Callable[[str], "str | None"]

# Reply and forward markers of every supported language, with counters ("RE[2]:", "Re^2:",
# "AW(3):"), stripped repeatedly from the start (classifiers/subjects.py, the one list); RFC
# 5256 base subject rules besides.
_PREFIX = MARKER
_BLOB = re.compile(r"^\s*\[[^\[\]]*\]\s*")
# What a recipient's mail gateway writes before the subject of mail from outside or of
# suspected spam ("*EXTERNAL*", "EXT:", "(Extern)"; "[EXTERNAL]" is a list-like blob): the
# customer's reply to our mail carries it, our copy of the conversation does not.
_BANNER_WORDS = r"(?:external|extern|externe|externo|esterno|externt|ekstern|ext|spam)"
_BANNER = re.compile(rf"^\s*(?:\*+\s*{_BANNER_WORDS}\s*\*+|\(\s*{_BANNER_WORDS}\s*\)"
                     rf"|{_BANNER_WORDS}\s*:)\s*", re.IGNORECASE)
_FWD_TRAILER = re.compile(r"\s*\((?:fwd?)\)\s*$", re.IGNORECASE)
_FWD_WRAPPED = re.compile(r"^\[(?:fwd?):\s*(.*)\]$", re.IGNORECASE)
_TAG_JOINT = re.compile(r"\s*([-#])\s*")
_SPACE = re.compile(r"\s+")
# A tag a customer rewrote: "VTR-2211", "VTR 2211", "Ticket#4471", "(Ref. VTR2211)"; a word
# and a number of at least three digits.
_BARE_TAG = re.compile(r"(?<![\w.-])([^\W\d_][^\W_]{1,15}?)\s?([-#:\s])?\s?(\d{3,20})(?![\w.-])")


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
    foreign: frozenset[str] = frozenset()  # case tags of earlier systems, as tag_key() gives
    # Tag-shaped words without their brackets ("VTR-2211", "Ticket 4471"), in every form a
    # tag_key() may have: they look up a known alias, never make one.
    bare: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ThreadDecision:
    case: CaseKey | None  # None: open a new case
    rule: str
    key: str = ""
    possible_follow_up_of: str | None = None
    follow_up_case: CaseKey | None = None  # the tagged case a stranger's new case is linked to
    merge_orphans: tuple[CaseKey, ...] = ()  # cases holding only replies to this message

    @property
    def opens_case(self) -> bool:
        """A new case of its own, not a stranger's mail pointing at someone else's case."""
        return self.case is None and self.follow_up_case is None


@dataclass(frozen=True)
class SubjectSeen:
    when: datetime | None
    case: CaseKey
    tags: frozenset[str]
    sender: str = ""


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
    # Normalised subject -> inbound messages that had it (who sent them, when, in which case).
    by_subject: dict[str, list[SubjectSeen]] = field(default_factory=lambda: defaultdict(list))
    # A tag of an earlier system -> the cases it names (more than one: it names none).
    case_by_alias: dict[str, list[CaseKey]] = field(default_factory=dict)
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

    def file(self, keys: ThreadKeys, case: CaseKey, customer_domain: str = "",
             aliases: Iterable[str] = ()) -> None:
        """Remember a message just filed, so later messages of the batch can join it."""
        for tag in aliases:
            self.add_alias(tag, case)
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
            self.by_subject[keys.norm_subject].append(
                SubjectSeen(keys.when, case, keys.tags, keys.sender))

    def add_alias(self, tag: str, case: CaseKey) -> None:
        cases = self.case_by_alias.setdefault(tag, [])
        if case not in cases:
            cases.append(case)

    def alias_case(self, tag: str) -> CaseKey | None:
        """The one (surviving) case a foreign tag names; None when it names none or several."""
        cases = {self.resolve(c) for c in self.case_by_alias.get(tag, ())}
        return cases.pop() if len(cases) == 1 else None

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


ForeignPatterns = tuple[re.Pattern[str], ...]


@lru_cache(maxsize=16)
def foreign_tag_patterns(patterns: tuple[str, ...] = DEFAULT_FOREIGN_TAGS) -> ForeignPatterns:
    """The configured tag shapes of earlier systems, matched case-insensitively."""
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


DEFAULT_FOREIGN = foreign_tag_patterns()


def tag_key(text: str) -> str:
    """A foreign tag as stored and compared: ``[ kps - 31207 ]`` -> ``KPS-31207``,
    ``[Ticket# 42]`` -> ``TICKET#42``, ``(case 12345)`` -> ``CASE 12345``."""
    inner = _TAG_JOINT.sub(r"\1", text.strip().strip("[]()").strip())
    return _SPACE.sub(" ", inner).upper()[:128]


def foreign_tags(subject: str, prefix: str = "",
                 patterns: ForeignPatterns = DEFAULT_FOREIGN) -> frozenset[str]:
    """The tags of earlier systems in a subject (never one of ours: ``[PREFIX-n]``)."""
    found = {tag_key(m.group(0)) for pattern in patterns for m in pattern.finditer(subject)}
    ours = f"{prefix.upper()}-" if prefix else None
    return frozenset(t for t in found if not (ours and t.startswith(ours)))


def subject_tags(subject: str, prefix: str,
                 patterns: ForeignPatterns = DEFAULT_FOREIGN) -> frozenset[str]:
    """Case and ticket tags (``[NPC-123]``, ``[Ticket#42]``) normalised for comparison:
    ``NPC-000123``, ``TICKET#42``."""
    ours = {case_ref(prefix, int(n)) for n in case_tag_pattern(prefix).findall(subject)}
    return frozenset(ours | foreign_tags(subject, prefix, patterns))


def bare_tags(subject: str) -> frozenset[str]:
    """Tag-shaped words of a subject as the keys a bracketed tag would have: ``VTR 2211`` ->
    ``VTR-2211``, ``VTR#2211``, ``VTR 2211``. Only looked up among known aliases (a subject
    mentioning ``PO 4711`` names no case unless ``[PO-4711]`` became an alias)."""
    found: set[str] = set()
    for word, _, number in _BARE_TAG.findall(subject[:300]):
        word = word.upper()
        found.update((f"{word}-{number}", f"{word}#{number}", f"{word} {number}",
                      f"{word}: {number}"))
    return frozenset(found)


def _strip_tags(text: str, prefix: str, patterns: ForeignPatterns) -> str:
    if prefix:
        text = case_tag_pattern(prefix).sub(" ", text)
    for pattern in patterns:
        text = pattern.sub(" ", text)
    return text


def normalise_subject(subject: str, prefix: str = "",
                      patterns: ForeignPatterns = DEFAULT_FOREIGN) -> str:
    """The subject a conversation keeps: reply/forward markers (any language, repeated, with
    counters), list and case tags (ours and earlier systems'), ``(fwd)`` trailers stripped
    (RFC 5256 base subject), space collapsed, lower-cased."""
    text = _strip_tags(_SPACE.sub(" ", unicodedata.normalize("NFC", subject)).strip(), prefix,
                       patterns)
    while True:
        before = text
        text = _FWD_TRAILER.sub("", text).strip()
        text = _PREFIX.sub("", strip_automatic(_BANNER.sub("", text)))
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


def is_reply_subject(subject: str, prefix: str = "",
                     patterns: ForeignPatterns = DEFAULT_FOREIGN) -> bool:
    """Does the subject carry a reply or forward marker (after any list or case tags)?"""
    text = _strip_tags(subject, prefix, patterns)
    for _ in range(20):
        stripped = _BANNER.sub("", _BLOB.sub("", text, count=1), count=1)
        if stripped == text:
            break
        text = stripped
    return bool(_PREFIX.match(text) or _FWD_TRAILER.search(text)
                or strip_automatic(text) != text)


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
                inbound: bool = True, received_at: datetime | None = None,
                patterns: ForeignPatterns = DEFAULT_FOREIGN) -> ThreadKeys:
    found = ancestors(parsed)
    own = [parsed.message_id] if parsed.message_id else []
    signed = []
    for mid in dict.fromkeys([*own, *(m for m, _ in found)]):
        ref = signed_ref(mid)
        if ref:
            signed.append((mid, ref))
    foreign = foreign_tags(parsed.subject, prefix, patterns)
    return ThreadKeys(
        message_id=parsed.message_id, ancestors=tuple(found),
        chain=tuple(reference_chain(parsed)), signed=tuple(signed),
        conversation=conversation_id(parsed),
        norm_subject=normalise_subject(parsed.subject, prefix, patterns),
        tags=subject_tags(parsed.subject, prefix, patterns), tagged_ref=tagged_ref(parsed, prefix),
        sender=parsed.from_addr, inbound=inbound, when=parsed.date or received_at,
        is_reply=bool(parsed.in_reply_to or parsed.references)
        or is_reply_subject(parsed.subject, prefix, patterns),
        recipients=frozenset(a.addr.lower() for a in (*parsed.to, *parsed.cc) if a.addr),
        foreign=foreign, bare=bare_tags(parsed.subject) - foreign)


@dataclass(frozen=True)
class ThreadingRules:
    """The configured knobs of the fallbacks (from ``[threading]``)."""

    prefix: str = "CASE"
    free_mail_domains: Collection[str] = ()
    # Platforms sending for many unrelated organisations (helpdesks, procurement networks):
    # like free mail, they name no organisation.
    shared_domains: Collection[str] = ()
    generic_subjects: Collection[str] = ()
    subject_window_days: float = 14.0
    own_addresses: Collection[str] = ()
    foreign_tags: ForeignPatterns = DEFAULT_FOREIGN

    @cached_property
    def no_organisation(self) -> frozenset[str]:
        """Domains whose addresses name no organisation: free mail and shared platforms."""
        return frozenset(self.free_mail_domains) | frozenset(self.shared_domains)


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
            if _is_participant(index, case, keys.sender, rules.no_organisation):
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
        if _is_participant(index, case, keys.sender, rules.no_organisation):
            return ThreadDecision(case, "case-tag", keys.tagged_ref)
        return ThreadDecision(None, "new-case", keys.tagged_ref,
                              possible_follow_up_of=keys.tagged_ref, follow_up_case=case)
    by_alias = _by_foreign_tag(keys, index, rules)
    if by_alias is not None:
        return by_alias
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


def _by_foreign_tag(keys: ThreadKeys, index: ThreadIndex,
                    rules: ThreadingRules) -> ThreadDecision | None:
    """Rule 9: a tag of an earlier system that names exactly one case (an alias). A
    participant joins it; a stranger gets a new case linked as a possible follow-up (for a
    bracketed tag; a tag-shaped word without brackets only lets a participant join)."""
    stranger: tuple[CaseKey, str] | None = None
    for tag in [*sorted(keys.foreign), *sorted(keys.bare)]:
        case = index.alias_case(tag)
        if case is None:
            continue
        if _is_participant(index, case, keys.sender, rules.no_organisation):
            return ThreadDecision(case, "foreign-tag", tag)
        if tag in keys.foreign:  # a bare word in a stranger's subject links nothing
            stranger = stranger or (case, tag)
    if stranger is None:
        return None
    case, tag = stranger
    return ThreadDecision(None, "new-case", tag, possible_follow_up_of=index.refs.get(case),
                          follow_up_case=case)


# The rules whose decision lets a foreign tag in the subject name the case: the message's own
# headers (or our tag) put it there, from someone who takes part in it.
ALIAS_RULES = frozenset({"signed-reference", "same-message-id", "in-reply-to", "references",
                         "referenced-by", "shared-reference", "thread-index", "case-tag"})


def new_aliases(keys: ThreadKeys, decision: ThreadDecision, index: ThreadIndex,
                target: CaseKey) -> tuple[str, ...]:
    """The foreign tags of this message that become aliases of ``target``: when it was threaded
    by a header rule or our tag, or opened the case (never a stranger's follow-up case)."""
    if not keys.foreign or not (decision.opens_case or decision.rule in ALIAS_RULES):
        return ()
    target = index.resolve(target)
    return tuple(sorted(t for t in keys.foreign
                        if target not in {index.resolve(c)
                                          for c in index.case_by_alias.get(t, ())}))


def subject_is_specific(norm_subject: str, generic_subjects: Collection[str]) -> bool:
    return len(norm_subject) >= MIN_SUBJECT_CHARS and norm_subject not in generic_subjects


def _by_subject(keys: ThreadKeys, index: ThreadIndex,
                rules: ThreadingRules) -> ThreadDecision | None:
    if (not rules.subject_window_days or not keys.inbound or not keys.sender
            or not keys.is_reply or keys.sender in rules.own_addresses
            or not subject_is_specific(keys.norm_subject, rules.generic_subjects)):
        return None
    window = timedelta(days=rules.subject_window_days)
    candidates: set[CaseKey] = set()
    sender = keys.sender.lower()
    for seen in index.by_subject.get(keys.norm_subject, ()):
        if keys.when is None or seen.when is None or abs(keys.when - seen.when) > window:
            continue
        case = index.resolve(seen.case)
        if (seen.sender.lower() != sender
                and not _takes_part_in_conversation(index, case, sender)
                and not _copies_a_colleague(index, case, keys, rules)):
            continue
        if keys.tags and seen.tags and not keys.tags & seen.tags:
            continue  # two different tickets that happen to share a subject
        candidates.add(case)
    if len(candidates) != 1:
        # None; or the same words in two of the sender's cases (two orders both titled
        # "Purchase order"): which one a stripped reply answers is a guess, so neither.
        return None
    return ThreadDecision(candidates.pop(), "subject", keys.norm_subject)


def _takes_part_in_conversation(index: ThreadIndex, case: CaseKey, sender: str) -> bool:
    """For the subject rule: the sender wrote, or was in To/Cc of, a message of the case. A
    colleague who never was (the same customer's domain) may have her own case with the same
    words, and so may staff: a subject alone never joins them."""
    return sender in index.participants.get(case, set())


def _copies_a_colleague(index: ThreadIndex, case: CaseKey, keys: ThreadKeys,
                        rules: ThreadingRules) -> bool:
    """For the subject rule: a colleague who takes over (``PD:``, ``Re:`` from the customer's
    own organisation) and sends it to, or copies, someone of that organisation who takes part
    in the case. A colleague writing on her own, with the same words, is not joined."""
    if not _same_customer(index, case, keys.sender, rules.no_organisation):
        return False
    people = index.participants.get(case, set())
    return any(r in people and r not in index.our_addresses
               and _same_customer(index, case, r, rules.no_organisation)
               for r in keys.recipients)


def _same_customer(index: ThreadIndex, case: CaseKey, sender: str,
                   no_organisation: Collection[str]) -> bool:
    """The sender writes from the case customer's organisational domain (RFC 7489 §3.2:
    ``eu.customer.example`` is ``customer.example``), unless that is free mail or a shared
    platform (``acme.zendesk.com`` and ``globex.zendesk.com`` are two customers)."""
    org = _organisation(domain_of(sender), no_organisation)
    return bool(org) and org == _organisation(index.customer_domain.get(case) or "",
                                              no_organisation)


def _organisation(domain: str, no_organisation: Collection[str]) -> str:
    """The organisational domain, or "" for none, a free-mail provider's or a shared
    platform's."""
    if not domain or domain in no_organisation:
        return ""
    org = organisational_domain(domain)
    return "" if org in no_organisation else org


def _may_join(index: ThreadIndex, case: CaseKey, keys: ThreadKeys,
              rules: ThreadingRules) -> bool:
    """May a message that names ``case`` by a Message-ID join it? Our own outbound copies
    always; inbound mail only from someone who takes part in the case."""
    return not keys.inbound or _is_participant(index, case, keys.sender,
                                               rules.no_organisation)


def _is_participant(index: ThreadIndex, case: CaseKey, sender: str,
                    no_organisation: Collection[str]) -> bool:
    """The sender wrote or received (To/Cc) a message of the case, or writes from the
    customer's own domain (a colleague) or from ours (staff answering from their own mailbox),
    unless that is a free-mail domain or a shared platform's."""
    sender = sender.lower()
    if not sender:
        return False
    if sender in index.participants.get(case, set()) or sender in index.our_addresses:
        return True
    return (_same_customer(index, case, sender, no_organisation)
            or _organisation(domain_of(sender), no_organisation) in index.our_domains)


def load_index(session: Session, batch: Sequence[ThreadKeys], rules: ThreadingRules,
               extra_ids: Iterable[str] = ()) -> ThreadIndex:
    """Everything the database knows that these messages could thread to, in a few queries."""
    index = ThreadIndex()
    own_ids = {k.message_id for k in batch if k.message_id}
    ids = {mid for k in batch for mid, _ in k.ancestors} | own_ids | set(extra_ids)
    index.our_addresses = frozenset(a.lower() for a in rules.own_addresses)
    index.our_domains = frozenset(_organisation(domain_of(a), rules.no_organisation)
                                  for a in index.our_addresses) - {""}
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
    _load_aliases(session, index, {t for k in batch for t in (*k.foreign, *k.bare)})
    named = {*index.case_by_message_id.values(), *index.case_by_conversation.values(),
             *(c for cases in index.referenced_by.values() for c in cases),
             *(c for cases in index.case_by_alias.values() for c in cases),
             *(seen.case for seens in index.by_subject.values() for seen in seens)}
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
    wanted = {k.norm_subject for k in batch if k.inbound and k.sender and k.is_reply
              and subject_is_specific(k.norm_subject, rules.generic_subjects)}
    for chunk in _chunks(sorted(wanted)):
        for norm, sender, case_id, date, filed_at, subject in session.execute(
                select(Message.norm_subject, Message.from_addr, Message.case_id, Message.date,
                       Message.filed_at, Message.subject)
                .where(Message.norm_subject.in_(chunk), Message.direction == "inbound")
                .order_by(Message.id)):
            index.by_subject[norm].append(SubjectSeen(
                date or filed_at, case_id, subject_tags(subject, rules.prefix,
                                                        rules.foreign_tags), sender))


def _load_aliases(session: Session, index: ThreadIndex, tags: set[str]) -> None:
    """The cases the batch's foreign tags name (followed to the survivor of a merge)."""
    merged_into: dict[int, int] = {}
    for chunk in _chunks(sorted(tags)):
        for tag, case_id, into in session.execute(
                select(CaseAlias.tag, CaseAlias.case_id, Case.merged_into_id)
                .join(Case, Case.id == CaseAlias.case_id)
                .where(CaseAlias.tag.in_(chunk)).order_by(CaseAlias.id)):
            index.add_alias(tag, case_id)
            if into is not None:
                merged_into[case_id] = into
    _follow_merges(session, index, merged_into)


def _follow_merges(session: Session, index: ThreadIndex, merged_into: dict[int, int]) -> None:
    """Record ``merged_into`` and the merges of the cases it leads to, with their domains."""
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
    _follow_merges(session, index, merged_into)


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
