"""``/property``: the customer property register of ``commgate property list`` (filters:
owner, status; the reader's queues only) and ``/property/{id}``, one item with its chain of
custody (``property show``). The case page's property actions are the register's services
with the signed-in person as actor: register an item on the case (``property add``), confirm
a proposal, receive, move, and move it along its chain of custody (``property status``); the
workflow says which step is allowed (gateway/workflows/property.py) and a refusal is shown
with its reason."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from gateway.services.cases import show_case
from gateway.services.property import (
    KINDS,
    STATUSES,
    ItemDetail,
    add_item,
    confirm_item,
    list_items,
    move_item,
    receive_item,
    set_status,
    show_item,
)
from gateway.services.users import UserView
from gateway.web.common import BadForm, render, state_of
from gateway.web.pages import check_csrf, signed_in
from gateway.web.rights import READ_CASES, WORK_CASES, require_queue

router = APIRouter()
FormText = Annotated[str, Form()]


@router.get("/property")
def register(request: Request, customer: str = "", status: str = "") -> Response:
    user = signed_in(request, READ_CASES)
    if status not in ("", *STATUSES):
        raise BadForm(f"unknown status {status!r}")
    items = list_items(state_of(request).ctx, actor=user.name,
                       customer=customer.strip() or None, status=status or None,
                       queues=user.queues).items
    return render(request, "property.html", {
        "items": items, "customer": customer, "status": status, "statuses": STATUSES})


@router.get("/property/{item_id}")
def item(request: Request, item_id: int) -> Response:
    user = signed_in(request, READ_CASES)
    detail = _readable(request, user, item_id)
    return render(request, "property_item.html", {"item": detail})


@router.post("/cases/{ref}/property")
def add(request: Request, ref: str, kind: FormText = "", description: FormText = "",
        owner: FormText = "", identifiers: FormText = "", handling: FormText = "",
        attachment: FormText = "", csrf: FormText = "") -> Response:
    """Register an item of the case's customer (identifiers one ``KIND=VALUE`` a line; a
    drawing or data file the customer mailed by its attachment's sha256)."""
    user = signed_in(request, WORK_CASES)
    check_csrf(request, csrf)
    if kind not in KINDS:
        raise BadForm(f"unknown kind {kind!r}")
    ctx = state_of(request).ctx
    require_queue(user, show_case(ctx, actor=user.name, ref=ref).alias)
    added = add_item(ctx, actor=user.name, ref=ref, kind=kind, description=description,
                     owner=owner.strip(), identifiers=_lines(identifiers), handling=handling,
                     attachment=attachment.strip() or None)
    return _back(added)


@router.post("/property/{item_id}/confirm")
def confirm(request: Request, item_id: int, kind: FormText = "", description: FormText = "",
            handling: FormText = "", note: FormText = "", csrf: FormText = "") -> Response:
    """Confirm a proposal from a property notice (an empty field keeps what was proposed)."""
    user = _worker(request, item_id, csrf)
    if kind not in ("", *KINDS):
        raise BadForm(f"unknown kind {kind!r}")
    return _back(confirm_item(state_of(request).ctx, actor=user.name, item_id=item_id,
                              kind=kind or None, description=description.strip() or None,
                              handling=handling.strip() or None, note=note.strip()))


@router.post("/property/{item_id}/receive")
def receive(request: Request, item_id: int, condition: FormText = "", location: FormText = "",
            note: FormText = "", csrf: FormText = "") -> Response:
    user = _worker(request, item_id, csrf)
    return _back(receive_item(state_of(request).ctx, actor=user.name, item_id=item_id,
                              condition=condition, location=location, note=note.strip()))


@router.post("/property/{item_id}/move")
def move(request: Request, item_id: int, location: FormText = "", note: FormText = "",
         csrf: FormText = "") -> Response:
    user = _worker(request, item_id, csrf)
    return _back(move_item(state_of(request).ctx, actor=user.name, item_id=item_id,
                           location=location, note=note.strip()))


@router.post("/property/{item_id}/status")
def change_status(request: Request, item_id: int, status: FormText = "", note: FormText = "",
                  location: FormText = "", destination: FormText = "",
                  shipping_ref: FormText = "", csrf: FormText = "") -> Response:
    """Returned, destroyed, lost or damaged (an incident review), in use ...: as the workflow
    allows from the item's status; loss, damage and destruction need a note, a return its
    destination and shipping reference."""
    user = _worker(request, item_id, csrf)
    if status not in STATUSES:
        raise BadForm(f"unknown status {status!r}")
    return _back(set_status(state_of(request).ctx, actor=user.name, item_id=item_id,
                            status=status, note=note.strip(),
                            location=location.strip() or None,
                            destination=destination.strip(),
                            shipping_ref=shipping_ref.strip()))


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _readable(request: Request, user: UserView, item_id: int) -> ItemDetail:
    """The item, when its case is in a queue of ``user`` (403 otherwise)."""
    ctx = state_of(request).ctx
    detail = show_item(ctx, actor=user.name, item_id=item_id)
    alias = show_case(ctx, actor=user.name, ref=detail.case).alias if detail.case else ""
    require_queue(user, alias)
    return detail


def _worker(request: Request, item_id: int, csrf: str) -> UserView:
    user = signed_in(request, WORK_CASES)
    check_csrf(request, csrf)
    _readable(request, user, item_id)
    return user


def _back(item: ItemDetail) -> Response:
    target = f"/cases/{quote(item.case, safe='')}" if item.case else f"/property/{item.id}"
    return RedirectResponse(f"{target}#item-{item.id}", status_code=303)
