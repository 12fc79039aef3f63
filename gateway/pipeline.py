"""The processing worker: archived receipts in, messages filed into cases out.

Each receipt is processed inside its own SAVEPOINT, so one poison message is rolled back and
quarantined with its reason while the rest of the batch commits (Mailman's runner habit: one
try/except per message at the loop boundary). Everything here is derived from the archived
bytes, so it can be re-run after a crash or a rules upgrade with the same result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive import Archive, BlobNotFoundError, LedgerEntry
from classifiers import Classification, RuleSet
from gateway.classification import classify_parsed
from gateway.config import Settings
from gateway.db import Database
from gateway.models import (
    Case,
    CaseEvent,
    Counter,
    LedgerReceipt,
    Message,
    MessageReference,
    QuarantineEntry,
    utcnow,
)
from gateway.parsing import ParsedMessage, parse_message
from gateway.threader import ThreadDecision, case_ref, decide_thread, domain_of

log = logging.getLogger(__name__)
SYSTEM = "system"
SNIPPET_CHARS = 500


@dataclass(frozen=True)
class Outcome:
    seq: int
    status: str  # filed | duplicate | quarantined
    case_ref: str | None = None
    new_case: bool = False
    reason: str = ""


class Quarantined(Exception):
    """Raised inside processing when a message cannot be filed; carries stage and reason."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(reason)
        self.stage = stage
        self.reason = reason


class Processor:
    def __init__(self, db: Database, archive: Archive, settings: Settings,
                 rules: Callable[[], RuleSet]) -> None:
        self.db = db
        self.archive = archive
        self.settings = settings
        self._rules_factory = rules
        self._rules: RuleSet | None = None

    @property
    def rules(self) -> RuleSet:
        """Loaded on first use: listing cases or verifying the archive needs no classifier."""
        if self._rules is None:
            self._rules = self._rules_factory()
        return self._rules

    # -- the queue ---------------------------------------------------------------------------

    def record(self, entries: Sequence[LedgerEntry]) -> None:
        """Mirror fresh ledger entries into the processing queue (idempotent)."""
        if not entries:
            return
        with self.db.session() as session:
            known = set(session.scalars(select(LedgerReceipt.seq).where(
                LedgerReceipt.seq.in_([e.seq for e in entries]))))
            session.add_all(_receipt_row(e) for e in entries if e.seq not in known)

    def catch_up(self) -> int:
        """Queue ledger entries a crash left between the archive write and the database."""
        with self.db.session() as session:
            last = session.scalar(select(func.max(LedgerReceipt.seq))) or 0
        head = self.archive.head()
        if head is None or head.seq <= last:
            return 0
        added = 0
        batch: list[LedgerEntry] = []
        for entry in self.archive.entries(after_seq=last):
            batch.append(entry)
            if len(batch) >= 1000:
                self.record(batch)
                added += len(batch)
                batch = []
        self.record(batch)
        added += len(batch)
        log.info("queued %d archived receipts that were not yet in the database", added)
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
            seqs = list(session.scalars(
                select(QuarantineEntry.seq).where(QuarantineEntry.resolved_at.is_(None))))
            session.execute(update(LedgerReceipt).where(LedgerReceipt.seq.in_(seqs))
                            .values(status="pending"))
        outcomes = self.process_pending()
        solved = [o.seq for o in outcomes if o.seq in set(seqs) and o.status != "quarantined"]
        with self.db.session() as session:
            session.execute(update(QuarantineEntry).where(QuarantineEntry.seq.in_(solved))
                            .values(resolved_at=utcnow()))
        return outcomes

    def _process_batch(self, size: int) -> list[Outcome]:
        outcomes = []
        with self.db.session() as session:
            receipts = session.scalars(
                select(LedgerReceipt).where(LedgerReceipt.status == "pending")
                .order_by(LedgerReceipt.seq).limit(size)
                .with_for_update(skip_locked=True)).all()
            for receipt in receipts:
                outcomes.append(self._process_one(session, receipt))
        return outcomes

    def _process_one(self, session: Session, receipt: LedgerReceipt) -> Outcome:
        for attempt in (1, 2):
            try:
                with session.begin_nested():
                    return self._file(session, receipt)
            except Quarantined as exc:
                return self._quarantine(session, receipt, exc.stage, exc.reason)
            except IntegrityError:
                # Another worker filed the same bytes for this alias at the same moment; on the
                # second pass the duplicate check sees its row.
                if attempt == 2:
                    log.exception("receipt %d: integrity conflict twice", receipt.seq)
                    return self._quarantine(session, receipt, "filing",
                                            "database conflict while filing")
            except Exception as exc:
                log.exception("receipt %d could not be processed", receipt.seq)
                return self._quarantine(session, receipt, "processing",
                                        f"{type(exc).__name__}: {exc}")
        raise AssertionError("unreachable")

    # -- one message -------------------------------------------------------------------------

    def _file(self, session: Session, receipt: LedgerReceipt) -> Outcome:
        existing = session.scalar(select(Message).where(
            Message.sha256 == receipt.sha256, Message.alias == receipt.alias))
        if existing is not None:
            return self._duplicate(session, receipt, existing)
        try:
            raw = self.archive.read(receipt.sha256)
        except BlobNotFoundError as exc:
            raise Quarantined("archive", str(exc)) from exc
        parsed = parse_message(raw)
        if not parsed.looks_like_mail:
            raise Quarantined("parse", "not an e-mail message: no header fields "
                              "(From, To, Subject, Date, Message-ID, Received) were found")
        try:
            classification = classify_parsed(parsed, self.rules)
        except Exception as exc:
            raise Quarantined("classify", f"classifier failed: {type(exc).__name__}: {exc}"
                              ) from exc
        config = self.settings.config
        decision = decide_thread(session, parsed, config.case_prefix,
                                 config.threading.free_mail_domains)
        case, new_case = self._case_for(session, decision, parsed, classification, receipt)
        message = _message_row(receipt, parsed, classification, case, decision)
        session.add(message)
        session.flush()
        session.add_all(MessageReference(message_pk=message.id, position=n, ref=ref)
                        for n, ref in enumerate(_reference_chain(parsed)))
        self._record_decisions(session, case, message, decision, classification, parsed)
        receipt.status, receipt.message_pk, receipt.processed_at = "filed", message.id, utcnow()
        return Outcome(receipt.seq, "filed", case.ref, new_case)

    def _duplicate(self, session: Session, receipt: LedgerReceipt, existing: Message) -> Outcome:
        receipt.status, receipt.message_pk, receipt.processed_at = ("duplicate", existing.id,
                                                                    utcnow())
        case = session.get(Case, existing.case_id)
        assert case is not None
        session.add(CaseEvent(case_id=case.id, actor=SYSTEM, kind="duplicate_delivery",
                              message_pk=existing.id,
                              data={"seq": receipt.seq, "sha256": receipt.sha256,
                                    "transport": receipt.transport}))
        return Outcome(receipt.seq, "duplicate", case.ref)

    def _case_for(self, session: Session, decision: ThreadDecision, parsed: ParsedMessage,
                  classification: Classification, receipt: LedgerReceipt) -> tuple[Case, bool]:
        if decision.case_id is not None:
            case = session.get(Case, decision.case_id)
            assert case is not None
            case.updated_at = utcnow()
            return case, False
        number = session.execute(
            update(Counter).where(Counter.name == "case").values(value=Counter.value + 1)
            .returning(Counter.value)).scalar_one()
        case = Case(
            ref=case_ref(self.settings.config.case_prefix, number),
            alias=receipt.alias,
            category=classification.category,
            status="new",
            scope_change=classification.scope_change,
            subject=parsed.subject[:1000],
            customer=parsed.from_addr,
            customer_domain=domain_of(parsed.from_addr),
        )
        session.add(case)
        session.flush()
        session.add(CaseEvent(case_id=case.id, actor=SYSTEM, kind="case_opened", data={
            "rule": decision.rule, "category": case.category, "alias": case.alias,
            "customer": case.customer, "subject": case.subject,
            "possible_follow_up_of": decision.possible_follow_up_of}))
        return case, True

    def _record_decisions(self, session: Session, case: Case, message: Message,
                          decision: ThreadDecision, classification: Classification,
                          parsed: ParsedMessage) -> None:
        events = [
            CaseEvent(case_id=case.id, actor=SYSTEM, kind="message_threaded",
                      message_pk=message.id,
                      data={"rule": decision.rule, "key": decision.key,
                            "seq": message.first_seq, "sha256": message.sha256}),
            CaseEvent(case_id=case.id, actor=SYSTEM, kind="message_classified",
                      message_pk=message.id,
                      data={"category": classification.category,
                            "scope_change": classification.scope_change,
                            "confidence": classification.confidence,
                            "rules": sorted({e.rule_id for e in classification.evidence}),
                            "rules_version": classification.rules_version,
                            "defects": list(parsed.defects)}),
        ]
        if classification.scope_change:
            events.append(CaseEvent(case_id=case.id, actor=SYSTEM, kind="scope_change_flagged",
                                    message_pk=message.id,
                                    data={"evidence": message.evidence}))
            case.scope_change = True
        if case.category == "other" and classification.category != "other":
            events.append(CaseEvent(case_id=case.id, actor=SYSTEM, kind="category_changed",
                                    message_pk=message.id,
                                    data={"from": case.category, "to": classification.category}))
            case.category = classification.category
        session.add_all(events)

    def _quarantine(self, session: Session, receipt: LedgerReceipt, stage: str, reason: str
                    ) -> Outcome:
        receipt.status, receipt.processed_at = "quarantined", utcnow()
        entry = session.scalar(select(QuarantineEntry).where(QuarantineEntry.seq == receipt.seq))
        if entry is None:
            session.add(QuarantineEntry(seq=receipt.seq, sha256=receipt.sha256, stage=stage,
                                        reason=reason))
        else:
            entry.stage, entry.reason, entry.attempts = stage, reason, entry.attempts + 1
        log.warning("receipt %d quarantined at %s: %s", receipt.seq, stage, reason)
        return Outcome(receipt.seq, "quarantined", reason=reason)


def _receipt_row(entry: LedgerEntry) -> LedgerReceipt:
    return LedgerReceipt(
        seq=entry.seq, sha256=entry.sha256, entry_hash=entry.entry_hash, size=entry.size,
        alias=entry.alias, direction=entry.direction, transport=entry.transport,
        envelope=dict(entry.envelope), received_at=datetime.fromisoformat(entry.time),
        status="pending")


def _reference_chain(parsed: ParsedMessage) -> list[str]:
    return list(dict.fromkeys([*parsed.in_reply_to, *parsed.references]))[:200]


def _message_row(receipt: LedgerReceipt, parsed: ParsedMessage, classification: Classification,
                 case: Case, decision: ThreadDecision) -> Message:
    snippet = " ".join(parsed.text.split())[:SNIPPET_CHARS]
    return Message(
        sha256=receipt.sha256,
        alias=receipt.alias,
        case_id=case.id,
        first_seq=receipt.seq,
        direction=receipt.direction,
        size=receipt.size,
        message_id=parsed.message_id,
        from_addr=parsed.from_addr,
        from_name=parsed.from_name[:500],
        to_addrs=[a.addr for a in parsed.to][:100],
        cc_addrs=[a.addr for a in parsed.cc][:100],
        subject=parsed.subject[:2000],
        date=parsed.date,
        snippet=snippet,
        attachments=[{"filename": a.filename, "content_type": a.content_type, "size": a.size,
                      "sha256": a.sha256} for a in parsed.attachments[:200]],
        defects=list(parsed.defects)[:100],
        category=classification.category,
        scope_change=classification.scope_change,
        language=classification.language,
        confidence=classification.confidence,
        identifiers=[{"kind": i.kind, "value": i.value} for i in classification.identifiers],
        evidence=[{"rule_id": e.rule_id, "text": e.text[:200], "field": e.field}
                  for e in classification.evidence][:50],
        rules_version=classification.rules_version,
        thread_rule=decision.rule,
    )
