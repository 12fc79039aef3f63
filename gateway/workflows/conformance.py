"""Measured conformance (ISO 9001 8.2.1): how often the records show the procedure was followed.

The Customer Communication Procedure (``gateway.evidence.procedure``) states the rules of this
installation; this module measures, from the records alone, how often each rule was kept over a
period, so the written process cannot drift from the practised one without it showing.

Each rule is one :class:`ConformanceCheck` in :data:`CHECKS`: a name, the element of clause
8.2.1 it belongs to, one sentence saying what it measures, and a function
``fn(session, settings, since) -> Measured`` (a numerator over a denominator, the failing
cases, each with its reason, and a note for what the figures do not say). Adding a rule is one
such function and one line in :data:`CHECKS`; the rules of the issue-15 workflows (controlled
documents sent in their published version, feedback reviewed on cadence, non-happy-path
replies approved, calls and meetings on the record) read those workflows' own read functions
(``documents.sends``, ``feedback_reviews.review_cadence``,
``outbound.approval.sent_needing_approval``, the ``note_recorded`` events).

Decisions:
- A check counts only what it can judge: a target not yet due, an item still announced and a
  case still open are left out of the denominator, not counted as kept.
- A complaint is a case whose feedback record *was ever* a complaint (its current type, or a
  ``feedback_classified`` event from "complaint"): retyping it before closing does not take it
  out of the measure, and the retype is named in the finding.
- Figures are read from the records (rows and case events), never from configuration: the
  configuration is what the procedure says, the records are what was done. Two rules judge
  the records against the configuration as it is now: which sent replies needed a second
  person's approval (the ``[approval]`` matrix) and how often feedback must be reviewed
  (``[feedback] review_every_days``); a matrix widened after a reply went out shows that reply
  as sent without approval, which is what an auditor applying today's rule would find.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from classifiers.context import normalise
from gateway.core.clock import utcnow
from gateway.core.text import acted_by, iso
from gateway.db.documents import DocumentVersion
from gateway.db.events import case_family, surviving_case
from gateway.db.feedback import FeedbackRecord, FeedbackReviewItem
from gateway.db.models import Case, CaseEvent, CaseLink, Message
from gateway.db.outbound import OutboundMail
from gateway.db.property import PropertyHistory, PropertyItem
from gateway.db.reviews import CHECKLIST_ITEMS, OrderDecision, Review
from gateway.workflows import documents, feedback_reviews, notes
from gateway.workflows.feedback import CLASSIFIED_EVENT
from gateway.workflows.outbound import approval

if TYPE_CHECKING:
    from gateway.config import Settings

# The elements of clause 8.2.1 the procedure is organised by (a to d), and the response and
# escalation rules that cut across them (8.2.1 e: contingency).
ELEMENTS: dict[str, str] = {
    "information": "8.2.1 a: information about products and services",
    "orders": "8.2.1 b: enquiries, contracts and orders, including changes",
    "feedback": "8.2.1 c: customer feedback, including complaints",
    "property": "8.2.1 d: handling or controlling customer property",
    "response": "8.2.1 e: response targets, escalation and contingency",
}
KEPT_STATES = ("ok", "n/a")


@dataclass(frozen=True)
class Finding:
    """One case where the rule was not kept, and why (one line an auditor can check)."""

    ref: str
    reason: str


@dataclass(frozen=True)
class Measured:
    """``numerator`` of ``denominator`` records kept the rule; ``failing`` names the others."""

    numerator: int
    denominator: int
    failing: tuple[Finding, ...] = ()
    # What the figures alone do not say (reviews held, the cadence), or, for a rule with no
    # measure (calls and meetings: nothing says which call must be noted), the whole result.
    note: str = ""

    @property
    def rate(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


Measure = Callable[[Session, "Settings", datetime], Measured]


@dataclass(frozen=True)
class ConformanceCheck:
    """One rule of the procedure and how its keeping is measured from the records."""

    name: str
    element: str
    measures: str
    measure: Measure


@dataclass(frozen=True)
class ConformanceResult:
    check: ConformanceCheck
    measured: Measured

    def to_json(self) -> dict[str, Any]:
        m = self.measured
        return {"name": self.check.name, "element": self.check.element,
                "measures": self.check.measures, "numerator": m.numerator,
                "denominator": m.denominator,
                "rate": None if m.rate is None else round(m.rate, 4),
                "failing": [{"ref": f.ref, "reason": f.reason} for f in m.failing],
                "note": m.note}


def measure_all(session: Session, settings: Settings, since: datetime,
                checks: Iterable[ConformanceCheck] | None = None) -> list[ConformanceResult]:
    """Every check of :data:`CHECKS` (or those given) over the records since ``since``."""
    return [ConformanceResult(check, check.measure(session, settings, since))
            for check in (CHECKS if checks is None else checks)]


def _ratio(results: Iterable[tuple[str, str | None]]) -> Measured:
    """(ref, reason it failed or None) per judged record."""
    judged = list(results)
    failing = tuple(Finding(ref, why) for ref, why in judged if why)
    return Measured(len(judged) - len(failing), len(judged), failing)


def case_refs(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return dict(session.execute(select(Case.id, Case.ref).where(Case.id.in_(wanted))).all())


# -- orders (8.2.1 b) -------------------------------------------------------------------------

def checklist_gap(checklist: Any) -> str | None:
    """What kept a stored checklist (an order decision's) from being complete, or None."""
    items = checklist if isinstance(checklist, dict) else {}
    missing = [name for name in CHECKLIST_ITEMS if not items.get(name)]
    not_ok = [name for name in CHECKLIST_ITEMS
              if items.get(name) and items[name].get("state") not in KEPT_STATES]
    gaps = ([f"not checked: {', '.join(missing)}"] if missing else []) + (
        [f"not ok: {', '.join(not_ok)}"] if not_ok else [])
    return "; ".join(gaps) or None


def accepted_since(session: Session, since: datetime) -> list[OrderDecision]:
    return list(session.scalars(select(OrderDecision).where(
        OrderDecision.decision == "accepted", OrderDecision.at >= since)
        .order_by(OrderDecision.id)))


def requirement_review_complete(session: Session, settings: Settings,
                                since: datetime) -> Measured:
    decisions = accepted_since(session, since)
    refs = case_refs(session, (d.case_id for d in decisions))
    return _ratio((refs[d.case_id], _review_gap(d)) for d in decisions)


def _review_gap(decision: OrderDecision) -> str | None:
    gap = checklist_gap(decision.checklist)
    return (f"accepted by {decision.actor} on {iso(decision.at)} with the requirement review "
            f"incomplete ({gap})") if gap else None


def changes_of_order(session: Session, case: Case,
                     numbers: dict[int, set[str]] | None = None) -> list[Review]:
    """The scope-change reviews that concern an order case: its family's, those of the cases
    linked to it, and those of cases naming one of its order numbers (a change mailed without
    a reply header opens its own case); the same reach as acceptance's own check.
    ``numbers`` keeps each other case's order numbers between calls (one measure asks for
    every accepted order)."""
    numbers = {} if numbers is None else numbers
    family = set(case_family(session, case))
    linked = set(session.scalars(select(CaseLink.other_case_id).where(
        CaseLink.case_id.in_(family)))) | set(session.scalars(select(CaseLink.case_id).where(
            CaseLink.other_case_id.in_(family))))
    found = []
    ours: set[str] | None = None
    for review in session.scalars(select(Review).where(Review.kind == "scope-change")
                                  .order_by(Review.id)):
        if review.case_id in family or review.case_id in linked:
            found.append(review)
            continue
        ours = order_numbers(session, family) if ours is None else ours
        if ours and ours & _numbers_of(session, review.case_id, numbers):
            found.append(review)
    return found


def _numbers_of(session: Session, case_id: int, known: dict[int, set[str]]) -> set[str]:
    """The order numbers of the family (of the surviving case) a case belongs to."""
    if case_id not in known:
        case = session.get(Case, case_id)
        known[case_id] = order_numbers(session, case_family(
            session, surviving_case(session, case))) if case is not None else set()
    return known[case_id]


def order_numbers(session: Session, case_ids: Iterable[int]) -> set[str]:
    """The purchase-order numbers the messages of these cases name (normalised)."""
    numbers = set()
    for identifiers in session.scalars(select(Message.identifiers).where(
            Message.case_id.in_(list(case_ids)))):
        for item in identifiers or ():
            if isinstance(item, dict) and item.get("kind") == "po" and item.get("value"):
                numbers.add(normalise(str(item["value"])))
    return numbers


def unconfirmed_at_acceptance(session: Session, decision: OrderDecision,
                              numbers: dict[int, set[str]] | None = None) -> list[str]:
    """Each scope change the order was accepted over without the customer's confirmation:
    opened before the acceptance and not confirmed by the customer before it."""
    case = session.get(Case, decision.case_id)
    if case is None:
        return []
    problems = []
    for review in changes_of_order(session, case, numbers):
        if review.opened_at > decision.at or review.status == "withdrawn":
            continue
        if review.status == "pending" or (review.decided_at and review.decided_at > decision.at):
            problems.append(f"scope change review {review.id} was still undecided")
        elif review.confirmed_at is None or review.confirmed_at > decision.at:
            problems.append(f"the customer had not confirmed scope change review {review.id} "
                            f"({review.status} by {review.decided_by})")
    return problems


def changes_confirmed_before_acceptance(session: Session, settings: Settings,
                                        since: datetime) -> Measured:
    decisions = accepted_since(session, since)
    refs = case_refs(session, (d.case_id for d in decisions))
    judged = []
    numbers: dict[int, set[str]] = {}
    for d in decisions:
        problems = unconfirmed_at_acceptance(session, d, numbers)
        judged.append((refs[d.case_id], f"accepted by {d.actor} on {iso(d.at)} while "
                       f"{'; '.join(problems)}" if problems else None))
    return _ratio(judged)


def review_confirmation_gap(review: Review) -> str | None:
    """Why a scope-change review lacks its decision or the customer's confirmation, or None."""
    if review.status == "pending":
        return f"scope change review {review.id} is still pending since {iso(review.opened_at)}"
    if review.confirmation_mail_id is None:
        return (f"scope change review {review.id} was {review.status} by {review.decided_by} "
                f"without a confirmation to the customer")
    if review.confirmed_by_message_pk is None:
        return (f"scope change review {review.id} was {review.status} by {review.decided_by}; "
                f"the customer's confirmation has not been received")
    return None


def scope_changes_confirmed(session: Session, settings: Settings, since: datetime) -> Measured:
    reviews = list(session.scalars(select(Review).where(
        Review.kind == "scope-change", Review.status != "withdrawn",
        Review.opened_at >= since).order_by(Review.id)))
    refs = case_refs(session, (r.case_id for r in reviews))
    return _ratio((refs[r.case_id], review_confirmation_gap(r)) for r in reviews)


# -- feedback (8.2.1 c) -----------------------------------------------------------------------

def retypes_from_complaint(session: Session, case_ids: Iterable[int]
                           ) -> dict[int, list[dict[str, Any]]]:
    """Every change of a feedback type away from "complaint", by case id: who, when, why."""
    wanted = sorted(set(case_ids))
    found: dict[int, list[dict[str, Any]]] = {}
    if not wanted:
        return found
    for case_id, at, actor, claimed_as, data in session.execute(
            select(CaseEvent.case_id, CaseEvent.at, CaseEvent.actor, CaseEvent.claimed_as,
                   CaseEvent.data).where(
                CaseEvent.kind == CLASSIFIED_EVENT, CaseEvent.case_id.in_(wanted))
            .order_by(CaseEvent.id)):
        change = data.get("type") if isinstance(data, dict) else None
        if isinstance(change, dict) and change.get("from") == "complaint":
            found.setdefault(case_id, []).append({
                "to": change.get("to"), "by": acted_by(actor, claimed_as), "at": iso(at),
                "note": data.get("note", ""), "role": data.get("role", "")})
    return found


def complaints(session: Session) -> list[tuple[FeedbackRecord, Case, list[dict[str, Any]]]]:
    """Every feedback record that is or was a complaint, with its case and its retypes."""
    rows = list(session.execute(select(FeedbackRecord, Case).join(
        Case, Case.id == FeedbackRecord.case_id).order_by(FeedbackRecord.id)).all())
    retypes = retypes_from_complaint(session, (case.id for _, case in rows))
    return [(row, case, retypes.get(case.id, [])) for row, case in rows
            if row.type == "complaint" or case.id in retypes]


def corrective_action_gap(row: FeedbackRecord, retypes: list[dict[str, Any]]) -> str | None:
    """Why a complaint's record lacks its corrective action, or None."""
    missing = [what for what, value in (("corrective action", row.corrective_action_ref),
                                        ("resolution note", row.resolution_note)) if not value]
    if not missing:
        return None
    why = f"closed without {' and '.join(missing)}"
    if retypes:
        last = retypes[-1]
        role = f" ({last['role']})" if last["role"] else ""
        why += (f" after it was retyped complaint -> {last['to']} by {last['by']}{role} on "
                f"{last['at']}: {last['note'] or 'no note'}")
    return why


def complaints_with_corrective_action(session: Session, settings: Settings,
                                      since: datetime) -> Measured:
    return _ratio((case.ref, corrective_action_gap(row, retypes))
                  for row, case, retypes in complaints(session)
                  if case.status == "closed" and case.closed_at and case.closed_at >= since)


# -- property (8.2.1 d) -----------------------------------------------------------------------

def custody_gaps(session: Session, item: PropertyItem) -> dict[str, str | None]:
    """The receipt and return records of an item: "" when present, the reason when missing,
    None when not applicable (still announced; still in our care)."""
    steps = list(session.scalars(select(PropertyHistory).where(
        PropertyHistory.item_id == item.id).order_by(PropertyHistory.id)))
    receipt = next((s for s in steps if s.to_status == "received"), None)
    gaps: dict[str, str | None] = {"receipt": None, "return": None}
    if item.status != "announced":
        data = receipt.data if receipt and isinstance(receipt.data, dict) else {}
        gaps["receipt"] = "" if receipt and data.get("condition") and data.get("location") else (
            f"property item {item.id} ({item.status}) has no receipt record with condition and "
            f"location")
    if item.status == "returned":
        back = next((s for s in reversed(steps) if s.to_status == "returned"), None)
        data = back.data if back and isinstance(back.data, dict) else {}
        gaps["return"] = "" if data.get("destination") and data.get("shipping_ref") else (
            f"property item {item.id} is returned without a destination and shipment reference")
    elif item.status == "destroyed":
        gone = next((s for s in reversed(steps) if s.to_status == "destroyed"), None)
        gaps["return"] = "" if gone and gone.note else (
            f"property item {item.id} is destroyed without a record saying how")
    return gaps


def confirmed_items(session: Session, since: datetime) -> list[PropertyItem]:
    return list(session.scalars(select(PropertyItem).where(
        PropertyItem.proposed.is_(False), PropertyItem.status != "dismissed",
        PropertyItem.created_at >= since).order_by(PropertyItem.id)))


def property_custody_recorded(session: Session, settings: Settings,
                              since: datetime) -> Measured:
    items = [i for i in confirmed_items(session, since) if i.status != "announced"]
    refs = case_refs(session, (i.case_id for i in items))
    judged = []
    for item in items:
        gaps = [why for why in custody_gaps(session, item).values() if why]
        judged.append((refs[item.case_id], "; ".join(gaps) or None))
    return _ratio(judged)


# -- information (8.2.1 a) --------------------------------------------------------------------

def mail_from_published_templates(session: Session, settings: Settings,
                                  since: datetime) -> Measured:
    mails = list(session.scalars(select(OutboundMail).where(
        OutboundMail.kind.in_(("ack", "reply", "confirmation")),
        OutboundMail.status != "suppressed", OutboundMail.created_at >= since)
        .order_by(OutboundMail.id)))
    refs = case_refs(session, (m.case_id for m in mails))
    return _ratio((refs[m.case_id], None if m.template_name else
                   f"{m.kind} {m.id} by {m.actor} on {iso(m.created_at)} is free text, not a "
                   f"controlled template") for m in mails)


def _when(text: str) -> datetime:
    """A time as the read models give it (:func:`iso`) back as a datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def document_send_gap(doc: DocumentVersion | None, send: dict[str, Any]) -> str | None:
    """Why a recorded send was not of the version published at the time, or None."""
    what = f"{send['name']} v{send['version']} sent to {send['recipient']} on {send['at']}"
    if doc is None:
        return f"{what}: no such version"
    if doc.sha256 != send["sha256"]:
        return f"{what}: the bytes sent ({send['sha256'][:12]}) are not the version's"
    at = _when(send["at"])
    published_then = doc.published_at is not None and doc.published_at <= at and (
        doc.ended_at is None or doc.ended_at > at)
    return None if published_then else f"{what}: that version was not the published one then"


def documents_sent_as_published(session: Session, settings: Settings,
                                since: datetime) -> Measured:
    names = list(session.scalars(select(DocumentVersion.name).distinct()
                                 .order_by(DocumentVersion.name)))
    versions = {(d.name, d.version): d for d in session.scalars(select(DocumentVersion))}
    judged = []
    for name in names:
        for send in documents.sends(session, name):
            if _when(send["at"]) >= since:
                judged.append((send["case"], document_send_gap(
                    versions.get((send["name"], send["version"])), send)))
    return _ratio(judged)


# -- non-happy-path mail, calls and meetings, feedback review (8.2.1 c, e) ---------------------

def replies_approved(session: Session, settings: Settings, since: datetime) -> Measured:
    needed = approval.sent_needing_approval(session, settings, since)
    return _ratio((n.ref, None if n.approved else
                   f"reply {n.mail.id} ({n.mail.reply_kind or 'reply'}, "
                   f"{', '.join(n.requirement.reasons)}) by {n.mail.actor} sent "
                   f"{iso(n.mail.sent_at)} without approval by the role {n.requirement.role}")
                  for n in needed)


def feedback_reviewed_on_cadence(session: Session, settings: Settings,
                                 since: datetime) -> Measured:
    """The stretches of the period between recorded feedback reviews (from its start, between
    reviews, to now) and the period's feedback items due for review (recorded more than
    ``review_every_days`` ago): a stretch is kept when no longer than the cadence, an item when
    a review took it up."""
    now = utcnow()
    cadence = feedback_reviews.review_cadence(session, settings, since, now)
    every = cadence["every_days"]
    held = [r["held_at"] for r in cadence["reviews"]]
    stretches = len(held) + 1
    judged: list[tuple[str, str | None]] = [("cadence", None)] * (stretches - len(cadence["gaps"]))
    judged += [("cadence", f"no feedback review from {g['from']} to {g['to']} ({g['days']:g} "
                f"days; the cadence is every {every} days)") for g in cadence["gaps"]]
    due = now - timedelta(days=every)
    never = [item for item in cadence["never_reviewed"]
             if since <= _when(item["recorded_at"]) <= due]
    judged += [(item["ref"], f"{item['type'] or 'feedback'} recorded {item['recorded_at']} "
                f"was never taken up by a feedback review") for item in never]
    reviewed = _reviewed_items_due(session, since, due)
    judged += [(ref, None) for ref in reviewed]
    return Measured(*_counts(judged), note=(
        f"{len(held)} review(s) held in the period"
        + (f" (last {held[-1]})" if held else "") + f"; cadence every {every} days"))


def _reviewed_items_due(session: Session, since: datetime, due: datetime) -> list[str]:
    """The feedback items recorded in [since, due] that a review took up (each once)."""
    rows = session.execute(select(FeedbackRecord.id, Case.ref).join(
        Case, Case.id == FeedbackRecord.case_id).where(
        FeedbackRecord.created_at >= since, FeedbackRecord.created_at <= due,
        FeedbackRecord.id.in_(
            select(FeedbackReviewItem.feedback_id))).order_by(FeedbackRecord.id)).all()
    return [ref for _, ref in rows]


def _counts(judged: list[tuple[str, str | None]]) -> tuple[int, int, tuple[Finding, ...]]:
    measured = _ratio(judged)
    return measured.numerator, measured.denominator, measured.failing


def calls_and_meetings_recorded(session: Session, settings: Settings,
                                since: datetime) -> Measured:
    """Informational: nothing says which call must be noted, so there is no rate; the count
    by channel shows whether calls and meetings reach the record at all."""
    channels: dict[str, int] = {}
    for data in session.scalars(select(CaseEvent.data).where(
            CaseEvent.kind == notes.NOTE_EVENT, CaseEvent.at >= since)):
        channel = str(data.get("channel") or "other") if isinstance(data, dict) else "other"
        channels[channel] = channels.get(channel, 0) + 1
    total = sum(channels.values())
    by = ", ".join(f"{name} {n}" for name, n in sorted(channels.items()))
    return Measured(0, 0, note=f"informational: {total} call/meeting note(s) on the record"
                    + (f" ({by})" if by else "") + " ('commgate cases note')")


# -- response targets (8.2.1 e) ---------------------------------------------------------------

def _target_cases(session: Session, since: datetime, due: Any) -> list[Case]:
    return list(session.scalars(select(Case).where(
        Case.opened_at >= since, Case.status != "merged", due.is_not(None))
        .order_by(Case.id)))


def first_response_gap(case: Case, now: datetime) -> str | None:
    """Why the first response missed its target, None when kept, "" when not yet judgeable."""
    due = case.first_response_due
    if due is None:
        return ""
    if case.first_response_at is not None:
        return None if case.first_response_at <= due else (
            f"first response {iso(case.first_response_at)}, due {iso(due)}")
    return f"no first response; due {iso(due)}" if due <= now else ""


def first_responses_within_target(session: Session, settings: Settings,
                                  since: datetime) -> Measured:
    now = utcnow()
    judged = [(c.ref, first_response_gap(c, now))
              for c in _target_cases(session, since, Case.first_response_due)]
    return _ratio((ref, why) for ref, why in judged if why != "")


def resolutions_within_target(session: Session, settings: Settings,
                              since: datetime) -> Measured:
    now = utcnow()
    judged = []
    for case in _target_cases(session, since, Case.resolution_due):
        due = case.resolution_due
        assert due is not None  # selected so
        if case.resolved_at is not None:
            judged.append((case.ref, None if case.resolved_at <= due else
                           f"resolved {iso(case.resolved_at)}, due {iso(due)}"))
        elif due <= now:
            judged.append((case.ref, f"not resolved; due {iso(due)}"))
    return _ratio(judged)


# The registry: one line per rule. Order is the order of the procedure's conformance table.
CHECKS: tuple[ConformanceCheck, ...] = (
    ConformanceCheck("replies-from-published-templates", "information",
                     "acknowledgements, replies and confirmations sent from a published "
                     "(approved) template rather than free text", mail_from_published_templates),
    ConformanceCheck("documents-sent-as-published", "information",
                     "controlled documents attached to customer mail in the version published "
                     "at the time, with its bytes (sha256)", documents_sent_as_published),
    ConformanceCheck("orders-with-complete-review", "orders",
                     "orders accepted with every requirement-review item ok or n/a",
                     requirement_review_complete),
    ConformanceCheck("orders-with-changes-confirmed", "orders",
                     "orders accepted only after each earlier scope change was decided and "
                     "confirmed by the customer", changes_confirmed_before_acceptance),
    ConformanceCheck("scope-changes-confirmed", "orders",
                     "scope changes reviewed (decision with a note) and confirmed by the "
                     "customer", scope_changes_confirmed),
    ConformanceCheck("complaints-with-corrective-action", "feedback",
                     "complaints closed with a corrective-action reference and a resolution "
                     "note (a complaint retyped before closing still counts)",
                     complaints_with_corrective_action),
    ConformanceCheck("feedback-reviewed-on-cadence", "feedback",
                     "no stretch longer than [feedback] review_every_days without a recorded "
                     "feedback review, and every feedback item due for review taken up by one",
                     feedback_reviewed_on_cadence),
    ConformanceCheck("property-with-custody-records", "property",
                     "customer property with a receipt record (condition, location) and, once "
                     "gone, a return (destination, shipment) or disposal record",
                     property_custody_recorded),
    ConformanceCheck("non-happy-path-replies-approved", "response",
                     "replies the [approval] matrix names (by kind, or by the case's state when "
                     "queued) sent only after a second person of the role approved them",
                     replies_approved),
    ConformanceCheck("calls-and-meetings-recorded", "response",
                     "calls, meetings, visits and portal messages noted on their case",
                     calls_and_meetings_recorded),
    ConformanceCheck("first-response-within-target", "response",
                     "cases whose first response went out within the configured target",
                     first_responses_within_target),
    ConformanceCheck("resolution-within-target", "response",
                     "cases resolved within the configured target", resolutions_within_target),
)
