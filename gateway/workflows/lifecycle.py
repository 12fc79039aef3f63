"""Case lifecycle: statuses, owner role, response targets and escalation of overdue cases.

A case goes new -> open -> waiting (on the customer) -> resolved -> closed; :data:`TRANSITIONS`
is the whole list of allowed moves, and each move is a "status_changed" event with the actor.

Decisions (each one is what an auditor or a colleague would otherwise have to guess):
- Closing is allowed only from "resolved" (resolve first, then close), and only when
  :func:`can_close` agrees (no pending review, feedback classified, complaints with a
  corrective action and a resolution note).
- Reopening clears ``resolved_at``/``closed_at`` (the events keep the history); the targets
  are not reset: the customer has been waiting since the case was opened.
- A new inbound message reopens a waiting, resolved or closed case only when a person at the
  customer wrote it: not automatic mail (RFC 3834 Auto-Submitted, Precedence bulk/list/junk,
  out-of-office markers), not a bounce or delivery report, not mail from our own aliases or
  our own domains. Such a message is recorded on the case ("reopen_skipped") instead.
- Owner role and targets are resolved per field (like a cascade) from the matching
  ``lifecycle.targets`` entries, most specific first: alias+category, then category only, then
  alias only, then catch-all; ties go to the earlier entry. The role falls back to the alias's
  ``owner_role``. A complaint sent to sales@ is owned by whoever owns feedback, not by sales.
- Due times count from ``opened_at``. When the case's category changes (a vague first message,
  then a complaint), targets are computed again for the new category, still from
  ``opened_at``, and a "targets_changed" event says so; cases opened before targets existed
  are left alone, and so are resolved/closed cases. ``commgate reclassify`` does not call the
  hooks, so its category changes move targets only when the next message arrives.
- An automatic acknowledgement is NOT a first response: :func:`mark_first_response` is for a
  person's reply (the outbound module calls it for kind "reply" only). The first response also
  moves a "new" case to "open".
- Merged cases (status "merged", see threading) are outside the lifecycle: no transitions, no
  reopening, no escalation.
- Escalation: each breach (first response, resolution) of one due time is mailed once to the
  owner role's address. Without a configured address the breach is recorded once with the
  reason; when an address is configured later, that breach is mailed once. A changed due time
  (new targets) is a new breach. The clock does not stop while "waiting": targets measure our
  whole handling time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from gateway.core.clock import utcnow
from gateway.core.errors import WorkflowError
from gateway.core.text import iso
from gateway.db.events import SYSTEM, record
from gateway.db.models import Case, CaseEvent
from gateway.processing.automatic import automatic_reason as machine_reason
from gateway.workflows import feedback, reviews
from gateway.workflows.outbound import queue as outbound

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.core.context import Context
    from gateway.processing.hooks import FiledMessage

log = logging.getLogger(__name__)

STATUSES = ("new", "open", "waiting", "resolved", "closed")
MERGED = "merged"
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("open", "waiting", "resolved"),
    "open": ("waiting", "resolved"),
    "waiting": ("open", "resolved"),
    "resolved": ("open", "closed"),
    "closed": ("open",),
}
REOPENED_BY_CUSTOMER = ("waiting", "resolved", "closed")
ACTIVE = ("new", "open", "waiting")
BREACHES = ("first_response", "resolution")


# -- statuses ----------------------------------------------------------------------------------

def set_status(session: Session, case: Case, status: str, actor: str, note: str = "", *,
               message_pk: int | None = None, reason: str = "") -> CaseEvent:
    """Move ``case`` to ``status`` if the table allows it; raises WorkflowError saying why not."""
    current = case.status
    if current == MERGED:
        raise WorkflowError(f"not allowed because {case.ref} was merged into another case: "
                            f"work on that case")
    if status not in STATUSES:
        raise WorkflowError(f"not allowed because {status!r} is not a status "
                            f"(one of: {', '.join(STATUSES)})")
    if status == current:
        raise WorkflowError(f"not allowed because {case.ref} is already {status}")
    allowed = TRANSITIONS.get(current, ())
    if status not in allowed:
        raise WorkflowError(f"not allowed because a {current} case can only become "
                            f"{' or '.join(allowed) or 'nothing'}")
    if status == "closed":
        ok, why = can_close(session, case)
        if not ok:
            raise WorkflowError(f"not allowed to close {case.ref} because {why}")
    now = utcnow()
    if status == "resolved":
        case.resolved_at = now
    elif status == "closed":
        case.closed_at = now
    elif current in ("resolved", "closed"):
        case.resolved_at = case.closed_at = None
    case.status = status
    data: dict[str, Any] = {"from": current, "to": status, "note": note.strip()}
    if reason:
        data["reason"] = reason
    return record(session, case, "status_changed", data, actor=actor, message_pk=message_pk)


def can_close(session: Session, case: Case) -> tuple[bool, str]:
    """Whether the case may be closed now, and if not, why (one line, with what to do)."""
    if case.status == MERGED:
        return False, f"{case.ref} was merged into another case"
    pending = reviews.pending_review(session, case)
    if pending is not None:
        return False, (f"a {pending.kind} review is pending (#{pending.id}): decide it first")
    blocker = feedback.close_blocker(session, case)
    if blocker:
        return False, blocker
    return True, ""


def mark_first_response(session: Session, case: Case, at: datetime, *,
                        actor: str = SYSTEM) -> bool:
    """Record the first response a person sent the customer (once; later calls do nothing).

    Not for automatic acknowledgements: they tell the customer we received the mail, not that
    anyone looked at it. Returns whether this call recorded it.
    """
    if case.first_response_at is not None or case.status == MERGED:
        return False
    case.first_response_at = at
    record(session, case, "first_response", {"at": iso(at)}, actor=actor)
    if case.status == "new":
        set_status(session, case, "open", SYSTEM, "first response sent",
                   reason="first-response")
    return True


# -- owner role and targets --------------------------------------------------------------------

@dataclass(frozen=True)
class Targets:
    owner_role: str
    first_response_hours: float | None
    resolution_hours: float | None
    # Indexes of the lifecycle.targets entries each field came from (None: default).
    sources: dict[str, int | None]


def targets_for(settings: Settings, alias: str, category: str) -> Targets:
    """Owner role and target hours for a case of this alias and category (see module doc)."""
    alias = alias.lower()
    alias_cfg = next((a for a in settings.config.aliases if a.address == alias), None)
    names = {alias} | ({alias_cfg.queue_name} if alias_cfg else set())
    matching = []
    for index, entry in enumerate(settings.config.lifecycle.targets):
        alias_hit = entry.alias.lower() in names if entry.alias else None
        category_hit = entry.category == category if entry.category else None
        if alias_hit is False or category_hit is False:
            continue
        rank = (0 if alias_hit and category_hit else 1 if category_hit else
                2 if alias_hit else 3)
        matching.append((rank, index, entry))
    matching.sort(key=lambda item: item[:2])
    values: dict[str, Any] = {}
    sources: dict[str, int | None] = {}
    for field in ("owner_role", "first_response_hours", "resolution_hours"):
        found = next(((index, getattr(entry, field)) for _, index, entry in matching
                      if getattr(entry, field)), (None, None))
        sources[field], values[field] = found
    if not values["owner_role"]:
        values["owner_role"] = alias_cfg.owner_role if alias_cfg else "staff"
    return Targets(values["owner_role"], values["first_response_hours"],
                   values["resolution_hours"], sources)


def owner_roles(settings: Settings) -> tuple[str, ...]:
    """Every owner role the configuration can give a case (the aliases' and the targets'),
    sorted: what the case list's owner filter offers."""
    roles = {a.owner_role for a in settings.config.aliases}
    roles |= {t.owner_role for t in settings.config.lifecycle.targets}
    return tuple(sorted(r for r in roles if r) or ("staff",))


def apply_targets(session: Session, settings: Settings, case: Case, *, first: bool) -> bool:
    """Set owner role and due times from the targets; record what changed. Returns whether
    anything changed. ``first``: the case was just opened ("targets_set")."""
    targets = targets_for(settings, case.alias, case.category)
    after = _target_values(case, targets)
    before = _current_values(case)
    if not first and before == after:
        return False
    case.owner_role = targets.owner_role
    case.first_response_due = _due(case, targets.first_response_hours)
    case.resolution_due = _due(case, targets.resolution_hours)
    data: dict[str, Any] = {**after, "category": case.category, "alias": case.alias,
                            "target_entries": targets.sources}
    if not first:
        data["previous"] = before
    record(session, case, "targets_set" if first else "targets_changed", data)
    return True


def _due(case: Case, hours: float | None) -> datetime | None:
    return case.opened_at + timedelta(hours=hours) if hours else None


def _target_values(case: Case, targets: Targets) -> dict[str, Any]:
    return {"owner_role": targets.owner_role,
            "first_response_due": iso(_due(case, targets.first_response_hours)),
            "resolution_due": iso(_due(case, targets.resolution_hours))}


def _current_values(case: Case) -> dict[str, Any]:
    return {"owner_role": case.owner_role, "first_response_due": iso(case.first_response_due),
            "resolution_due": iso(case.resolution_due)}


def _targets_category(session: Session, case: Case) -> str | None:
    """The category the case's current targets were computed for (None: never computed)."""
    event = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id,
                                CaseEvent.kind.in_(("targets_set", "targets_changed")))
        .order_by(CaseEvent.id.desc()).limit(1)).first()
    return None if event is None else str(event.data.get("category", ""))


# -- after filing ------------------------------------------------------------------------------

def on_filed(session: Session, settings: Settings, filed: Sequence[FiledMessage]) -> None:
    """Targets for new cases, new targets after a category change, reopen on customer mail."""
    inbound = [f for f in filed if f.direction != "outbound"]
    if not inbound:
        return
    cases = {case.id: case for case in session.scalars(
        select(Case).where(Case.id.in_({f.case_id for f in inbound}))
        .execution_options(populate_existing=True))}
    targeted: set[int] = set()
    for f in inbound:
        case = cases[f.case_id]
        if case.status == MERGED:
            continue
        if f.new_case:
            apply_targets(session, settings, case, first=True)
            targeted.add(case.id)
            continue
        if case.status in REOPENED_BY_CUSTOMER:
            _reopen(session, settings, case, f)
    for case in cases.values():
        if case.id in targeted or case.status not in ACTIVE:
            continue
        # Cheap test first (no query): would the targets differ at all? Only a category change
        # moves them; a configuration change alone does not move existing cases' deadlines.
        wanted = _target_values(case, targets_for(settings, case.alias, case.category))
        if wanted == _current_values(case):
            continue
        computed_for = _targets_category(session, case)
        if computed_for is not None and computed_for != case.category:
            apply_targets(session, settings, case, first=False)


def _reopen(session: Session, settings: Settings, case: Case, f: FiledMessage) -> None:
    automatic = automatic_reason(settings, f)
    if automatic:
        record(session, case, "reopen_skipped", {"status": case.status, "reason": automatic},
               message_pk=f.message_pk)
        return
    was = case.status
    note = ("the customer replied" if was == "waiting" else
            f"reopened: new message from {f.parsed.from_addr or 'the customer'}")
    set_status(session, case, "open", SYSTEM, note, message_pk=f.message_pk,
               reason="customer-message")


def automatic_reason(settings: Settings, f: FiledMessage) -> str:
    """Why this message was not written by a person at the customer ("" if it was)."""
    machine = machine_reason(f.parsed, f.classification.bounced_message_id)
    if machine:
        return machine
    sender = f.parsed.from_addr.lower()
    ours = set(settings.alias_addresses)
    if sender in ours or sender.rsplit("@", 1)[-1] in {a.rsplit("@", 1)[-1] for a in ours}:
        return f"our own address {sender}"
    return ""


# -- escalation --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Escalation:
    """One breach escalated by :func:`escalate_overdue`."""

    case_ref: str
    breach: str  # first_response | resolution
    due: datetime
    role: str
    address: str | None
    mail_id: int | None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case_ref, "breach": self.breach, "due": iso(self.due),
                "role": self.role, "address": self.address, "mail_id": self.mail_id,
                "reason": self.reason}


def first_response_overdue(now: datetime) -> ColumnElement[bool]:
    """SQL: the case's first response was due by ``now`` and none was sent (a breach)."""
    return and_(Case.first_response_due <= now, Case.first_response_at.is_(None))


def resolution_overdue(now: datetime) -> ColumnElement[bool]:
    """SQL: the case's resolution was due by ``now`` (a breach while the case is active)."""
    return Case.resolution_due <= now


def overdue_at(now: datetime) -> ColumnElement[bool]:
    """The one definition of an overdue case (escalation, the dashboard's breaches and the web
    case list): active, and its first response or its resolution overdue at ``now``."""
    return and_(Case.status.in_(ACTIVE), or_(first_response_overdue(now), resolution_overdue(now)))


def escalate_overdue(app: Context, now: datetime | None = None, *,
                     run_by: str = SYSTEM) -> list[Escalation]:
    """Escalate every breach that is due and not yet escalated (see the module doc); one
    transaction, one savepoint per case so one failing case does not stop the others."""
    now = now or utcnow()
    done: list[Escalation] = []
    with app.db.session() as session:
        overdue = session.scalars(
            select(Case).where(overdue_at(now))
            .order_by(Case.id).with_for_update(skip_locked=True)).all()
        for case in overdue:
            try:
                with session.begin_nested():
                    done += _escalate_case(session, app.settings, case, now, run_by)
            except Exception as exc:
                log.error("escalation of %s failed: %s; retried at the next run", case.ref, exc)
                log.debug("escalation failure", exc_info=True)
    return done


def _escalate_case(session: Session, settings: Settings, case: Case, now: datetime,
                   run_by: str) -> list[Escalation]:
    earlier = _earlier_escalations(session, case)
    role = case.owner_role or targets_for(settings, case.alias, case.category).owner_role
    address = settings.config.lifecycle.role_addresses.get(role) or None
    result = []
    for breach, due in _breaches(case, now):
        mailed_before, recorded_before = earlier.get((breach, iso(due)), (False, False))
        if mailed_before or (recorded_before and address is None):
            continue
        data: dict[str, Any] = {"breach": breach, "due": iso(due), "role": role,
                                "address": address}
        if run_by != SYSTEM:
            data["run_by"] = run_by
        mail_id, reason = None, ""
        if address is None:
            reason = (f"no address for role {role!r}: set lifecycle.role_addresses.{role} "
                      f"in commgate.toml")
            data["reason"] = reason
            log.warning("%s: %s overdue since %s, not mailed: %s", case.ref,
                        breach.replace("_", " "), iso(due), reason)
        else:
            mail_id = _queue_escalation_mail(session, settings, case, breach, due, role, address)
            data["mail_id"] = mail_id
        record(session, case, "escalated", data)
        case.escalated_at = now
        result.append(Escalation(case.ref, breach, due, role, address, mail_id, reason))
    return result


def _breaches(case: Case, now: datetime) -> list[tuple[str, datetime]]:
    found = []
    if (case.first_response_due is not None and case.first_response_at is None
            and case.first_response_due <= now):
        found.append(("first_response", case.first_response_due))
    if case.resolution_due is not None and case.resolution_due <= now:
        found.append(("resolution", case.resolution_due))
    return found


def _earlier_escalations(session: Session, case: Case
                         ) -> dict[tuple[str, str | None], tuple[bool, bool]]:
    """(breach, due) -> (mailed, recorded) from the case's "escalated" events."""
    seen: dict[tuple[str, str | None], tuple[bool, bool]] = {}
    for data in session.scalars(select(CaseEvent.data).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == "escalated")):
        key = (data.get("breach", ""), data.get("due"))
        mailed = seen.get(key, (False, False))[0] or bool(data.get("address"))
        seen[key] = (mailed, True)
    return seen


def _queue_escalation_mail(session: Session, settings: Settings, case: Case, breach: str,
                           due: datetime, role: str, address: str) -> int:
    what = "first response" if breach == "first_response" else "resolution"
    subject = _one_line(f"[{case.ref}] overdue: {what} was due {due:%Y-%m-%d %H:%M} UTC "
                        f"({role})")
    body = "\n".join([
        f"Case {case.ref} is overdue: its {what} was due {due:%Y-%m-%d %H:%M} UTC.",
        "",
        f"Subject:    {_one_line(case.subject)}",
        f"Customer:   {case.customer}",
        f"Alias:      {case.alias}",
        f"Category:   {case.category}",
        f"Status:     {case.status}",
        f"Owner role: {role}",
        f"Opened:     {case.opened_at:%Y-%m-%d %H:%M} UTC",
        "",
        f"See it with: commgate cases show {case.ref}",
        "",
        "This message was sent automatically by commgate (lifecycle escalation).",
    ])
    mail = outbound.queue_mail(session, settings, case, kind="escalation", to=[address],
                               actor=SYSTEM, subject=subject, body=body, auto=True)
    return int(mail.id)


def details_for_case(session: Session, case: Case) -> dict[str, Any]:
    """The lifecycle and feedback part of ``cases show``."""
    blocker = None
    if case.status == "resolved":
        ok, why = can_close(session, case)
        blocker = None if ok else why
    return {
        "owner_role": case.owner_role,
        "first_response_due": iso(case.first_response_due),
        "first_response_at": iso(case.first_response_at),
        "resolution_due": iso(case.resolution_due),
        "resolved_at": iso(case.resolved_at),
        "closed_at": iso(case.closed_at),
        "escalated_at": iso(case.escalated_at),
        "next_statuses": list(TRANSITIONS.get(case.status, ())),
        "close_blocker": blocker,
        "feedback": feedback.details_for_case(session, case),
    }


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]
