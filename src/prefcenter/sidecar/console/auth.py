"""Who is asking: console sessions, CSRF tokens and the trusted single-sign-on header.

A session is a signed cookie (itsdangerous, keyed from the token SECRET with its own
salt), HttpOnly and SameSite=Strict, Secure when the console is reached over https.
It names the operator, the operator's session generation (a reset or a disable
ends every older session), when it began and when it was last used; the console
refuses it past ``CONSOLE_SESSION_MAX`` from the login or ``CONSOLE_IDLE_TIMEOUT``
from the last request, and sends a fresh cookie with every answer. Every form carries
a CSRF token: a keyed hash of the session's random nonce (of a pre-login cookie's nonce
on the login form), so a page of another site cannot post one.

With ``CONSOLE_USER_HEADER`` set, a request from one of ``TRUSTED_PROXIES`` that
carries the header is the named operator (their own role, or ``CONSOLE_HEADER_ROLE``
for a name that is not an operator); the same header from any other address is
refused outright, never ignored, since it means someone is trying.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request

from prefcenter.config import Settings

SESSION_COOKIE = "prefcenter_console"
LOGIN_COOKIE = "prefcenter_console_login"
#: A login form is good for this long.
LOGIN_FORM_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Session:
    """A console session as its cookie carries it.

    Attributes:
        name: the operator.
        generation: the operator's session generation at login.
        began: when the login happened (seconds since the epoch).
        seen: the last request (seconds since the epoch).
        nonce: random; the session's CSRF tokens are made from it.
        sso: True when the trusted proxy's header named the operator (no cookie).
    """

    name: str
    generation: int
    began: float
    seen: float
    nonce: str
    sso: bool = False


class Refused(Exception):
    """A request the console will not serve: carries the page's title and sentence."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


class Keys:
    """The console's keys, derived from the newest token SECRET (all verify)."""

    def __init__(self, settings: Settings) -> None:
        keys = settings.signing_keys() or [b"prefcenter-development-only"]
        self._serializer = URLSafeTimedSerializer(
            [key.decode("utf-8", "replace") for key in keys],
            salt="prefcenter/console/session/v1",
        )
        self._csrf = [
            hmac.new(key, b"prefcenter/console/csrf/v1", hashlib.sha256).digest() for key in keys
        ]

    def dump(self, session: Session) -> str:
        """The cookie value for ``session``."""
        data = [session.name, session.generation, session.began, session.seen, session.nonce]
        return str(self._serializer.dumps(data))

    def load(self, value: str, max_age: int) -> Session | None:
        """The session a cookie carries, or None when forged, malformed or too old."""
        try:
            data: Any = self._serializer.loads(value, max_age=max_age)
            name, generation, began, seen, nonce = data
            return Session(str(name), int(generation), float(began), float(seen), str(nonce))
        except (BadSignature, ValueError, TypeError):
            return None

    def login_nonce(self, value: str) -> str | None:
        """The nonce of a pre-login cookie, or None."""
        try:
            return str(self._serializer.loads(value, max_age=LOGIN_FORM_SECONDS, salt="login"))
        except (BadSignature, ValueError, TypeError):
            return None

    def login_cookie(self, nonce: str) -> str:
        """A pre-login cookie value carrying ``nonce``."""
        return str(self._serializer.dumps(nonce, salt="login"))

    def csrf(self, nonce: str) -> str:
        """The form token for ``nonce`` (made with the newest key)."""
        return hmac.new(self._csrf[-1], nonce.encode(), hashlib.sha256).hexdigest()[:32]

    def csrf_valid(self, nonce: str, presented: str) -> bool:
        """True when ``presented`` was made for ``nonce`` with any configured key."""
        given = presented.encode("utf-8", "surrogatepass")
        ok = False
        for key in self._csrf:
            expected = hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()[:32].encode()
            ok |= hmac.compare_digest(expected, given)
        return ok and bool(nonce)


def new_session(name: str, generation: int) -> Session:
    """A session beginning now."""
    now = time.time()
    return Session(name, generation, now, now, secrets.token_urlsafe(18))


def session_from(request: Request, keys: Keys, settings: Settings) -> Session | None:
    """The live session of ``request``'s cookie, renewed to now; None without a cookie.

    Raises:
        Refused: 401 when the cookie is forged, past the idle timeout or past the
            session's absolute limit.
    """
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    longest = settings.console_session_max.total_seconds()
    session = keys.load(value, max_age=int(longest))
    now = time.time()
    expired = Refused(
        401,
        "Your session has ended",
        "You were away too long, or the session was ended. Log in again; nothing was changed.",
    )
    if session is None or now - session.began > longest:
        raise expired
    if now - session.seen > settings.console_idle_timeout.total_seconds():
        raise expired
    return Session(session.name, session.generation, session.began, now, session.nonce)


def client_address(request: Request) -> str:
    """The address of the peer that connected (the proxy, behind one)."""
    return request.client.host if request.client else ""


def trusted(address: str, settings: Settings) -> bool:
    """True when ``address`` is one of ``TRUSTED_PROXIES``."""
    if not address or not settings.trusted_proxies:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.trusted_proxies)


def header_user(request: Request, settings: Settings) -> str | None:
    """The operator the trusted proxy names, or None when no such header came.

    Raises:
        Refused: 403 when the header came from an address that is not a trusted proxy.
    """
    header = settings.console_user_header
    if not header:
        return None
    value = request.headers.get(header)
    if value is None:
        return None
    if not trusted(client_address(request), settings):
        raise Refused(
            403,
            "Sign-in header not accepted",
            f"This request carried {header} but did not come from a trusted proxy, so it was "
            "refused and nothing was changed. Reach the console through the sign-on proxy, "
            "or ask an administrator to list the proxy in TRUSTED_PROXIES.",
        )
    return value.strip().lower()


def https(request: Request, settings: Settings) -> bool:
    """True when the browser reached the console over https (directly or via a trusted proxy)."""
    if request.url.scheme == "https":
        return True
    forwarded = request.headers.get("x-forwarded-proto", "")
    return forwarded.lower() == "https" and trusted(client_address(request), settings)


def sso_nonce(name: str, generation: int) -> str:
    """The CSRF nonce of a header-named operator: fixed per operator and generation."""
    return f"sso:{name}:{generation}"


__all__ = [
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "Keys",
    "Refused",
    "Session",
    "client_address",
    "header_user",
    "https",
    "new_session",
    "session_from",
    "sso_nonce",
    "trusted",
]
