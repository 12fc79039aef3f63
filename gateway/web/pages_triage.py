"""``/triage``: what waits for a person. Messages no rule decided or decided with a low
confidence (the triage queue of ``commgate cases list --triage``), strangers' possible
follow-ups and the quarantine, each limited to the reader's queues.

Confirming or correcting is ``commgate cases classify``'s service (``classify_case``) with the
signed-in person as actor; a follow-up is merged or kept apart through the threading service
(``cases merge`` / ``cases unlink``). Retrying the quarantine stays on the command line
(``commgate quarantine retry``): it drives the processing worker, which the web process does
not run.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from gateway.services.cases import CATEGORIES, list_cases, list_quarantine, show_case
from gateway.services.cases import classify_case as classify
from gateway.services.threads import merge, unlink
from gateway.services.triage import follow_ups
from gateway.web.common import BadForm, render, state_of
from gateway.web.pages import check_csrf, signed_in
from gateway.web.rights import WORK_CASES, require_queue

router = APIRouter()
FormText = Annotated[str, Form()]
SCOPE_CHOICES = {"": None, "yes": True, "no": False}
FOLLOW_UP_KIND = "possible-follow-up"


@router.get("/triage")
def triage(request: Request, done: str = "") -> Response:
    user = signed_in(request, WORK_CASES)
    ctx = state_of(request).ctx
    waiting = [e for e in list_cases(ctx, actor=user.name, triage_only=True).items
               if user.may_see(e.alias)]
    linked = [f for f in follow_ups(ctx, actor=user.name).items
              if user.may_see(f.alias) and user.may_see(f.other_alias)]
    # A quarantined receipt without an alias (unreadable envelope) is for whoever sees all.
    quarantined = [q for q in list_quarantine(ctx, actor=user.name).items
                   if (user.may_see(q.alias) if q.alias else user.queues is None)]
    return render(request, "triage.html", {
        "waiting": waiting, "follow_ups": linked, "quarantine": quarantined,
        "categories": CATEGORIES, "done": done})


@router.post("/triage/{ref}/classify")
def classify_case(request: Request, ref: str, category: FormText = "",
                  scope_change: FormText = "", note: FormText = "",
                  csrf: FormText = "") -> Response:
    """Confirm (the case's own category sent back) or correct a case's classification."""
    user = signed_in(request, WORK_CASES)
    check_csrf(request, csrf)
    if category not in CATEGORIES or scope_change not in SCOPE_CHOICES:
        raise BadForm("unknown category or scope-change value")
    ctx = state_of(request).ctx
    require_queue(user, show_case(ctx, actor=user.name, ref=ref).alias)
    result = classify(ctx, actor=user.name, ref=ref, category=category,
                      scope_change=SCOPE_CHOICES[scope_change], note=note.strip())
    return _back(f"{result.ref} {'corrected' if result.changed else 'confirmed'}")


@router.post("/triage/{ref}/follow-up")
def follow_up(request: Request, ref: str, other: FormText = "", action: FormText = "",
              note: FormText = "", csrf: FormText = "") -> Response:
    """Merge a stranger's case into the case it pointed at, or keep it apart."""
    user = signed_in(request, WORK_CASES)
    check_csrf(request, csrf)
    if action not in ("merge", "unlink"):
        raise BadForm(f"unknown action {action!r}")
    ctx = state_of(request).ctx
    for case_ref in (ref, other):
        require_queue(user, show_case(ctx, actor=user.name, ref=case_ref).alias)
    if action == "merge":
        moved = merge(ctx, actor=user.name, source=ref, into=other, note=note.strip())
        return _back(f"{moved.source} merged into {moved.target}")
    linked = unlink(ctx, actor=user.name, ref=ref, other=other, kind=FOLLOW_UP_KIND,
                    note=note.strip())
    return _back(f"{linked.case} kept apart from {linked.other}")


def _back(done: str) -> Response:
    return RedirectResponse("/triage?" + urlencode({"done": done}), status_code=303)
