"""Limits uvicorn's HTTP protocol lacks: a whole-request deadline and a header size cap.

uvicorn closes a keep-alive connection only when it stays silent after a response. A
client that opens a connection and sends nothing, or sends its headers or body a byte at
a time, holds a socket (and a file descriptor) for as long as it likes; a client that
sends one endless header line makes httptools keep it all in memory. The sidecar often
faces the internet directly (the Containerfile listens on 0.0.0.0), so:

- every request must arrive whole (request line, headers and body) within
  ``request_timeout`` seconds of its first byte, or of the connection's opening for the
  first request; otherwise the connection gets ``408`` and is closed;
- a request's head (request line and headers) may be at most ``max_head_bytes``
  however its bytes arrive: a head still arriving is checked after each chunk read (so
  at most one chunk more is held), and a head that ends inside the chunk that holds it
  is measured when it is complete, before the request is dispatched; beyond the limit
  the connection gets ``431`` and is closed;
- a whole request may be at most ``max_request_bytes``, more than any route reads
  (a chunked body's trailers would otherwise grow without bound); beyond that ``413``.

The limits cost the hot path a few attribute updates per request: one task per server
looks at every connection once a second instead of a timer per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: How often open connections are checked against the deadline.
SWEEP_SECONDS = 1.0
_REASONS = {
    408: b"Request Timeout",
    413: b"Content Too Large",
    431: b"Request Header Fields Too Large",
}


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request that was refused."""


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request deadline and caps on the head and the whole.

    :func:`prefcenter.sidecar.http.connection.protocol_class` makes a subclass with the limits set.
    """

    #: Longest a request may take to arrive whole, in seconds.
    request_timeout: float = 30.0
    #: Largest request head (request line and headers), in bytes.
    max_head_bytes: int = 64 * 1024
    #: Largest whole request: the largest body a route reads (``/v1``, 4 MiB) and room
    #: for the head and a chunked body's framing.
    max_request_bytes: int = 4 * 1024 * 1024 + 256 * 1024

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.chunk_bytes = 0
        #: When the request now arriving began (None while none is arriving).
        self.request_started: float | None = self.loop.time()
        self.head_bytes = 0
        self.request_bytes = 0
        self.in_head = True

    def data_received(self, data: bytes) -> None:
        self.request_bytes += len(data)
        self.chunk_bytes = len(data)
        if self.in_head:
            self.head_bytes += len(data)
        super().data_received(data)  # a chunk may end the head and carry body bytes
        if self.in_head and self.head_bytes > self.max_head_bytes:
            self.refuse(431, f"The request head is over {self.max_head_bytes} bytes.")
        elif self.request_bytes > self.max_request_bytes:
            # Routes read at most a few MiB of body; what arrives beyond that (a chunked
            # body's trailers, which uvicorn keeps as headers) is refused here.
            self.refuse(413, f"The request is over {self.max_request_bytes} bytes.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.request_started is None:
            self.request_started = self.loop.time()
        self.in_head = True  # counted from the next chunk (this one may hold a body too)

    def on_headers_complete(self) -> None:
        self.check_head()
        self.head_arrived()
        super().on_headers_complete()

    def check_head(self) -> None:
        """Refuse a complete head over ``max_head_bytes`` before it is dispatched.

        The head is at most the bytes counted for it plus the chunk now parsed (which may
        hold a whole pipelined request), so only a head that could be too big is measured.
        """
        if self.head_bytes + self.chunk_bytes <= self.max_head_bytes:
            return
        size = len(self.url) + 14 + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_head_bytes:
            self.refuse(431, f"The request head is over {self.max_head_bytes} bytes.")
            raise _Refused  # httptools stops parsing; uvicorn's 400 is not sent (closing)

    def send_400_response(self, msg: str) -> None:
        if self.transport.is_closing():  # refused already (431): nothing more to say
            return
        super().send_400_response(msg)

    def on_message_complete(self) -> None:
        self.request_arrived()
        super().on_message_complete()

    def head_arrived(self) -> None:
        """The request's head is whole: from here on only the whole request is capped."""
        self.in_head = False
        self.head_bytes = 0

    def request_arrived(self) -> None:
        """The request is whole: its deadline and byte count end."""
        self.request_started = None
        self.request_bytes = 0

    def refuse(self, status: int, message: str) -> None:
        """Answer ``status`` (unless a response has begun) and close the connection."""
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            body = message.encode()
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (status, _REASONS[status], len(body), body)
            )
        self.transport.close()


def expire_slow_requests(connections: Iterable[Any], now: float) -> int:
    """Close every connection whose request has taken longer than its deadline; how many."""
    closed = 0
    for protocol in list(connections):
        started = getattr(protocol, "request_started", None)
        if started is not None and now - started > protocol.request_timeout:
            protocol.refuse(408, "The request did not arrive in time.")
            closed += 1
    return closed


async def sweep_forever(connections: Iterable[Any]) -> None:
    """Run :func:`expire_slow_requests` every :data:`SWEEP_SECONDS` until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        expire_slow_requests(connections, loop.time())
