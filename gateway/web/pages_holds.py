"""``/audit/holds`` and ``/audit/retention``: legal holds (list, place, release) and retention
expiry (what a run would remove now, and the run itself), for the compliance role and admins.

The same services as ``commgate hold place|release|list`` and ``commgate retention expire
[--dry-run]``, with the signed-in person as actor: placing or releasing a hold is recorded in
the access log (and, for a case, as a case event), a run that removes content as a ``purge``
record, by the workflow itself. The dry run removes and records nothing, as on the command
line. A run needs a ticked confirmation besides the CSRF token: it cannot be undone."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from gateway.services.compliance import (
    expire_retention,
    legal_holds,
    place_legal_hold,
    release_legal_hold,
)
from gateway.web.common import BadForm, render, state_of
from gateway.web.pages import check_csrf, signed_in
from gateway.web.pages_audit import AUDIT

router = APIRouter()
FormText = Annotated[str, Form()]
SCOPES = ("case", "customer", "alias", "search")  # commgate hold place --case|--customer|...


@router.get("/audit/holds")
def holds(request: Request, all: str = "", done: str = "") -> Response:
    user = signed_in(request, AUDIT)
    rows = legal_holds(state_of(request).ctx, actor=user.name, include_released=bool(all)).rows
    return render(request, "holds.html", {"holds": rows, "scopes": SCOPES, "all": bool(all),
                                          "done": done})


@router.post("/audit/holds")
def place(request: Request, scope: FormText = "", value: FormText = "", reason: FormText = "",
          csrf: FormText = "") -> Response:
    user = signed_in(request, AUDIT)
    check_csrf(request, csrf)
    if scope not in SCOPES or not value.strip() or not reason.strip():
        raise BadForm("a hold needs a scope, what it covers and a reason")
    hold = place_legal_hold(state_of(request).ctx, actor=user.name, scope=scope,
                            value=value, reason=reason.strip())
    return _back("/audit/holds", f"legal hold {hold.id} placed on {hold.scope} {hold.value}")


@router.post("/audit/holds/{hold_id}/release")
def release(request: Request, hold_id: int, note: FormText = "",
            csrf: FormText = "") -> Response:
    user = signed_in(request, AUDIT)
    check_csrf(request, csrf)
    hold = release_legal_hold(state_of(request).ctx, actor=user.name, hold_id=hold_id,
                              note=note.strip())
    return _back("/audit/holds", f"legal hold {hold.id} released")


@router.get("/audit/retention")
def retention(request: Request, done: str = "") -> Response:
    user = signed_in(request, AUDIT)
    ctx = state_of(request).ctx
    return render(request, "retention.html", {
        "retention": ctx.settings.config.retention, "done": done,
        "expiry": expire_retention(ctx, actor=user.name, dry_run=True),
        "holds": len(legal_holds(ctx, actor=user.name).rows)})


@router.post("/audit/retention/expire")
def expire(request: Request, confirm: FormText = "", csrf: FormText = "") -> Response:
    """Remove the content past retention that no hold covers, now (``retention expire``)."""
    user = signed_in(request, AUDIT)
    check_csrf(request, csrf)
    if confirm != "yes":
        raise BadForm("tick the confirmation: removed content cannot be brought back")
    report = expire_retention(state_of(request).ctx, actor=user.name)
    return _back("/audit/retention", (
        f"removed {report.removed_blobs} blob(s) of {report.expired_messages} expired "
        f"message(s); {report.held_messages} held, {report.kept_shared} kept for another "
        "filing"))


def _back(path: str, done: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode({'done': done})}", status_code=303)
