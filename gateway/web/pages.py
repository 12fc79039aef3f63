"""The pages. Each handler signs the person in (session or trusted proxy), checks the role and
the queue right, and calls the same service function the command line calls, with the person
as actor: the service writes the case event or the access record. Handlers are plain
functions (FastAPI runs them in its thread pool): the services block on the database and on
the archive's fsync."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from gateway.core.clock import utcnow
from gateway.services.cases import CATEGORIES, CaseFilter, case_page, owner_roles, show_case
from gateway.services.lifecycle import ACTIVE_STATUSES, STATUSES, set_case_status
from gateway.services.messages import MessageContent, attachment, case_content, message_html
from gateway.services.orders import CHECK_STATES
from gateway.services.users import UserView, sign_in, signed_in_user
from gateway.web.case_fbprop import case_forms
from gateway.web.common import BadForm, NotSignedIn, render, state_of
from gateway.web.highlight import message_evidence
from gateway.web.rights import READ_CASES, WORK_CASES, Forbidden, require, require_queue
from gateway.web.sanitise import clean_html
from gateway.web.security import MESSAGE_CSP, WebSession

router = APIRouter()
PAGE_SIZE = 50
FormText = Annotated[str, Form()]
_ASCII_NAME = re.compile(r"[^A-Za-z0-9._ -]")


# -- signing in --------------------------------------------------------------------------------

def signed_in(request: Request, roles: frozenset[str] | None = None) -> UserView:
    """The person of this request (named by a trusted proxy, else by the session), who must
    hold one of ``roles`` when they are given (403 otherwise)."""
    state, client = state_of(request), request.state.client
    if client.proxy_user:
        user = signed_in_user(state.ctx, name=client.proxy_user)
        if user is None:
            raise Forbidden(f"no enabled account {client.proxy_user!r}: 'commgate users add'")
    else:
        session: WebSession = request.state.session
        if not session.user:
            raise NotSignedIn()
        user = signed_in_user(state.ctx, name=session.user)
        if user is None:  # disabled (or gone) since signing in: the session ends now
            request.state.session = WebSession.anonymous(state.codec.clock())
            raise NotSignedIn()
    request.state.user = user
    if roles is not None:
        require(user, roles)
    return user


def check_csrf(request: Request, token: str) -> None:
    session: WebSession = request.state.session
    if not session.csrf_ok(token):
        raise BadForm("the form's security token is missing or out of date: reload the page "
                      "and send it again", status=403)


def _next_page(value: str) -> str:
    """Where to go after signing in: a path of this site only (never //host or a URL)."""
    if value.startswith("/") and not value.startswith(("//", "/\\")) and "\n" not in value:
        return value
    return "/cases"


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/cases", status_code=303)


@router.get("/login")
def login_form(request: Request, next: str = "") -> Response:
    return render(request, "login.html", {"next": _next_page(next), "error": ""})


@router.post("/login")
def login(request: Request, username: FormText = "", password: FormText = "",
          csrf: FormText = "", next: FormText = "") -> Response:
    check_csrf(request, csrf)
    state, client = state_of(request), request.state.client
    username = username.strip()
    if not state.throttle.allowed(username, client.address):
        return render(request, "login.html", {
            "next": _next_page(next), "error": "Too many failed sign-ins: wait a few minutes "
            "and try again."}, status=429)
    user = sign_in(state.ctx, name=username, password=password) if username else None
    if user is None:
        state.throttle.failed(username, client.address)
        return render(request, "login.html", {
            "next": _next_page(next), "error": "Wrong name or password."}, status=401)
    state.throttle.succeeded(username)
    session: WebSession = request.state.session
    request.state.session = session.signed_in(user.name, state.codec.clock())
    return RedirectResponse(_next_page(next), status_code=303)


@router.get("/logout")
def logout_form(request: Request) -> Response:
    signed_in(request)
    return render(request, "logout.html", {})


@router.post("/logout")
def logout(request: Request, csrf: FormText = "") -> Response:
    check_csrf(request, csrf)
    request.state.session = WebSession.anonymous(state_of(request).codec.clock())
    return RedirectResponse("/login", status_code=303)


# -- cases -------------------------------------------------------------------------------------

@router.get("/cases")
def cases(request: Request, status: str = "", category: str = "", alias: str = "",
          review: str = "", customer: str = "", owner: str = "", overdue: str = "",
          q: str = "", before: str = "") -> Response:
    user = signed_in(request, READ_CASES)
    if status not in ("", *STATUSES) or category not in ("", *CATEGORIES) or review not in (
            "", "yes", "no") or overdue not in ("", "yes") or not (
            before == "" or before.isdigit()):
        raise BadForm("unknown filter value")
    if alias:
        require_queue(user, alias)
    where = CaseFilter(status=status or None, category=category or None, alias=alias or None,
                       review_required=None if not review else review == "yes",
                       customer=customer.strip() or None, owner_role=owner.strip() or None,
                       overdue_at=utcnow() if overdue else None, queues=user.queues)
    ctx = state_of(request).ctx
    page = case_page(ctx, actor=user.name, where=where, query=q,
                     before=int(before) if before else None, limit=PAGE_SIZE)
    filters = {"status": status, "category": category, "alias": alias, "review": review,
               "customer": customer, "owner": owner, "overdue": overdue, "q": q}
    next_url = None
    if page.next_before is not None:
        next_url = "/cases?" + urlencode({**{k: v for k, v in filters.items() if v},
                                          "before": page.next_before})
    queues = sorted(page.counts) if user.queues is None else sorted(user.queues)
    return render(request, "cases.html", {
        "page": page, "filters": filters, "next_url": next_url, "statuses": STATUSES,
        "active": ACTIVE_STATUSES,
        "categories": CATEGORIES, "queues": queues, "first_page": not before,
        "owner_roles": owner_roles(ctx)})


@router.get("/cases/{ref}")
def case(request: Request, ref: str) -> Response:
    user = signed_in(request, READ_CASES)
    ctx = state_of(request).ctx
    detail = show_case(ctx, actor=user.name, ref=ref)
    require_queue(user, detail.alias)
    content = case_content(ctx, actor=user.name, ref=detail.ref, queues=user.queues)
    shown = {m.id: m for m in content.messages}
    timeline: list[dict[str, Any]] = [
        {"at": m["date"] or "", "message": m, "content": shown.get(m["id"]), "event": None,
         "evidence": message_evidence(m, _shown_text(shown.get(m["id"])))}
        for m in detail.messages]
    timeline += [{"at": e.at or "", "message": None, "content": None, "event": e}
                 for e in detail.events]
    timeline.sort(key=lambda item: item["at"])
    return render(request, "case.html", {
        "case": detail, "timeline": timeline, "statuses": STATUSES,
        "may_work": user.role in WORK_CASES, "quoted_ref": quote(detail.ref, safe=""),
        "check_states": CHECK_STATES, "fbprop": case_forms(detail)})


def _shown_text(content: MessageContent | None) -> str | None:
    return None if content is None or content.purged else content.text


@router.get("/cases/{ref}/messages/{message}/html")
def message_part(request: Request, ref: str, message: int) -> Response:
    """The sanitised HTML of a message, for the sandboxed frame of the case page."""
    user = signed_in(request, READ_CASES)
    part = message_html(state_of(request).ctx, actor=user.name, ref=ref, message=message,
                        queues=user.queues)
    document = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>"
                f"{clean_html(part.html)}</body></html>")
    return HTMLResponse(document, headers={"Content-Security-Policy": MESSAGE_CSP,
                                           "X-Frame-Options": "SAMEORIGIN"})


@router.get("/cases/{ref}/messages/{message}/attachments/{index}")
def download(request: Request, ref: str, message: int, index: int) -> Response:
    user = signed_in(request, READ_CASES)
    item = attachment(state_of(request).ctx, actor=user.name, ref=ref, message=message,
                      index=index, queues=user.queues)
    # Always a download of opaque bytes: never rendered by the browser, whatever it claims.
    return Response(item.data, media_type="application/octet-stream", headers={
        "Content-Disposition": content_disposition(item.filename),
        "Content-Security-Policy": "default-src 'none'; sandbox"})


@router.post("/cases/{ref}/status")
def change_status(request: Request, ref: str, status: FormText = "", note: FormText = "",
                  csrf: FormText = "") -> Response:
    user = signed_in(request)
    check_csrf(request, csrf)
    require(user, WORK_CASES)
    if status not in STATUSES:
        raise BadForm(f"unknown status {status!r}")
    changed = set_case_status(state_of(request).ctx, actor=user.name, ref=ref, status=status,
                              note=note.strip(), queues=user.queues)
    return RedirectResponse(f"/cases/{quote(changed.ref, safe='')}", status_code=303)


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII stand-in and the real name (RFC 6266, RFC 8187): no quote,
    backslash, control character or path can reach the header or the saved file's name."""
    name = "".join(ch for ch in filename if unicodedata.category(ch)[0] != "C")
    name = name.replace("/", "_").replace("\\", "_").strip(" .") or "attachment"
    fallback = _ASCII_NAME.sub("_", unicodedata.normalize("NFKD", name))[:100] or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name[:200], safe='')}"
