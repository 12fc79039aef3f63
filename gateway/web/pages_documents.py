"""``/documents``: controlled documents as ``commgate documents`` keeps them. The register (each
document, the version in force, every version with its state), one document with its versions,
history (who drafted, approved, published, superseded, retired and when), to whom each version
was sent, a download of any version (recorded in the access log before a byte leaves), and the
forms for a new draft version, approving, publishing and retiring.

The rules are the workflow's (gateway/workflows/documents.py through the documents service):
someone other than the author approves, and only a holder of the document's owner role or an
admin approves, publishes or retires; a refusal comes back as the service's error (a 409 page).
This page adds only who sees which button: staff, reviewers and admins upload drafts; the
transition buttons show for the owner role and admins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import RedirectResponse

from gateway.core.errors import WorkflowError
from gateway.services.documents import (
    DocumentVersion,
    add_document,
    approve_document,
    get_document,
    list_documents,
    publish_document,
    retire_document,
    show_document,
)
from gateway.web.common import BadForm, render, state_of
from gateway.web.pages import check_csrf, content_disposition, signed_in
from gateway.web.rights import READ_CASES, WORK_CASES

router = APIRouter()
FormText = Annotated[str, Form()]
DRAFT_DOCUMENTS = WORK_CASES
OWNER_ROLES = ("staff", "reviewer", "compliance", "admin")
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # the workflow's limit (MAX_DOCUMENT_BYTES) says why


@router.get("/documents")
def documents(request: Request) -> Response:
    user = signed_in(request, READ_CASES)
    versions = list_documents(state_of(request).ctx, actor=user.name).items
    return render(request, "documents.html", {
        "names": by_name(versions), "may_draft": user.role in DRAFT_DOCUMENTS,
        "owner_roles": OWNER_ROLES})


@router.post("/documents")
def upload(request: Request, name: FormText = "", title: FormText = "",
           owner_role: FormText = "", csrf: FormText = "",
           file: Annotated[UploadFile | None, File()] = None) -> Response:
    """A new draft version (version 1 of a new name, or the next version of an existing one).
    The uploaded file's name is only a display name (sanitised by the workflow)."""
    user = signed_in(request, DRAFT_DOCUMENTS)
    check_csrf(request, csrf)
    if file is None:
        raise BadForm("choose a file")
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    draft = add_document(state_of(request).ctx, actor=user.name, name=name.strip(), data=data,
                         filename=file.filename or "", title=title,
                         owner_role=owner_role.strip() or None)
    return _to(draft.name)


@router.get("/documents/{name}")
def document(request: Request, name: str) -> Response:
    user = signed_in(request, READ_CASES)
    try:
        detail = show_document(state_of(request).ctx, actor=user.name, name=name)
    except WorkflowError:  # a name that is no document (or no name at all)
        raise BadForm(f"no document {name!r}", status=404) from None
    owner = detail.versions[-1].owner_role
    return render(request, "document.html", {
        "d": detail, "newest_first": list(reversed(detail.versions)),
        "quoted": quote(detail.name, safe=""), "may_draft": user.role in DRAFT_DOCUMENTS,
        "may_decide": user.role in (owner, "admin"), "owner_roles": OWNER_ROLES})


@router.get("/documents/{name}/versions/{version}/download")
def download(request: Request, name: str, version: int) -> Response:
    """Any version's bytes, superseded ones included, as an opaque download."""
    user = signed_in(request, READ_CASES)
    got = get_document(state_of(request).ctx, actor=user.name, name=name, version=version,
                       purpose="web download")
    return Response(got.data, media_type="application/octet-stream", headers={
        "Content-Disposition": content_disposition(got.version.filename),
        "Content-Security-Policy": "default-src 'none'; sandbox"})


@router.post("/documents/{name}/versions/{version}/{action}")
def transition(request: Request, name: str, version: int, action: str, note: FormText = "",
               csrf: FormText = "") -> Response:
    user = signed_in(request, READ_CASES)
    check_csrf(request, csrf)
    ctx = state_of(request).ctx
    if action == "approve":
        changed = approve_document(ctx, actor=user.name, name=name, version=version)
    elif action == "publish":
        changed = publish_document(ctx, actor=user.name, name=name, version=version)
    elif action == "retire":
        changed = retire_document(ctx, actor=user.name, name=name, version=version,
                                  note=note)
    else:
        raise BadForm(f"unknown action {action!r}", status=404)
    return _to(changed.name)


def by_name(versions: Sequence[DocumentVersion]) -> dict[str, list[DocumentVersion]]:
    """The versions of each document, newest first (the service lists name, then version)."""
    names: dict[str, list[DocumentVersion]] = {}
    for item in versions:
        names.setdefault(item.name, []).insert(0, item)
    return names


def _to(name: str) -> Response:
    return RedirectResponse(f"/documents/{quote(name, safe='')}", status_code=303)
