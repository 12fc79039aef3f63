"""Cases: the list (all, or the triage queue), one case in full, a person's classification,
the quarantine and reclassification with the current rules."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from gateway.core.errors import WorkflowError
from gateway.db.events import case_by_ref
from gateway.db.models import CATEGORY_VALUES
from gateway.processing.preflight import check_filing_config
from gateway.processing.reclassify import reclassify as reclassify_all
from gateway.services.base import View
from gateway.services.rows import Listing, RowView
from gateway.workflows import cases as views
from gateway.workflows import lifecycle, notes, triage
from gateway.workflows.access_log import record_access
from gateway.workflows.cases import CaseFilter as CaseFilter
from gateway.workflows.search import Filters, search

if TYPE_CHECKING:
    from gateway.core.context import Context
    from gateway.processing.context import WorkerContext

Row = Mapping[str, Any]
CATEGORIES = CATEGORY_VALUES
QUERY_LIMIT = 1000  # search hits a case list's full-text filter looks at


@dataclasses.dataclass(frozen=True)
class CaseSummary(RowView):
    """One line of ``cases list``."""

    ref: str
    category: str
    status: str
    scope_change: bool
    opened_at: str | None
    updated_at: str | None
    alias: str
    customer: str
    subject: str
    message_count: int


@dataclasses.dataclass(frozen=True)
class TriageEntry(CaseSummary):
    """A case in the triage queue: the summary with the messages waiting for a person."""

    lowest_confidence: float
    waiting: tuple[Row, ...]


@dataclasses.dataclass(frozen=True)
class CaseList(Listing[CaseSummary]):
    triage: bool = False  # the triage queue (TriageEntry items), not every case


@dataclasses.dataclass(frozen=True)
class CaseEvent(RowView):
    at: str | None
    actor: str  # the OS user of a command-line action, the signed-in user of a web one
    claimed_as: str | None  # the --as of a command-line action
    kind: str
    data: Row


@dataclasses.dataclass(frozen=True)
class CaseDetail(CaseSummary):
    """``cases show``: the case, its messages and events, and each workflow's part of it."""

    messages: tuple[Row, ...]
    events: tuple[CaseEvent, ...]
    lifecycle: Row
    links: Row
    order: Row
    property: Row
    outbound: Row
    notes: tuple[Row, ...]  # calls, meetings, visits on the record (gateway/workflows/notes.py)
    holds: tuple[Row, ...]  # the active legal holds of any scope covering the case


@dataclasses.dataclass(frozen=True)
class Classification(RowView):
    """What ``cases classify`` did (the ``case_classified`` event's data with ref and actor)."""

    JSON_NAMES: ClassVar[Mapping[str, str]] = {"before": "from", "after": "to"}

    ref: str
    actor: str
    before: Row
    after: Row
    changed: bool
    messages: tuple[Row, ...]
    reviews: tuple[Row, ...]
    records: Row
    note: str


@dataclasses.dataclass(frozen=True)
class QuarantineEntry(RowView):
    seq: int
    sha256: str
    stage: str
    reason: str
    at: str | None
    attempts: int
    alias: str | None
    transport: str
    envelope: Row | None


@dataclasses.dataclass(frozen=True)
class RetryOutcome(View):
    """One quarantined receipt sent through processing again."""

    seq: int
    status: str  # filed | duplicate | quarantined
    case: str | None
    reason: str


@dataclasses.dataclass(frozen=True)
class Reclassified(View):
    """What ``reclassify`` changed (or would change, ``dry_run``)."""

    dry_run: bool
    examined: int
    unchanged: int
    changed: tuple[Row, ...]
    unreadable: tuple[Row, ...]

    def to_json(self) -> Any:
        data = super().to_json()
        del data["dry_run"]
        return data


def list_cases(ctx: Context, *, actor: str, status: str | None = None,
               category: str | None = None, triage_only: bool = False) -> CaseList:
    """Every case, or (``triage_only``) those with a customer message waiting for a person to
    confirm its classification, oldest first; both filtered by status and category."""
    del actor  # reading case summaries is not recorded
    with ctx.db.session() as session:
        if triage_only:
            return CaseList(tuple(
                TriageEntry.from_row(row, waiting=tuple(row["waiting"]))
                for row in triage.triage_queue(session)
                if (not status or row["status"] == status)
                and (not category or row["category"] == category)), triage=True)
        return CaseList(tuple(CaseSummary.from_row(row) for row in views.list_cases(
            session, status=status, category=category)))


def show_case(ctx: Context, *, actor: str, ref: str) -> CaseDetail:
    """One case with its messages, events and the workflows' records of it."""
    del actor  # as 'cases show' today: not recorded in the access log
    with ctx.db.session() as session:
        case = views.show_case(session, ref)
    return CaseDetail.from_row(case, messages=tuple(case["messages"]),
                               events=tuple(CaseEvent.from_row(e) for e in case["events"]),
                               notes=tuple(case["notes"]), holds=tuple(case["holds"]))


def classify_case(ctx: Context, *, actor: str, ref: str, category: str,
                  scope_change: bool | None = None, note: str = "") -> Classification:
    """A person confirms or corrects a case's category (and scope-change flag); recorded as
    the ``case_classified`` event with the actor (gateway/workflows/triage.py has the rules)."""
    with ctx.db.session() as session:
        case = case_by_ref(session, ref, for_update=True)
        result = triage.classify_case(session, case, category=category,
                                      scope_change=scope_change, actor=actor, note=note)
    return Classification.from_row(result, messages=tuple(result["messages"]),
                                   reviews=tuple(result["reviews"]))


def list_quarantine(ctx: Context, *, actor: str) -> Listing[QuarantineEntry]:
    """Messages archived but not filed, with the stage that refused them and why."""
    del actor
    with ctx.db.session() as session:
        return Listing(tuple(QuarantineEntry.from_row(row)
                             for row in views.list_quarantine(session)))


def retry_quarantine(ctx: WorkerContext, *, actor: str) -> Listing[RetryOutcome]:
    """Run the quarantined messages through processing again (after a fix or a rules change).
    Broken rules stop it before any receipt is touched (they are the operator's to fix)."""
    del actor  # the filing records its own events, as the daemon's
    # Refused before any receipt is touched: a fault found later would leave them pending.
    ctx.processor.use_rules(check_filing_config(ctx.settings))
    return Listing(tuple(RetryOutcome(o.seq, o.status, o.case_ref, o.reason)
                         for o in ctx.processor.retry_quarantined()))


def reclassify(ctx: WorkerContext, *, actor: str, dry_run: bool = False) -> Reclassified:
    """Classify every archived message again with the current rules; each change is recorded
    as a ``message_reclassified`` event of the rules (actor ``system``), as before."""
    del actor
    summary = reclassify_all(ctx, dry_run=dry_run)
    return Reclassified(dry_run, summary.examined, summary.unchanged, tuple(summary.changed),
                        tuple(summary.unreadable))


@dataclasses.dataclass(frozen=True)
class CasePage(View):
    """One page of the web application's case list, the cursor of the next page (None on the
    last), the open cases per queue and active status, and the access record of the full-text
    query (None without one)."""

    items: tuple[CaseSummary, ...]
    next_before: int | None
    counts: Row
    access_seq: int | None


def case_page(ctx: Context, *, actor: str, where: CaseFilter, query: str = "",
              before: int | None = None, limit: int = 50) -> CasePage:
    """Cases newest first, filtered; ``query`` is a full-text search over the messages
    (recorded in the access log, as ``commgate search``), narrowing the list to the cases it
    finds among its newest :data:`QUERY_LIMIT` hits."""
    access_seq = None
    if query.strip():
        filters = Filters(alias=where.alias, category=where.category)
        access = record_access(ctx, actor, "search", {"query": query,
                                                      "filters": dataclasses.asdict(filters)})
        access_seq = access.seq
        with ctx.db.session() as session:
            hits = search(session, query, filters, limit=QUERY_LIMIT, access=access)
        where = dataclasses.replace(where, refs=frozenset(hit["case"] for hit in hits))
    with ctx.db.session() as session:
        rows, next_before = views.page_cases(session, where, before_id=before, limit=limit)
        counts = views.queue_counts(session, where.queues)
    return CasePage(tuple(CaseSummary.from_row(row) for row in rows), next_before, counts,
                    access_seq)


def owner_roles(ctx: Context) -> tuple[str, ...]:
    """The owner roles the configuration gives cases (the case list's owner filter)."""
    return lifecycle.owner_roles(ctx.settings)


@dataclasses.dataclass(frozen=True)
class Note(RowView):
    """A call, meeting, visit or portal message on the record (``cases note``)."""

    case: str
    at: str | None
    actor: str  # the OS user of a command (the signed-in user of the web application)
    claimed_as: str | None  # the command's --as
    message_pk: int | None
    channel: str
    subject: str
    text: str
    attachments: tuple[str, ...]
    sha256: str
    seq: int | None
    scope_change: bool
    review_id: int | None


@dataclasses.dataclass(frozen=True)
class NoteArchived(View):
    """A note archived and waiting for the worker to file it into its case."""

    case: str
    seq: int
    sha256: str


def archive_note(ctx: Context, *, actor: str, ref: str, channel: str, summary: str,
                 outcome: str = "", attachment: tuple[str, bytes] | None = None,
                 scope_change: bool | None = None) -> NoteArchived:
    """Put a call, meeting, visit or portal message on the record of a case: archived as a
    message (ledger entry, sha256) and queued; filing it records the ``note_recorded`` event
    and, for a scope change (``scope_change``, or the classifier's verdict on the note when
    not given), opens the scope-change review as a customer's mail does."""
    given = notes.Attachment(*attachment) if attachment is not None else None
    entry = notes.archive_note(ctx, ref=ref, channel=channel, summary=summary, actor=actor,
                               outcome=outcome, attachment=given, scope_change=scope_change)
    return NoteArchived(str(entry.envelope.get("case", ref)), entry.seq, entry.sha256)


def record_note(ctx: WorkerContext, *, actor: str, ref: str, channel: str, summary: str,
                outcome: str = "", attachment: tuple[str, bytes] | None = None,
                scope_change: bool | None = None) -> Note:
    """:func:`archive_note`, then file it at once (the command line does not wait for the
    daemon's worker) and return the note as recorded on its case."""
    archived = archive_note(ctx, actor=actor, ref=ref, channel=channel, summary=summary,
                            outcome=outcome, attachment=attachment, scope_change=scope_change)
    ctx.processor.process_pending()
    with ctx.db.session() as session:
        found = notes.find_note(session, archived.sha256)
    if found is None:
        raise WorkflowError(f"the note was archived (ledger entry {archived.seq}, sha256 "
                            f"{archived.sha256}) but not filed: 'commgate quarantine list' "
                            f"says why")
    return Note.from_row(found, attachments=tuple(found["attachments"]))
