"""The one-click hot path: genuine ``POST /u/{token}`` requests, answered without the stack.

When a campaign lands, mailbox providers send one-click POSTs by the thousand a second,
and routing, middleware, ``Request`` objects and response classes cost more than the
request's own work. :class:`OneClickFastPath` answers the common case itself — a genuine
token, a topic already known, a body that says ``List-Unsubscribe=One-Click`` — with
what the Starlette route (:func:`prefcenter.sidecar.http.web.one_click`) answers: the same
page and headers, request id, metrics and audit event, 200 only after the commit.
Everything else (a bad token, another body, a topic name still to be read from the
store) goes on to the whole application, so the rules for those live in one place.

It has two callers: the HTTP connection itself
(:class:`~prefcenter.sidecar.http.connection.OneClickProtocol`, which skips ASGI altogether)
and, as raw ASGI in front of the middleware, any request that reaches the app (a
pipelined request, or the app served by another ASGI server).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prefcenter.changes import SuppressRequest
from prefcenter.model import Channel, Identity, Source
from prefcenter.sidecar.http import oneclick
from prefcenter.sidecar.http.state import PAGE_RAW_HEADERS, Sidecar
from prefcenter.sidecar.http.web import describe_stop, done_context, read_body
from prefcenter.tokens import Claims, Purpose
from prefcenter.topics import NO_TOPIC

#: The route template one-click requests are counted under, as the Starlette route is.
ROUTE = "/u/{token}"
PAGE = "done.html"
_HEADERS = ((b"content-type", b"text/html; charset=utf-8"), *PAGE_RAW_HEADERS)

#: A raw response: status, headers, body.
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


@dataclass(frozen=True, slots=True)
class Link:
    """A genuine unsubscribe link whose topic name is known: what the fast path answers."""

    claims: Claims
    topic: str | None


@dataclass(frozen=True, slots=True)
class OneClick:
    """A one-click waiting for its commit: ``future`` gets the store's answer."""

    request_id: str
    identity: Identity
    topic: str | None
    source: Source
    future: asyncio.Future[Any]


class OneClickFastPath:
    """Answers genuine one-click POSTs; every other request goes to ``app``.

    Args:
        app: the whole application (middleware, router) for everything else.
        sidecar: the app's :class:`~prefcenter.sidecar.http.state.Sidecar`.
        errors: turns an exception into the error page (``app.error_response``).
    """

    def __init__(
        self,
        app: ASGIApp,
        sidecar: Sidecar,
        errors: Callable[[Request, BaseException], Response],
    ) -> None:
        self.app = app
        self.sidecar = sidecar
        self.errors = errors
        # Bound once: each is called on every request.
        self._verify = sidecar.center.signer.verify
        self._sign = sidecar.center.signer.sign
        self._ids = sidecar.request_ids
        self._enqueue = sidecar.committer.enqueue
        self._metrics = sidecar.metrics

    def handles(self, scope: Scope) -> bool:
        """True for the requests this path may answer: HTTP ``POST /u/...``, no query (a
        link's ``?lang=`` page is the route's: it speaks that language)."""
        return (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].startswith("/u/")
            and not scope.get("root_path")
            and not scope.get("query_string")
        )

    def link(self, token: str) -> Link | None:
        """The link ``token`` stands for, or None when the route must answer.

        None for a bad token (the route answers with its 400 page) and for a topic
        whose name must still be read from the store (the route reads and caches it).
        A keyed hash over 21 bytes: cheap enough for the event loop.
        """
        try:
            claims = self._verify(token, Purpose.UNSUBSCRIBE)
        except Exception:
            return None
        if claims.channel is not Channel.EMAIL:
            return None  # texts and calls: the route's page speaks of them
        topic = None
        if claims.topic_digest != NO_TOPIC:
            topic = self.sidecar.topic_names.get(claims.topic_digest)
            if topic is None:
                return None
        return Link(claims, topic)

    def submit(self, link: Link, body: bytes) -> OneClick:
        """Queue the suppression for the next group commit.

        Args:
            link: what :meth:`link` returned for the request's token.
            body: the request's body, which ``oneclick.is_one_click`` accepted.

        Call it on the event loop. Raises nothing: a failure to queue ends up in the
        returned future, so the caller has one place to look.
        """
        request_id = self._ids.next()
        claims = link.claims
        source = Source.WEB if oneclick.via_page(body) else Source.ONE_CLICK
        identity = Identity(claims.channel, "", "", claims.identity_hash)
        try:
            change = SuppressRequest(
                identity,
                source,
                topic=link.topic,
                channel=claims.channel,
                reason=oneclick.REASON,
                evidence=request_id,
            )
            future = self._enqueue(change)
        except Exception as error:
            future = asyncio.get_running_loop().create_future()
            future.set_exception(error)
        return OneClick(request_id, identity, link.topic, source, future)

    def answer(self, click: OneClick, scope: Scope) -> Answer:
        """The response once ``click.future`` is done: the page, or the error page.

        Args:
            click: what :meth:`submit` returned, its future done.
            scope: the request's ASGI scope (the error page reads its path and app).

        The request is counted in the metrics here. Raises only if the error page
        itself cannot be made.
        """
        try:
            if click.future.result():
                self._metrics.unsubscribe(click.source.value)
            # As web.preferences_path, without the URL round trip (the test compares them).
            link = "/p/" + self._sign(click.identity, click.topic, Purpose.PREFERENCES)
            page = self._page(click.topic, link)
        except Exception as error:
            return self._failure(scope, click.request_id, error)
        headers = [
            (b"content-length", b"%d" % len(page)),
            *_HEADERS,
            (b"x-request-id", click.request_id.encode()),
        ]
        self._metrics.request(ROUTE, "POST", 200)
        return 200, headers, page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.handles(scope):
            await self.respond(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def respond(self, scope: Scope, receive: Receive, send: Send) -> None:
        """As ASGI: answer a request :meth:`handles`, or pass it on to ``app``.

        ``scope["app"]`` must be the application (for the error pages).
        """
        link = self.link(scope["path"][3:])
        if link is None:
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if not oneclick.is_one_click(body):
            await self.app(scope, _replay(body, receive), send)  # the confirm page, 400
            return
        click = self.submit(link, body)
        with contextlib.suppress(Exception):  # answer() turns it into the error page
            await click.future
        status, headers, page = self.answer(click, scope)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": page})

    def _page(self, topic: str | None, link: str) -> bytes:
        """The confirmation page with this person's preference link."""
        pieces = self.sidecar.page_cache.get((PAGE, topic))
        if pieces is not None:
            return link.encode().join(pieces)
        stop = describe_stop(self.sidecar, topic)
        return self.sidecar.page_with_link(PAGE, topic, link, **done_context(stop))

    def count_failure(self, status: int) -> None:
        """Count a one-click answered with ``status`` by a caller's own last resort."""
        self._metrics.request(ROUTE, "POST", status)

    def _failure(self, scope: Scope, request_id: str, error: Exception) -> Answer:
        """Answer as the route's exception handler would (503 when the store failed)."""
        scope.setdefault("state", {})["request_id"] = request_id
        response = self.errors(Request(scope), error)
        response.raw_headers.append((b"x-request-id", request_id.encode()))
        self._metrics.request(ROUTE, "POST", response.status_code)
        return response.status_code, response.raw_headers, bytes(response.body)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body to the route first."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
