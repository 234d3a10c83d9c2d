"""One-click POSTs answered on the connection itself: no ASGI scope, task or messages.

uvicorn turns every request into an ASGI call: a task, an event, message dicts, and a
``send`` that checks every header again. For a one-click that machinery costs about a
quarter of the server's work per request. :class:`OneClickProtocol` is the sidecar's
connection protocol (uvicorn's httptools protocol with the limits of
:mod:`~prefcenter.sidecar.http.guard`); when a request is ``POST /u/{genuine token}`` on an
idle connection, it reads the body itself, hands the suppression to the group commit
through :class:`~prefcenter.sidecar.http.endpoint.OneClickFastPath`, and writes the answer
once the commit is done: the same bytes the app would send.

Everything else goes to uvicorn untouched. A request that turns out not to qualify once
its body is read (another body, or one past ``oneclick.MAX_BODY``) is handed to uvicorn
as if its head had just arrived, so the app answers it. A request pipelined behind a
one-click waits in uvicorn's queue until the one-click is answered. While the client
is not reading its answers (the transport paused writing), requests go to uvicorn too,
whose answers wait for the buffer to drain: a client that never reads cannot make the
server hold its answers without bound.

This leans on more of uvicorn's ``HttpToolsProtocol`` than its public interface:
``cycle``, ``flow``, ``pipeline``, ``scope``, ``on_response_complete`` and
``shutdown``, as uvicorn 0.55 has them. ``tests/sidecar/test_connection.py`` exercises
each of them over raw sockets: run it when uvicorn is upgraded.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from prefcenter.sidecar.http import hooks, oneclick
from prefcenter.sidecar.http.endpoint import Answer, Link, OneClick, OneClickFastPath
from prefcenter.sidecar.http.guard import GuardedProtocol
from prefcenter.sidecar.http.hooks import HooksEndpoint

log = logging.getLogger("prefcenter.sidecar")

if TYPE_CHECKING:
    from prefcenter.sidecar.http.app import SidecarApp

_STATUS_LINES = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}
#: The rest of the last-resort answer, after the status line and default headers.
_SERVER_ERROR = (
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 21\r\n"
    b"x-request-id: %s\r\nconnection: close\r\n\r\nInternal Server Error"
)


class _Unwatched:
    """The event uvicorn sets when the connection is lost: nothing waits on a one-click."""

    def set(self) -> None:
        """Nothing to wake."""


class _Exchange:
    """Stands in for uvicorn's request cycle while a one-click waits for its commit.

    uvicorn looks at ``protocol.cycle`` to queue a pipelined request behind this one
    (``response_complete``), to close after the answer on a graceful shutdown
    (``keep_alive``) and when the connection is lost (``disconnected``,
    ``message_event``).
    """

    __slots__ = ("disconnected", "keep_alive", "response_complete", "response_started")
    message_event = _Unwatched()

    def __init__(self, keep_alive: bool) -> None:
        self.keep_alive = keep_alive
        self.response_started = False
        self.response_complete = False
        self.disconnected = False


class OneClickProtocol(GuardedProtocol):
    """The sidecar's HTTP protocol: answers genuine one-click POSTs without ASGI.

    :func:`protocol_class` makes a subclass with the limits and the app set.
    """

    #: The app whose ``fast_path`` answers one-clicks; None sends every request to it
    #: the ASGI way (the benchmark's hello-world app is served by this class too).
    sidecar_app: SidecarApp | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # While a one-click's body arrives: the path answering it, its link and body.
        self.click_fast: OneClickFastPath | None = None
        self.click_link: Link | None = None
        self.click_body = b""
        self.click_keep_alive = True
        # While a hook's body arrives (its body in click_body): the endpoint, path, query.
        self.hook_endpoint: HooksEndpoint | None = None
        self.hook_path: str | None = None
        self.hook_query = ""

    def on_headers_complete(self) -> None:
        self.check_head()
        if not self._take():
            super().on_headers_complete()

    def _take(self) -> bool:
        """Take the request when it can be answered here; False leaves it to uvicorn."""
        app = self.sidecar_app
        url = self.url
        if app is None or not (url.startswith(b"/u/") or url.startswith(b"/hooks/")):
            return False
        parser = self.parser
        cycle = self.cycle
        if (
            parser.get_method() != b"POST"
            or (cycle is not None and not cycle.response_complete)  # pipelined: queue it
            or self.flow.write_paused  # uvicorn's answer waits for the client to read
            or self.expect_100_continue  # uvicorn sends the 100 when the app reads
            or self.root_path
            or parser.should_upgrade()
        ):
            return False
        version = parser.get_http_version()
        keep_alive = version != "1.0" and parser.should_keep_alive()
        if url.startswith(b"/hooks/"):
            return self._take_hook(app, keep_alive)
        fast = app.fast_path
        if fast is None:
            return False
        token = url[3:]
        link = fast.link(token.decode("ascii")) if token.isascii() else None
        if link is None:  # a bad token, or a topic to read from the store: the route
            return False
        self.head_arrived()
        self.click_keep_alive = keep_alive
        self.click_fast, self.click_link, self.click_body = fast, link, b""
        scope = cast(dict[str, Any], self.scope)  # for the error page, should the commit fail
        scope["method"], scope["path"], scope["raw_path"] = "POST", url.decode(), url
        scope["query_string"], scope["app"] = b"", app
        if version != "1.1":
            scope["http_version"] = version
        return True

    def _take_hook(self, app: SidecarApp, keep_alive: bool) -> bool:
        """Take ``POST /hooks/{provider}`` for a hook the app serves."""
        endpoint = app.hook_endpoint
        path, _, query = self.url.partition(b"?")
        if (
            endpoint is None
            or not self.url.isascii()
            or b"%" in path  # uvicorn unquotes it; no hook's path needs that
            or b"#" in self.url
            or not endpoint.serves(path.decode())
        ):
            return False
        self.head_arrived()
        self.hook_endpoint, self.hook_path = endpoint, path.decode()
        self.hook_query, self.click_body = query.decode(), b""
        self.click_keep_alive = keep_alive
        return True

    def on_body(self, body: bytes) -> None:
        if self.click_link is None and self.hook_path is None:
            super().on_body(body)
            return
        self.click_body += body
        limit = oneclick.MAX_BODY if self.hook_path is None else hooks.MAX_BODY
        if len(self.click_body) > limit:  # not a one-click body; a hook's 413 (uvicorn's way)
            self._hand_over()

    def on_message_complete(self) -> None:
        if self.hook_path is not None:
            self._start_hook()
            return
        fast, link, body = self.click_fast, self.click_link, self.click_body
        if fast is None or link is None:
            super().on_message_complete()
            return
        if not oneclick.is_one_click(body):  # the route answers (the confirm page, 400)
            self._hand_over()
            super().on_message_complete()
            return
        self.click_fast, self.click_link, self.click_body = None, None, b""
        self.request_arrived()
        click = fast.submit(link, body)
        exchange = _Exchange(self.click_keep_alive)
        self.cycle = exchange  # type: ignore[assignment]  # see _Exchange
        scope = cast(dict[str, Any], self.scope)
        answer = functools.partial(self._answer, fast, click, exchange, scope)
        click.future.add_done_callback(answer)

    def _start_hook(self) -> None:
        """Run the hook in a task; its answer is written when the task ends."""
        endpoint, path, query, body = (
            self.hook_endpoint, self.hook_path, self.hook_query, self.click_body
        )  # fmt: skip
        assert endpoint is not None and path is not None
        self.hook_endpoint, self.hook_path, self.click_body = None, None, b""
        self.request_arrived()
        exchange = _Exchange(self.click_keep_alive)
        self.cycle = exchange  # type: ignore[assignment]  # see _Exchange
        peer = str(self.client[0]) if self.client else "unknown"
        reader = functools.partial(_given, body)
        answering = endpoint.answer("POST", path, query, self.headers, reader, peer)
        task = self.loop.create_task(self._hook(exchange, answering))
        # uvicorn waits for its connections' tasks on a graceful shutdown: this one too.
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _hook(self, exchange: _Exchange, answering: Awaitable[Answer]) -> None:
        """Await a hook's answer (the endpoint answers every error itself) and write it."""
        try:
            answer = await answering
        except asyncio.CancelledError:  # only when the server is forced down
            exchange.response_complete = True
            self.transport.close()
            raise

        def last_resort() -> bytes:
            return b"".join(self._head(500, [])) + _SERVER_ERROR % b"-"

        self._finish(exchange, lambda: answer, last_resort)

    def shutdown(self) -> None:
        """On a graceful stop: a request whose body is still arriving here is answered,
        then the connection closed."""
        if self.click_link is not None or self.hook_path is not None:
            self.click_keep_alive = False
            return
        super().shutdown()

    def _hand_over(self) -> None:
        """Give the request to uvicorn as if its head had just arrived, with the body so far."""
        body = self.click_body
        self.click_fast, self.click_link, self.click_body = None, None, b""
        self.hook_endpoint, self.hook_path = None, None
        super().on_headers_complete()
        if body:
            super().on_body(body)

    def _answer(
        self,
        fast: OneClickFastPath,
        click: OneClick,
        exchange: _Exchange,
        scope: dict[str, Any],
        _: asyncio.Future[Any],
    ) -> None:
        """Write a one-click's answer once its commit is done."""
        self._finish(
            exchange,
            lambda: fast.answer(click, scope),
            lambda: self._last_resort(fast, click.request_id),
        )

    def _finish(
        self,
        exchange: _Exchange,
        produce: Callable[[], Answer],
        last_resort: Callable[[], bytes],
    ) -> None:
        """Write the answer ``produce`` gives; then the next request may start."""
        try:
            status, headers, body = produce()
            if self.transport.is_closing():  # the client left; the change still stands
                exchange.response_complete = True
                return
            keep_alive = exchange.keep_alive
            parts = self._head(status, headers)
            parts.append(b"\r\n" if keep_alive else b"connection: close\r\n\r\n")
            parts.append(body)
            exchange.response_started = True
            self.transport.write(b"".join(parts))
        except Exception as error:  # even the error page failed: what uvicorn would send
            self.logger.error("Exception answering a request on the connection", exc_info=error)
            if not exchange.response_started and not self.transport.is_closing():
                self.transport.write(last_resort())
            keep_alive = False
        exchange.response_complete = True
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()  # starts a queued request, or the keep-alive timer

    def _head(self, status: int, headers: list[tuple[bytes, bytes]]) -> list[bytes]:
        """The status line, uvicorn's default headers (``date``) and ``headers``, as lines."""
        parts = [_STATUS_LINES[status]]
        for name, value in (*self.server_state.default_headers, *headers):
            parts += (name, b": ", value, b"\r\n")
        return parts

    def _last_resort(self, fast: OneClickFastPath, request_id: str) -> bytes:
        """A plain 500 with the request id (the audit evidence), counted in the metrics."""
        fast.count_failure(500)
        return b"".join(self._head(500, [])) + _SERVER_ERROR % request_id.encode()


#: The uvicorn releases this protocol was tested with: ``low <= version < high``. The
#: pyproject bound stops pip from installing a newer one; this check covers an environment
#: that has one anyway (docs/http.md says how to test a new release and widen both).
TESTED_UVICORN = ((0, 55), (0, 56))


def uvicorn_is_tested(version: str) -> bool:
    """True when ``version`` (``"0.55.0"``) lies in :data:`TESTED_UVICORN`."""
    try:
        parts = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return False  # a pre-release or local build: not one we tested
    low, high = TESTED_UVICORN
    return low <= parts < high


def protocol_class(
    app: Any,
    request_timeout: float,
    max_head_bytes: int,
    max_request_bytes: int,
    *,
    on_connection: bool = True,
    uvicorn_version: str | None = None,
) -> type[GuardedProtocol]:
    """The protocol for ``uvicorn.Config(http=)``: these limits, this app.

    Args:
        app: the ASGI app served. A ``SidecarApp`` has its one-clicks answered on the
            connection; any other app is served the ordinary way.
        request_timeout, max_head_bytes, max_request_bytes: the limits of
            :class:`~prefcenter.sidecar.http.guard.GuardedProtocol`.
        on_connection: the ``HTTP_FAST_PATH`` setting. When false, or when uvicorn is not
            a tested release, the plain guarded protocol serves everything and one-clicks
            take the ASGI fast path (the same answer, a little more work per request).
        uvicorn_version: the installed uvicorn's (read from uvicorn when omitted).
    """
    from prefcenter.sidecar.http.app import SidecarApp

    limits = {
        "request_timeout": request_timeout,
        "max_head_bytes": max_head_bytes,
        "max_request_bytes": max_request_bytes,
    }
    if uvicorn_version is None:
        import uvicorn

        uvicorn_version = uvicorn.__version__
    tested = uvicorn_is_tested(uvicorn_version)
    if on_connection and not tested:
        log.warning(
            "uvicorn %s is not a release the one-click connection path was tested with "
            "(%s); one-clicks take the ASGI fast path",
            uvicorn_version,
            ".".join(map(str, TESTED_UVICORN[0])) + ".x",
        )
    if not (on_connection and tested):
        return type("PrefcenterGuardedProtocol", (GuardedProtocol,), limits)
    attributes = {"sidecar_app": app if isinstance(app, SidecarApp) else None, **limits}
    return type("PrefcenterHttpProtocol", (OneClickProtocol,), attributes)


async def _given(body: bytes, _length: str) -> bytes:
    """A hook's body, read already on the connection."""
    return body
