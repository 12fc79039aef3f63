"""The mock audit (ISO 9001 8.2.1, "run a sample audit"): pick recent records at random, trace
each end to end, and list the evidence an auditor would find present and what is missing.

What is sampled is a :class:`SampleKind` in :data:`KINDS` (accepted orders, scope changes,
complaints, customer property), each with the function that lists its candidates of a period.
What each sampled record must show is a :class:`TraceCheck` in :data:`TRACE_CHECKS`: the kind it
applies to, the evidence expected, the element of clause 8.2.1, and ``fn(session, settings,
sampled) -> (status, detail)`` with status "present", "missing" or "n/a" (the evidence does not
apply to this record yet, e.g. a return record for an item still in our care). A new kind of
evidence is one function and one line in :data:`TRACE_CHECKS`; a new kind of record is one line
in :data:`KINDS`. Every sampled record's case is also traced for a non-happy-path reply sent
without the approval the ``[approval]`` matrix asks (missing), and lists the calls and meetings
noted and the controlled documents sent on it (present when there, never required); a
complaint shows whether a feedback review took it up once the cadence made one due.

Decisions:
- The pick is ``random.Random(seed).sample`` over candidates in id order, so the same seed over
  the same records picks the same sample; without a seed one is drawn and reported, so any
  sample can be repeated.
- Readiness of an element is present / (present + missing) over the sampled records' evidence
  of that element; "n/a" counts on neither side. The overall score is the same over all of it.
- A trace lists the case events (when, who, what kind) of the record's case family: the
  end-to-end chain the auditor follows; no message content, so a sample is not an archive
  access (the audit pack, which carries the messages, is recorded as an export).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.core.clock import utcnow
from gateway.core.text import acted_by, iso
from gateway.db.documents import DocumentSend, DocumentVersion
from gateway.db.events import case_family
from gateway.db.feedback import FeedbackReview, FeedbackReviewItem
from gateway.db.models import Case, CaseEvent, Message
from gateway.db.outbound import OutboundMail
from gateway.db.reviews import OrderDecision, Review
from gateway.workflows import conformance as cf
from gateway.workflows import documents, four_eyes, notes
from gateway.workflows.outbound import approval

if TYPE_CHECKING:
    from gateway.config import Settings

PRESENT, MISSING, NOT_APPLICABLE = "present", "missing", "n/a"
Outcome = tuple[str, str]


@dataclass(frozen=True)
class Sampled:
    """One picked record: its kind, its id, the row itself and the case it is on."""

    kind: str
    record_id: int
    record: Any
    case: Case
    label: str


@dataclass(frozen=True)
class SampleKind:
    kind: str
    title: str
    candidates: Callable[[Session, datetime], list[Sampled]]


@dataclass(frozen=True)
class TraceCheck:
    """One piece of evidence a sampled record of ``kind`` must show."""

    kind: str
    name: str
    element: str
    check: Callable[[Session, Settings, Sampled], Outcome]


@dataclass(frozen=True)
class Evidence:
    name: str
    element: str
    status: str
    detail: str


@dataclass(frozen=True)
class Trace:
    kind: str
    record_id: int
    ref: str
    label: str
    evidence: tuple[Evidence, ...]
    events: tuple[dict[str, Any], ...]

    @property
    def missing(self) -> tuple[Evidence, ...]:
        return tuple(e for e in self.evidence if e.status == MISSING)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "record_id": self.record_id, "ref": self.ref,
                "label": self.label,
                "evidence": [{"name": e.name, "element": e.element, "status": e.status,
                              "detail": e.detail} for e in self.evidence],
                "missing": [e.name for e in self.missing], "events": list(self.events)}


@dataclass(frozen=True)
class Score:
    present: int
    missing: int

    @property
    def rate(self) -> float | None:
        total = self.present + self.missing
        return self.present / total if total else None

    def to_json(self) -> dict[str, Any]:
        return {"present": self.present, "missing": self.missing,
                "score": None if self.rate is None else round(self.rate, 4)}


@dataclass(frozen=True)
class AuditSample:
    seed: int
    since: datetime
    per_kind: int
    taken_at: datetime
    population: dict[str, int]
    traces: tuple[Trace, ...]
    elements: dict[str, Score] = field(default_factory=dict)
    overall: Score = Score(0, 0)

    @property
    def refs(self) -> tuple[str, ...]:
        """The sampled cases, each once, in the order first sampled."""
        return tuple(dict.fromkeys(t.ref for t in self.traces))

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "since": iso(self.since), "per_kind": self.per_kind,
                "taken_at": iso(self.taken_at), "population": dict(self.population),
                "readiness": {"overall": self.overall.to_json(),
                              "elements": {k: v.to_json() for k, v in self.elements.items()}},
                "traces": [t.to_json() for t in self.traces]}


def take_sample(session: Session, settings: Settings, *, since: datetime, per_kind: int,
                seed: int | None = None, kinds: Iterable[SampleKind] | None = None,
                checks: Iterable[TraceCheck] | None = None) -> AuditSample:
    """Pick up to ``per_kind`` records of each kind since ``since`` and trace each."""
    chosen_seed = seed if seed is not None else random.SystemRandom().randrange(1, 10**9)
    rng = random.Random(chosen_seed)
    rules = list(TRACE_CHECKS if checks is None else checks)
    population: dict[str, int] = {}
    traces: list[Trace] = []
    for kind in (KINDS if kinds is None else kinds):
        candidates = kind.candidates(session, since)
        population[kind.kind] = len(candidates)
        picked = rng.sample(candidates, min(per_kind, len(candidates)))
        for sampled in sorted(picked, key=lambda s: s.record_id):
            traces.append(_trace(session, settings, sampled, rules))
    elements, overall = _scores(traces)
    return AuditSample(chosen_seed, since, per_kind, utcnow(), population, tuple(traces),
                       elements, overall)


def _trace(session: Session, settings: Settings, sampled: Sampled,
           rules: list[TraceCheck]) -> Trace:
    evidence = []
    for rule in rules:
        if rule.kind == sampled.kind:
            status, detail = rule.check(session, settings, sampled)
            evidence.append(Evidence(rule.name, rule.element, status, detail))
    return Trace(sampled.kind, sampled.record_id, sampled.case.ref, sampled.label,
                 tuple(evidence), tuple(_events(session, sampled.case)))


def _events(session: Session, case: Case) -> list[dict[str, Any]]:
    refs = cf.case_refs(session, case_family(session, case))
    return [{"at": iso(at), "actor": actor, "claimed_as": claimed_as, "kind": kind,
             "case": refs.get(case_id)}
            for case_id, at, actor, claimed_as, kind in session.execute(
                select(CaseEvent.case_id, CaseEvent.at, CaseEvent.actor, CaseEvent.claimed_as,
                       CaseEvent.kind)
                .where(CaseEvent.case_id.in_(list(refs))).order_by(CaseEvent.id))]


def _scores(traces: Iterable[Trace]) -> tuple[dict[str, Score], Score]:
    counts: dict[str, list[int]] = {name: [0, 0] for name in cf.ELEMENTS}
    for trace in traces:
        for item in trace.evidence:
            if item.status != NOT_APPLICABLE:
                counts.setdefault(item.element, [0, 0])[item.status == MISSING] += 1
    elements = {name: Score(*pair) for name, pair in counts.items()}
    overall = Score(sum(s.present for s in elements.values()),
                    sum(s.missing for s in elements.values()))
    return elements, overall


def _outcome(why: str | None, present: str) -> Outcome:
    return (MISSING, why) if why else (PRESENT, present)


# -- candidates -------------------------------------------------------------------------------

def _cases(session: Session, ids: Iterable[int]) -> dict[int, Case]:
    wanted = sorted(set(ids))
    return {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(wanted)))} \
        if wanted else {}


def accepted_orders(session: Session, since: datetime) -> list[Sampled]:
    decisions = cf.accepted_since(session, since)
    cases = _cases(session, (d.case_id for d in decisions))
    return [Sampled("order", d.id, d, cases[d.case_id],
                    f"order accepted by {d.actor} on {iso(d.at)}") for d in decisions]


def scope_changes(session: Session, since: datetime) -> list[Sampled]:
    reviews = list(session.scalars(select(Review).where(
        Review.kind == "scope-change", Review.status != "withdrawn",
        Review.opened_at >= since).order_by(Review.id)))
    cases = _cases(session, (r.case_id for r in reviews))
    return [Sampled("scope-change", r.id, r, cases[r.case_id],
                    f"scope change review {r.id}: {r.summary}") for r in reviews]


def complaints(session: Session, since: datetime) -> list[Sampled]:
    return [Sampled("complaint", row.id, (row, retypes), case,
                    f"complaint ({case.status}): {case.subject}")
            for row, case, retypes in cf.complaints(session) if case.opened_at >= since]


def property_items(session: Session, since: datetime) -> list[Sampled]:
    items = cf.confirmed_items(session, since)
    cases = _cases(session, (i.case_id for i in items))
    return [Sampled("property", i.id, i, cases[i.case_id],
                    f"property item {i.id} ({i.kind}, {i.status}): {i.description}")
            for i in items]


# -- evidence of an accepted order ------------------------------------------------------------

def order_message_archived(session: Session, settings: Settings, s: Sampled) -> Outcome:
    decision: OrderDecision = s.record
    message = session.get(Message, decision.message_pk)
    if message is None:
        return MISSING, "the acceptance names no archived message"
    return PRESENT, (f"accepted on message ledger seq {message.first_seq} from "
                     f"{message.from_addr or '(no sender)'}")


def order_review_complete(session: Session, settings: Settings, s: Sampled) -> Outcome:
    decision: OrderDecision = s.record
    gap = cf.checklist_gap(decision.checklist)
    return _outcome(f"requirement review incomplete at acceptance ({gap})" if gap else None,
                    "requirement review complete at acceptance (kept with the decision)")


def order_changes_confirmed(session: Session, settings: Settings, s: Sampled) -> Outcome:
    decision: OrderDecision = s.record
    changes = [r for r in cf.changes_of_order(session, s.case)
               if r.opened_at <= decision.at and r.status != "withdrawn"]
    if not changes:
        return NOT_APPLICABLE, "no scope change before the acceptance"
    problems = cf.unconfirmed_at_acceptance(session, decision)
    return _outcome(f"accepted while {'; '.join(problems)}" if problems else None,
                    f"{len(changes)} scope change(s) decided and confirmed by the customer "
                    f"before acceptance")


def first_response(session: Session, settings: Settings, s: Sampled) -> Outcome:
    why = cf.first_response_gap(s.case, utcnow())
    if why == "":
        return NOT_APPLICABLE, "no first-response target, or not yet due"
    return _outcome(f"first response after target: {why}" if why else None,
                    f"first response {iso(s.case.first_response_at)} within target "
                    f"{iso(s.case.first_response_due)}")


# -- evidence of a scope change ---------------------------------------------------------------

def change_message_archived(session: Session, settings: Settings, s: Sampled) -> Outcome:
    review: Review = s.record
    message = session.get(Message, review.trigger_message_pk) if review.trigger_message_pk \
        else None
    if message is None:
        return MISSING, "no archived customer message is linked to the change"
    return PRESENT, f"change requested by {message.from_addr} (ledger seq {message.first_seq})"


def change_decided(session: Session, settings: Settings, s: Sampled) -> Outcome:
    review: Review = s.record
    if review.status == "pending":
        return MISSING, f"no requirement review decision: pending since {iso(review.opened_at)}"
    return PRESENT, (f"{review.status} by {review.decided_by} on {iso(review.decided_at)}: "
                     f"{review.decision_note}")


def change_confirmation_sent(session: Session, settings: Settings, s: Sampled) -> Outcome:
    review: Review = s.record
    if review.status == "pending":
        return NOT_APPLICABLE, "not decided yet"
    mail = session.get(OutboundMail, review.confirmation_mail_id) \
        if review.confirmation_mail_id else None
    if mail is None:
        return MISSING, "the decision was not confirmed to the customer in writing"
    if not mail.template_name:
        return MISSING, f"confirmation {mail.id} is free text, not a controlled template"
    return PRESENT, (f"confirmation {mail.id} ({mail.status}) from template "
                     f"{mail.template_name} v{mail.template_version}")


def change_confirmed_by_customer(session: Session, settings: Settings, s: Sampled) -> Outcome:
    review: Review = s.record
    if review.status == "pending":
        return NOT_APPLICABLE, "not decided yet"
    if review.confirmed_by_message_pk is None:
        return MISSING, "no customer confirmation of the change"
    return PRESENT, f"confirmed by the customer on {iso(review.confirmed_at)}"


# -- evidence of a complaint ------------------------------------------------------------------

def complaint_corrective_action(session: Session, settings: Settings, s: Sampled) -> Outcome:
    row, retypes = s.record
    why = cf.corrective_action_gap(row, retypes)
    if why and s.case.status != "closed":
        return NOT_APPLICABLE, f"open ({s.case.status}): corrective action not recorded yet"
    return _outcome(f"complaint {why}" if why else None,
                    f"corrective action {row.corrective_action_ref}: {row.resolution_note}")


def complaint_first_response(session: Session, settings: Settings, s: Sampled) -> Outcome:
    return first_response(session, settings, s)


# -- evidence of customer property ------------------------------------------------------------

def property_receipt(session: Session, settings: Settings, s: Sampled) -> Outcome:
    why = cf.custody_gaps(session, s.record)["receipt"]
    if why is None:
        return NOT_APPLICABLE, "announced, not received yet"
    return _outcome(why, f"received {iso(s.record.received_at)}: {s.record.condition}")


def property_return(session: Session, settings: Settings, s: Sampled) -> Outcome:
    why = cf.custody_gaps(session, s.record)["return"]
    if why is None:
        return NOT_APPLICABLE, f"{s.record.status}: still in our care"
    return _outcome(why, f"{s.record.status}: {s.record.location}")


def property_owner(session: Session, settings: Settings, s: Sampled) -> Outcome:
    return _outcome(None if s.record.owner else f"property item {s.record.id} names no owner",
                    f"owner {s.record.owner}")


# -- evidence on the case of any sampled record ----------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def replies_approved(session: Session, settings: Settings, s: Sampled) -> Outcome:
    """A non-happy-path reply on the case (its family) sent without the approval the
    ``[approval]`` matrix asks for is missing evidence; so is one approved under a claim by the
    same OS user that wrote it (two staff names, one login: gateway/workflows/four_eyes.py)."""
    family = case_family(session, s.case)
    needed = approval.sent_needing_approval(session, settings, EPOCH, family)
    if not needed:
        return NOT_APPLICABLE, "no sent reply on the case needed approval"
    unapproved = [n for n in needed if not n.approved]
    steps = four_eyes.outbound_steps(session, family)
    one_login = [(n, login) for n in needed if n.approved
                 for step in [steps.get(n.mail.id, {})]
                 for login in [four_eyes.same_login_under_claims(
                     step.get("outbound_held"), step.get("outbound_approved"))] if login]
    if unapproved or one_login:
        return MISSING, "; ".join([
            f"non-happy-path reply {n.mail.id} ({', '.join(n.requirement.reasons)}) by "
            f"{n.mail.actor} sent {iso(n.mail.sent_at)} without approval by the role "
            f"{n.requirement.role}" for n in unapproved] + [
            f"reply {n.mail.id} approved under a claim by the same OS user as the author "
            f"({login}: written as {n.mail.actor}, approved as "
            f"{n.approval.decided_by if n.approval else '?'})" for n, login in one_login])
    return PRESENT, "; ".join(
        f"reply {n.mail.id} ({', '.join(n.requirement.reasons)}) approved by "
        f"{n.approval.decided_by} on {iso(n.approval.decided_at)}"
        for n in needed if n.approval is not None)


def notes_on_record(session: Session, settings: Settings, s: Sampled) -> Outcome:
    """Calls, meetings and visits noted on the case: evidence when there, not required."""
    found = notes.details_for_case(session, s.case)
    if not found:
        return NOT_APPLICABLE, "no call or meeting noted on the case"
    return PRESENT, "; ".join(f"{n['channel']} note by {acted_by(n['actor'], n['claimed_as'])} "
                              f"on {n['at']} (ledger seq {n['seq']})" for n in found)


def documents_sent(session: Session, settings: Settings, s: Sampled) -> Outcome:
    """Controlled documents sent on the case, each in the version published at the time."""
    family = set(case_family(session, s.case))
    names = sorted(set(session.scalars(select(DocumentSend.name).where(
        DocumentSend.case_id.in_(family)))))
    if not names:
        return NOT_APPLICABLE, "no controlled document sent on the case"
    versions = {(d.name, d.version): d for d in session.scalars(
        select(DocumentVersion).where(DocumentVersion.name.in_(names)))}
    refs = set(cf.case_refs(session, family).values())
    present: list[str] = []
    problems: list[str] = []
    for name in names:
        for send in documents.sends(session, name):
            if send["case"] not in refs:
                continue
            why = cf.document_send_gap(versions.get((send["name"], send["version"])), send)
            (problems if why else present).append(why or (
                f"{send['name']} v{send['version']} ({send['sha256'][:12]}) to "
                f"{send['recipient']} on {send['at']}"))
    return (MISSING, "; ".join(problems)) if problems else (PRESENT, "; ".join(present))


def complaint_reviewed(session: Session, settings: Settings, s: Sampled) -> Outcome:
    """Whether a feedback review took the complaint up, judged once the cadence says one was
    due (``[feedback] review_every_days`` after it was recorded)."""
    row, _ = s.record
    every = settings.config.feedback.review_every_days
    taken = session.execute(select(FeedbackReview.id, FeedbackReview.held_at,
                                   FeedbackReviewItem.decision, FeedbackReviewItem.text)
                            .join(FeedbackReviewItem,
                                  FeedbackReviewItem.review_id == FeedbackReview.id)
                            .where(FeedbackReviewItem.feedback_id == row.id)
                            .order_by(FeedbackReview.held_at)).first()
    if taken is not None:
        review_id, held_at, decision, text = taken
        return PRESENT, (f"feedback review {review_id} on {iso(held_at)}: {decision}: {text}")
    due = row.created_at + timedelta(days=every)
    if due > utcnow():
        return NOT_APPLICABLE, (f"not reviewed yet; due by {iso(due)} (every {every} days)")
    return MISSING, (f"not taken up by a feedback review within {every} days of "
                     f"{iso(row.created_at)}")


# The registries: what is sampled, and what each sampled record must show.
KINDS: tuple[SampleKind, ...] = (
    SampleKind("order", "accepted orders", accepted_orders),
    SampleKind("scope-change", "scope changes", scope_changes),
    SampleKind("complaint", "complaints", complaints),
    SampleKind("property", "customer property", property_items),
)
TRACE_CHECKS: tuple[TraceCheck, ...] = (
    TraceCheck("order", "order message archived", "orders", order_message_archived),
    TraceCheck("order", "requirement review", "orders", order_review_complete),
    TraceCheck("order", "scope changes confirmed before acceptance", "orders",
               order_changes_confirmed),
    TraceCheck("order", "first response within target", "response", first_response),
    TraceCheck("scope-change", "change request archived", "orders", change_message_archived),
    TraceCheck("scope-change", "review decision with note", "orders", change_decided),
    TraceCheck("scope-change", "confirmation from a published template", "orders",
               change_confirmation_sent),
    TraceCheck("scope-change", "customer confirmation", "orders",
               change_confirmed_by_customer),
    TraceCheck("complaint", "corrective action", "feedback", complaint_corrective_action),
    TraceCheck("complaint", "first response within target", "response",
               complaint_first_response),
    TraceCheck("property", "owner named", "property", property_owner),
    TraceCheck("property", "receipt record", "property", property_receipt),
    TraceCheck("property", "return or disposal record", "property", property_return),
    TraceCheck("complaint", "feedback review", "feedback", complaint_reviewed),
    # On the case of every sampled record: a non-happy-path reply sent without approval is
    # missing evidence; calls, meetings and documents sent are evidence when there.
    *(TraceCheck(kind.kind, name, element, check) for kind in KINDS
      for name, element, check in (
          ("non-happy-path replies approved", "response", replies_approved),
          ("calls and meetings on the record", "response", notes_on_record),
          ("controlled documents sent", "information", documents_sent))),
)
