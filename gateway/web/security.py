"""Sessions, CSRF tokens, login throttling, client addresses and security headers.

* A session is a cookie signed with the installation's key (itsdangerous), HttpOnly,
  SameSite=Lax, with an expiry checked on the server from the signed issue time (a copied
  cookie stops working when it expires, whatever its Max-Age said). It holds the user name and
  the session's CSRF token; signing in replaces it (no session fixation), signing out clears it.
  The account is read again on every request, so a disabled account is out at once.
* Every POST form carries the session's CSRF token (a visitor who is not signed in gets an
  anonymous session for the login form); SameSite=Lax is the second line.
* Failed sign-ins are counted per user name and per client address in a sliding window; past
  either limit, sign-in is refused without looking at the password. Counted per process: every
  node of a cluster counts its own.
* Forwarded client addresses and the single-sign-on header are believed only from the
  configured proxies.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from itsdangerous import BadSignature, URLSafeTimedSerializer

from gateway.config import WebConfig

COOKIE = "commgate_session"
MAX_TRACKED = 10_000  # names and addresses with failures; beyond it stale ones are dropped
# Pages: nothing but our own files; no inline script or style; never framed by others.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
            "frame-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
            "frame-ancestors 'none'")
# A message's HTML part: nothing is loaded or run (no script, image, font or form target);
# inline styles only. Framed by our own case page only, and sandboxed even when opened alone.
MESSAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'; "
               "base-uri 'none'; form-action 'none'; sandbox")
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass(frozen=True)
class WebSession:
    """What the session cookie says: who (None before sign-in), the CSRF token, when issued.
    ``changed``: the response must set the cookie (new, replaced or cleared)."""

    user: str | None
    csrf: str
    issued: float
    changed: bool = False

    @classmethod
    def anonymous(cls, now: float) -> WebSession:
        return cls(None, secrets.token_urlsafe(32), now, changed=True)

    def signed_in(self, user: str, now: float) -> WebSession:
        return WebSession(user, secrets.token_urlsafe(32), now, changed=True)

    def csrf_ok(self, token: str) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), token.encode())


class SessionCodec:
    """Sessions to and from the signed cookie value."""

    def __init__(self, key: bytes, max_age_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="commgate-session")
        self.max_age = max_age_seconds
        self.clock = clock

    def dumps(self, session: WebSession) -> str:
        return self._serializer.dumps({"u": session.user, "c": session.csrf,
                                       "t": session.issued})

    def loads(self, value: str | None) -> WebSession:
        """The session of the cookie, or a new anonymous one when it is missing, forged or
        expired."""
        now = self.clock()
        if value:
            try:
                data = self._serializer.loads(value)
                issued = float(data["t"])
                if now - issued <= self.max_age and isinstance(data["c"], str):
                    user = data["u"]
                    return WebSession(user if isinstance(user, str) else None, data["c"],
                                      issued)
            except (BadSignature, KeyError, TypeError, ValueError):
                pass
        return WebSession.anonymous(now)


@dataclass
class _Window:
    failures: deque[float] = field(default_factory=deque)


class LoginThrottle:
    """Failed sign-ins per user name and per client address in a sliding window."""

    def __init__(self, per_user: int, per_address: int, window_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = {"user": per_user, "address": per_address}
        self.window = window_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], _Window] = {}

    def allowed(self, user: str, address: str) -> bool:
        with self._lock:
            return all(self._count(key) < self.limits[key[0]]
                       for key in (("user", user.lower()), ("address", address)))

    def failed(self, user: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) >= MAX_TRACKED:  # many names guessed: forget the stale
                for key in list(self._failures):
                    self._count(key)
            for key in (("user", user.lower()), ("address", address)):
                self._failures.setdefault(key, _Window()).failures.append(now)

    def succeeded(self, user: str) -> None:
        """A right password clears the name's count (not the address's: one person's success
        must not reopen an address that guesses other names)."""
        with self._lock:
            self._failures.pop(("user", user.lower()), None)

    def _count(self, key: tuple[str, str]) -> int:
        window = self._failures.get(key)
        if window is None:
            return 0
        horizon = self.clock() - self.window
        while window.failures and window.failures[0] < horizon:
            window.failures.popleft()
        if not window.failures:
            del self._failures[key]
            return 0
        return len(window.failures)


@dataclass(frozen=True)
class Client:
    """Who is on the other end: the client's address, whether the request came over HTTPS,
    and the user a trusted proxy named (single sign-on), if any."""

    address: str
    https: bool
    proxy_user: str | None = None


class ProxyTrust:
    """Which peers are the configured reverse proxies, and what their headers say."""

    def __init__(self, config: WebConfig) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in config.trusted_proxies]
        self.user_header = config.trusted_proxy_header.lower()

    def client(self, peer: str, scheme: str, headers: dict[str, str]) -> Client:
        direct = Client(peer, scheme == "https")
        if not self._trusted(peer):
            return direct
        forwarded = headers.get("x-forwarded-for", "").split(",")[-1].strip()
        proto = headers.get("x-forwarded-proto", "").strip().lower()
        user = headers.get(self.user_header, "").strip() if self.user_header else ""
        return replace(direct, address=forwarded or peer,
                       https=proto == "https" if proto else direct.https,
                       proxy_user=user or None)

    def _trusted(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.networks)
