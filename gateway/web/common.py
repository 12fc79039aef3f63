"""What the application factory and the pages share: the state of one application, the
exceptions a page raises for the factory's handlers to answer, and page rendering."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from gateway.web.security import LoginThrottle, ProxyTrust, SessionCodec, WebSession

if TYPE_CHECKING:
    from gateway.core.context import Context


class NotSignedIn(Exception):
    """Raised by a page when no one is signed in; answered with 303 to the login form."""


class BadForm(Exception):
    """Raised when a form lacks its CSRF token or has an unusable value (403 / 400)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class WebState:
    """What every request of one application shares."""

    ctx: Context
    codec: SessionCodec
    throttle: LoginThrottle
    proxies: ProxyTrust
    templates: Jinja2Templates
    secure_cookies: bool


def state_of(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def render(request: Request, template: str, context: dict[str, Any],
           status: int = 200) -> HTMLResponse:
    """A page: the template with the signed-in user (if any) and the session's CSRF token."""
    session: WebSession = request.state.session
    values = {"user": getattr(request.state, "user", None), "csrf": session.csrf, **context}
    return state_of(request).templates.TemplateResponse(request, template, values,
                                                        status_code=status)
