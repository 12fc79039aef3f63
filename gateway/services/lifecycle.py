"""Case lifecycle and customer feedback (``commgate cases status|escalate``, ``commgate
feedback set|action|list|export``): each call is one transaction and names who acted.

Exporting the feedback log hands out customer data in a file, so :func:`export_feedback` records
the export in the access log before the file is written;
``gateway.workflows.feedback.export_csv`` refuses to write without that record. """

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.core.errors import AccessDeniedError
from gateway.core.text import iso
from gateway.db.events import case_by_ref
from gateway.services.base import View
from gateway.services.compliance import Rows
from gateway.workflows.access_log import record_access
from gateway.workflows.feedback import FEEDBACK_TYPES as FEEDBACK_TYPES
from gateway.workflows.feedback import SEVERITIES as SEVERITIES
from gateway.workflows.feedback import (
    classify_feedback,
    details_for_case,
    export_csv,
    feedback_log,
    record_corrective_action,
)
from gateway.workflows.feedback import history_text as history_text  # the CLI prints it
from gateway.workflows.lifecycle import ACTIVE, Escalation, escalate_overdue, set_status
from gateway.workflows.lifecycle import STATUSES as STATUSES

if TYPE_CHECKING:
    from gateway.core.context import Context

ACTIVE_STATUSES = ACTIVE  # the statuses of open work (the web application's queue counts)


@dataclass(frozen=True)
class StatusChanged(View):
    """``change`` is the event's record: from, to, note (and why, when it was automatic)."""

    ref: str
    change: dict[str, Any]
    actor: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"ref": self.ref, **self.change, "actor": self.actor, "at": iso(self.at)}


@dataclass(frozen=True)
class Escalations(View):
    escalations: tuple[Escalation, ...]

    def to_json(self) -> list[dict[str, Any]]:
        return [item.to_dict() for item in self.escalations]


@dataclass(frozen=True)
class FeedbackDetails(View):
    """A case's feedback record after a change (``details`` as ``cases show`` has it)."""

    ref: str
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"ref": self.ref, **self.details}


@dataclass(frozen=True)
class FeedbackExported(View):
    file: Path
    rows: int
    access_seq: int

    def to_json(self) -> dict[str, Any]:
        return {"file": str(self.file), "rows": self.rows}


def set_case_status(ctx: Context, *, actor: str, ref: str, status: str, note: str = "",
                    queues: frozenset[str] | None = None) -> StatusChanged:
    """Move a case to another status (refused when the case may not go there, or when it is
    outside ``queues``, the aliases the actor may work; None: every one)."""
    with ctx.db.session() as session:
        case = case_by_ref(session, ref, for_update=True)
        if queues is not None and case.alias not in queues:
            raise AccessDeniedError(f"{case.ref} is in the queue {case.alias}, which you may "
                                    "not work")
        event = set_status(session, case, status, actor, note)
        return StatusChanged(case.ref, dict(event.data), actor, event.at)


def escalate(ctx: Context, *, actor: str) -> Escalations:
    """Escalate overdue cases now, as the daemon does on its schedule."""
    return Escalations(tuple(escalate_overdue(ctx, run_by=actor)))


def set_feedback(ctx: Context, *, actor: str, ref: str, feedback_type: str | None = None,
                 severity: str | None = None, note: str = "") -> FeedbackDetails:
    """Set the feedback type and/or severity of a case; taking a complaint to another type
    needs ``note`` and an account with a quality role (gateway.workflows.feedback)."""
    with ctx.db.session() as session:
        case = case_by_ref(session, ref, for_update=True)
        classify_feedback(session, case, actor=actor, feedback_type=feedback_type,
                          severity=severity, note=note)
        return FeedbackDetails(case.ref, details_for_case(session, case) or {})


def record_action(ctx: Context, *, actor: str, ref: str, corrective_action: str,
                  resolution_note: str, root_cause: str | None = None) -> FeedbackDetails:
    """Record the corrective action (its QMS reference) and the resolution of a feedback case."""
    with ctx.db.session() as session:
        case = case_by_ref(session, ref, for_update=True)
        record_corrective_action(session, case, actor=actor,
                                 corrective_action_ref=corrective_action,
                                 resolution_note=resolution_note, root_cause=root_cause)
        return FeedbackDetails(case.ref, details_for_case(session, case) or {})


def feedback_cases(ctx: Context, *, actor: str, since: datetime | None = None,
                   until: datetime | None = None,
                   queues: frozenset[str] | None = None) -> Rows:
    """The feedback log: feedback cases received in the period, oldest first (only those of
    ``queues``, the aliases the reader may see, when given)."""
    del actor
    with ctx.db.session() as session:
        return Rows(tuple(feedback_log(session, since, until, aliases=queues)))


def export_feedback(ctx: Context, *, actor: str, output: Path, since: datetime | None = None,
                    until: datetime | None = None,
                    queues: frozenset[str] | None = None) -> FeedbackExported:
    """Record the export in the access log, then write the feedback log as CSV (of
    ``queues`` only when given: the record names them)."""
    detail: dict[str, Any] = {"what": "feedback log", "file": str(output), "since": iso(since),
                              "until": iso(until)}
    if queues is not None:
        detail["queues"] = sorted(queues)
    access = record_access(ctx, actor, "export", detail)
    with ctx.db.session() as session:
        count = export_csv(session, output, since, until, access=access, aliases=queues)
    return FeedbackExported(output, count, access.seq)
