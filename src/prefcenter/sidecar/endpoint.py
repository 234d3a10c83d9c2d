"""``POST /u/{token}`` as raw ASGI: the one-click hot path, in front of the Starlette app.

When a campaign lands, mailbox providers send one-click POSTs by the thousand a second,
and routing, middleware, ``Request`` objects and response classes cost more than the
request's own work. :class:`OneClickFastPath` answers the common case itself — a genuine
token, a topic already known, a body that says ``List-Unsubscribe=One-Click`` — with
what the Starlette route (:func:`prefcenter.sidecar.web.one_click`) answers: the same
page and headers, request id, metrics and audit event, 200 only after the commit.
Everything else (a bad token, another body, a topic name still to be read from the
store) goes on to the whole application, so the rules for those live in one place.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prefcenter.changes import SuppressRequest
from prefcenter.model import Identity, Source
from prefcenter.sidecar import oneclick
from prefcenter.sidecar.state import PAGE_RAW_HEADERS, Sidecar
from prefcenter.sidecar.web import describe_stop, read_body
from prefcenter.tokens import NO_TOPIC, Purpose

#: The route template one-click requests are counted under, as the Starlette route is.
ROUTE = "/u/{token}"
PAGE = "done.html"
_HEADERS = ((b"content-type", b"text/html; charset=utf-8"), *PAGE_RAW_HEADERS)


class OneClickFastPath:
    """Answers genuine one-click POSTs; every other request goes to ``app``.

    Args:
        app: the whole application (middleware, router) for everything else.
        sidecar: the app's :class:`~prefcenter.sidecar.state.Sidecar`.
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
        """True for the requests this path may answer: HTTP ``POST /u/...``."""
        return (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].startswith("/u/")
            and not scope.get("root_path")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.handles(scope):
            await self.answer(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a request :meth:`handles`, or pass it on to ``app``.

        ``scope["app"]`` must be the application (for the error pages).
        """
        try:
            # A keyed hash over 21 bytes: cheap enough for the event loop.
            claims = self._verify(scope["path"][3:], Purpose.UNSUBSCRIBE)
        except Exception:
            await self.app(scope, receive, send)  # the route answers with the 400 page
            return
        topic = None
        if claims.topic_digest != NO_TOPIC:
            topic = self.sidecar.topic_names.get(claims.topic_digest)
            if topic is None:  # the route reads the name from the store and caches it
                await self.app(scope, receive, send)
                return
        body = await read_body(receive)
        if not oneclick.is_one_click(body):
            await self.app(scope, _replay(body, receive), send)  # the confirm page, 400
            return
        request_id = self._ids.next()
        try:
            source = Source.WEB if oneclick.via_page(body) else Source.ONE_CLICK
            identity = Identity(claims.channel, "", "", claims.identity_hash)
            change = SuppressRequest(
                identity,
                source,
                topic=topic,
                channel=claims.channel,
                reason=oneclick.REASON,
                evidence=request_id,
            )
            if await self._enqueue(change):
                self._metrics.unsubscribe(source.value)
            # As web.preferences_path, without the URL round trip (the test compares them).
            link = "/p/" + self._sign(identity, topic, Purpose.PREFERENCES)
            page = self._page(topic, link)
        except Exception as error:
            await self._fail(scope, receive, send, request_id, error)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", b"%d" % len(page)),
                    *_HEADERS,
                    (b"x-request-id", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": page})
        self._metrics.request(ROUTE, "POST", 200)

    def _page(self, topic: str | None, link: str) -> bytes:
        """The confirmation page with this person's preference link."""
        pieces = self.sidecar.page_cache.get((PAGE, topic))
        if pieces is not None:
            return link.encode().join(pieces)
        what = describe_stop(self.sidecar, topic)
        return self.sidecar.page_with_link(PAGE, topic, link, what=what)

    async def _fail(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, error: Exception
    ) -> None:
        """Answer as the route's exception handler would (503 when the store failed)."""
        scope.setdefault("state", {})["request_id"] = request_id
        response = self.errors(Request(scope, receive), error)
        response.raw_headers.append((b"x-request-id", request_id.encode()))
        await response(scope, receive, send)
        self._metrics.request(ROUTE, "POST", response.status_code)


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
