"""Four-eyes on non-happy-path mail (issue 15, docs/approval.md).

The ``[approval]`` matrix names reply kinds (delay, defect, incident, complaint-response,
scope-change-confirmation) and case states (complaint, scope-change-pending,
property-incident) whose replies need a second person, and of which role. ``queue_mail`` asks
:func:`requirement` for every mail a person writes; a reply that needs approval is queued as
"pending" with an :class:`OutboundApproval` row, and delivery never claims a pending mail.

Decisions:
- The approver is an enabled account other than the author (compared case-insensitively),
  holding the required role; an admin may approve for any role. A person with no account
  cannot approve: four eyes need a second named person the installation knows.
- Approving makes the mail "queued" and dates it now (the Date header says when it was
  released); rejecting needs a note and makes it "rejected": it is never archived or sent.
- Held, approved and rejected are case events (``outbound_held``, ``outbound_approved``,
  ``outbound_rejected``); escalation of a long wait is ``approval_escalated``
  (:mod:`gateway.workflows.outbound.approval_wait`).
- Automatic mail (acknowledgements, escalations) is never held: nobody wrote it.
- The case states a reply was queued in are recorded in its ``outbound_queued`` event, so an
  audit can later tell whether a sent reply needed approval under the matrix
  (:func:`sent_without_approval`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gateway.core.clock import utcnow
from gateway.core.errors import WorkflowError
from gateway.core.text import iso
from gateway.db.events import record
from gateway.db.feedback import FeedbackRecord
from gateway.db.models import Case, CaseEvent
from gateway.db.outbound import OutboundApproval, OutboundMail
from gateway.db.property import PropertyItem
from gateway.db.reviews import Review
from gateway.db.users import User
from gateway.workflows.four_eyes import refuse_same_login

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gateway.config import Settings

ANY_ROLE = "admin"
DAMAGED = ("lost-damaged", "destroyed")


@dataclass(frozen=True)
class Requirement:
    """Who must approve a reply, and the matrix entries that say so."""

    role: str
    reasons: tuple[str, ...]


def case_states(session: Session, case: Case) -> list[str]:
    """The matrix's case states that hold for ``case`` now (an open complaint, a scope change
    waiting for review, a property incident)."""
    states = []
    if case.status != "closed" and session.scalar(select(FeedbackRecord.id).where(
            FeedbackRecord.case_id == case.id, FeedbackRecord.type == "complaint")):
        states.append("complaint")
    pending = set(session.scalars(select(Review.kind).where(
        Review.case_id == case.id, Review.status == "pending")))
    if "scope-change" in pending:
        states.append("scope-change-pending")
    if "property-incident" in pending or session.scalar(select(PropertyItem.id).where(
            PropertyItem.case_id == case.id, PropertyItem.status.in_(DAMAGED)).limit(1)):
        states.append("property-incident")
    return states


def requirement(settings: Settings, reply_kind: str, states: list[str]) -> Requirement | None:
    """The approval a reply of ``reply_kind`` on a case in ``states`` needs (None: none)."""
    found = settings.config.approval.role_for(reply_kind, states)
    return None if found is None else Requirement(found[0], tuple(found[1]))


def hold(session: Session, case: Case, mail: OutboundMail, needed: Requirement
         ) -> OutboundApproval:
    """Keep ``mail`` from delivery until a second person approves it (an event says why)."""
    mail.status, mail.next_attempt_at = "pending", None
    approval = OutboundApproval(
        outbound_id=mail.id, case_id=case.id, status="pending", role=needed.role,
        reasons=list(needed.reasons), author=mail.actor, held_at=utcnow().replace(microsecond=0),
        note="")
    session.add(approval)
    session.flush()
    record(session, case, "outbound_held", {
        "outbound_id": mail.id, "approval_id": approval.id, "role": needed.role,
        "reasons": list(needed.reasons), "reply_kind": mail.reply_kind},
        actor=mail.actor, message_pk=mail.in_reply_to_pk)
    return approval


def approve(session: Session, outbound_id: int, *, actor: str, note: str = ""
            ) -> tuple[OutboundApproval, OutboundMail, Case]:
    """Release a held mail for delivery; the approver is not its author and holds the role."""
    approval, mail, case = _pending(session, outbound_id)
    role = _check_approver(session, approval, actor)
    now = utcnow().replace(microsecond=0)
    approval.status, approval.decided_by, approval.decided_at = "approved", actor, now
    approval.note = note.strip()
    mail.status, mail.next_attempt_at, mail.dated_at = "queued", now, now
    record(session, case, "outbound_approved", {
        "outbound_id": mail.id, "approval_id": approval.id, "role": approval.role,
        "approver_role": role, "author": approval.author, "reasons": approval.reasons,
        "note": approval.note}, actor=actor, message_pk=mail.in_reply_to_pk)
    return approval, mail, case


def reject(session: Session, outbound_id: int, *, actor: str, note: str
           ) -> tuple[OutboundApproval, OutboundMail, Case]:
    """Refuse a held mail with the reason; it is never sent. The author may withdraw their
    own reply this way too (a rejection needs no second person: nothing leaves)."""
    text = note.strip()
    if not text:
        raise WorkflowError("not allowed because a rejection needs a note (what must change)")
    approval, mail, case = _pending(session, outbound_id)
    role = _role_of(session, actor)
    if actor.casefold() != approval.author.casefold():
        _check_approver(session, approval, actor)
    approval.status, approval.decided_by, approval.decided_at = "rejected", actor, utcnow()
    approval.note = text
    mail.status, mail.next_attempt_at, mail.last_error = "rejected", None, f"rejected: {text}"
    record(session, case, "outbound_rejected", {
        "outbound_id": mail.id, "approval_id": approval.id, "role": approval.role,
        "rejecter_role": role, "author": approval.author, "note": text},
        actor=actor, message_pk=mail.in_reply_to_pk)
    return approval, mail, case


def _pending(session: Session, outbound_id: int
             ) -> tuple[OutboundApproval, OutboundMail, Case]:
    approval = session.scalars(select(OutboundApproval).where(
        OutboundApproval.outbound_id == outbound_id).with_for_update()).one_or_none()
    mail = session.get(OutboundMail, outbound_id, with_for_update=True)
    if mail is None:
        raise WorkflowError(f"not allowed because there is no outbound mail {outbound_id}")
    if approval is None:
        raise WorkflowError(f"not allowed because outbound mail {outbound_id} needs no "
                            f"approval (it is {mail.status})")
    if approval.status != "pending":
        raise WorkflowError(f"not allowed because outbound mail {outbound_id} was already "
                            f"{approval.status} by {approval.decided_by}")
    case = session.get(Case, mail.case_id)
    assert case is not None
    return approval, mail, case


def _check_approver(session: Session, approval: OutboundApproval, actor: str) -> str:
    if actor.casefold() == approval.author.casefold():
        raise WorkflowError(f"not allowed because {actor} wrote outbound mail "
                            f"{approval.outbound_id}: a different person must approve it")
    held = session.scalars(select(CaseEvent).where(CaseEvent.case_id == approval.case_id,
                                                   CaseEvent.kind == "outbound_held"))
    refuse_same_login(session, author=approval.author,
                      author_logins=[event.actor for event in held
                                     if (event.data or {}).get("outbound_id")
                                     == approval.outbound_id],
                      approver=actor, what=f"outbound mail {approval.outbound_id}")
    role = _role_of(session, actor)
    if not role:
        raise WorkflowError(f"not allowed because {actor} has no enabled account: the approver "
                            f"of outbound mail {approval.outbound_id} must hold the role "
                            f"{approval.role} ('commgate users add')")
    if role not in (approval.role, ANY_ROLE):
        raise WorkflowError(f"not allowed because outbound mail {approval.outbound_id} needs "
                            f"approval by the role {approval.role} (or admin), and {actor} is "
                            f"{role}")
    return role


def _role_of(session: Session, actor: str) -> str:
    user = session.scalars(select(User).where(User.name == actor)).one_or_none()
    return "" if user is None or user.disabled else user.role


# -- read models -----------------------------------------------------------------------------

def approval_view(approval: OutboundApproval) -> dict[str, Any]:
    return {"id": approval.id, "status": approval.status, "role": approval.role,
            "reasons": list(approval.reasons), "author": approval.author,
            "held_at": iso(approval.held_at), "decided_by": approval.decided_by,
            "decided_at": iso(approval.decided_at), "note": approval.note,
            "escalated_at": iso(approval.escalated_at)}


def approvals_by_mail(session: Session, outbound_ids: list[int]
                      ) -> dict[int, OutboundApproval]:
    if not outbound_ids:
        return {}
    return {a.outbound_id: a for a in session.scalars(select(OutboundApproval).where(
        OutboundApproval.outbound_id.in_(outbound_ids)))}


def approval_of(session: Session, outbound_id: int) -> dict[str, Any] | None:
    """For one outbound message: whether it was held for approval, by which role, and who
    approved or rejected it when (None: it was never held)."""
    found = approvals_by_mail(session, [outbound_id]).get(outbound_id)
    return None if found is None else approval_view(found)


@dataclass(frozen=True)
class Needed:
    """A sent reply the current matrix says needs approval, and the approval it got (if any)."""

    mail: OutboundMail
    ref: str
    requirement: Requirement
    approval: OutboundApproval | None

    @property
    def approved(self) -> bool:
        return self.approval is not None and self.approval.status == "approved"

    def to_json(self) -> dict[str, Any]:
        return {"outbound_id": self.mail.id, "case": self.ref,
                "reply_kind": self.mail.reply_kind, "role": self.requirement.role,
                "reasons": list(self.requirement.reasons), "author": self.mail.actor,
                "sent_at": iso(self.mail.sent_at)}


def sent_needing_approval(session: Session, settings: Settings, since: datetime,
                          case_ids: Iterable[int] | None = None) -> list[Needed]:
    """Replies sent since ``since`` (on ``case_ids`` only, when given) that the current matrix
    says need approval, by their kind or by the case states recorded when they were queued,
    each with the approval it got: what the procedure measures and a mock audit traces."""
    query = select(OutboundMail, Case.ref).join(Case, Case.id == OutboundMail.case_id).where(
        OutboundMail.status == "sent", OutboundMail.auto.is_(False),
        OutboundMail.sent_at >= since).order_by(OutboundMail.id)
    if case_ids is not None:
        query = query.where(OutboundMail.case_id.in_(sorted(set(case_ids))))
    rows = session.execute(query).all()
    approvals = approvals_by_mail(session, [mail.id for mail, _ in rows])
    states = _queued_states(session, [mail for mail, _ in rows])
    found = []
    for mail, ref in rows:
        needed = requirement(settings, mail.reply_kind, states.get(mail.id, []))
        if needed is not None:
            found.append(Needed(mail, ref, needed, approvals.get(mail.id)))
    return found


def sent_without_approval(session: Session, settings: Settings, since: datetime
                          ) -> list[dict[str, Any]]:
    """Replies sent since ``since`` that the current matrix says need approval (by their kind,
    or by the case states recorded when they were queued) and that no second person approved:
    what a mock audit reports as missing evidence."""
    return [n.to_json() for n in sent_needing_approval(session, settings, since)
            if not n.approved]


def _queued_states(session: Session, mails: list[OutboundMail]) -> dict[int, list[str]]:
    """The case states each mail was queued in, from its ``outbound_queued`` event."""
    if not mails:
        return {}
    wanted = {mail.id for mail in mails}
    states: dict[int, list[str]] = {}
    for data in session.scalars(select(CaseEvent.data).where(
            CaseEvent.kind == "outbound_queued",
            CaseEvent.case_id.in_({mail.case_id for mail in mails}))):
        if data.get("outbound_id") in wanted:
            states[data["outbound_id"]] = list(data.get("case_states") or [])
    return states
