"""The console's per-app state: the center, templates, keys, and who is asking.

Kept on ``app.state.console`` so that nothing lives at module level. Every route first asks
:meth:`Console.who` (a session cookie, or the trusted proxy's header), then checks the
role, then the form's CSRF token, and only then calls the library, so a refused request
changes nothing. Refusals are pages that say what happened and what to do.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio.to_thread
import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from prefcenter.center import PreferenceCenter
from prefcenter.config import Settings
from prefcenter.operators import Login, Operators, allows
from prefcenter.report.trends import DayCache
from prefcenter.sidecar.console.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Keys,
    Refused,
    Session,
    header_user,
    https,
    session_from,
    sso_nonce,
)
from prefcenter.sidecar.console.listjobs import ListChecks
from prefcenter.sidecar.http.palette import Palette, palette
from prefcenter.sidecar.http.state import RequestIds
from prefcenter.sidecar.ratelimit import TokenBuckets

T = TypeVar("T")

#: The console's pages never embed anything foreign and never run script; charts are
#: inline SVG, so not even an image source is allowed.
PAGE_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
#: Largest form the console reads (an uploaded list for the list check).
MAX_UPLOAD_BYTES = 64 * 1024 * 1024

_ROLE_WORDS = {"agent": "an agent or an admin", "admin": "an admin"}


@dataclass(frozen=True, slots=True)
class Who:
    """The operator behind a request.

    Attributes:
        name: the operator's name.
        role: viewer, agent or admin.
        nonce: what this operator's CSRF tokens are made from.
        session: the renewed cookie session (None for a proxy-named operator).
    """

    name: str
    role: str
    nonce: str
    session: Session | None = None

    def may(self, needed: str) -> bool:
        """True when the role includes ``needed``."""
        return allows(self.role, needed)


@dataclass
class Console:
    """Everything a console route needs, kept on ``app.state.console``."""

    center: PreferenceCenter
    settings: Settings
    templates: jinja2.Environment
    keys: Keys
    operators: Operators
    #: The list checks, on disk under ``VAR_DIR/console-lists``.
    lists: ListChecks
    #: Login attempts per client address: ten at once, then one every six seconds (the
    #: per-operator lockout, in the store, is what stops guessing one name).
    throttle: TokenBuckets = field(default_factory=lambda: TokenBuckets(10, 60.0))
    request_ids: RequestIds = field(default_factory=RequestIds)
    #: The report's complete past days, counted once (today is read on every request).
    days: DayCache = field(default_factory=DayCache)

    @functools.cached_property
    def colours(self) -> Palette:
        """The brand colours (the same rules as the public pages)."""
        return palette(self.settings.brand_color)

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a synchronous call (the store, a page's rendering) in a worker thread."""
        result: T = await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))
        return result

    def render(
        self,
        request: Request,
        template: str,
        status: int = 200,
        who: Who | None = None,
        **context: Any,
    ) -> Response:
        """A console page; renews the session cookie of ``who``."""
        html = self.templates.get_template(template).render(
            company=self.settings.company_name,
            colours=self.colours,
            who=who,
            csrf=self.keys.csrf(who.nonce) if who else "",
            path=request.url.path,
            **context,
        )
        response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
        return self.renew(request, who, response)

    def renew(self, request: Request, who: Who | None, response: Response) -> Response:
        """Send the session cookie again with the new last-seen time (idle timeout)."""
        if who is not None and who.session is not None:
            self.set_cookie(request, response, SESSION_COOKIE, self.keys.dump(who.session))
        return response

    def set_cookie(self, request: Request, response: Response, name: str, value: str) -> None:
        """A console cookie: HttpOnly, SameSite=Strict, Secure over https, path /."""
        response.set_cookie(
            name,
            value,
            httponly=True,
            samesite="strict",
            secure=https(request, self.settings),
            path="/",
        )

    async def who(self, request: Request, needed: str = "viewer") -> Who | None:
        """The operator behind ``request`` if they may do what ``needed`` may; None: log in.

        Raises:
            Refused: an untrusted proxy header (403), a session that ended (401), or a
                role below ``needed`` (403).
        """
        who = await self._who(request)
        if who is not None and not who.may(needed):
            raise Refused(
                403,
                "Not allowed for your role",
                f"You are logged in as {who.name} ({who.role}); only {_ROLE_WORDS[needed]} "
                "may do this, so nothing was changed. Ask an admin if you need it.",
            )
        return who

    async def logged_in(self, request: Request) -> Who | None:
        """The operator behind ``request``, or None, also when that cannot be told now
        (an ended session, a failing store): for pages that only offer a way on."""
        try:
            return await self._who(request)
        except Exception:  # an error page must not fail on the way it offers back
            return None

    async def _who(self, request: Request) -> Who | None:
        named = header_user(request, self.settings)
        if named is not None:
            return await self._header_operator(named)
        session = session_from(request, self.keys, self.settings)
        if session is None:
            return None
        login: Login | None = await self.call(
            self.operators.current, session.name, session.generation
        )
        if login is None:
            raise Refused(
                401,
                "Your session has ended",
                "Your password was reset or your access was ended. Log in again; "
                "nothing was changed.",
            )
        return Who(login.name, login.role, session.nonce, session)

    async def _header_operator(self, name: str) -> Who:
        settings = self.settings

        def lookup() -> Any:
            return self.center.store.read(lambda session: session.operator(name))

        operator = await self.call(lookup)
        if operator is not None and not operator.disabled:
            return Who(operator.name, operator.role, sso_nonce(name, operator.generation))
        if operator is None and settings.console_header_role:
            return Who(name, settings.console_header_role, sso_nonce(name, 0))
        raise Refused(
            403,
            "No console access",
            f"The sign-on proxy named {name[:64]!r}, who may not use the console. "
            "Ask an admin to add you with `prefcenter operators add`.",
        )

    def check_form(self, who: Who, form: Mapping[str, Any]) -> None:
        """Refuse a form whose CSRF token is missing or not this operator's (403)."""
        if not self.keys.csrf_valid(who.nonce, str(form.get("csrf", ""))):
            raise Refused(
                403,
                "This form has expired",
                "The form was not sent from this console session, so nothing was changed. "
                "Open the page again and repeat the change.",
            )


def console_of(request: Request) -> Console:
    """The :class:`Console` of the app serving ``request``."""
    console: Console = request.app.state.console
    return console


def login_redirect(request: Request) -> Response:
    """Send a browser without a session to the login page."""
    return RedirectResponse("/login", status_code=303)


__all__ = [
    "LOGIN_COOKIE",
    "MAX_UPLOAD_BYTES",
    "PAGE_HEADERS",
    "Console",
    "Who",
    "console_of",
    "login_redirect",
]
