"""Customer feedback (ISO 9001 8.2.1 c, 9.1.2, 10.2): classify it, act on complaints, log it.

A feedback case gets one :class:`~gateway.db.feedback.FeedbackRecord`: automatically when
an inbound message classified "feedback" opens a case (or turns an "other" case into a feedback
case), or by staff (``commgate feedback set`` on any case, e.g. a complaint inside an order
thread; the classifier is not asked to find those).

Decisions:
- The classifier only *suggests* a type (from the rule ids that fired, ``suggested_type``);
  ``type`` stays "" until a person sets it, and a feedback case cannot be closed while it is
  unclassified: otherwise a complaint mis-read as praise could be closed without a corrective
  action.
- A complaint cannot be closed without a corrective-action reference and a resolution note
  (checked by :func:`close_blocker`, which ``gateway.workflows.lifecycle.can_close`` consults).
- Retyping a complaint to another type (which would lift the corrective-action rule) needs a
  note saying why and an actor with a quality role (:data:`QUALITY_ROLES`): an enabled account
  of this installation (``commgate users add``) with role reviewer, compliance or admin. The
  command line's actor is a login name with no role of its own, so without an account nobody
  may do it; the ``feedback_classified`` event keeps who, why and the role, and the log
  (:func:`feedback_log`) shows every type change.
- A closed or merged case's feedback record is evidence and is not edited: reopen the case
  (or work on the case it was merged into) first.
- A merge leaves the record on the case it was filed on; the surviving case reads, edits and
  closes by it through its family (:func:`record_for`: its own record first), and an unmerge
  takes it back with nothing to undo.
- Every change is a case event with the actor; the row is only the current state.
- The CSV export neutralises cells that a spreadsheet would run as a formula (OWASP "CSV
  injection"): free text starting with = + - @ TAB or CR gets a leading apostrophe.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from classifiers import Classification
from gateway.core.clock import utcnow
from gateway.core.errors import WorkflowError
from gateway.core.text import acted_by, iso
from gateway.db.events import SYSTEM, case_families, case_family, cases_by_id, record
from gateway.db.feedback import FEEDBACK_TYPES, SEVERITIES, FeedbackRecord
from gateway.db.models import Case, CaseEvent, LedgerReceipt, Message
from gateway.db.users import User

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.processing.hooks import FiledMessage
    from gateway.workflows.access_log import RecordedAccess

__all__ = ["FEEDBACK_TYPES", "SEVERITIES", "FeedbackRecord"]

# Rule-id suffixes (``en.feedback.complaint`` -> "complaint") and the type each points at,
# strongest first: a complaint that also says "thank you" is still a complaint. A lone
# complaint hint ("again", "problem") counts only when nothing else fired.
_RULE_TYPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("complaint", ("complaint", "escalation_threat")),
    ("survey", ("survey_reply",)),
    ("suggestion", ("suggestion",)),
    ("praise", ("praise", "thanks_subject")),
    ("complaint", ("complaint_hint",)),
)
CSV_COLUMNS = ("ref", "received", "sent", "customer", "type", "severity", "status",
               "corrective action", "resolution", "closed_at", "days to close",
               "days measured from", "root cause", "type history")
# The roles that may take a feedback record out of "complaint" (see the module's decisions).
QUALITY_ROLES = ("reviewer", "compliance", "admin")
CLASSIFIED_EVENT = "feedback_classified"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_REF_CHARS = 128


def suggest_type(classification: Classification) -> tuple[str, list[str]]:
    """The feedback type the classifier's evidence points at ("" when unclear), and the rule
    ids it was read from (kept in the event so the suggestion can be explained)."""
    return suggest_type_from_rules(e.rule_id for e in classification.evidence)


def suggest_type_from_rules(rule_ids: Iterable[str]) -> tuple[str, list[str]]:
    """:func:`suggest_type` from the rule ids alone (a filed message keeps them in its
    evidence: what a person's reclassification reads)."""
    rules = sorted({rule for rule in rule_ids if ".feedback." in rule})
    suffixes = {rule.rsplit(".", 1)[-1] for rule in rules}
    for kind, names in _RULE_TYPES:
        if suffixes.intersection(names):
            return kind, rules
    return "", rules


def family_records(session: Session, case: Case) -> list[FeedbackRecord]:
    """The feedback records of the case and of the cases merged into it: its own first, then
    the oldest. A merge leaves each record on the case it was filed on (unmerge needs no undo)."""
    rows = session.scalars(select(FeedbackRecord).where(
        FeedbackRecord.case_id.in_(case_family(session, case))).order_by(FeedbackRecord.id))
    return sorted(rows, key=lambda row: row.case_id != case.id)


def record_for(session: Session, case: Case) -> FeedbackRecord | None:
    """The record that governs the case: its own, else that of a case merged into it. Staff
    edit and close by this one (a merged case's record cannot be edited on that case)."""
    rows = family_records(session, case)
    return rows[0] if rows else None


def open_record(session: Session, case: Case, *, actor: str, suggested_type: str = "",
                rules: Sequence[str] = (), message_pk: int | None = None) -> FeedbackRecord:
    """The case's feedback record, created (and recorded as an event) when it has none."""
    existing = record_for(session, case)
    if existing is not None:
        return existing
    row = _add_record(session, case, actor=actor, suggested_type=suggested_type, rules=rules,
                      message_pk=message_pk)
    session.flush()
    return row


def _add_record(session: Session, case: Case, *, actor: str, suggested_type: str,
                rules: Sequence[str], message_pk: int | None) -> FeedbackRecord:
    """A new record (added, not flushed) and its event."""
    _check_editable(case)
    now = utcnow()
    row = FeedbackRecord(case_id=case.id, suggested_type=suggested_type, created_by=actor,
                         created_at=now, updated_at=now)
    session.add(row)
    record(session, case, "feedback_recorded",
           {"suggested_type": suggested_type, "rules": list(rules)},
           actor=actor, message_pk=message_pk)
    return row


def classify_feedback(session: Session, case: Case, *, actor: str,
                      feedback_type: str | None = None,
                      severity: str | None = None, note: str = "") -> FeedbackRecord:
    """Staff set the type and/or severity; creates the record on a case that has none.
    Taking a complaint to another type needs ``note`` and a quality role (:func:`_may_retype`)."""
    if feedback_type is None and severity is None:
        raise WorkflowError("nothing to set: give a type and/or a severity")
    if feedback_type is not None and feedback_type not in FEEDBACK_TYPES:
        raise WorkflowError(f"not allowed because {feedback_type!r} is not a feedback type "
                            f"(one of: {', '.join(FEEDBACK_TYPES)})")
    if severity is not None and severity not in SEVERITIES:
        raise WorkflowError(f"not allowed because {severity!r} is not a severity "
                            f"(one of: {', '.join(SEVERITIES)})")
    _check_editable(case)
    row = open_record(session, case, actor=actor)
    extra: dict[str, Any] = {}
    if row.type == "complaint" and feedback_type not in (None, "complaint"):
        extra = {"note": _may_retype(session, case, actor, note), "role": _role_of(session,
                                                                                   actor)}
    elif note.strip():
        extra = {"note": note.strip()}
    changes: dict[str, dict[str, str]] = {}
    for name, value in (("type", feedback_type), ("severity", severity)):
        if value is not None and getattr(row, name) != value:
            changes[name] = {"from": getattr(row, name), "to": value}
            setattr(row, name, value)
    if changes:
        row.updated_at = utcnow()
        record(session, case, CLASSIFIED_EVENT,
               changes | extra | _filed_on(session, case, row), actor=actor)
    return row


def _may_retype(session: Session, case: Case, actor: str, note: str) -> str:
    """The note of a change away from "complaint", when the actor may make it (else refused):
    without this a complaint could be closed without corrective action by retyping it first."""
    why = note.strip()
    if not why:
        raise WorkflowError(f"not allowed because {case.ref} is a complaint: changing its type "
                            f"needs a note saying why (--note)")
    role = _role_of(session, actor)
    if role not in QUALITY_ROLES:
        has = (f"has the role {role}" if role else
               "has no enabled account of this installation ('commgate users add')")
        raise WorkflowError(f"not allowed because {case.ref} is a complaint: changing its type "
                            f"needs a quality role ({', '.join(QUALITY_ROLES)}), and {actor} "
                            f"{has}")
    return why


def _role_of(session: Session, actor: str) -> str:
    """The role of the enabled account named ``actor`` ("" when there is none)."""
    user = session.scalars(select(User).where(User.name == actor)).one_or_none()
    return "" if user is None or user.disabled else user.role


def record_corrective_action(session: Session, case: Case, *, actor: str,
                             corrective_action_ref: str, resolution_note: str,
                             root_cause: str | None = None) -> FeedbackRecord:
    """Link the corrective action (e.g. a CAPA/NCR number in the QMS) and say how the feedback
    was resolved. Both are required together: a reference without an outcome proves nothing."""
    ref = " ".join(corrective_action_ref.split())
    note = resolution_note.strip()
    if not ref:
        raise WorkflowError("not allowed because the corrective-action reference is empty")
    if len(ref) > MAX_REF_CHARS:
        raise WorkflowError(f"not allowed because the corrective-action reference is longer "
                            f"than {MAX_REF_CHARS} characters")
    if not note:
        raise WorkflowError("not allowed because the resolution note is empty")
    _check_editable(case)
    row = open_record(session, case, actor=actor)
    data: dict[str, Any] = {"corrective_action_ref": ref, "resolution_note": note}
    previous = {"corrective_action_ref": row.corrective_action_ref,
                "resolution_note": row.resolution_note}
    row.corrective_action_ref, row.resolution_note = ref, note
    if root_cause is not None:
        previous["root_cause"] = row.root_cause
        row.root_cause = data["root_cause"] = root_cause.strip()
    if any(previous.values()):
        data["previous"] = previous
    row.updated_at = utcnow()
    record(session, case, "corrective_action_recorded", data | _filed_on(session, case, row),
           actor=actor)
    return row


def _filed_on(session: Session, case: Case, row: FeedbackRecord) -> dict[str, Any]:
    """For an event on ``case`` about a record filed on a case merged into it: which one."""
    if row.case_id == case.id:
        return {}
    return {"record_case": session.scalar(select(Case.ref).where(Case.id == row.case_id))}


def close_blocker(session: Session, case: Case) -> str | None:
    """Why this case's feedback does not allow closing it yet, or None."""
    row = record_for(session, case)
    if row is None:
        return None
    if not row.type:
        hint = f" (suggested: {row.suggested_type})" if row.suggested_type else ""
        return (f"the feedback type is not set{hint}: 'commgate feedback set {case.ref} "
                f"--type TYPE'")
    if row.type == "complaint":
        missing = [name for name, value in (("a corrective-action reference",
                                             row.corrective_action_ref),
                                            ("a resolution note", row.resolution_note))
                   if not value]
        if missing:
            return (f"a complaint needs {' and '.join(missing)}: 'commgate feedback action "
                    f"{case.ref} --corrective-action REF --resolution-note TEXT'")
    return None


def _check_editable(case: Case) -> None:
    if case.status == "closed":
        raise WorkflowError(f"not allowed because {case.ref} is closed: its feedback record is "
                            f"evidence; reopen it first ('commgate cases status {case.ref} open')")
    if case.status == "merged":
        raise WorkflowError(f"not allowed because {case.ref} was merged into another case: "
                            f"work on that case")


# -- after filing ------------------------------------------------------------------------------

def on_filed(session: Session, settings: Settings, filed: Sequence[FiledMessage]) -> None:
    """Open a feedback record when customer feedback opens a case (or turns an "other" case
    into a feedback case). Feedback-like messages in cases of another category are left to
    staff: a polite remark in an order thread is not a complaint.

    Per batch: one query for the cases and one for their records; no flush (the event does
    not name the record's id)."""
    wanted = [f for f in filed
              if f.direction != "outbound" and f.classification.category == "feedback"]
    if not wanted:
        return
    cases = cases_by_id(session, (f.case_id for f in wanted))
    has_record = _with_family_record(session, list(cases))
    for f in wanted:
        case = cases[f.case_id]
        if case.category != "feedback" or case.status in ("closed", "merged"):
            continue
        if case.id not in has_record:
            suggested, rules = suggest_type(f.classification)
            _add_record(session, case, actor=SYSTEM, suggested_type=suggested, rules=rules,
                        message_pk=f.message_pk)
            has_record.add(case.id)


def _with_family_record(session: Session, case_ids: list[int]) -> set[int]:
    """Which of these cases already have a record, their own or a merged-in case's (a second
    record for the same matter would split its corrective action)."""
    families = case_families(session, case_ids)
    members = sorted({member for family in families.values() for member in family})
    recorded = set(session.scalars(select(FeedbackRecord.case_id).where(
        FeedbackRecord.case_id.in_(members)))) if members else set()
    return {case_id for case_id, family in families.items() if recorded.intersection(family)}


# -- the log -----------------------------------------------------------------------------------

def feedback_log(session: Session, since: datetime | None = None,
                 until: datetime | None = None, *,
                 aliases: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Every feedback case, oldest first: what came in, how it was classified and resolved.

    ``received`` is when the case's first inbound message reached the archive (the ledger
    time), else when the case was opened; ``sent`` is that message's Date header. ``since`` is
    inclusive, ``until`` exclusive, both on ``received``. ``days_to_close`` runs from the
    customer's ``sent`` date when the message has one that is not after its arrival (a
    sender's clock or a forged date in the future would shorten it), else from ``received``;
    ``days_from`` says which. ``aliases``: only the cases of these queues (a web reader's
    rights; None: every queue). ``type_history`` lists every change of the type: from, to, by,
    at, why.
    """
    first = (select(Message.case_id, func.min(Message.first_seq).label("seq"))
             .where(Message.direction == "inbound").group_by(Message.case_id).subquery())
    query = (select(FeedbackRecord, Case, LedgerReceipt.received_at, Message.date)
             .join(Case, Case.id == FeedbackRecord.case_id)
             .outerjoin(first, first.c.case_id == Case.id)
             .outerjoin(LedgerReceipt, LedgerReceipt.seq == first.c.seq)
             .outerjoin(Message, and_(Message.case_id == Case.id,
                                      Message.first_seq == first.c.seq))
             .order_by(Case.id))
    if aliases is not None:
        query = query.where(Case.alias.in_(sorted(aliases)))
    rows = []
    histories = _type_histories(session)
    for row, case, receipt_time, sent in session.execute(query):
        received = receipt_time or case.opened_at
        if (since and received < since) or (until and received >= until):
            continue
        rows.append(_log_row(row, case, received, sent) | {"type_history":
                                                            histories.get(case.ref, [])})
    return rows


def _type_histories(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Every type change of every record, by the ref of the case the record was filed on (an
    event on a survivor about a merged-in case's record names that case)."""
    events = session.execute(select(Case.ref, CaseEvent.at, CaseEvent.actor,
                                    CaseEvent.claimed_as, CaseEvent.data)
                             .join(Case, Case.id == CaseEvent.case_id)
                             .where(CaseEvent.kind == CLASSIFIED_EVENT)
                             .order_by(CaseEvent.id))
    histories: dict[str, list[dict[str, Any]]] = {}
    for ref, at, actor, claimed_as, data in events:
        change = data.get("type") if isinstance(data, dict) else None
        if not change:
            continue
        histories.setdefault(data.get("record_case") or ref, []).append({
            "from": change["from"], "to": change["to"], "by": acted_by(actor, claimed_as),
            "at": iso(at),
            "note": data.get("note", ""), "role": data.get("role", "")})
    return histories


def history_text(history: Iterable[dict[str, Any]]) -> str:
    """The type history in one cell: "2026-12-01T09:00:00Z complaint -> suggestion by qa
    (reviewer): not a complaint, a wish"; changes separated by "; "."""
    parts = []
    for change in history:
        role = f" ({change['role']})" if change.get("role") else ""
        why = f": {change['note']}" if change.get("note") else ""
        parts.append(f"{change['at']} {change['from'] or '(unset)'} -> {change['to']} by "
                     f"{change['by']}{role}{why}")
    return "; ".join(parts)


def _log_row(row: FeedbackRecord, case: Case, received: datetime,
             sent: datetime | None) -> dict[str, Any]:
    closed_at = case.closed_at if case.status == "closed" else None
    days_from = "sent" if sent is not None and sent <= received else "received"
    start = sent if sent is not None and days_from == "sent" else received
    days = (round((closed_at - start).total_seconds() / 86400, 1)
            if closed_at is not None else None)
    return {"ref": case.ref, "received": iso(received), "sent": iso(sent),
            "customer": case.customer,
            "subject": case.subject, "type": row.type, "suggested_type": row.suggested_type,
            "severity": row.severity, "status": case.status, "owner_role": case.owner_role,
            "corrective_action": row.corrective_action_ref, "resolution": row.resolution_note,
            "root_cause": row.root_cause, "closed_at": iso(closed_at),
            "days_to_close": days, "days_from": days_from}


def write_csv(rows: Iterable[dict[str, Any]], stream: IO[str]) -> int:
    """The log as CSV (one row per feedback case, :data:`CSV_COLUMNS`); returns the row count."""
    writer = csv.writer(stream)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([
            row["ref"], row["received"], row["sent"] or "", _cell(row["customer"]), row["type"],
            row["severity"], row["status"], _cell(row["corrective_action"]),
            _cell(row["resolution"]), row["closed_at"] or "",
            "" if row["days_to_close"] is None else row["days_to_close"], row["days_from"],
            _cell(row["root_cause"]), _cell(history_text(row.get("type_history", ())))])
        count += 1
    return count


def export_csv(session: Session, path: Path, since: datetime | None = None,
               until: datetime | None = None, *, access: RecordedAccess,
               aliases: Collection[str] | None = None) -> int:
    """Write the feedback log to ``path``; ``access`` is the access-log record of this export
    (``gateway.services.lifecycle.export_feedback`` records and writes in one step)."""
    access.require("export", what="feedback log", file=str(path))
    with path.open("w", newline="", encoding="utf-8") as stream:
        return write_csv(feedback_log(session, since, until, aliases=aliases), stream)


def details_for_case(session: Session, case: Case) -> dict[str, Any] | None:
    """The feedback part of ``cases show`` (None when neither the case nor a case merged into
    it has a feedback record): the governing record, and any other of the family."""
    rows = family_records(session, case)
    if not rows:
        return None
    refs = dict(session.execute(select(Case.id, Case.ref).where(
        Case.id.in_({row.case_id for row in rows}))).all())
    row, *others = rows
    return {**_record_view(row, refs), "close_blocker": close_blocker(session, case),
            "merged_records": [_record_view(other, refs) for other in others]}


def _record_view(row: FeedbackRecord, refs: dict[int, str]) -> dict[str, Any]:
    return {"case": refs.get(row.case_id), "type": row.type,
            "suggested_type": row.suggested_type, "severity": row.severity,
            "corrective_action": row.corrective_action_ref, "resolution": row.resolution_note,
            "root_cause": row.root_cause}


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text
