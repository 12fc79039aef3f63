"""The application factory: one FastAPI application over one installation (a
:class:`~gateway.core.context.Context`), with the session, proxy and header middleware, the
error pages and the routes of :mod:`gateway.web.pages`."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from gateway.core import passwords
from gateway.core.errors import AccessDeniedError, CaseNotFoundError, GatewayError
from gateway.core.text import acted_by
from gateway.web import (
    pages,
    pages_audit,
    pages_dashboard,
    pages_documents,
    pages_feedback,
    pages_holds,
    pages_notes,
    pages_orders,
    pages_property,
    pages_search,
    pages_templates,
    pages_threads,
    pages_triage,
)
from gateway.web.common import BadForm, NotSignedIn, WebState, render, state_of
from gateway.web.rights import Forbidden
from gateway.web.secret import session_key
from gateway.web.security import (
    COOKIE,
    HEADERS,
    PAGE_CSP,
    LoginThrottle,
    ProxyTrust,
    SessionCodec,
    WebSession,
)

if TYPE_CHECKING:
    from gateway.core.context import Context

HERE = Path(__file__).parent
log = logging.getLogger(__name__)


def create_app(ctx: Context, *, clock: Callable[[], float] = time.time,
               monotonic: Callable[[], float] = time.monotonic) -> FastAPI:
    """The web application of ``ctx``'s installation (its session key is made on first use)."""
    config = ctx.settings.config.web
    if config.password_hashing in passwords.TEST_ONLY:
        log.warning("[web] password_hashing = %r is for tests only: its hashes are guessed in "
                    "microseconds; use %r", config.password_hashing, passwords.DEFAULT)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = WebState(
        ctx=ctx,
        codec=SessionCodec(session_key(ctx.settings.home), config.session_minutes * 60, clock),
        throttle=LoginThrottle(config.login_failures_per_user,
                               config.login_failures_per_address,
                               config.login_window_minutes * 60, monotonic),
        proxies=ProxyTrust(config),
        templates=Jinja2Templates(env=_environment()),
        secure_cookies=config.secure_cookies)
    app.middleware("http")(_session_and_headers)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(pages.router)
    app.include_router(pages_triage.router)
    app.include_router(pages_search.router)
    app.include_router(pages_audit.router)
    app.include_router(pages_templates.router)  # and pages_reply's (reply, /outbound)
    for extra in (pages_orders, pages_feedback, pages_property, pages_dashboard, pages_threads,
                  pages_holds, pages_documents, pages_notes):
        app.include_router(extra.router)
    app.add_exception_handler(NotSignedIn, _to_login)
    app.add_exception_handler(Forbidden, _error(403))
    app.add_exception_handler(AccessDeniedError, _error(403))
    app.add_exception_handler(CaseNotFoundError, _error(404))
    app.add_exception_handler(BadForm, _bad_form)
    app.add_exception_handler(GatewayError, _error(409))
    return app


def _environment() -> Environment:
    # Autoescape everywhere: customer text (subjects, names, bodies, file names) is only ever
    # inserted as text. No template marks customer data |safe.
    environment = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True,
                              undefined=StrictUndefined)
    environment.filters["acted"] = acted_by  # "root (as alice)": the OS user and its claim
    return environment


async def _session_and_headers(request: Request,
                               call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    state = state_of(request)
    peer = request.client.host if request.client else ""
    request.state.client = state.proxies.client(peer, request.url.scheme,
                                                dict(request.headers))
    request.state.session = state.codec.loads(request.cookies.get(COOKIE))
    try:
        response = await call_next(request)
    except Exception:
        # Answered here, not by Starlette's outermost error handler, so that a fault (an
        # unreadable archive, a bug) also gets the security headers; the traceback is logged.
        log.exception("%s %s failed", request.method, request.url.path)
        response = PlainTextResponse("Internal error: the administrator finds the cause in "
                                     "the log.", status_code=500)
    session: WebSession = request.state.session
    if session.changed:
        response.set_cookie(COOKIE, state.codec.dumps(session), max_age=int(state.codec.max_age),
                            path="/", httponly=True, samesite="lax",
                            secure=state.secure_cookies or request.state.client.https)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


async def _to_login(request: Request, exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _error(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", {"status": status, "message": str(exc)},
                      status=status)
    return handler


async def _bad_form(request: Request, exc: Exception) -> Response:
    status = exc.status if isinstance(exc, BadForm) else 400
    return render(request, "error.html", {"status": status, "message": str(exc)}, status=status)
