"""Logging in and out: the password form, the throttle, the session cookie."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from prefcenter.errors import NotAllowed
from prefcenter.sidecar.console.auth import (
    SESSION_COOKIE,
    Refused,
    client_address,
    new_session,
)
from prefcenter.sidecar.console.forms import evidence, evidence_of, read_form
from prefcenter.sidecar.console.state import (
    LOGIN_COOKIE,
    console_of,
)
from prefcenter.sidecar.ratelimit import client_address as rate_client
from prefcenter.sidecar.ratelimit import parse_networks, retry_after


# -- logging in and out ----------------------------------------------------------------
async def login_page(request: Request) -> Response:
    """GET /login: the login form (a pre-login cookie carries the form's CSRF nonce)."""
    return _login(request, 200)


def _login(request: Request, status: int, problem: str | None = None, name: str = "") -> Response:
    console = console_of(request)
    # The nonce of the form already in this browser, if any: a refused try keeps it.
    nonce = console.keys.login_nonce(request.cookies.get(LOGIN_COOKIE, ""))
    nonce = nonce or secrets.token_urlsafe(18)
    response = console.render(
        request,
        "login.html",
        status,
        login_csrf=console.keys.csrf("login:" + nonce),
        problem=problem,
        name=name,
        header=console.settings.console_user_header,
    )
    console.set_cookie(request, response, LOGIN_COOKIE, console.keys.login_cookie(nonce))
    return response


async def login_post(request: Request) -> Response:
    """POST /login: check the form, the throttle and the password; start a session."""
    console = console_of(request)
    form = await read_form(request)
    nonce = console.keys.login_nonce(request.cookies.get(LOGIN_COOKIE, ""))
    if nonce is None or not console.keys.csrf_valid("login:" + nonce, str(form.get("csrf", ""))):
        raise Refused(
            403,
            "This form has expired",
            "The login form was too old or not sent from this console. Open the login page "
            "again; nothing was changed.",
        )
    # Behind a trusted proxy, each client has its own bucket (sidecar/ratelimit.py).
    client = rate_client(
        client_address(request),
        request.headers.get("x-forwarded-for"),
        parse_networks(console.settings.trusted_proxies),
    )
    if (seconds := console.throttle.take(client)) > 0:
        wait = retry_after(seconds)
        response = _login(request, 429, f"Too many attempts; wait {wait} seconds, then try again.")
        response.headers["retry-after"] = wait
        return response
    name = str(form.get("name", "")).strip().lower()[:64]
    try:
        login = await console.call(
            console.operators.authenticate,
            name,
            str(form.get("password", "")),
            str(form.get("code", "")),
            evidence=evidence_of(name, request),
        )
    except NotAllowed as error:
        return _login(request, 401, str(error), name=name)
    session = new_session(login.name, login.generation)
    response = RedirectResponse("/queue", status_code=303)
    console.set_cookie(request, response, SESSION_COOKIE, console.keys.dump(session))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


async def logout(request: Request) -> Response:
    """POST /logout: end the session (the cookie is dropped)."""
    console = console_of(request)
    who = await console.who(request)
    if who is not None:
        console.check_form(who, await read_form(request))
        await console.call(console.operators.logout, who.name, evidence=evidence(who, request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def home(request: Request) -> Response:
    """GET /: the queue is where work starts."""
    return RedirectResponse("/queue", status_code=303)
