"""``/templates``: controlled reply templates as ``commgate templates`` keeps them. A list of
every version with its state, one template with its versions and history (who drafted,
approved, published, when), and the forms for a new draft version, approving and publishing.

The rules are the workflow's (gateway/workflows/templates.py through the outbound service):
a different person than the author approves, only an approved version is published. A refusal
comes back as the service's error (a 409 page). This page adds only who may press which button:
staff, reviewers and admins draft; reviewers and admins approve and publish; every role reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from gateway.config import REPLY_KINDS
from gateway.services.outbound import (
    TemplateSummary,
    approve_template,
    create_template,
    list_templates,
    publish_template,
    show_template,
)
from gateway.web import pages_reply
from gateway.web.common import BadForm, render, state_of
from gateway.web.pages import check_csrf, signed_in
from gateway.web.rights import READ_CASES, WORK_CASES

router = APIRouter()
router.include_router(pages_reply.router)
FormText = Annotated[str, Form()]
DRAFT_TEMPLATES = WORK_CASES
# Approving and publishing decide what customers are sent: reviewers and admins. Which person
# may approve a given version (never its author) is the workflow's rule, not repeated here.
APPROVE_TEMPLATES = frozenset({"reviewer", "admin"})


@router.get("/templates")
def templates(request: Request) -> Response:
    user = signed_in(request, READ_CASES)
    versions = list_templates(state_of(request).ctx, actor=user.name).items
    return render(request, "templates.html", {
        "names": by_name(versions), "may_draft": user.role in DRAFT_TEMPLATES,
        "reply_kinds": REPLY_KINDS})


@router.post("/templates")
def create(request: Request, name: FormText = "", subject: FormText = "", body: FormText = "",
           kind: FormText = "", csrf: FormText = "") -> Response:
    """A new draft version (version 1 of a new name, or the next version of an existing one)."""
    user = signed_in(request, DRAFT_TEMPLATES)
    check_csrf(request, csrf)
    draft = create_template(state_of(request).ctx, actor=user.name, name=name.strip(),
                            subject=subject, body=textarea(body), reply_kind=kind)
    return _to(draft.name, draft.version)


@router.get("/templates/{name}")
def template(request: Request, name: str, version: int | None = None) -> Response:
    """One version (default: the newest) with every version and the template's history."""
    user = signed_in(request, READ_CASES)
    ctx = state_of(request).ctx
    versions = by_name(list_templates(ctx, actor=user.name).items).get(name, [])
    if not versions or (version is not None and version not in {v.version for v in versions}):
        raise BadForm(f"no template {name!r}" + (f" version {version}" if version else ""),
                      status=404)
    detail = show_template(ctx, actor=user.name, name=name, version=version)
    return render(request, "template.html", {
        "t": detail, "versions": versions, "quoted": quote(detail.name, safe=""),
        "may_draft": user.role in DRAFT_TEMPLATES,
        "may_approve": user.role in APPROVE_TEMPLATES, "reply_kinds": REPLY_KINDS})


@router.post("/templates/{name}/versions/{version}/approve")
def approve(request: Request, name: str, version: int, csrf: FormText = "") -> Response:
    user = signed_in(request, APPROVE_TEMPLATES)
    check_csrf(request, csrf)
    approved = approve_template(state_of(request).ctx, actor=user.name, name=name,
                                version=version)
    return _to(approved.name, approved.version)


@router.post("/templates/{name}/versions/{version}/publish")
def publish(request: Request, name: str, version: int, csrf: FormText = "") -> Response:
    user = signed_in(request, APPROVE_TEMPLATES)
    check_csrf(request, csrf)
    published = publish_template(state_of(request).ctx, actor=user.name, name=name,
                                 version=version)
    return _to(published.name, published.version)


def by_name(versions: Sequence[TemplateSummary]) -> dict[str, list[TemplateSummary]]:
    """The versions of each template, newest first (the service lists name, then version)."""
    names: dict[str, list[TemplateSummary]] = {}
    for item in versions:
        names.setdefault(item.name, []).insert(0, item)
    return names


def textarea(text: str) -> str:
    """A textarea's text as the command line reads a file: browsers send CR LF line ends."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _to(name: str, version: int) -> Response:
    return RedirectResponse(f"/templates/{quote(name, safe='')}?version={version}",
                            status_code=303)
