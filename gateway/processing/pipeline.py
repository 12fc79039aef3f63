"""The processing worker: archived receipts in, messages filed into cases out.

Receipts are processed in batches: parse and classify each message (pure, per-message
try/except), then thread and file the whole batch with a handful of bulk statements. If the
batch fails as a whole (a bug, or another node filing the same bytes at the same moment), its
SAVEPOINT is rolled back and the receipts are filed one by one, so one poison message is
quarantined with its reason while the rest commit (Mailman's habit: one try/except per message
at the loop boundary). Everything here is derived from the archived bytes, so it can be re-run
after a crash or a rules upgrade with the same result.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive import Archive, BlobNotFoundError, LedgerEntry
from classifiers import Classification, RuleSet
from classifiers.context import CONTEXT_RULES, EMPTY, CaseContext, in_context
from gateway.config import Settings
from gateway.core.clock import utcnow
from gateway.core.text import without_nul
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
    ThreadDecision,
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
class Prepared:
    """A message parsed and classified, ready to be threaded and filed."""

    receipt: LedgerReceipt
    parsed: ParsedMessage
    classification: Classification


@dataclass(frozen=True)
class Rejected:
    receipt: LedgerReceipt
    stage: str
    reason: str


class Processor:
    def __init__(self, db: Database, archive: Archive, settings: Settings,
                 rules: Callable[[], RuleSet], *, hooks: Sequence[Hook]) -> None:
        self.db = db
        self.archive = archive
        self.settings = settings
        self.hooks = tuple(hooks)  # the workflows' on_filed, in order (gateway.bootstrap.HOOKS)
        self._rules_factory = rules
        self._rules: RuleSet | None = None
        # Every seq up to here is known to have its receipts row (rows are never deleted).
        self._complete_through = 0
        self._complete_lock = threading.Lock()

    @property
    def rules(self) -> RuleSet:
        """Loaded on first use: listing cases or verifying the archive needs no classifier.
        Broken rules raise RulesConfigError (an operator error, see _process_batch)."""
        if self._rules is None:
            self._rules = self._rules_factory()
        return self._rules

    def use_rules(self, rules: RuleSet) -> None:
        """Classify with ``rules`` from the next message on (the daemon's validated SIGHUP
        reload; each message records the rules version it was classified with)."""
        self._rules = rules

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
                    self.record(batch)
                    added += len(batch)
                    batch = []
            self.record(batch)
            added += len(batch)
        with self._complete_lock:
            self._complete_through = max(self._complete_through, head.seq)
        if added:
            log.log(level, "queued %d archived entries that had no database row (seq %s)",
                    added, describe_ranges(gaps))
        return added

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
        with self.db.session() as session:
            receipts = list(session.scalars(
                select(LedgerReceipt).where(LedgerReceipt.status == "pending")
                .order_by(LedgerReceipt.seq).limit(size)
                .with_for_update(skip_locked=True)))
            if not receipts:
                return []
            # Loaded before any message is touched: broken rules are the operator's to fix, so
            # they stop processing (the receipts stay pending) instead of quarantining each one.
            _ = self.rules
            cache: dict[int, Prepared | Rejected] = {}
            try:
                with session.begin_nested():
                    return self._file_batch(session, receipts, cache)
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

    def _prepare(self, receipt: LedgerReceipt) -> Prepared | Rejected:
        """Parse and classify one message; everything that can go wrong becomes a Rejected."""
        try:
            raw = self.archive.read(receipt.sha256)
        except BlobNotFoundError as exc:
            return Rejected(receipt, "archive", str(exc))
        parsed = parse_message(raw)
        if not parsed.looks_like_mail:
            return Rejected(receipt, "parse", "not an e-mail message: no header fields "
                            "(From, To, Subject, Date, Message-ID, Received) were found")
        try:
            classification = with_queue_prior(classify_parsed(parsed, self.rules),
                                              self.settings.prior_for(receipt.alias))
        except Exception as exc:
            log.exception("receipt %d: classifier failed", receipt.seq)
            return Rejected(receipt, "classify",
                            f"classifier failed: {type(exc).__name__}: {exc}")
        return Prepared(receipt, parsed, classification)

    def _file_batch(self, session: Session, receipts: Sequence[LedgerReceipt],
                    cache: dict[int, Prepared | Rejected]) -> list[Outcome]:
        config = self.settings.config
        writer = _BatchWriter(session, self.settings)
        already = _filed_messages(session, receipts)
        in_batch: dict[tuple[str, str], _NewMessage] = {}
        ready: list[Prepared] = []
        for receipt in receipts:
            key = (receipt.sha256, receipt.alias)
            if key in already:
                writer.duplicate(receipt, *already[key])
                continue
            if key in in_batch:
                writer.duplicate_of_new(receipt, in_batch[key])
                continue
            if receipt.seq not in cache:
                cache[receipt.seq] = self._prepare(receipt)
            result = cache[receipt.seq]
            if isinstance(result, Rejected):
                writer.quarantine(result)
                continue
            ready.append(result)
            in_batch[key] = writer.reserve_message(result)
        bounced = [p.classification.bounced_message_id for p in ready
                   if p.classification.bounced_message_id]
        rules = self.threading_rules
        signed = self._signed_ref
        batch_keys = [thread_keys(p.parsed, config.case_prefix, signed,
                                  inbound=p.receipt.direction == "inbound",
                                  received_at=p.receipt.received_at,
                                  patterns=rules.foreign_tags) for p in ready]
        index = load_index(session, batch_keys, rules, bounced)
        decisions = []
        for prepared, keys in zip(ready, batch_keys, strict=True):
            decision = decide_thread(keys, index, rules,
                                     prepared.classification.bounced_message_id)
            target = decision.case if decision.case is not None else writer.open_case(
                prepared, decision)
            for orphans in decision.merge_orphans:
                index.merge(orphans, target)
                writer.rehome(orphans, target, keys.message_id or "")
            aliases = new_aliases(keys, decision, index, target)
            index.file(keys, target, domain_of(prepared.parsed.from_addr)
                       if decision.case is None else "", aliases)
            writer.alias(in_batch[(prepared.receipt.sha256, prepared.receipt.alias)], target,
                         aliases, decision.rule)
            decisions.append((prepared, decision, target, keys))
        writer.load_cases([target for _, _, target, _ in decisions if isinstance(target, int)])
        writer.load_contexts([target for prepared, _, target, _ in decisions
                              if isinstance(target, int) and reads_context(prepared)])
        for prepared, decision, target, keys in decisions:
            writer.file(in_batch[(prepared.receipt.sha256, prepared.receipt.alias)], target,
                        decision, keys)
        outcomes = writer.flush()
        writer.link_and_merge()
        run_hooks(self.hooks, session, self.settings, writer.filed())
        return outcomes

    @property
    def threading_rules(self) -> ThreadingRules:
        config = self.settings.config
        return ThreadingRules(
            prefix=config.case_prefix,
            free_mail_domains=frozenset(d.lower() for d in config.threading.free_mail_domains),
            generic_subjects=frozenset(s.strip().lower()
                                       for s in config.threading.generic_subjects),
            subject_window_days=config.threading.subject_window_days,
            own_addresses=frozenset(self.settings.alias_addresses),
            foreign_tags=foreign_tag_patterns(tuple(config.threading.foreign_tags)))

    def _signed_ref(self, message_id: str) -> str | None:
        return signed_case_ref(self.settings, message_id)


def _filed_messages(session: Session, receipts: Sequence[LedgerReceipt]
                    ) -> dict[tuple[str, str], tuple[int, int, str]]:
    """(sha256, alias) -> (message id, case id, case ref) for bytes already filed."""
    shas = {r.sha256 for r in receipts}
    rows = session.execute(
        select(Message.sha256, Message.alias, Message.id, Message.case_id, Case.ref)
        .join(Case, Case.id == Message.case_id).where(Message.sha256.in_(shas)))
    return {(sha, alias): (mid, cid, ref) for sha, alias, mid, cid, ref in rows}


@dataclass(eq=False)
class _NewCase:
    """A case opened in this batch; its id and reference exist once the batch is written."""

    row: dict[str, Any]
    opened: dict[str, Any]
    first_seq: int
    id: int | None = None


@dataclass(eq=False)
class _NewMessage:
    prepared: Prepared
    row: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


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
    """Collects the rows of one batch in memory and writes them with a few bulk statements."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.prefix = settings.config.case_prefix
        self.triage_below = settings.config.classifier.triage_below
        self.now = utcnow()
        self.new_cases: list[_NewCase] = []
        self.messages: list[_NewMessage] = []
        self.cases: dict[CaseKey, _CaseState] = {}
        self.events: list[tuple[CaseKey, _NewMessage | int | None, str, dict[str, Any]]] = []
        self.receipts: list[tuple[LedgerReceipt, str, _NewMessage | int | None, CaseKey | None,
                                  str]] = []
        self.rejected: list[Rejected] = []
        # Written after the batch's own events, so a case's history reads in order.
        self.late_events: list[tuple[CaseKey, _NewMessage | int | None, str,
                                     dict[str, Any]]] = []
        # (new case, tagged case) for strangers' case tags; (orphan case, parent's case, id).
        self.follow_ups: list[tuple[CaseKey, CaseKey]] = []
        self.rehomed: list[tuple[CaseKey, CaseKey, str]] = []
        # (case, message, foreign tag, rule): tags of earlier systems that now name the case.
        self.aliases: list[tuple[CaseKey, _NewMessage, str, str]] = []
        self.merged_into: dict[int, int] = {}
        # What each case holds, for the messages of this batch that the context may move
        # (classifiers.context); grows as the batch files into the case.
        self.contexts: dict[CaseKey, CaseContext] = {}

    # -- collecting --------------------------------------------------------------------------

    def reserve_message(self, prepared: Prepared) -> _NewMessage:
        message = _NewMessage(prepared)
        self.messages.append(message)
        return message

    def duplicate(self, receipt: LedgerReceipt, message_id: int, case_id: int, ref: str) -> None:
        self.cases.setdefault(case_id, _CaseState(ref, "", False))
        self.events.append((case_id, message_id, "duplicate_delivery", _duplicate_data(receipt)))
        self.receipts.append((receipt, "duplicate", message_id, case_id, ""))

    def duplicate_of_new(self, receipt: LedgerReceipt, first: _NewMessage) -> None:
        self.receipts.append((receipt, "duplicate", first, None, ""))
        self.late_events.append((first, first, "duplicate_delivery", _duplicate_data(receipt)))

    def quarantine(self, rejected: Rejected) -> None:
        self.rejected.append(rejected)
        self.receipts.append((rejected.receipt, "quarantined", None, None, rejected.reason))

    def open_case(self, prepared: Prepared, decision: ThreadDecision) -> _NewCase:
        parsed, classification = prepared.parsed, prepared.classification
        row = {"alias": prepared.receipt.alias, "category": classification.category,
               "status": "new", "scope_change": False, "subject": parsed.subject[:1000],
               "customer": parsed.from_addr, "customer_domain": domain_of(parsed.from_addr),
               "opened_at": self.now, "updated_at": self.now}
        opened = {"rule": decision.rule, "category": row["category"], "alias": row["alias"],
                  "customer": row["customer"], "subject": row["subject"],
                  "possible_follow_up_of": decision.possible_follow_up_of}
        case = _NewCase(row, opened, prepared.receipt.seq)
        self.new_cases.append(case)
        self.cases[case] = _CaseState("", classification.category, False)
        self.contexts[case] = EMPTY
        return case

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

    def file(self, message: _NewMessage, case: CaseKey, decision: ThreadDecision,
             keys: ThreadKeys) -> None:
        before = message.prepared.classification
        self._read_in_context(message, case)
        prepared = message.prepared
        parsed, classification = prepared.parsed, prepared.classification
        message.row = _message_row(prepared.receipt, parsed, classification, decision)
        message.row.update(thread_index=keys.conversation, norm_subject=keys.norm_subject)
        if decision.follow_up_case is not None:
            self.follow_ups.append((case, decision.follow_up_case))
        message.row["_case"] = case
        state = self.cases[case]
        if isinstance(case, _NewCase) and case.first_seq == prepared.receipt.seq:
            self.events.append((case, None, "case_opened", case.opened))
        state.changed = True
        threaded = {"rule": decision.rule, "key": decision.key, "seq": prepared.receipt.seq,
                    "sha256": prepared.receipt.sha256}
        aliases = [tag for _, m, tag, _ in self.aliases if m is message]
        if aliases:  # the tags of earlier systems this message made names of the case
            threaded["aliases"] = aliases
        self.events.append((case, message, "message_threaded", threaded))
        inbound = prepared.receipt.direction != "outbound"
        opening = isinstance(case, _NewCase) and case.first_seq == prepared.receipt.seq
        # An out-of-office or calendar answer joining a case is no word of the customer: it
        # neither re-categorises the case nor waits for a person (the lifecycle does not
        # reopen for it either).
        automatic = (automatic_reason(parsed, classification.bounced_message_id)
                     if inbound and not opening else "")
        message.row["needs_triage"] = inbound and not automatic and needs_person(
            classification, self.triage_below)
        self.events.append((case, message, "message_classified", {
            "category": classification.category, "scope_change": classification.scope_change,
            "confidence": classification.confidence,
            "decided_by": classification.decided_by,
            "needs_triage": message.row["needs_triage"],
            "rules": sorted({e.rule_id for e in classification.evidence}),
            "rules_version": classification.rules_version, "defects": list(parsed.defects)}
            | _context_note(before, classification)
            | ({"automatic": automatic} if automatic else {})))
        # Our own outbound mail is on record, but what *we* wrote never flags a scope change
        # or re-categorises the customer's case; nor does a machine answering for them.
        if inbound and not automatic:
            self._customer_signals(case, message, state, classification)
        self.receipts.append((prepared.receipt, "filed", message, case, ""))

    def _read_in_context(self, message: _NewMessage, case: CaseKey) -> None:
        """Let what the case already holds move the message's classification (an order's
        change is no new order), then add the message to what the case holds. Our own
        outbound mail adds its identifiers (a quote we sent) but is never moved."""
        if case not in self.contexts:
            return  # no message of this batch in the case can be moved (reads_context)
        prepared = message.prepared
        inbound = prepared.receipt.direction != "outbound"
        context = self.contexts[case]
        read = in_context(prepared.classification, context) if inbound \
            else prepared.classification
        if read is not prepared.classification:
            message.prepared = replace(prepared, classification=read)
        self.contexts[case] = after_filing(context, read, inbound=inbound,
                                           triage_below=self.triage_below)

    def _customer_signals(self, case: CaseKey, message: _NewMessage, state: _CaseState,
                          classification: Classification) -> None:
        if classification.scope_change:
            self.events.append((case, message, "scope_change_flagged",
                                {"evidence": message.row["evidence"]}))
            state.scope_change = True
        triage = message.row["needs_triage"]
        opening = isinstance(case, _NewCase) and case.first_seq == message.prepared.receipt.seq
        if opening:
            state.guessed = triage
        elif ((state.category == "other" or (state.guessed and not triage))
              and classification.category not in ("other", state.category)):
            self.events.append((case, message, "category_changed",
                                {"from": state.category, "to": classification.category}))
            state.category = classification.category
            state.guessed = triage
        elif not triage and classification.category == state.category:
            state.guessed = False
        if triage and not state.needs_triage:
            state.needs_triage = True
            self.events.append((case, message, "triage_needed", {
                "reason": triage_reason(classification, self.triage_below),
                "category": state.category}))

    # -- writing -----------------------------------------------------------------------------

    def flush(self) -> list[Outcome]:
        session = self.session
        self._insert_cases()
        filed = [m for m in self.messages if m.row]
        if filed:
            rows = [without_nul({k: v for k, v in m.row.items() if k != "_case"})
                    | {"case_id": self._case_id(m.row["_case"])} for m in filed]
            ids = session.scalars(insert(Message).returning(Message.id,
                                                            sort_by_parameter_order=True), rows)
            for message, message_id in zip(filed, ids, strict=True):
                message.id = message_id
            references = [{"message_pk": m.id, "position": n, "ref": ref} for m in filed
                          for n, ref in enumerate(reference_chain(m.prepared.parsed))]
            if references:
                session.execute(insert(MessageReference), references)
        if self.aliases:
            session.execute(insert(CaseAlias), [
                {"tag": tag, "case_id": self._case_id(case), "message_pk": message.id,
                 "rule": rule, "created_at": self.now}
                for case, message, tag, rule in self.aliases])
        events = self.events + self.late_events
        if events:
            session.execute(insert(CaseEvent), [
                {"case_id": self._case_id(case), "at": self.now, "actor": SYSTEM, "kind": kind,
                 "message_pk": self._message_id(message), "data": without_nul(data)}
                for case, message, kind, data in events])
        self._update_cases()
        self._write_quarantine()
        session.execute(update(LedgerReceipt), [
            {"seq": receipt.seq, "status": status, "message_pk": self._message_id(message),
             "processed_at": self.now}
            for receipt, status, message, _, _ in self.receipts])
        outcomes = []
        for receipt, status, message, case, reason in self.receipts:
            if case is None and isinstance(message, _NewMessage):
                case = message.row.get("_case")
            new_case = (isinstance(case, _NewCase) and status == "filed"
                        and case.first_seq == receipt.seq)
            outcomes.append(Outcome(receipt.seq, status, self._ref(case), new_case, reason))
        return sorted(outcomes, key=lambda o: o.seq)

    def alias(self, message: _NewMessage, case: CaseKey, tags: Sequence[str],
              rule: str) -> None:
        self.aliases.extend((case, message, tag, rule) for tag in tags)

    def rehome(self, orphans: CaseKey, target: CaseKey, parent_id: str) -> None:
        self.rehomed.append((orphans, target, parent_id))

    def link_and_merge(self) -> None:
        """After :meth:`flush`: link strangers' new cases to the case they tagged, and merge
        orphan cases into the case their late parent joined (both rare, so ORM-level)."""
        if self.follow_ups:
            refs = {}
            for new, tagged in self.follow_ups:
                new_id, tagged_id = self._case_id(new), self._case_id(tagged)
                self.session.add(CaseLink(case_id=new_id, other_case_id=tagged_id,
                                          kind="possible-follow-up", created_at=self.now,
                                          actor=SYSTEM))
                refs[tagged_id] = self.cases[new].ref
            self.session.flush()
            for tagged_id, new_ref in refs.items():
                self.session.add(CaseEvent(case_id=tagged_id, at=self.now, actor=SYSTEM,
                                           kind="possible_follow_up",
                                           data={"case": new_ref}))
        for orphans, target, parent_id in self.rehomed:
            source_id, target_id = self._case_id(orphans), self._case_id(target)
            while target_id in self.merged_into:
                target_id = self.merged_into[target_id]
            system_merge(self.session, source_id, target_id,
                         f"replies to <{parent_id}> joined the case of their parent")
            self.merged_into[source_id] = target_id
        self.session.flush()

    def filed(self) -> list[FiledMessage]:
        """The messages this batch filed (after :meth:`flush`), for the workflow hooks; a
        message whose case was merged away in this batch is reported in the surviving case."""
        result = []
        refs = {self._case_id(key): state.ref for key, state in self.cases.items()
                if not isinstance(key, _NewCase) or key.id is not None}
        for message in self.messages:
            if not message.row or message.id is None:
                continue
            case = message.row["_case"]
            receipt = message.prepared.receipt
            case_id = self._case_id(case)
            new_case = isinstance(case, _NewCase) and case.first_seq == receipt.seq
            while case_id in self.merged_into:
                case_id, new_case = self.merged_into[case_id], False
            result.append(FiledMessage(
                message_pk=message.id, case_id=case_id,
                case_ref=refs.get(case_id) or self._load_ref(case_id),
                new_case=new_case,
                seq=receipt.seq, sha256=receipt.sha256, alias=receipt.alias,
                direction=receipt.direction, parsed=message.prepared.parsed,
                classification=message.prepared.classification))
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
            case.row["ref"] = case_ref(self.prefix, number)
            self.cases[case].ref = case.row["ref"]
            case.row["scope_change"] = self.cases[case].scope_change
            case.row["category"] = self.cases[case].category
        ids = self.session.scalars(insert(Case).returning(Case.id, sort_by_parameter_order=True),
                                   [without_nul(c.row) for c in self.new_cases])
        for case, case_id in zip(self.new_cases, ids, strict=True):
            case.id = case_id

    def _update_cases(self) -> None:
        rows = [{"id": key, "updated_at": self.now, "category": state.category,
                 "scope_change": state.scope_change}
                for key, state in self.cases.items()
                if isinstance(key, int) and state.changed]
        if rows:
            self.session.execute(update(Case), rows)

    def _write_quarantine(self) -> None:
        if not self.rejected:
            return
        seqs = [r.receipt.seq for r in self.rejected]
        known = {entry.seq: entry for entry in self.session.scalars(
            select(QuarantineEntry).where(QuarantineEntry.seq.in_(seqs)))}
        for rejected in self.rejected:
            entry = known.get(rejected.receipt.seq)
            if entry is None:
                self.session.add(QuarantineEntry(
                    seq=rejected.receipt.seq, sha256=rejected.receipt.sha256,
                    stage=rejected.stage, reason=rejected.reason, created_at=self.now))
            else:
                entry.stage, entry.reason = rejected.stage, rejected.reason
                entry.attempts += 1
            log.warning("receipt %d quarantined at %s: %s", rejected.receipt.seq,
                        rejected.stage, rejected.reason)
        self.session.flush()

    def _case_id(self, case: CaseKey | _NewMessage) -> int:
        if isinstance(case, _NewMessage):
            case = case.row["_case"]
        if isinstance(case, _NewCase):
            assert case.id is not None
            return case.id
        assert isinstance(case, int)
        return case

    @staticmethod
    def _message_id(message: _NewMessage | int | None) -> int | None:
        return message.id if isinstance(message, _NewMessage) else message

    def _ref(self, case: CaseKey | None) -> str | None:
        return self.cases[case].ref if case is not None and case in self.cases else None


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


def queue_entries(session: Session, entries: Sequence[LedgerEntry]) -> None:
    """Mirror ledger entries into the receipts table within ``session`` (idempotent)."""
    if not entries:
        return
    # The daemon's recorder and a catch_up (here or in a CLI import) may queue the same
    # entries at the same moment: whoever comes second inserts nothing.
    dialect = session.get_bind().dialect.name
    dialect_insert = {"postgresql": pg_insert, "sqlite": sqlite_insert}[dialect]
    session.execute(dialect_insert(LedgerReceipt).on_conflict_do_nothing(
        index_elements=["seq"]), [_receipt_row(e) for e in entries])


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
