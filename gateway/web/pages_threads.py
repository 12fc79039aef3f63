"""Case page actions that correct the threader: merge into another case, split chosen messages
into a new case, link two cases, and the undo of each (unmerge, unsplit, unlink), through
:mod:`gateway.services.threads` as ``commgate cases merge|split|link|...`` with the signed-in
person as actor (the workflow records the case events on both cases).

Every action touches two cases; the person needs the right to work cases and the queue of
both (a split's new case is opened in the queue of the case it comes from). The forms are the
partial ``case_threads.html`` of the case page."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from gateway.services.cases import CaseDetail, show_case
from gateway.services.threads import link, merge, split, unlink, unmerge, unsplit
from gateway.services.users import UserView
from gateway.web.common import BadForm, state_of
from gateway.web.pages import check_csrf, signed_in
from gateway.web.rights import WORK_CASES, require_queue

router = APIRouter()
FormText = Annotated[str, Form()]
FormList = Annotated[list[str], Form()]
STAFF_LINKS = ("related", "enquiry-order")  # the kinds a person links (cases link --kind)
UNLINKABLE = (*STAFF_LINKS, "possible-follow-up")


def _worked(request: Request, csrf: str) -> UserView:
    user = signed_in(request, WORK_CASES)
    check_csrf(request, csrf)
    return user


def _case(request: Request, user: UserView, ref: str) -> CaseDetail:
    """The case, which must be in one of the person's queues (403 otherwise)."""
    if not ref.strip():
        raise BadForm("name the other case")
    detail = show_case(state_of(request).ctx, actor=user.name, ref=ref.strip())
    require_queue(user, detail.alias)
    return detail


def _linked(detail: CaseDetail, kind: str) -> str:
    """The case this one points at with a link of ``kind`` (409 when there is none)."""
    found = [item["case"] for item in detail.links["links"]
             if item["kind"] == kind and item["direction"] == "to"]
    if not found:
        raise BadForm(f"{detail.ref} has no {kind} link", status=409)
    return str(found[-1])


def _to(ref: str) -> Response:
    return RedirectResponse(f"/cases/{quote(ref, safe='')}", status_code=303)


@router.post("/cases/{ref}/merge")
def merge_case(request: Request, ref: str, into: FormText = "", note: FormText = "",
               csrf: FormText = "") -> Response:
    """Move every message of this case into ``into`` (this case stays, marked merged)."""
    user = _worked(request, csrf)
    source, target = _case(request, user, ref), _case(request, user, into)
    moved = merge(state_of(request).ctx, actor=user.name, source=source.ref, into=target.ref,
                  note=note.strip())
    return _to(moved.target)


@router.post("/cases/{ref}/unmerge")
def unmerge_case(request: Request, ref: str, note: FormText = "",
                 csrf: FormText = "") -> Response:
    user = _worked(request, csrf)
    source = _case(request, user, ref)
    if not source.links["merged_into"]:
        raise BadForm(f"{source.ref} is not merged into another case", status=409)
    _case(request, user, source.links["merged_into"])
    unmerge(state_of(request).ctx, actor=user.name, source=source.ref, note=note.strip())
    return _to(source.ref)


@router.post("/cases/{ref}/split")
def split_case(request: Request, ref: str, messages: FormList = [],  # noqa: B006
               note: FormText = "", csrf: FormText = "") -> Response:
    """Move the ticked messages into a new case in the same queue."""
    user = _worked(request, csrf)
    if not messages or not all(m.isdigit() for m in messages):
        raise BadForm("tick the messages to split off")
    source = _case(request, user, ref)
    moved = split(state_of(request).ctx, actor=user.name, ref=source.ref,
                  messages=[int(m) for m in messages], note=note.strip())
    return _to(moved.target)


@router.post("/cases/{ref}/unsplit")
def unsplit_case(request: Request, ref: str, note: FormText = "",
                 csrf: FormText = "") -> Response:
    """Merge a split-off case back into the case it came from."""
    user = _worked(request, csrf)
    case = _case(request, user, ref)
    _case(request, user, _linked(case, "split-from"))
    moved = unsplit(state_of(request).ctx, actor=user.name, ref=case.ref, note=note.strip())
    return _to(moved.target)


@router.post("/cases/{ref}/link")
def link_case(request: Request, ref: str, other: FormText = "", kind: FormText = "",
              note: FormText = "", csrf: FormText = "") -> Response:
    user = _worked(request, csrf)
    if kind not in STAFF_LINKS:
        raise BadForm(f"unknown link kind {kind!r}")
    case, linked = _case(request, user, ref), _case(request, user, other)
    link(state_of(request).ctx, actor=user.name, ref=case.ref, other=linked.ref, kind=kind,
         note=note.strip())
    return _to(case.ref)


@router.post("/cases/{ref}/unlink")
def unlink_case(request: Request, ref: str, other: FormText = "", kind: FormText = "",
                note: FormText = "", csrf: FormText = "") -> Response:
    user = _worked(request, csrf)
    if kind not in ("", *UNLINKABLE):
        raise BadForm(f"unknown link kind {kind!r}")
    case, linked = _case(request, user, ref), _case(request, user, other)
    unlink(state_of(request).ctx, actor=user.name, ref=case.ref, other=linked.ref,
           kind=kind or None, note=note.strip())
    return _to(case.ref)
