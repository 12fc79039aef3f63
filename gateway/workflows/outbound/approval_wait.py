"""Escalating held replies that wait too long for their approval (docs/approval.md).

A reply held longer than ``[approval] escalate_after_minutes`` is mailed to the approving
role's address (``[lifecycle] role_addresses``), once per interval while it still waits: the
daemon runs :func:`escalate_waiting` with the lifecycle escalation, and a second run within
the interval sends nothing. Without an address the wait is recorded (once per interval) with
the reason, as the lifecycle does for overdue cases. Each escalation is an
``approval_escalated`` case event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gateway.core.clock import utcnow
from gateway.core.text import iso
from gateway.db.events import SYSTEM, record
from gateway.db.models import Case
from gateway.db.outbound import OutboundApproval, OutboundMail
from gateway.workflows.outbound import queue

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gateway.config import Settings
    from gateway.core.context import Context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WaitEscalation:
    """One held reply escalated by :func:`escalate_waiting`."""

    case_ref: str
    outbound_id: int
    role: str
    address: str | None
    mail_id: int | None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case_ref, "outbound_id": self.outbound_id, "role": self.role,
                "address": self.address, "mail_id": self.mail_id, "reason": self.reason}


def escalate_waiting(app: Context, now: datetime | None = None) -> list[WaitEscalation]:
    """Escalate every held reply whose wait (since it was held, or since its last escalation)
    reached the interval; one savepoint per reply so one failure does not stop the others."""
    now = now or utcnow()
    every = timedelta(minutes=app.settings.config.approval.escalate_after_minutes)
    done = []
    with app.db.session() as session:
        waiting = session.scalars(select(OutboundApproval).where(
            OutboundApproval.status == "pending", OutboundApproval.held_at <= now - every)
            .order_by(OutboundApproval.id).with_for_update(skip_locked=True)).all()
        for approval in waiting:
            if approval.escalated_at is not None and approval.escalated_at > now - every:
                continue
            try:
                with session.begin_nested():
                    done.append(_escalate(session, app.settings, approval, now))
            except Exception as exc:
                log.error("escalation of held outbound %d failed: %s; retried at the next run",
                          approval.outbound_id, exc)
    return done


def _escalate(session: Session, settings: Settings, approval: OutboundApproval,
              now: datetime) -> WaitEscalation:
    case = session.get(Case, approval.case_id)
    mail = session.get(OutboundMail, approval.outbound_id)
    assert case is not None and mail is not None
    address = settings.config.lifecycle.role_addresses.get(approval.role) or None
    data: dict[str, Any] = {"outbound_id": mail.id, "approval_id": approval.id,
                            "role": approval.role, "address": address,
                            "held_at": iso(approval.held_at), "author": approval.author}
    mail_id, reason = None, ""
    if address is None:
        reason = (f"no address for role {approval.role!r}: set "
                  f"lifecycle.role_addresses.{approval.role} in commgate.toml")
        data["reason"] = reason
        log.warning("%s: outbound %d waits for approval since %s, not mailed: %s", case.ref,
                    mail.id, iso(approval.held_at), reason)
    else:
        mail_id = _queue_mail(session, settings, case, mail, approval, address, now)
        data["mail_id"] = mail_id
    approval.escalated_at = now
    record(session, case, "approval_escalated", data)
    return WaitEscalation(case.ref, mail.id, approval.role, address, mail_id, reason)


def _queue_mail(session: Session, settings: Settings, case: Case, mail: OutboundMail,
                approval: OutboundApproval, address: str, now: datetime) -> int:
    waited = int((now - approval.held_at).total_seconds() // 60)
    subject = queue.header_text(f"[{case.ref}] reply {mail.id} waits for approval "
                                f"({approval.role}, {waited} min)", 200)
    body = "\n".join([
        f"Outbound reply {mail.id} on case {case.ref} has waited {waited} minutes for a "
        f"second person's approval.",
        "",
        f"Written by: {approval.author}",
        f"Held since: {approval.held_at:%Y-%m-%d %H:%M} UTC",
        f"Needs:      the role {approval.role} (or admin)",
        f"Why:        {', '.join(approval.reasons)}",
        f"To:         {', '.join(mail.to_addrs)}",
        f"Subject:    {queue.header_text(mail.subject, 200)}",
        "",
        f"Approve it: commgate outbound approve {mail.id}",
        f"Reject it:  commgate outbound reject {mail.id} --note TEXT",
        "",
        "This message was sent automatically by commgate (approval escalation).",
    ])
    sent = queue.queue_mail(session, settings, case, kind="escalation", to=[address],
                            actor=SYSTEM, subject=subject, body=body, auto=True)
    return int(sent.id)
