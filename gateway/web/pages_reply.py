"""Replying to a case from a published template (``commgate reply REF --template NAME --var
NAME=VALUE``) and ``/outbound``, the outbound mail with its delivery state (``commgate
outbound list``), where a reply held for a second person's approval shows the approve and
reject forms (``commgate outbound approve|reject ID``) to those who may decide it; the service
checks the role and that the approver is not the author.

The reply is queued by the same service as on the command line, with the signed-in person as
actor; the daemon archives it, relays it and files the archived copy into the case. The form
asks only for the variables the template uses beyond those every mail fills in (case
reference, customer name ...): the person cannot override those. The workflow refuses a line
break in any value the subject uses, and a value in the body is body text, never a header.
The form also offers the published controlled documents (``reply --attach-document``): the
version the person saw must still be the one in force when the form is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from gateway.config import REPLY_KINDS
from gateway.core.errors import GatewayError
from gateway.services.cases import show_case
from gateway.services.documents import DocumentVersion, list_documents
from gateway.services.outbound import (
    TemplateSummary,
    approve_mail,
    list_mail,
    list_templates,
    reject_mail,
    reply,
    show_mail,
)
from gateway.services.outbound import show_template as template_detail
from gateway.web.common import BadForm, render, state_of
from gateway.web.pages import check_csrf, signed_in
from gateway.web.rights import READ_CASES, WORK_CASES, require_queue

if TYPE_CHECKING:
    from gateway.core.context import Context

router = APIRouter()
FormText = Annotated[str, Form()]
FormList = Annotated[list[str] | None, Form()]
MAIL_STATUSES = ("queued", "sent", "deferred", "failed", "suppressed", "pending", "rejected")


@router.get("/cases/{ref}/reply")
def reply_form(request: Request, ref: str, template: str = "") -> Response:
    """Choose a published template, then fill in its variables."""
    user = signed_in(request, WORK_CASES)
    ctx = state_of(request).ctx
    case = show_case(ctx, actor=user.name, ref=ref)
    require_queue(user, case.alias)
    choices = published(ctx, user.name)
    chosen = None
    if template:
        if template not in choices:
            raise BadForm(f"{template!r} has no published version", status=404)
        chosen = template_detail(ctx, actor=user.name, name=template,
                                 version=choices[template].version)
    return render(request, "reply.html", {
        "case": case, "quoted_ref": quote(case.ref, safe=""), "choices": choices,
        "chosen": chosen, "documents": documents_in_force(ctx, user.name),
        "reply_kinds": REPLY_KINDS})


@router.post("/cases/{ref}/reply")
def send_reply(request: Request, ref: str, template: FormText = "", version: FormText = "",
               name: FormList = None, value: FormList = None, document: FormText = "",
               kind: FormText = "", csrf: FormText = "") -> Response:
    """Queue the reply. The version the person saw must still be the published one (of the
    template and of the document chosen to attach), and the variables must be exactly those
    the form asked for."""
    user = signed_in(request, WORK_CASES)
    check_csrf(request, csrf)
    ctx = state_of(request).ctx
    require_queue(user, show_case(ctx, actor=user.name, ref=ref).alias)
    name, value = name or [], value or []
    current = published(ctx, user.name).get(template)
    if current is None:
        raise BadForm(f"{template!r} has no published version", status=409)
    if version != str(current.version):
        raise GatewayError(f"{template} v{current.version} was published since you opened the "
                           f"form: open it again to see the text that would be sent")
    asked = template_detail(ctx, actor=user.name, name=template,
                            version=current.version).unknown_variables
    if len(name) != len(value) or sorted(name) != asked:
        raise BadForm(f"the form must give the variables {', '.join(asked) or '(none)'}")
    if any(not text.strip() for text in value):
        raise BadForm("fill in every variable")
    attach = _document_choice(ctx, user.name, document)
    mail = reply(ctx, actor=user.name, ref=ref, template=template,
                 variables=dict(zip(name, value, strict=True)), attach_documents=attach,
                 reply_kind=kind)
    return RedirectResponse(f"/cases/{quote(mail.case, safe='')}#outbound-{mail.id}",
                            status_code=303)


@router.get("/outbound")
def outbound(request: Request, status: str = "", case: str = "") -> Response:
    """Outbound mail of the reader's queues (a mail's sender is its case's queue)."""
    user = signed_in(request, READ_CASES)
    if status not in ("", *MAIL_STATUSES):
        raise BadForm("unknown status")
    mails = [m for m in list_mail(state_of(request).ctx, actor=user.name,
                                  status=status or None, case=case.strip() or None).items
             if user.may_see(m.sender)]
    return render(request, "outbound.html", {
        "mails": mails, "statuses": MAIL_STATUSES, "filters": {"status": status, "case": case}})


@router.post("/outbound/{outbound_id}/approve")
def approve(request: Request, outbound_id: int, note: FormText = "", back: FormText = "",
            csrf: FormText = "") -> Response:
    """Release a held reply (the second person; ``commgate outbound approve ID``)."""
    return _decide(request, outbound_id, note, back, csrf, approve=True)


@router.post("/outbound/{outbound_id}/reject")
def reject(request: Request, outbound_id: int, note: FormText = "", back: FormText = "",
           csrf: FormText = "") -> Response:
    """Stop a held reply for good, with why (``commgate outbound reject ID --note``)."""
    if not note.strip():
        raise BadForm("a rejection needs a note: say what must change")
    return _decide(request, outbound_id, note, back, csrf, approve=False)


def _decide(request: Request, outbound_id: int, note: str, back: str, csrf: str, *,
            approve: bool) -> Response:
    user = signed_in(request, READ_CASES)
    check_csrf(request, csrf)
    ctx = state_of(request).ctx
    require_queue(user, show_mail(ctx, actor=user.name, outbound_id=outbound_id).sender)
    decide = approve_mail if approve else reject_mail
    decision = decide(ctx, actor=user.name, outbound_id=outbound_id, note=note.strip())
    if back == "case":
        return RedirectResponse(f"/cases/{quote(decision.mail.case, safe='')}"
                                f"#outbound-{outbound_id}", status_code=303)
    return RedirectResponse("/outbound?status=pending", status_code=303)


def published(ctx: Context, actor: str) -> dict[str, TemplateSummary]:
    """The version of each template that may be sent now, by name."""
    return {t.name: t for t in list_templates(ctx, actor=actor).items
            if t.status == "published"}


def documents_in_force(ctx: Context, actor: str) -> dict[str, DocumentVersion]:
    """The published version of each controlled document, by name (what a reply may attach)."""
    return {d.name: d for d in list_documents(ctx, actor=actor).items if d.status == "published"}


def _document_choice(ctx: Context, actor: str, choice: str) -> list[str]:
    """The document to attach (``NAME:VERSION`` as the form offered it), refused when another
    version has been published since the form was opened."""
    if not choice:
        return []
    doc_name, _, doc_version = choice.rpartition(":")
    current = documents_in_force(ctx, actor).get(doc_name)
    if current is None:
        raise BadForm(f"document {doc_name!r} has no published version", status=409)
    if doc_version != str(current.version):
        raise GatewayError(f"{doc_name} v{current.version} was published since you opened the "
                           f"form: open it again to see what would be attached")
    return [doc_name]
