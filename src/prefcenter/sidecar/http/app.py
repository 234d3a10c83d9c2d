"""The HTTP sidecar's application: routes, request ids, metrics and error mapping.

``create_app(center, settings)`` is the only entry point. Every route is a thin skin
over one ``PreferenceCenter`` call; this module owns the one place where errors become
HTTP statuses (:func:`status_for`), so pages and the JSON API answer alike.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prefcenter.center import PreferenceCenter
from prefcenter.config import Settings
from prefcenter.errors import (
    InvalidInput,
    NotFound,
    PrefcenterError,
    StoreError,
    TokenError,
    WebhookForbidden,
    WebhookMalformed,
    WebhookUnauthorized,
)
from prefcenter.providers.sns import Fetcher
from prefcenter.sidecar.groupcommit import GroupCommitter, alone_for, writers_for
from prefcenter.sidecar.http import api, hooks, manage, web
from prefcenter.sidecar.http.endpoint import OneClickFastPath
from prefcenter.sidecar.http.i18n import N_
from prefcenter.sidecar.http.state import (
    API_HEADERS,
    RequestIds,
    Sidecar,
    api_key_hashes,
    request_id_of,
)
from prefcenter.sidecar.http.throttle import Throttle
from prefcenter.sidecar.metrics import Metrics, outbox_lines
from prefcenter.sidecar.ratelimit import parse_networks
from prefcenter.topics import topic_digest

#: Seconds a client should wait before retrying when the store is down.
RETRY_AFTER = "30"


def status_for(error: BaseException) -> int:
    """The HTTP status for an error: the one mapping every route shares."""
    if isinstance(error, TokenError | WebhookMalformed):
        return 400
    if isinstance(error, WebhookUnauthorized):
        return 401
    if isinstance(error, WebhookForbidden):
        return 403
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, InvalidInput):
        return 422
    if isinstance(error, StoreError | OSError):
        return 503
    if isinstance(error, HTTPException):
        return error.status_code
    return 500


#: Titles and messages of the error pages, in English; the page shows them translated.
_PAGE_TEXT = {
    400: (
        N_("This link does not work"),
        N_(
            "The link is incomplete or was changed. Open it again from the message, or "
            "copy the whole address into the browser."
        ),
    ),
    403: (
        N_("This form has expired"),
        N_("Open the link from the message again and repeat your change."),
    ),
    404: (
        N_("Page not found"),
        N_("There is nothing at this address. Open the link from the message again."),
    ),
    405: (N_("Not allowed"), N_("This address does not accept that kind of request.")),
    413: (N_("Request too large"), N_("The request was larger than this page accepts.")),
    422: (
        N_("That did not work"),
        N_("A value in the form could not be used. Go back and check it."),
    ),
    429: (
        N_("Too many requests"),
        N_("Please wait a minute, then open the link again."),
    ),
    503: (
        N_("Please try again shortly"),
        N_(
            "We could not reach our records just now, and nothing was changed. Please try "
            "again in a minute."
        ),
    ),
    500: (N_("Something went wrong"), N_("Nothing was changed. Please try again later.")),
}


def error_response(request: Request, error: BaseException) -> Response:
    """Answer an error as JSON under /v1 and as a plain page elsewhere."""
    status = status_for(error)
    request_id = request_id_of(request)
    headers = {"retry-after": RETRY_AFTER} if status == 503 else {}
    if status == 405:
        headers["allow"] = _allowed_methods(request)  # RFC 9110 §15.5.6
    elif isinstance(error, HTTPException) and error.headers:
        headers.update(error.headers)
    if request.url.path.startswith("/v1"):
        if isinstance(error, HTTPException):
            message = str(error.detail)
        elif isinstance(error, InvalidInput | TokenError | NotFound):
            message = str(error)
        else:
            message = _PAGE_TEXT.get(status, _PAGE_TEXT[500])[1]
        body = {"error": {"status": status, "message": message, "request_id": request_id}}
        return JSONResponse(body, status_code=status, headers={**headers, **API_HEADERS})
    title, message = _PAGE_TEXT.get(status, _PAGE_TEXT[500])
    sidecar: Sidecar = request.app.state.sidecar
    response = sidecar.render(
        "problem.html",
        status,
        lang=sidecar.language_of(request),
        title=title,
        message=message,
        request_id=request_id,
        # A link that cannot be read, or a page that is not there: offer the way out.
        show_way_out=status in (400, 404),
    )
    response.headers.update(headers)
    return response


def _allowed_methods(request: Request) -> str:
    # One path can have a route per method; starlette names only the last one it tried.
    path = request.url.path
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods and route.path_regex.match(path):
            methods |= route.methods
    return ", ".join(sorted(methods))


async def _handle(request: Request, error: Exception) -> Response:
    return error_response(request, error)


class RequestContext:
    """Outermost middleware: give each request an id and count it by route and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics, ids: RequestIds) -> None:
        self.app = app
        self.metrics = metrics
        self.ids = ids

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self.ids.next()
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", "unmatched")
            self.metrics.request(label, scope["method"], status)


class SidecarApp(Starlette):
    """Starlette, with genuine one-click POSTs answered before the middleware stack.

    :class:`~prefcenter.sidecar.http.endpoint.OneClickFastPath` answers them as the route
    would (request id, metrics, error pages included), so they skip the layers that cost
    more than their own work; it hands everything else to :meth:`full_stack`. Setting
    ``fast_path`` to None sends every request through the stack.
    """

    fast_path: OneClickFastPath | None = None
    #: Answers ``/hooks/...`` (providers' webhooks) before the middleware stack too.
    hook_endpoint: hooks.HooksEndpoint | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast_path
        if fast is not None and fast.handles(scope):
            scope["app"] = self
            await fast.respond(scope, receive, send)
        elif self.hook_endpoint is not None and self.hook_endpoint.handles(scope):
            await self.hook_endpoint(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def full_stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The application without the fast path: middleware, router, routes."""
        await super().__call__(scope, receive, send)


def _templates() -> jinja2.Environment:
    """The page templates; ``{% trans %}`` calls the gettext each render passes in."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
    )
    environment.newstyle_gettext = True  # type: ignore[attr-defined]
    return environment


def create_app(
    center: PreferenceCenter,
    settings: Settings,
    *,
    sns_fetcher: Fetcher | None = None,
    metrics: Metrics | None = None,
) -> SidecarApp:
    """Build the sidecar's ASGI app around a ``PreferenceCenter``.

    The caller owns ``center`` (opens and closes it). ``sns_fetcher`` fetches SNS
    certificates and subscription URLs (default: HTTPS to the pinned SNS hosts).
    ``metrics`` is shared with the SMTP sidecar when both run, so ``/metrics`` counts
    inbound mail too. Raises ``ConfigError`` when the API keys or a webhook key cannot
    be used.
    """
    receivers = hooks.Receivers(settings, sns_fetcher)
    metrics = metrics if metrics is not None else Metrics()
    keys = settings.signing_keys() or [b"prefcenter-development-only"]
    sidecar = Sidecar(
        center=center,
        settings=settings,
        metrics=metrics,
        committer=GroupCommitter(
            center,
            metrics,
            timeout=settings.store_timeout.total_seconds(),
            writers=writers_for(center),
            alone=alone_for(center),
        ),
        templates=_templates(),
        api_key_hashes=api_key_hashes(settings),
        csrf_keys=tuple(
            hmac.new(key, b"prefcenter/csrf/v1", hashlib.sha256).digest() for key in keys
        ),
        topic_names={topic_digest(name): name for name in settings.topics},
    )

    async def healthz(request: Request) -> Response:
        # Liveness: the process answers. It never touches the store, so a store outage
        # does not get a healthy process restarted; /readyz says whether writes commit.
        return JSONResponse({"status": "ok"}, headers=API_HEADERS)

    async def probe() -> bool:
        """Whether a tiny write commits now (counted in /metrics as prefcenter_ready)."""
        try:
            await sidecar.store_call(center.ready, operation="probe")
        except (StoreError, OSError):  # down, read-only, full, locked, or past STORE_TIMEOUT
            metrics.readiness(False)
            return False
        metrics.readiness(True)
        return True

    async def readyz(request: Request) -> Response:
        if await probe():
            return JSONResponse({"status": "ready"}, headers=API_HEADERS)
        body = {"status": "unavailable", "request_id": request_id_of(request)}
        return JSONResponse(body, 503, headers={"retry-after": RETRY_AFTER, **API_HEADERS})

    async def metrics_page(request: Request) -> Response:
        await probe()
        text = metrics.render()
        if settings.events_webhook_url:
            try:
                outbox = await sidecar.store_call(center.webhook_outbox)
            except StoreError:
                outbox = None  # the store is down: the other families still answer
            if outbox is not None:
                text += outbox_lines(settings.events_webhook_url, outbox)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def logo(request: Request) -> Response:
        # LOGO names a file (checked at start): served from memory, cached a day.
        return Response(
            logo_bytes, media_type=logo_type, headers={"cache-control": "public, max-age=86400"}
        )

    logo_path = settings.logo if settings.logo and "://" not in settings.logo else ""
    logo_bytes = Path(logo_path).read_bytes() if logo_path else b""
    logo_type = mimetypes.guess_type(logo_path)[0] or "application/octet-stream"
    routes = [
        *web.routes(),  # first: the router tries routes in order and one-click is the hot path
        *manage.routes(),
        *api.routes(),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
        *([Route("/logo", logo, methods=["GET"])] if logo_path else []),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        PrefcenterError: _handle,
        OSError: _handle,
        HTTPException: _handle,
        Exception: _handle,
    }
    app = SidecarApp(
        routes=routes,
        middleware=[
            Middleware(RequestContext, metrics=metrics, ids=sidecar.request_ids),
            Middleware(Throttle, settings=settings, sidecar=sidecar, errors=error_response),
        ],
        exception_handlers=handlers,
    )
    app.fast_path = OneClickFastPath(app.full_stack, sidecar, error_response)
    # No redirects anywhere: a one-click client must get its answer from the URL it POSTed to.
    app.router.redirect_slashes = False
    app.state.sidecar = sidecar
    app.hook_endpoint = hooks.HooksEndpoint(hooks.Hooks(sidecar, receivers), status_for)
    app.state.manage_limits = manage.Limits(proxies=parse_networks(settings.trusted_proxies))
    return app


__all__ = ["RETRY_AFTER", "SidecarApp", "create_app", "error_response", "status_for"]
