"""``/reviews`` and ``/orders``: the scope-change (and other) reviews and the order decisions as
lists, each limited to the reader's queues; and the case page's order actions: the review
decision, the requirement checklist and accepting or declining the order.

Each action is ``commgate review approve|reject``, ``review checklist`` or ``order
accept|decline``'s service with the signed-in person as actor and their queues, so the rules
(a decision needs a note, an order is accepted only with no review pending and the checklist
complete, a decline needs a note) are the workflow's: a refusal is its one-line reason (409).
Deciding is not limited to the reviewer role: the workflow lets whoever works the case decide.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from gateway.services.orders import (
    CHECK_STATES,
    CHECKLIST_ITEMS,
    DECISIONS,
    decide_order,
    decide_review,
    list_orders,
    list_reviews,
    order_record,
    set_checklist,
)
from gateway.web.common import BadForm, render, state_of
from gateway.web.pages import check_csrf, signed_in
from gateway.web.rights import READ_CASES, WORK_CASES

router = APIRouter()
FormText = Annotated[str, Form()]
FormList = Annotated[list[str], Form()]
REVIEW_FILTERS = ("pending", "all")


@router.get("/reviews")
def reviews(request: Request, show: str = "pending") -> Response:
    user = signed_in(request, READ_CASES)
    if show not in REVIEW_FILTERS:
        raise BadForm(f"unknown filter {show!r}")
    listed = list_reviews(state_of(request).ctx, actor=user.name, pending_only=show == "pending",
                          queues=user.queues)
    return render(request, "reviews.html", {"reviews": listed.items, "show": show,
                                            "filters": REVIEW_FILTERS})


@router.get("/orders")
def orders(request: Request, decision: str = "") -> Response:
    user = signed_in(request, READ_CASES)
    if decision not in ("", *DECISIONS):
        raise BadForm(f"unknown decision {decision!r}")
    listed = list_orders(state_of(request).ctx, actor=user.name, decision=decision or None,
                         queues=user.queues)
    return render(request, "orders.html", {"decisions": listed.items, "decision": decision,
                                           "choices": DECISIONS})


@router.post("/cases/{ref}/reviews/{review_id}")
def review_decision(request: Request, ref: str, review_id: int, decision: FormText = "",
                    note: FormText = "", confirm: FormText = "", csrf: FormText = "") -> Response:
    """Approve or reject a review; the customer is sent the confirmation unless unticked."""
    user = signed_in(request, WORK_CASES)
    check_csrf(request, csrf)
    if decision not in ("approve", "reject"):
        raise BadForm(f"unknown decision {decision!r}")
    review = decide_review(state_of(request).ctx, actor=user.name, ref=ref,
                           review_id=review_id, approve=decision == "approve", note=note,
                           confirm=confirm == "yes", queues=user.queues)
    return _back(ref, f"review-{review.id}")


@router.post("/cases/{ref}/checklist")
def checklist(request: Request, ref: str, item: FormList = [],  # noqa: B006 (FastAPI copies it)
              state: FormList = [], note: FormList = [],  # noqa: B006
              csrf: FormText = "") -> Response:
    """Record the items whose state or note changed (one ``checklist_updated`` event)."""
    user = signed_in(request, WORK_CASES)
    check_csrf(request, csrf)
    if not len(item) == len(state) == len(note) or not set(item) <= set(CHECKLIST_ITEMS) or (
            not set(state) <= {"", *CHECK_STATES}):
        raise BadForm("unknown checklist item or state")
    ctx = state_of(request).ctx
    current = order_record(ctx, actor=user.name, ref=ref, queues=user.queues).checklist
    changed = [f"{name}={value}:{text.strip()}" for name, value, text in zip(
        item, state, note, strict=True) if value and _differs(current.get(name), value, text)]
    if not changed:
        raise BadForm("nothing in the checklist was changed")
    set_checklist(ctx, actor=user.name, ref=ref, items=changed, queues=user.queues)
    return _back(ref, "checklist")


@router.post("/cases/{ref}/order")
def order_decision(request: Request, ref: str, message: FormText = "", decision: FormText = "",
                   note: FormText = "", csrf: FormText = "") -> Response:
    """Accept or decline the case's order on one of its messages."""
    user = signed_in(request, WORK_CASES)
    check_csrf(request, csrf)
    if decision not in ("accept", "decline") or not message.isdigit():
        raise BadForm("unknown decision or message")
    decide_order(state_of(request).ctx, actor=user.name, ref=ref, message=message,
                 accept=decision == "accept", note=note, queues=user.queues)
    return _back(ref, "order")


def _differs(current: object, state: str, note: str) -> bool:
    if not isinstance(current, dict):
        return True
    return bool(current["state"] != state or current["note"] != note.strip())


def _back(ref: str, anchor: str) -> Response:
    return RedirectResponse(f"/cases/{quote(ref.strip().upper(), safe='')}#{anchor}",
                            status_code=303)
