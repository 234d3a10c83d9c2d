"""``POST /u/{token}`` as raw ASGI: the one-click hot path, in front of the Starlette app.

When a campaign lands, mailbox providers send one-click POSTs by the thousand a second,
and routing, ``Request`` objects and response classes cost more than the request's own
work. This middleware answers the common case itself — a genuine token, a topic already
known, a body that says ``List-Unsubscribe=One-Click`` — with what the Starlette route
(:func:`prefcenter.sidecar.web.one_click`) answers: the same page and headers, request
id, metrics and audit event, 200 only after the commit. Everything else (a bad token,
another body, a topic name still to be read from the store) goes on to that route, so
the rules for those live in one place.
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
_HEADERS = ((b"content-type", b"text/html; charset=utf-8"), *PAGE_RAW_HEADERS)


class OneClickFastPath:
    """ASGI middleware answering genuine one-click POSTs; the rest passes to ``app``.

    Args:
        app: the rest of the application (request context, router).
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
        self._verify = sidecar.center.verify_token
        self._sign = sidecar.center.signer.sign
        self._ids = sidecar.request_ids
        self._submit = sidecar.committer.submit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].startswith("/u/")
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        sidecar = self.sidecar
        try:
            # A keyed hash over 21 bytes: cheap enough for the event loop.
            claims = self._verify(scope["path"][3:], Purpose.UNSUBSCRIBE)
        except Exception:
            await self.app(scope, receive, send)  # the route answers with the 400 page
            return
        topic = None
        if claims.topic_digest != NO_TOPIC:
            topic = sidecar.topic_names.get(claims.topic_digest)
            if topic is None:  # the route reads the name from the store and caches it
                await self.app(scope, receive, send)
                return
        body = await read_body(receive)
        if not oneclick.is_one_click(body):
            await self.app(scope, _replay(body, receive), send)  # the confirm page, 400
            return
        request_id = self._ids.next()
        scope.setdefault("state", {})["request_id"] = request_id
        try:
            source = Source.WEB if oneclick.via_page(body) else Source.ONE_CLICK
            identity = Identity(claims.channel, "", "", bytes(claims.identity_hash))
            change = SuppressRequest(
                identity,
                source,
                topic=topic,
                channel=claims.channel,
                reason=oneclick.REASON,
                evidence=request_id,
            )
            if await self._submit(change):
                sidecar.metrics.unsubscribe(source.value)
            # As web.preferences_path, without the URL round trip (the test compares them).
            link = "/p/" + self._sign(identity, topic, Purpose.PREFERENCES)
            page = sidecar.page_with_link(
                "done.html", topic, link, what=describe_stop(sidecar, topic)
            )
        except Exception as error:
            await self._fail(scope, receive, send, request_id, error)
            return
        headers = [(b"content-length", b"%d" % len(page)), *_HEADERS]
        headers.append((b"x-request-id", request_id.encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": page})
        sidecar.metrics.request(ROUTE, "POST", 200)

    async def _fail(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, error: Exception
    ) -> None:
        """Answer as the route's exception handler would (503 when the store failed)."""
        response = self.errors(Request(scope, receive), error)
        response.raw_headers.append((b"x-request-id", request_id.encode()))
        await response(scope, receive, send)
        self.sidecar.metrics.request(ROUTE, "POST", response.status_code)


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
