"""The processing worker: archived receipts in, messages filed into cases out.

Each receipt goes through five named stages, in this order:

1. **dedupe** (:class:`Dedupe`): bytes already filed for the same alias, by an earlier batch or
   earlier in this one, are a duplicate delivery. First, because a retried delivery then costs
   one indexed lookup and never a parse.
2. **prepare** (:meth:`Processor._prepare_all`): read the archived bytes, parse and classify
   them (pure; a batch's messages all parsed, then all classified); whatever goes wrong
   becomes a :class:`Rejected`, quarantined with its reason.
3. **thread** (:func:`thread_batch`): decide each message's case over an index loaded once for
   the batch (:mod:`gateway.processing.threader`); a message may open a new case or re-home orphans.
4. **write** (:class:`_BatchWriter`): read each message in its case's context, then write the
   cases, messages, events, quarantine entries and receipt statuses with a few bulk statements.
5. **hooks** (:func:`gateway.processing.hooks.run_hooks`): the workflows see the filed messages.
   Last, because hooks observe filed messages only (with their ids and final case), never a
   message that a later stage could still drop.

Stages pass small frozen values (:class:`Duplicate`, :class:`Prepared`, :class:`Rejected`,
:class:`Threaded`, :class:`Filing`) and return their results; nothing a stage received is
changed in place. Only the batch writer accumulates, because ids exist only once it writes.

Receipts are processed in batches: claimed (gateway.processing.claims), prepared outside the
write transaction (stage 2 is most of the cost and needs no database, so worker processes do it
side by side), then stages 1 and 3-5 in the filing turn, all in one SAVEPOINT. If the batch
fails as a whole (a bug, or another node filing the same bytes at the same moment), the
SAVEPOINT is rolled back and the receipts are filed one by one, so one poison message is
quarantined with its reason while the rest commit (Mailman's habit: one try/except per message
at the loop boundary). Everything here is derived from the archived bytes, so it can be re-run
after a crash or a rules upgrade with the same result.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive import Archive, ArchiveReplacedError, BlobNotFoundError, LedgerEntry
from classifiers import Classification, RuleSet
from classifiers.context import CONTEXT_RULES, EMPTY, CaseContext, in_context
from gateway.config import Settings
from gateway.core.clock import utcnow
from gateway.core.errors import ConfigError
from gateway.core.text import without_nul
from gateway.db.bulk import conflict_insert, insert_ids
from gateway.db.event_ledger import KIND as EVENTS_KIND
from gateway.db.event_ledger import note_inserted, void_entry, wait_for_event_writers
from gateway.db.models import (
    Case,
    CaseAlias,
    CaseEvent,
    CaseLink,
    Counter,
    LedgerReceipt,
    Message,
    MessageReference,
    QuarantineEntry,
)
from gateway.db.session import Database
from gateway.processing.automatic import automatic_reason
from gateway.processing.case_context import after_filing, load_contexts
from gateway.processing.case_merge import system_merge
from gateway.processing.claims import Claims, worker_name
from gateway.processing.classification import (
    CLASSIFIED_EVENT,
    classify_parsed,
    needs_person,
    triage_reason,
    with_queue_prior,
)
from gateway.processing.hooks import FiledMessage, Hook, run_hooks
from gateway.processing.parsing import ParsedMessage, parse_message
from gateway.processing.signing import signed_case_ref
from gateway.processing.threader import (
    CaseKey,
    SignedRef,
    ThreadDecision,
    ThreadIndex,
    ThreadingRules,
    ThreadKeys,
    case_ref,
    decide_thread,
    domain_of,
    foreign_tag_patterns,
    load_index,
    new_aliases,
    reference_chain,
    thread_keys,
)

log = logging.getLogger(__name__)
SYSTEM = "system"
CATCH_UP_BATCH = 1000
# The gap scan (missing_seqs) splits a range that is short of receipts rows into this many
# parts, and reads the seqs of a short range of at most GAP_SCAN_LEAF one by one.
GAP_SCAN_FANOUT = 16
GAP_SCAN_LEAF = 4096
SNIPPET_CHARS = 500


@dataclass(frozen=True)
class Outcome:
    seq: int
    status: str  # filed | duplicate | quarantined
    case_ref: str | None = None
    new_case: bool = False
    reason: str = ""


@dataclass(frozen=True)
class FiledEarlier:
    """Bytes an earlier batch filed for the same alias: the message and its case."""

    message_pk: int
    case_id: int
    case_ref: str


@dataclass(frozen=True)
class FiledInBatch:
    """A message filed in this batch, named by its receipt's seq: its id exists once the
    batch writer has written it."""

    seq: int


@dataclass(frozen=True)
class Duplicate:
    """Stage 1's result: these bytes are already filed for the receipt's alias."""

    receipt: LedgerReceipt
    of: FiledEarlier | FiledInBatch


@dataclass(frozen=True)
class Prepared:
    """Stage 2's result: a message parsed and classified, ready to be threaded and filed."""

    receipt: LedgerReceipt
    parsed: ParsedMessage
    classification: Classification


@dataclass(frozen=True)
class Rejected:
    """Stage 2's result for a message that cannot be filed: quarantined with its reason."""

    receipt: LedgerReceipt
    stage: str
    reason: str


@dataclass(frozen=True, eq=False)
class NewCase:
    """A case a message of this batch opens. Compared by identity: it is a key of the thread
    index and of the batch writer until the writer gives it an id and a reference."""

    first_seq: int
    alias: str
    category: str  # the opening message's, before the case's context is read
    subject: str
    customer: str
    rule: str
    possible_follow_up_of: str | None

    @classmethod
    def opened_by(cls, prepared: Prepared, decision: ThreadDecision) -> NewCase:
        parsed = prepared.parsed
        return cls(first_seq=prepared.receipt.seq, alias=prepared.receipt.alias,
                   category=prepared.classification.category, subject=parsed.subject[:1000],
                   customer=parsed.from_addr, rule=decision.rule,
                   possible_follow_up_of=decision.possible_follow_up_of)

    def opened_event(self) -> dict[str, Any]:
        """The data of its ``case_opened`` event."""
        return {"rule": self.rule, "category": self.category, "alias": self.alias,
                "customer": self.customer, "subject": self.subject,
                "possible_follow_up_of": self.possible_follow_up_of}


@dataclass(frozen=True)
class Threaded:
    """Stage 3's result: the case a prepared message joins (an existing case's id, or the
    :class:`NewCase` it or an earlier message of the batch opened) and why."""

    prepared: Prepared
    keys: ThreadKeys
    decision: ThreadDecision
    case: CaseKey
    # Tags of earlier systems on this message that now name the case (threader.new_aliases).
    aliases: tuple[str, ...] = ()

    @property
    def opened(self) -> NewCase | None:
        """The case this message opens, if it opens one."""
        case = self.case
        if isinstance(case, NewCase) and case.first_seq == self.prepared.receipt.seq:
            return case
        return None


@dataclass(frozen=True)
class Filing:
    """Stage 4's record of one message: as read in its case's context, with its messages row
    (all but ``case_id``, which a new case has only once the cases are written)."""

    prepared: Prepared
    case: CaseKey
    opens_case: bool
    row: Mapping[str, Any]
    # Why a machine answered (out-of-office, calendar reply) rather than the customer; "" if not.
    automatic: str = ""

    @property
    def receipt(self) -> LedgerReceipt:
        return self.prepared.receipt


@dataclass(frozen=True)
class _Event:
    """A case event of the batch; its case and message may still be waiting for their ids."""

    case: CaseKey
    message: int | FiledInBatch | None
    kind: str
    data: dict[str, Any]


class Processor:
    def __init__(self, db: Database, archive: Archive, settings: Settings,
                 rules: Callable[[], RuleSet], *, hooks: Sequence[Hook],
                 worker: str | None = None) -> None:
        self.db = db
        self.archive = archive
        self.settings = settings
        self.hooks = tuple(hooks)  # the workflows' on_filed, in order (gateway.bootstrap.HOOKS)
        self._rules_factory = rules
        self._rules: RuleSet | None = None
        # Every seq up to here is known to have its receipts row (rows are never deleted).
        self._complete_through = 0
        self._complete_lock = threading.Lock()
        # Who this worker is in the queue's claims (a daemon's worker process is named by it).
        self.claims = Claims(db, worker or worker_name(),
                             settings.config.worker.lease_seconds)

    @property
    def rules(self) -> RuleSet:
        """Loaded on first use: listing cases or verifying the archive needs no classifier.
        Broken rules raise RulesConfigError, an operator error: like every ConfigError raised
        while filing, it stops processing with the receipts pending (never quarantined)."""
        if self._rules is None:
            self._rules = self._rules_factory()
        return self._rules

    def use_rules(self, rules: RuleSet) -> None:
        """Classify with ``rules`` from the next message on (the daemon's validated SIGHUP
        reload; each message records the rules version it was classified with)."""
        self._rules = rules

    def forget_rules(self) -> None:
        """Read the rules again (from the settings) when next needed: the daemon's own
        processor after a reload whose rules a child process checked."""
        self._rules = None

    # -- the queue ---------------------------------------------------------------------------

    def record(self, entries: Sequence[LedgerEntry]) -> None:
        """Mirror fresh ledger entries into the processing queue (idempotent)."""
        if not entries:
            return
        with self.db.session() as session:
            queue_entries(session, entries)

    def catch_up(self, level: int = logging.DEBUG) -> int:
        """Queue every ledger entry that has no receipts row; the number queued.

        Such entries are left by a crash between the archive write and the database, or by a
        database outage during which intakes went on acknowledging (the ledger is the durable
        record, the receipts table only its mirror). Not a high-water mark: an outage leaves a
        gap *below* entries recorded after it, and the gap is filed too (:func:`missing_seqs`).
        Entries found complete once are not scanned again by this process, so a call costs one
        small range query in normal running. ``level``: how loudly to report a repair (a
        caller that knows an outage happened says WARNING; otherwise the gap may just be a
        batch another thread is recording at this moment).
        """
        head = self.archive.head()
        first = self._complete_through + 1
        if head is None or head.seq < first:
            return 0
        with self.db.session() as session:
            gaps = missing_seqs(session, first, head.seq)
        added = 0
        for low, high in gaps:
            batch: list[LedgerEntry] = []
            for entry in self.archive.entries(after_seq=low - 1, until_seq=high):
                batch.append(entry)
                if len(batch) >= CATCH_UP_BATCH:
                    self._record_caught_up(batch)
                    added += len(batch)
                    batch = []
            self._record_caught_up(batch)
            added += len(batch)
        with self._complete_lock:
            self._complete_through = max(self._complete_through, head.seq)
        if added:
            log.log(level, "queued %d archived entries that had no database row (seq %s)",
                    added, describe_ranges(gaps))
        return added

    def _record_caught_up(self, batch: Sequence[LedgerEntry]) -> None:
        """:meth:`record`, and an ``events`` entry whose row this inserts is voided: its row
        is written in the transaction that wrote its events, so it has none only when that
        transaction never committed (a crash between the ledger write and the commit)."""
        if not any(entry.kind == EVENTS_KIND for entry in batch):
            self.record(batch)
            return
        with self.db.session() as session:
            wait_for_event_writers(session)  # none of them still on its way to commit
            inserted = queue_entries(session, batch, returning=True)
        voided = {entry.envelope.get("void") for entry in batch if entry.kind == EVENTS_KIND}
        for entry in batch:
            if (entry.kind == EVENTS_KIND and entry.seq in inserted
                    and "void" not in entry.envelope and entry.seq not in voided):
                log.warning("ledger seq %d: case events whose transaction never committed "
                            "(a crash before the commit); voided", entry.seq)
                self.record([void_entry(self.archive, entry.seq, "not committed")])

    def backlog(self) -> int:
        with self.db.session() as session:
            return session.scalar(select(func.count()).select_from(LedgerReceipt).where(
                LedgerReceipt.status == "pending")) or 0

    def process_pending(self, limit: int | None = None) -> list[Outcome]:
        """Process pending receipts in ledger order, one committed batch at a time."""
        outcomes: list[Outcome] = []
        batch_size = self.settings.config.worker.batch_size
        while limit is None or len(outcomes) < limit:
            size = batch_size if limit is None else min(batch_size, limit - len(outcomes))
            done = self._process_batch(size)
            if not done:
                break
            outcomes += done
        return outcomes

    def process_batch(self, size: int) -> list[Outcome]:
        """Claim and file one batch of at most ``size`` pending receipts (a worker process
        checks for a stop request between batches)."""
        return self._process_batch(size)

    def retry_quarantined(self) -> list[Outcome]:
        """Send quarantined receipts through the pipeline again (after a fix or a rules change)."""
        with self.db.session() as session:
            seqs = set(session.scalars(
                select(QuarantineEntry.seq).where(QuarantineEntry.resolved_at.is_(None))))
            session.execute(update(LedgerReceipt).where(LedgerReceipt.seq.in_(seqs))
                            .values(status="pending"))
        outcomes = self.process_pending()
        solved = [o.seq for o in outcomes if o.seq in seqs and o.status != "quarantined"]
        with self.db.session() as session:
            session.execute(update(QuarantineEntry).where(QuarantineEntry.seq.in_(solved))
                            .values(resolved_at=utcnow()))
        return outcomes

    # -- batches -----------------------------------------------------------------------------

    def _process_batch(self, size: int) -> list[Outcome]:
        """Claim a batch, prepare its messages outside the filing transaction (the costly,
        pure part, which workers do side by side), then file it in the filing turn
        (gateway.processing.claims)."""
        with self.claims.claim(size) as (batch, turn):
            if not batch.receipts:
                return []
            # Loaded before any message is touched: broken rules are the operator's to fix, so
            # they stop processing (the receipts stay pending) instead of quarantining each one.
            _ = self.rules
            # Bytes filed already are stage 1's duplicates: not worth a parse.
            cache = self._prepare_all([r for r in batch.receipts
                                       if (r.sha256, r.alias) not in batch.filed_before])
            with turn.file() as (session, receipts):
                if not receipts:  # another worker took them over (an expired lease)
                    return []
                try:
                    with session.begin_nested():
                        return self._file_batch(session, receipts, cache)
                except (ConfigError, ArchiveReplacedError):
                    # The operator's (a key file changed since the start), or the archive at
                    # the path is another one now (the process stops): it waits, quarantined
                    # by nobody.
                    raise
                except Exception:
                    if len(receipts) > 1:
                        log.warning("batch of %d failed as a whole; filing one by one",
                                    len(receipts), exc_info=True)
                return [self._process_single(session, receipt, cache) for receipt in receipts]

    def _process_single(self, session: Session, receipt: LedgerReceipt,
                        cache: dict[int, Prepared | Rejected]) -> Outcome:
        for attempt in (1, 2):
            try:
                with session.begin_nested():
                    return self._file_batch(session, [receipt], cache)[0]
            except IntegrityError:
                # Another node filed the same bytes for this alias at the same moment; on the
                # second pass the duplicate check sees its row.
                if attempt == 2:
                    log.exception("receipt %d: integrity conflict twice", receipt.seq)
                    return self._quarantine_now(session, receipt, "filing",
                                                "database conflict while filing")
            except (ConfigError, ArchiveReplacedError):
                raise  # never the message's fault: it stays pending until the fix
            except Exception as exc:
                log.exception("receipt %d could not be processed", receipt.seq)
                return self._quarantine_now(session, receipt, "processing",
                                            f"{type(exc).__name__}: {exc}")
        raise AssertionError("unreachable")

    def _quarantine_now(self, session: Session, receipt: LedgerReceipt, stage: str,
                        reason: str) -> Outcome:
        writer = _BatchWriter(session, self.settings)
        writer.quarantine(Rejected(receipt, stage, reason))
        return writer.flush()[0]

    def _prepare_all(self, receipts: Sequence[LedgerReceipt]) -> dict[int, Prepared | Rejected]:
        """Stage 2 for a claimed batch: every message parsed first, then every one classified.
        The same work as message by message, but the parser's and the classifier's code and
        tables stop evicting each other from the core's cache at every message (callgrind
        counts 1.4x the L2 misses interleaved: ``bench/classify_gap.py``)."""
        parsed = {r.seq: self._parse(r) for r in receipts}
        return {r.seq: self._classify(r, parsed.pop(r.seq)) for r in receipts}

    def _prepare(self, receipt: LedgerReceipt) -> Prepared | Rejected:
        """Parse and classify one message; everything that can go wrong becomes a Rejected."""
        return self._classify(receipt, self._parse(receipt))

    def _parse(self, receipt: LedgerReceipt) -> ParsedMessage | Rejected:
        try:
            raw = self.archive.read(receipt.sha256)
        except BlobNotFoundError as exc:
            return Rejected(receipt, "archive", str(exc))
        parsed = parse_message(raw)
        if not parsed.looks_like_mail:
            return Rejected(receipt, "parse", "not an e-mail message: no header fields "
                            "(From, To, Subject, Date, Message-ID, Received) were found")
        return parsed

    def _classify(self, receipt: LedgerReceipt, parsed: ParsedMessage | Rejected
                  ) -> Prepared | Rejected:
        if isinstance(parsed, Rejected):
            return parsed
        try:
            classification = with_queue_prior(classify_parsed(parsed, self.rules),
                                              self.settings.prior_for(receipt.alias))
        except ConfigError:
            raise
        except Exception as exc:
            log.exception("receipt %d: classifier failed", receipt.seq)
            return Rejected(receipt, "classify",
                            f"classifier failed: {type(exc).__name__}: {exc}")
        return Prepared(receipt, parsed, classification)

    def _file_batch(self, session: Session, receipts: Sequence[LedgerReceipt],
                    cache: dict[int, Prepared | Rejected]) -> list[Outcome]:
        """The five stages over one batch, inside the caller's SAVEPOINT."""
        admitted = self._admit(session, receipts, cache)
        ready = [a for a in admitted if isinstance(a, Prepared)]
        threaded = thread_batch(session, ready, self.threading_rules, self._signed_ref)
        writer = _BatchWriter(session, self.settings)
        outcomes = writer.write([a for a in admitted if not isinstance(a, Prepared)], threaded)
        run_hooks(self.hooks, session, self.settings, writer.filed())
        return outcomes

    def _admit(self, session: Session, receipts: Sequence[LedgerReceipt],
               cache: dict[int, Prepared | Rejected]) -> list[Duplicate | Prepared | Rejected]:
        """Stages 1 and 2 for each receipt, in ledger order. ``cache`` keeps what was prepared,
        so a batch refiled one by one does not parse and classify its messages twice."""
        dedupe = Dedupe(session, receipts)
        admitted: list[Duplicate | Prepared | Rejected] = []
        for receipt in receipts:
            duplicate = dedupe(receipt)
            if duplicate is not None:
                admitted.append(duplicate)
                continue
            if receipt.seq not in cache:
                cache[receipt.seq] = self._prepare(receipt)
            prepared = cache[receipt.seq]
            if isinstance(prepared, Prepared):
                dedupe.admit(prepared)
            admitted.append(prepared)
        return admitted

    @property
    def threading_rules(self) -> ThreadingRules:
        config = self.settings.config
        return ThreadingRules(
            prefix=config.case_prefix,
            free_mail_domains=frozenset(d.lower() for d in config.threading.free_mail_domains),
            shared_domains=frozenset(d.lower() for d in config.threading.shared_domains),
            generic_subjects=frozenset(s.strip().lower()
                                       for s in config.threading.generic_subjects),
            subject_window_days=config.threading.subject_window_days,
            own_addresses=frozenset(self.settings.alias_addresses),
            foreign_tags=foreign_tag_patterns(tuple(config.threading.foreign_tags)))

    def _signed_ref(self, message_id: str) -> str | None:
        return signed_case_ref(self.settings, message_id)


# -- stage 1: dedupe --------------------------------------------------------------------------


class Dedupe:
    """Stage 1: the same bytes for the same alias are filed once. Later deliveries (a client's
    retry, a second intake, a re-run after a crash) are recorded as duplicates of the first,
    found with one query for the whole batch and before anything is parsed."""

    def __init__(self, session: Session, receipts: Sequence[LedgerReceipt]) -> None:
        self._earlier = _filed_messages(session, receipts)
        self._in_batch: dict[tuple[str, str], FiledInBatch] = {}

    def __call__(self, receipt: LedgerReceipt) -> Duplicate | None:
        key = (receipt.sha256, receipt.alias)
        of = self._earlier.get(key) or self._in_batch.get(key)
        return None if of is None else Duplicate(receipt, of)

    def admit(self, prepared: Prepared) -> None:
        """Later copies of these bytes in the batch are duplicates of this prepared one (a
        copy that failed to prepare is no original: the next copy is prepared in its turn)."""
        receipt = prepared.receipt
        self._in_batch[(receipt.sha256, receipt.alias)] = FiledInBatch(receipt.seq)


def _filed_messages(session: Session, receipts: Sequence[LedgerReceipt]
                    ) -> dict[tuple[str, str], FiledEarlier]:
    """(sha256, alias) -> the message and case of bytes already filed."""
    shas = {r.sha256 for r in receipts}
    rows = session.execute(
        select(Message.sha256, Message.alias, Message.id, Message.case_id, Case.ref)
        .join(Case, Case.id == Message.case_id).where(Message.sha256.in_(shas)))
    return {(sha, alias): FiledEarlier(mid, cid, ref) for sha, alias, mid, cid, ref in rows}


# -- stage 3: thread --------------------------------------------------------------------------


def thread_batch(session: Session, ready: Sequence[Prepared], rules: ThreadingRules,
                 signed: SignedRef) -> list[Threaded]:
    """Stage 3: the case of each prepared message, in ledger order, over one index loaded for
    the batch; each decision is added to the index, so a reply threads to a message filed
    earlier in the same batch."""
    keys = [thread_keys(p.parsed, rules.prefix, signed, inbound=p.receipt.direction == "inbound",
                        received_at=p.receipt.received_at, patterns=rules.foreign_tags)
            for p in ready]
    bounced = [p.classification.bounced_message_id for p in ready
               if p.classification.bounced_message_id]
    index = load_index(session, keys, rules, bounced)
    return [_thread_one(prepared, message_keys, index, rules)
            for prepared, message_keys in zip(ready, keys, strict=True)]


def _thread_one(prepared: Prepared, keys: ThreadKeys, index: ThreadIndex,
                rules: ThreadingRules) -> Threaded:
    decision = decide_thread(keys, index, rules, prepared.classification.bounced_message_id)
    case = decision.case if decision.case is not None else NewCase.opened_by(prepared, decision)
    for orphans in decision.merge_orphans:
        index.merge(orphans, case)
    aliases = new_aliases(keys, decision, index, case)
    index.file(keys, case, domain_of(prepared.parsed.from_addr)
               if decision.case is None else "", aliases)
    return Threaded(prepared, keys, decision, case, aliases)


# -- stage 4: write ---------------------------------------------------------------------------


@dataclass
class _CaseState:
    ref: str
    category: str
    scope_change: bool
    changed: bool = False
    # In the triage queue: a customer's message of it waits for a person.
    needs_triage: bool = False
    # The category is a guess (no confident message of the case says it): a confident rule
    # decision on a later message replaces it, as it replaces "other".
    guessed: bool = False


class _BatchWriter:
    """Stage 4: collects the rows of one batch in memory and writes them with a few bulk
    statements. The one stateful stage: case and message ids exist only once it writes, so
    it keeps what the batch did to each case and fills the ids in as the inserts return them."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.prefix = settings.config.case_prefix
        self.triage_below = settings.config.classifier.triage_below
        self.now = utcnow()
        # Per receipt, in the order recorded: what the receipts row and the Outcome say.
        self.results: list[Duplicate | Rejected | Filing] = []
        self.filings: dict[int, Filing] = {}  # by seq
        self.threaded: list[Threaded] = []  # of the filings, for link_and_merge
        self.new_cases: list[NewCase] = []
        self.cases: dict[CaseKey, _CaseState] = {}
        self.events: list[_Event] = []
        self.case_ids: dict[NewCase, int] = {}
        self.message_ids: dict[int, int] = {}  # seq -> id, of the messages filed here
        self.merged_into: dict[int, int] = {}
        # What each case holds, for the messages of this batch that the context may move
        # (classifiers.context); grows as the batch files into the case.
        self.contexts: dict[CaseKey, CaseContext] = {}

    def write(self, settled: Sequence[Duplicate | Rejected],
              threaded: Sequence[Threaded]) -> list[Outcome]:
        """Record the receipts settled before threading, file the threaded messages, write
        it all; one :class:`Outcome` per receipt, in ledger order."""
        for result in settled:
            if isinstance(result, Duplicate):
                self.duplicate(result)
            else:
                self.quarantine(result)
        self.load_cases([t.case for t in threaded if isinstance(t.case, int)])
        self.load_contexts([t.case for t in threaded
                            if isinstance(t.case, int) and reads_context(t.prepared)])
        for message in threaded:
            self.file(message)
        outcomes = self.flush()
        self.link_and_merge()
        return outcomes

    # -- collecting --------------------------------------------------------------------------

    def duplicate(self, duplicate: Duplicate) -> None:
        self.results.append(duplicate)
        if isinstance(duplicate.of, FiledEarlier):
            self.events.append(_Event(duplicate.of.case_id, duplicate.of.message_pk,
                                      "duplicate_delivery", _duplicate_data(duplicate.receipt)))

    def quarantine(self, rejected: Rejected) -> None:
        self.results.append(rejected)

    def load_contexts(self, ids: list[int]) -> None:
        wanted = [i for i in set(ids) if i not in self.contexts]
        if wanted:
            for case_id, context in load_contexts(self.session, wanted,
                                                  self.triage_below).items():
                self.contexts[case_id] = context

    def load_cases(self, ids: list[int]) -> None:
        wanted = [i for i in set(ids) if i not in self.cases or not self.cases[i].category]
        if wanted:
            waiting = (select(Message.id).where(
                Message.case_id == Case.id, Message.needs_triage.is_(True)).exists())
            # A confident message of the case's category, or a person's word, makes it no guess.
            supported = or_(select(Message.id).where(
                Message.case_id == Case.id, Message.direction == "inbound",
                Message.needs_triage.is_(False), Message.category == Case.category).exists(),
                select(CaseEvent.id).where(CaseEvent.case_id == Case.id,
                                           CaseEvent.kind == CLASSIFIED_EVENT).exists())
            for cid, ref, category, scope, triage, confirmed in self.session.execute(
                    select(Case.id, Case.ref, Case.category, Case.scope_change,
                           waiting, supported).where(Case.id.in_(wanted))):
                self.cases[cid] = _CaseState(ref, category, scope, needs_triage=triage,
                                             guessed=triage and not confirmed)

    def file(self, threaded: Threaded) -> None:
        """File one message into its case: its row and the events it causes."""
        opened = threaded.opened
        if opened is not None:
            self._open(opened)
            self.events.append(_Event(opened, None, "case_opened", opened.opened_event()))
        filing = self._filing(threaded)
        self.cases[filing.case].changed = True
        self.events += self._message_events(threaded, filing)
        # Our own outbound mail is on record, but what *we* wrote never flags a scope change
        # or re-categorises the customer's case; nor does a machine answering for them.
        if filing.receipt.direction != "outbound" and not filing.automatic:
            self._customer_signals(filing)
        self.results.append(filing)
        self.filings[filing.receipt.seq] = filing
        self.threaded.append(threaded)

    def _filing(self, threaded: Threaded) -> Filing:
        prepared = self._read_in_context(threaded.prepared, threaded.case)
        receipt, classification = prepared.receipt, prepared.classification
        inbound = receipt.direction != "outbound"
        opens_case = threaded.opened is not None
        # An out-of-office or calendar answer joining a case is no word of the customer: it
        # neither re-categorises the case nor waits for a person (the lifecycle does not
        # reopen for it either).
        automatic = (automatic_reason(prepared.parsed, classification.bounced_message_id)
                     if inbound and not opens_case else "")
        row = _message_row(receipt, prepared.parsed, classification, threaded.decision) | {
            "thread_index": threaded.keys.conversation,
            "norm_subject": threaded.keys.norm_subject,
            "needs_triage": inbound and not automatic and needs_person(classification,
                                                                       self.triage_below)}
        return Filing(prepared, threaded.case, opens_case, row, automatic)

    def _message_events(self, threaded: Threaded, filing: Filing) -> list[_Event]:
        receipt, decision = filing.receipt, threaded.decision
        classification = filing.prepared.classification
        message = FiledInBatch(receipt.seq)
        threaded_data: dict[str, Any] = {"rule": decision.rule, "key": decision.key,
                                         "seq": receipt.seq, "sha256": receipt.sha256}
        if threaded.aliases:  # the tags of earlier systems this message made names of the case
            threaded_data["aliases"] = list(threaded.aliases)
        return [
            _Event(filing.case, message, "message_threaded", threaded_data),
            _Event(filing.case, message, "message_classified", {
                "category": classification.category,
                "scope_change": classification.scope_change,
                "confidence": classification.confidence,
                "decided_by": classification.decided_by,
                "needs_triage": filing.row["needs_triage"],
                "rules": sorted({e.rule_id for e in classification.evidence}),
                "rules_version": classification.rules_version,
                "defects": list(filing.prepared.parsed.defects)}
                | _context_note(threaded.prepared.classification, classification)
                | ({"automatic": filing.automatic} if filing.automatic else {}))]

    def _open(self, case: NewCase) -> None:
        self.new_cases.append(case)
        self.cases[case] = _CaseState("", case.category, False)
        self.contexts[case] = EMPTY

    def _read_in_context(self, prepared: Prepared, case: CaseKey) -> Prepared:
        """The message as what the case already holds reads it (an order's change is no new
        order); what the case holds then includes it. Our own outbound mail adds its
        identifiers (a quote we sent) but is never moved."""
        if case not in self.contexts:
            return prepared  # no message of this batch in the case can be moved (reads_context)
        inbound = prepared.receipt.direction != "outbound"
        context = self.contexts[case]
        read = in_context(prepared.classification, context) if inbound \
            else prepared.classification
        self.contexts[case] = after_filing(context, read, inbound=inbound,
                                           triage_below=self.triage_below)
        return prepared if read is prepared.classification \
            else replace(prepared, classification=read)

    def _customer_signals(self, filing: Filing) -> None:
        case, classification = filing.case, filing.prepared.classification
        message = FiledInBatch(filing.receipt.seq)
        state = self.cases[case]
        if classification.scope_change:
            self.events.append(_Event(case, message, "scope_change_flagged",
                                      {"evidence": filing.row["evidence"]}))
            state.scope_change = True
        triage = filing.row["needs_triage"]
        if filing.opens_case:
            state.guessed = triage
        elif ((state.category == "other" or (state.guessed and not triage))
              and classification.category not in ("other", state.category)):
            self.events.append(_Event(case, message, "category_changed",
                                      {"from": state.category, "to": classification.category}))
            state.category = classification.category
            state.guessed = triage
        elif not triage and classification.category == state.category:
            state.guessed = False
        if triage and not state.needs_triage:
            state.needs_triage = True
            self.events.append(_Event(case, message, "triage_needed", {
                "reason": triage_reason(classification, self.triage_below),
                "category": state.category}))

    # -- writing -----------------------------------------------------------------------------

    def flush(self) -> list[Outcome]:
        self._insert_cases()
        self._insert_messages()
        self._insert_events()
        self._update_cases()
        self._write_quarantine()
        self.session.execute(update(LedgerReceipt), [
            {"seq": result.receipt.seq, "status": _status(result),
             "message_pk": self._message_pk(result), "processed_at": self.now}
            for result in self.results])
        return sorted((self._outcome(result) for result in self.results), key=lambda o: o.seq)

    def link_and_merge(self) -> None:
        """After :meth:`flush`: link strangers' new cases to the case they tagged, and merge
        orphan cases into the case their late parent joined (both rare, so ORM-level)."""
        follow_ups = [t for t in self.threaded if t.decision.follow_up_case is not None]
        if follow_ups:
            refs = {}
            for threaded in follow_ups:
                new_id = self._case_id(threaded.case)
                tagged_id = self._case_id(threaded.decision.follow_up_case)
                self.session.add(CaseLink(case_id=new_id, other_case_id=tagged_id,
                                          kind="possible-follow-up", created_at=self.now,
                                          actor=SYSTEM))
                refs[tagged_id] = self.cases[threaded.case].ref
            self.session.flush()
            for tagged_id, new_ref in refs.items():
                self.session.add(CaseEvent(case_id=tagged_id, at=self.now, actor=SYSTEM,
                                           kind="possible_follow_up",
                                           data={"case": new_ref}))
        for threaded in self.threaded:
            for orphans in threaded.decision.merge_orphans:
                source_id, target_id = self._case_id(orphans), self._case_id(threaded.case)
                while target_id in self.merged_into:
                    target_id = self.merged_into[target_id]
                parent_id = threaded.keys.message_id or ""
                system_merge(self.session, source_id, target_id,
                             f"replies to <{parent_id}> joined the case of their parent")
                self.merged_into[source_id] = target_id
        self.session.flush()

    def filed(self) -> list[FiledMessage]:
        """Stage 5's input: the messages this batch filed (after :meth:`write`); a message
        whose case was merged away in this batch is reported in the surviving case."""
        result = []
        refs = {self._case_id(key): state.ref for key, state in self.cases.items()}
        for filing in self.filings.values():
            receipt = filing.receipt
            case_id, new_case = self._case_id(filing.case), filing.opens_case
            while case_id in self.merged_into:
                case_id, new_case = self.merged_into[case_id], False
            result.append(FiledMessage(
                message_pk=self.message_ids[receipt.seq], case_id=case_id,
                case_ref=refs.get(case_id) or self._load_ref(case_id),
                new_case=new_case,
                seq=receipt.seq, sha256=receipt.sha256, alias=receipt.alias,
                direction=receipt.direction, parsed=filing.prepared.parsed,
                classification=filing.prepared.classification))
        return result

    def _load_ref(self, case_id: int) -> str:
        return self.session.scalar(select(Case.ref).where(Case.id == case_id)) or ""

    def _insert_cases(self) -> None:
        if not self.new_cases:
            return
        last = self.session.execute(
            update(Counter).where(Counter.name == "case")
            .values(value=Counter.value + len(self.new_cases)).returning(Counter.value)
        ).scalar_one()
        first_number = last - len(self.new_cases) + 1
        for number, case in enumerate(self.new_cases, start=first_number):
            self.cases[case].ref = case_ref(self.prefix, number)
        ids = insert_ids(self.session, Case.id,
                         [without_nul(self._case_row(c)) for c in self.new_cases])
        for case, case_id in zip(self.new_cases, ids, strict=True):
            self.case_ids[case] = case_id

    def _case_row(self, case: NewCase) -> dict[str, Any]:
        state = self.cases[case]
        return {"alias": case.alias, "category": state.category, "status": "new",
                "scope_change": state.scope_change, "subject": case.subject,
                "customer": case.customer, "customer_domain": domain_of(case.customer),
                "opened_at": self.now, "updated_at": self.now, "ref": state.ref}

    def _insert_messages(self) -> None:
        filings = list(self.filings.values())
        if not filings:
            return
        rows = [without_nul(dict(f.row)) | {"case_id": self._case_id(f.case)} for f in filings]
        ids = insert_ids(self.session, Message.id, rows)
        for filing, message_id in zip(filings, ids, strict=True):
            self.message_ids[filing.receipt.seq] = message_id
        references = [{"message_pk": self.message_ids[f.receipt.seq], "position": n,
                       "ref": ref} for f in filings
                      for n, ref in enumerate(reference_chain(f.prepared.parsed))]
        if references:
            self.session.execute(insert(MessageReference), references)
        aliases = [{"tag": tag, "case_id": self._case_id(t.case),
                    "message_pk": self.message_ids[t.prepared.receipt.seq],
                    "rule": t.decision.rule, "created_at": self.now}
                   for t in self.threaded for tag in t.aliases]
        if aliases:
            self.session.execute(insert(CaseAlias), aliases)

    def _insert_events(self) -> None:
        # A duplicate of a message filed in this batch comes last, so a case's history reads
        # in order (the message is filed before its second delivery is noted).
        late = [_Event(self.filings[r.of.seq].case, r.of, "duplicate_delivery",
                       _duplicate_data(r.receipt)) for r in self.results
                if isinstance(r, Duplicate) and isinstance(r.of, FiledInBatch)]
        events = self.events + late
        if events:
            rows = [{"case_id": self._case_id(e.case), "at": self.now, "actor": SYSTEM,
                     "kind": e.kind, "message_pk": self._event_message_pk(e.message),
                     "data": without_nul(e.data)} for e in events]
            ids = insert_ids(self.session, CaseEvent.id, rows)
            note_inserted(self.session, rows, ids)  # for the batch's ledger entry

    def _update_cases(self) -> None:
        rows = [{"id": key, "updated_at": self.now, "category": state.category,
                 "scope_change": state.scope_change}
                for key, state in self.cases.items()
                if isinstance(key, int) and state.changed]
        if rows:
            self.session.execute(update(Case), rows)

    def _write_quarantine(self) -> None:
        rejected = [r for r in self.results if isinstance(r, Rejected)]
        if not rejected:
            return
        known = {entry.seq: entry for entry in self.session.scalars(
            select(QuarantineEntry).where(QuarantineEntry.seq.in_(
                [r.receipt.seq for r in rejected])))}
        for reject in rejected:
            entry = known.get(reject.receipt.seq)
            if entry is None:
                self.session.add(QuarantineEntry(
                    seq=reject.receipt.seq, sha256=reject.receipt.sha256,
                    stage=reject.stage, reason=reject.reason, created_at=self.now))
            else:
                entry.stage, entry.reason = reject.stage, reject.reason
                entry.attempts += 1
            log.warning("receipt %d quarantined at %s: %s", reject.receipt.seq,
                        reject.stage, reject.reason)
        self.session.flush()

    def _message_pk(self, result: Duplicate | Rejected | Filing) -> int | None:
        """The message a receipts row points to: the one filed, or the first copy."""
        if isinstance(result, Filing):
            return self.message_ids[result.receipt.seq]
        if isinstance(result, Duplicate):
            of = result.of
            return of.message_pk if isinstance(of, FiledEarlier) else self.message_ids[of.seq]
        return None

    def _outcome(self, result: Duplicate | Rejected | Filing) -> Outcome:
        seq = result.receipt.seq
        if isinstance(result, Filing):
            return Outcome(seq, "filed", self._ref(result.case), result.opens_case)
        if isinstance(result, Duplicate):
            ref = (result.of.case_ref if isinstance(result.of, FiledEarlier)
                   else self._ref(self.filings[result.of.seq].case))
            return Outcome(seq, "duplicate", ref)
        return Outcome(seq, "quarantined", None, False, result.reason)

    def _event_message_pk(self, message: int | FiledInBatch | None) -> int | None:
        return self.message_ids[message.seq] if isinstance(message, FiledInBatch) else message

    def _case_id(self, case: CaseKey) -> int:
        if isinstance(case, NewCase):
            return self.case_ids[case]
        assert isinstance(case, int)
        return case

    def _ref(self, case: CaseKey) -> str | None:
        return self.cases[case].ref if case in self.cases else None


def _status(result: Duplicate | Rejected | Filing) -> str:
    """The receipts row's status for the stage a receipt ended in."""
    if isinstance(result, Filing):
        return "filed"
    return "duplicate" if isinstance(result, Duplicate) else "quarantined"


def reads_context(prepared: Prepared) -> bool:
    """Whether the case's context may move this message (classifiers.context moves only a
    customer's order or enquiry): only the cases of such messages have their context read."""
    return (prepared.receipt.direction != "outbound"
            and prepared.classification.category in ("order", "enquiry"))


def _context_note(before: Classification, after: Classification) -> dict[str, Any]:
    """For the ``message_classified`` event: what the classifier said before the case's
    context moved it, and by which context rule (nothing when it did not)."""
    if before is after:
        return {}
    return {"context": {"rules": sorted({e.rule_id for e in after.evidence
                                         if e.rule_id in CONTEXT_RULES}),
                        "from": {"category": before.category,
                                 "scope_change": before.scope_change}}}


def _duplicate_data(receipt: LedgerReceipt) -> dict[str, Any]:
    return {"seq": receipt.seq, "sha256": receipt.sha256, "transport": receipt.transport}


_RECEIPTS: Table = LedgerReceipt.__table__  # type: ignore[assignment]  # a declarative table


def queue_entries(session: Session, entries: Sequence[LedgerEntry], *,
                  returning: bool = False) -> set[int]:
    """Mirror ledger entries into the receipts table within ``session`` (idempotent); with
    ``returning``, the seqs this call inserted (not those some other transaction had)."""
    if not entries:
        return set()
    # The daemon's recorder and a catch_up (here or in a CLI import) may queue the same
    # entries at the same moment: whoever comes second inserts nothing.
    dialect_insert = conflict_insert(session)
    # Into the table, not the mapped class: the rows are plain values either way, and the ORM's
    # bulk-insert layer cost the daemon's recorder as much interpreter time per entry (it sorts
    # the tables and collects per-row commands, ~60 us an entry) as the database's own work.
    # Row images ignore receipts inserts both ways (gateway/db/row_images.py: LEDGER_ROWS).
    statement = dialect_insert(_RECEIPTS).on_conflict_do_nothing(index_elements=["seq"])
    rows = [_receipt_row(e) for e in entries]
    if returning:
        return set(session.scalars(statement.returning(_RECEIPTS.c.seq), rows))
    session.execute(statement, rows)
    return set()


def missing_seqs(session: Session, first: int, last: int, fanout: int = GAP_SCAN_FANOUT,
                 leaf: int = GAP_SCAN_LEAF) -> list[tuple[int, int]]:
    """The seqs in ``first..last`` that have no receipts row, as inclusive (low, high) ranges.

    Counts rows per range over the primary key and descends only into ranges that are short
    (``fanout`` parts at a time; a range with no row at all is missing whole); a short range of
    at most ``leaf`` seqs is read seq by seq. With no gap that is one count over the range;
    gaps add one more pass (the counts of its parts) and a 16th of that per gap and level
    below. A plain range count is the cheapest pass over the index on both backends
    (bench/gap_scan.py compares a grouped count and a LEAD() window).
    """
    seq = LedgerReceipt.seq
    gaps: list[tuple[int, int]] = []

    def present(low: int, high: int) -> int:
        return session.scalar(select(func.count()).select_from(LedgerReceipt)
                              .where(seq.between(low, high))) or 0

    def scan(low: int, high: int, count: int) -> None:
        if count == high - low + 1:
            return
        if count == 0:
            gaps.append((low, high))
            return
        if high - low < leaf:
            expected = low
            for found in session.scalars(select(seq).where(seq.between(low, high))
                                         .order_by(seq)):
                if found > expected:
                    gaps.append((expected, found - 1))
                expected = found + 1
            if expected <= high:
                gaps.append((expected, high))
            return
        step = -(-(high - low + 1) // fanout)
        for part in range(low, high + 1, step):
            part_high = min(high, part + step - 1)
            scan(part, part_high, present(part, part_high))

    if first <= last:
        scan(first, last, present(first, last))
    return _merged(gaps)


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Adjacent ranges as one (a gap may span the border of two counted ranges)."""
    merged: list[tuple[int, int]] = []
    for low, high in ranges:
        if merged and merged[-1][1] + 1 == low:
            merged[-1] = (merged[-1][0], high)
        else:
            merged.append((low, high))
    return merged


def describe_ranges(ranges: Sequence[tuple[int, int]], shown: int = 5) -> str:
    """``"3, 10-19"`` for a log line; long lists are cut with a count of the rest."""
    parts = [str(low) if low == high else f"{low}-{high}" for low, high in ranges[:shown]]
    if len(ranges) > shown:
        parts.append(f"and {len(ranges) - shown} more range(s)")
    return ", ".join(parts)


def _receipt_row(entry: LedgerEntry) -> dict[str, Any]:
    # Only mail is processed; access records and tombstones are kept as the database's copy
    # of the chain (for verify) and for the access log.
    return {"seq": entry.seq, "kind": entry.kind, "sha256": entry.sha256,
            "entry_hash": entry.entry_hash, "size": entry.size, "alias": entry.alias,
            "direction": entry.direction, "transport": entry.transport,
            "envelope": dict(entry.envelope), "received_at": datetime.fromisoformat(entry.time),
            "status": "pending" if entry.kind == "receipt" else "recorded"}


def _message_row(receipt: LedgerReceipt, parsed: ParsedMessage, classification: Classification,
                 decision: ThreadDecision) -> dict[str, Any]:
    return {
        "sha256": receipt.sha256,
        "alias": receipt.alias,
        "first_seq": receipt.seq,
        "direction": receipt.direction,
        "size": receipt.size,
        "message_id": parsed.message_id,
        "from_addr": parsed.from_addr,
        "from_name": parsed.from_name[:500],
        "to_addrs": [a.addr for a in parsed.to][:100],
        "cc_addrs": [a.addr for a in parsed.cc][:100],
        "subject": parsed.subject[:2000],
        "date": parsed.date,
        "snippet": " ".join(parsed.text.split())[:SNIPPET_CHARS],
        "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size,
                         "sha256": a.sha256} for a in parsed.attachments[:200]],
        "defects": list(parsed.defects)[:100],
        "category": classification.category,
        "scope_change": classification.scope_change,
        "language": classification.language,
        "confidence": classification.confidence,
        "identifiers": [{"kind": i.kind, "value": i.value} for i in classification.identifiers],
        "evidence": [{"rule_id": e.rule_id, "text": e.text[:200], "field": e.field}
                     for e in classification.evidence][:50],
        "rules_version": classification.rules_version,
        "thread_rule": decision.rule,
        "filed_at": utcnow(),
    }
