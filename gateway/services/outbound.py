"""Controlled templates (four-eyes: a different person approves), staff replies and the outbound
queue. The rules are gateway/workflows/templates.py's and gateway/workflows/outbound/queue.py's;
each function here runs them in one transaction with the actor recorded in the template history
or on the mail."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from gateway.core.errors import ConfigError, GatewayError, WorkflowError
from gateway.db.events import case_by_ref
from gateway.db.models import Case
from gateway.db.outbound import OutboundMail
from gateway.services.base import View
from gateway.services.rows import Listing, RowView
from gateway.workflows import documents, templates
from gateway.workflows.outbound import approval as approvals
from gateway.workflows.outbound import queue as outbound
from gateway.workflows.outbound.approval_wait import escalate_waiting
from gateway.workflows.outbound.delivery import deliver_due

if TYPE_CHECKING:
    from gateway.core.context import Context
    from gateway.processing.context import WorkerContext

Row = Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class TemplateSummary(RowView):
    """One version of a template, without its text (``templates list``)."""

    id: int
    name: str
    version: int
    status: str
    subject: str
    author: str
    created_at: str | None
    approved_by: str | None
    approved_at: str | None
    published_at: str | None
    retired_at: str | None
    reply_kind: str


@dataclasses.dataclass(frozen=True)
class Template(TemplateSummary):
    """One version with its body and the variables it uses."""

    body: str
    variables: tuple[str, ...]

    @property
    def unknown_variables(self) -> list[str]:
        """Variables that queue_mail does not fill in by default (a caller must give them)."""
        return sorted(set(self.variables) - set(templates.KNOWN_VARIABLES))


@dataclasses.dataclass(frozen=True)
class TemplateEvent(RowView):
    at: str | None
    actor: str
    claimed_as: str | None
    action: str
    name: str
    version: int
    data: Row | None


@dataclasses.dataclass(frozen=True)
class TemplateDetail(Template):
    """A version with the history of the whole template (every version), oldest first."""

    history: tuple[TemplateEvent, ...]


@dataclasses.dataclass(frozen=True)
class Mail(RowView):
    """One outbound message and its delivery state."""

    JSON_NAMES: ClassVar[Mapping[str, str]] = {"sender": "from"}

    id: int
    case: str
    kind: str
    status: str
    auto: bool
    message_id: str | None
    sender: str
    to: tuple[str, ...]
    subject: str
    template_name: str | None
    template_version: int | None
    actor: str
    created_at: str | None
    attempts: int
    next_attempt_at: str | None
    sent_at: str | None
    last_error: str | None
    relay_reply: str | None
    sha256: str | None
    seq: int | None
    in_reply_to_pk: int | None
    reply_kind: str
    approval: Row | None  # the four-eyes record when the mail was held (Approval's keys)


@dataclasses.dataclass(frozen=True)
class Reply(Mail):
    """A queued reply and the controlled documents attached to it (name, version, sha256)."""

    documents: tuple[Row, ...]


@dataclasses.dataclass(frozen=True)
class Delivery(View):
    """What one delivery run did, by outbound mail id."""

    archived: tuple[int, ...]
    sent: tuple[int, ...]
    deferred: tuple[int, ...]
    failed: tuple[int, ...]
    disabled: bool


def _template(row: Row) -> Template:
    return Template.from_row(row, variables=tuple(row["variables"]))


def _mail(row: Row) -> Mail:
    held = row["approval"]
    return Mail.from_row(row, to=tuple(row["to"]),
                         approval=None if held is None else _approval(held).to_json())


def _approval(row: Row) -> Approval:
    return Approval.from_row(row, reasons=tuple(row["reasons"]))


@dataclasses.dataclass(frozen=True)
class Approval(RowView):
    """The four-eyes record of one held outbound mail."""

    id: int
    status: str
    role: str
    reasons: tuple[str, ...]
    author: str
    held_at: str | None
    decided_by: str | None
    decided_at: str | None
    note: str
    escalated_at: str | None


@dataclasses.dataclass(frozen=True)
class Decision(View):
    """An approval decision with the mail it released or stopped."""

    approval: Approval
    mail: Mail


@dataclasses.dataclass(frozen=True)
class WaitEscalation(View):
    case: str
    outbound_id: int
    role: str
    address: str | None
    mail_id: int | None
    reason: str


def create_template(ctx: Context, *, actor: str, name: str, subject: str, body: str,
                    reply_kind: str = "") -> Template:
    """A new draft version; a different person approves it, then it can be published.
    ``reply_kind`` declares what a reply from it is, for the [approval] matrix."""
    with ctx.db.session() as session:
        return _template(templates.view(templates.create(session, name, subject, body, actor,
                                                         reply_kind=reply_kind)))


def approve_template(ctx: Context, *, actor: str, name: str, version: int) -> Template:
    with ctx.db.session() as session:
        return _template(templates.view(templates.approve(session, name, version, actor)))


def publish_template(ctx: Context, *, actor: str, name: str, version: int) -> Template:
    with ctx.db.session() as session:
        return _template(templates.view(templates.publish(session, name, version, actor)))


def list_templates(ctx: Context, *, actor: str) -> Listing[TemplateSummary]:
    """Every version of every template, by name and version."""
    del actor  # reading is not recorded
    with ctx.db.session() as session:
        return Listing(tuple(TemplateSummary.from_row(row)
                             for row in templates.listing(session)))


def show_template(ctx: Context, *, actor: str, name: str, version: int | None = None
                  ) -> TemplateDetail:
    """One version (default: the newest) with the template's history."""
    del actor
    with ctx.db.session() as session:
        row = templates.view(templates.get(session, name, version))
        history = tuple(TemplateEvent.from_row(templates.event_view(e))
                        for e in templates.history(session, name))
    return TemplateDetail.from_row({**row, "history": history},
                                   variables=tuple(row["variables"]))


def parse_variables(texts: Sequence[str]) -> dict[str, str]:
    """Template variables given as ``NAME=VALUE``."""
    variables = {}
    for item in texts:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise GatewayError(f"--var {item!r}: expected NAME=VALUE")
        variables[name.strip()] = value
    return variables


def reply(ctx: Context, *, actor: str, ref: str, template: str | None = None,
          body: str | None = None, to: Sequence[str] = (), subject: str | None = None,
          variables: Mapping[str, str] | None = None, attach_documents: Sequence[str] = (),
          reply_kind: str = "") -> Reply:
    """Queue a staff reply on a case (from a published template or a text), to the case's
    customer unless ``to`` names others, threaded to the latest customer message, with the
    published version of each document in ``attach_documents`` attached (which version went
    to whom is recorded with the mail, in the same transaction). A reply the [approval]
    matrix names (by ``reply_kind``, the template's kind or the case's state) is held as
    "pending" until a second person approves it."""
    with ctx.db.session() as session:
        case = case_by_ref(session, ref, for_update=True)
        parent = outbound.latest_customer_message(session, case)
        mail = outbound.queue_mail(session, ctx.settings, case, kind="reply",
                                   to=list(to) or case.customer, actor=actor,
                                   template=template, subject=subject, body=body,
                                   variables=dict(variables or {}),
                                   in_reply_to_pk=parent.id if parent else None,
                                   reply_kind=reply_kind)
        attached = [documents.attach(session, mail, case, name, actor)
                    for name in dict.fromkeys(attach_documents)]
        held = approvals.approvals_by_mail(session, [mail.id]).get(mail.id)
        row = outbound.mail_view(mail, case.ref, held)
        return Reply.from_row(
            row | {"documents": ()}, to=tuple(row["to"]),
            approval=None if held is None else _approval(row["approval"]).to_json(),
            documents=tuple({"name": d.name, "version": d.version, "sha256": d.sha256,
                             "filename": d.filename} for d in attached))


def show_mail(ctx: Context, *, actor: str, outbound_id: int) -> Mail:
    """One outbound mail with its delivery state and approval record."""
    del actor
    with ctx.db.session() as session:
        mail = session.get(OutboundMail, outbound_id)
        if mail is None:
            raise WorkflowError(f"not allowed because there is no outbound mail {outbound_id}")
        case = session.get(Case, mail.case_id)
        assert case is not None
        held = approvals.approvals_by_mail(session, [mail.id]).get(mail.id)
        return _mail(outbound.mail_view(mail, case.ref, held))


def approve_mail(ctx: Context, *, actor: str, outbound_id: int, note: str = "") -> Decision:
    """Release a held reply for delivery (``commgate outbound approve ID``): the approver is
    an account other than the author holding the required role (or admin)."""
    with ctx.db.session() as session:
        held, mail, case = approvals.approve(session, outbound_id, actor=actor, note=note)
        return Decision(_approval(approvals.approval_view(held)),
                        _mail(outbound.mail_view(mail, case.ref, held)))


def reject_mail(ctx: Context, *, actor: str, outbound_id: int, note: str) -> Decision:
    """Stop a held reply for good, with the reason (``commgate outbound reject ID --note``)."""
    with ctx.db.session() as session:
        held, mail, case = approvals.reject(session, outbound_id, actor=actor, note=note)
        return Decision(_approval(approvals.approval_view(held)),
                        _mail(outbound.mail_view(mail, case.ref, held)))


def escalate_waiting_approvals(ctx: Context, *, actor: str) -> Listing[WaitEscalation]:
    """Mail each reply's approving role once its wait reached [approval]
    escalate_after_minutes (again after each further interval); the daemon runs it."""
    del actor  # the escalations are the system's, recorded on each case
    return Listing(tuple(WaitEscalation(**e.to_dict()) for e in escalate_waiting(ctx)))


def list_mail(ctx: Context, *, actor: str, status: str | None = None, case: str | None = None
              ) -> Listing[Mail]:
    del actor
    with ctx.db.session() as session:
        return Listing(tuple(_mail(row) for row in outbound.list_outbound(
            session, status=status, case_ref=case)))


def deliver(ctx: WorkerContext, *, actor: str) -> Delivery:
    """Archive and relay the mail that is due now, then file the archived copies into their
    cases. Outbound mail switched off is the operator's to fix (a ConfigError)."""
    del actor  # each attempt is recorded on the mail; who queued it is its actor
    report = deliver_due(ctx)
    ctx.processor.process_pending()
    if report.disabled:
        raise ConfigError("outbound mail is disabled: set [outbound] enabled = true and "
                          "[outbound.relay] host in commgate.toml")
    return Delivery(tuple(report.archived), tuple(report.sent), tuple(report.deferred),
                    tuple(report.failed), report.disabled)
