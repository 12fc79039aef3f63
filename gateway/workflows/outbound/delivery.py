"""Delivering outbound mail: archived before it leaves, relayed, retried with backoff.

``deliver_due`` claims the due mail (a lease, so another node or a crash only delays it),
archives what is not archived yet and queues it for filing, relays it, and records each
attempt as a case event. Queueing (:mod:`gateway.workflows.outbound.queue`) fixes the bytes;
this module never changes them. A person's reply that left is the case's first response
(:func:`gateway.workflows.lifecycle.mark_first_response`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from archive import Receipt, sha256_hex
from gateway.core.clock import utcnow
from gateway.db.events import record
from gateway.db.models import Case, LedgerReceipt, Message
from gateway.db.outbound import OutboundMail
from gateway.workflows import documents, lifecycle
from gateway.workflows.outbound.queue import compose, envelope_sender
from gateway.workflows.outbound.relay import Relay, RelayResult

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gateway.config import Settings
    from gateway.processing.context import WorkerContext

log = logging.getLogger(__name__)

# A person's answer to the customer is the first response; an automatic acknowledgement only
# says the mail arrived (gateway/workflows/lifecycle.py decides the same), so it does not stop the
# clock.
FIRST_RESPONSE_KINDS = ("reply", "confirmation")
MAX_BACKOFF_SECONDS = 6 * 3600


@dataclass
class DeliveryReport:
    """What one delivery run did, by outbound mail id."""

    archived: list[int] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    disabled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"archived": self.archived, "sent": self.sent, "deferred": self.deferred,
                "failed": self.failed, "disabled": self.disabled}


# -- delivering ------------------------------------------------------------------------------

def deliver_due(app: WorkerContext, *, now: datetime | None = None,
                limit: int = 200) -> DeliveryReport:
    """Archive, then relay, the queued or deferred mail whose next attempt is due."""
    report = DeliveryReport()
    config = app.settings.config.outbound
    if not config.enabled:
        report.disabled = True
        return report
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    relay = Relay(app.settings)  # a missing relay is a configuration error, before any claim
    ids = _claim(app, clock(), limit)
    if not ids:
        return report
    # Archived (and queued for filing) before anything leaves. Filing itself is the worker's
    # job: an answer that arrives first still threads by the signed token in our Message-ID,
    # and a backlog of inbound mail must not hold up delivery.
    _archive(app, ids, report)
    with relay:
        for mail_id in ids:
            with app.db.session() as session:
                mail = session.get(OutboundMail, mail_id)
                assert mail is not None and mail.sha256 is not None
                sha, sender, recipients = mail.sha256, envelope_sender(mail), mail.to_addrs
            # The archived blob itself goes to the relay: what left is what the archive holds.
            result = relay.send(sender, list(recipients), app.archive.read(sha))
            with app.db.session() as session:
                _record_attempt(session, app.settings, mail_id, result, clock(), report)
    return report


def _claim(app: WorkerContext, now: datetime, limit: int) -> list[int]:
    """Take due mail for this run: its next attempt moves past the run's end, so another node
    (or the next run) leaves it alone, and a crash mid-run only delays it."""
    relay = app.settings.config.outbound.relay
    lease = now + timedelta(seconds=relay.timeout_seconds * 4 + 60)
    with app.db.session() as session:
        rows = session.scalars(select(OutboundMail).where(
            OutboundMail.status.in_(("queued", "deferred")),
            or_(OutboundMail.next_attempt_at.is_(None), OutboundMail.next_attempt_at <= now))
            .order_by(OutboundMail.id).limit(limit).with_for_update(skip_locked=True)).all()
        for row in rows:
            row.next_attempt_at = lease
        return [row.id for row in rows]


def _archive(app: WorkerContext, ids: list[int], report: DeliveryReport) -> None:
    """Archive (durably) every claimed message not archived yet; ledger before relay."""
    app.processor.catch_up()
    with app.db.session() as session:
        mails = [m for m in session.scalars(select(OutboundMail).where(
            OutboundMail.id.in_(ids)).order_by(OutboundMail.id)) if m.sha256 is None]
        attached = documents.attachments_for(session, [m.id for m in mails])
        items = [(m, compose(m, attached.get(m.id, ()))) for m in mails]
        shas = {sha256_hex(raw) for _, raw in items}
        known = dict(session.execute(select(LedgerReceipt.sha256, LedgerReceipt.seq).where(
            LedgerReceipt.sha256.in_(shas), LedgerReceipt.direction == "outbound")).all())
        cases = {c.id: c.ref for c in session.scalars(select(Case).where(
            Case.id.in_({m.case_id for m in mails})))}
    fresh = [(m, raw) for m, raw in items if sha256_hex(raw) not in known]
    entries = app.archive.store_many([(raw, Receipt(
        transport="outbound", direction="outbound",
        envelope={"alias": m.from_addr, "mail_from": envelope_sender(m),
                  "rcpt_to": list(m.to_addrs), "outbound_id": m.id,
                  "case": cases.get(m.case_id, ""), "kind": m.kind}))
        for m, raw in fresh])
    app.queue(entries)
    known |= {entry.sha256: entry.seq for entry in entries}
    with app.db.session() as session:
        for mail, raw in items:
            row = session.get(OutboundMail, mail.id)
            assert row is not None
            row.sha256 = sha256_hex(raw)
            row.seq = known[row.sha256]
            report.archived.append(row.id)


def _record_attempt(session: Session, settings: Settings, mail_id: int, result: RelayResult,
                    now: datetime, report: DeliveryReport) -> None:
    mail = session.get(OutboundMail, mail_id, with_for_update=True)
    assert mail is not None
    case = session.get(Case, mail.case_id)
    assert case is not None
    mail.attempts += 1
    filed = session.scalar(select(Message.id).where(Message.sha256 == mail.sha256).limit(1))
    data: dict[str, Any] = {"outbound_id": mail.id, "kind": mail.kind, "to": mail.to_addrs,
                            "message_id": mail.message_id, "attempt": mail.attempts,
                            "sha256": mail.sha256, "seq": mail.seq, "relay_reply": result.reply}
    max_attempts = settings.config.outbound.max_attempts
    if result.ok:
        mail.status, mail.sent_at, mail.next_attempt_at = "sent", now, None
        mail.relay_reply, mail.last_error = result.reply, ""
        record(session, case, "outbound_sent", data | {"refused": result.refused},
               message_pk=filed)
        report.sent.append(mail.id)
        if mail.kind in FIRST_RESPONSE_KINDS and not mail.auto:
            lifecycle.mark_first_response(session, case, now, actor=mail.actor)
    elif result.temporary and mail.attempts < max_attempts:
        mail.status, mail.last_error = "deferred", result.reply
        mail.next_attempt_at = next_attempt(now, mail.attempts,
                                            settings.config.outbound.retry_base_seconds)
        record(session, case, "outbound_deferred",
               data | {"next_attempt_at": mail.next_attempt_at.isoformat()}, message_pk=filed)
        report.deferred.append(mail.id)
    else:
        mail.status, mail.last_error, mail.next_attempt_at = "failed", result.reply, None
        reason = "permanent failure" if not result.temporary else (
            f"gave up after {mail.attempts} attempts")
        record(session, case, "outbound_failed", data | {"reason": reason}, message_pk=filed)
        report.failed.append(mail.id)
    log.info("outbound %d (%s, %s): %s after attempt %d: %s", mail.id, case.ref, mail.kind,
             mail.status, mail.attempts, result.reply)


def next_attempt(now: datetime, attempts: int, base_seconds: float,
                 rng: random.Random | None = None) -> datetime:
    """Exponential backoff with ±25 % jitter, so deferred mail does not retry in lock step."""
    delay = min(base_seconds * 2 ** max(0, attempts - 1), MAX_BACKOFF_SECONDS)
    return now + timedelta(seconds=delay * (0.75 + (rng or random).random() * 0.5))
