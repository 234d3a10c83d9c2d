"""Rate limits of the HTTP sidecar: pages per client address, ``/v1`` per API key.

:class:`Throttle` sits just inside the request-id middleware, so a refused request is
answered like any other error (``429`` with ``Retry-After``, a page or the API's JSON
error, its request id, counted in ``/metrics``). Buckets (:mod:`.ratelimit`):

- pages (``/u``, ``/p``, anything else a browser or scanner asks) per client address;
- ``/v1`` per API key (by its hash), so one busy client does not slow another;
- the change feed ``GET /v1/events`` per API key in a bucket of its own
  (``FEED_RATE``): a consumer catching up on a long history reads page after page, and
  must neither be held to ``API_RATE`` nor use up the key's budget for its writes;
- ``/v1`` without a valid key per client address: once that bucket is empty, every
  ``/v1`` request from the address waits for it, a right key included, so guessing keys
  goes at ``API_FAILURE_RATE`` at most.

Not limited: ``/healthz``, ``/readyz`` and ``/metrics`` (probers), and a genuine
one-click ``POST /u/{token}``, which the connection answers before this middleware
(sidecar/connection.py): its token is a MAC nobody can forge, a repeat changes nothing,
and mailbox providers send them by the thousand from a few addresses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from prefcenter.config import Settings
from prefcenter.sidecar.http.state import Sidecar
from prefcenter.sidecar.ratelimit import buckets, client_address, parse_networks, retry_after

#: Paths never limited: health and metrics probes.
EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
#: /v1 paths that need no key (they count as pages).
OPEN_API = frozenset({"/v1/openapi.json"})
#: The change feed: its pages count against ``FEED_RATE``, not ``API_RATE``.
FEED = "/v1/events"


class Throttle:
    """ASGI middleware answering 429 to a client past its rate.

    Args:
        app: the rest of the stack.
        settings: ``PAGE_RATE``, ``API_RATE``, ``FEED_RATE``, ``API_FAILURE_RATE``,
            ``TRUSTED_PROXIES``.
        sidecar: checks API keys.
        errors: turns an exception into the error response (``app.error_response``).
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        sidecar: Sidecar,
        errors: Callable[[Request, BaseException], Response],
    ) -> None:
        self.app = app
        self.sidecar = sidecar
        self.errors = errors
        self.pages = buckets(settings.page_rate)
        self.api = buckets(settings.api_rate)
        self.feed = buckets(settings.feed_rate)
        self.failures = buckets(settings.api_failure_rate)
        self.proxies = parse_networks(settings.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        wait = self.wait(scope)
        if not wait:
            await self.app(scope, receive, send)
            return
        seconds = retry_after(wait)
        error = HTTPException(
            429,
            f"Too many requests from this client; retry after {seconds} seconds.",
            headers={"retry-after": seconds},
        )
        response = self.errors(Request(scope), error)
        await response(scope, receive, send)

    def client(self, scope: Scope) -> str:
        """The client address the request counts against (see ``ratelimit.client_address``)."""
        peer = scope.get("client")
        address = str(peer[0]) if peer else "unknown"
        if not self.proxies:
            return address
        forwarded = _header(scope, b"x-forwarded-for")
        return client_address(address, forwarded, self.proxies)

    def wait(self, scope: Scope) -> float:
        """Seconds this request must wait (0.0: go on); takes a token when it may go."""
        path: str = scope["path"]
        if not path.startswith("/v1") or path in OPEN_API:
            return self.pages.take(self.client(scope)) if self.pages is not None else 0.0
        client = self.client(scope)
        if self.failures is not None:
            waiting = self.failures.waiting(client)
            if waiting:
                return waiting
        scheme, _, key = (_header(scope, b"authorization") or "").partition(" ")
        key = key.strip()
        if scheme.lower() == "bearer" and key and self.sidecar.api_key_valid(key):
            digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
            limit = self.feed if path == FEED else self.api
            return limit.take(digest) if limit is not None else 0.0
        # A missing or wrong key: counted against the address; the route answers 401.
        return self.failures.take(client) if self.failures is not None else 0.0


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
