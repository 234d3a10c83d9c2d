"""Slow and oversized requests against a live sidecar: 408 and 431, and nothing else harmed.

uvicorn alone keeps a connection that sends nothing, or sends a byte at a time, open for
as long as the client likes, and holds an endless header in memory. These tests open raw
sockets on 127.0.0.1 with a one-second deadline and bounded waits.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sidecar.conftest import LiveSidecar, live_sidecar, sidecar_settings
from tests.sidecar.helpers import ONE_CLICK, unsubscribe_path

DEADLINE = 1.0
#: Longest a test waits for the server to act: the deadline, a sweep, and slack.
PATIENCE = 10.0


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[LiveSidecar]:
    settings = sidecar_settings(tmp_path)
    limits = {"max_head_bytes": 8 * 1024, "max_request_bytes": 64 * 1024}
    with live_sidecar(settings, request_timeout=DEADLINE, **limits) as server:
        yield server


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by PATIENCE)."""
    received = b""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the server kept the connection open; it sent {received!r}")


def _trickle(sock: socket.socket, data: bytes, pause: float) -> None:
    """Send ``data`` a byte at a time until the server hangs up."""
    for byte in data:
        try:
            sock.send(bytes([byte]))
        except OSError:  # closed by the server: what the test waits for
            return
        time.sleep(pause)


def test_a_connection_that_sends_nothing_is_closed(guarded: LiveSidecar) -> None:
    with guarded.raw(PATIENCE) as sock:
        started = time.monotonic()
        assert _answer(sock).startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started >= DEADLINE


def test_headers_sent_a_byte_at_a_time_get_408(guarded: LiveSidecar) -> None:
    head = b"POST /u/x HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"y" * 200
    with guarded.raw(PATIENCE) as sock:
        _trickle(sock, head, pause=0.05)
        assert _answer(sock).startswith(b"HTTP/1.1 408 ")


def test_a_body_that_never_ends_gets_408(guarded: LiveSidecar) -> None:
    path = unsubscribe_path(guarded.real_center, "slow@example.org").encode()
    with guarded.raw(PATIENCE) as sock:
        sock.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nList")
        assert _answer(sock).startswith(b"HTTP/1.1 408 ")
    assert guarded.real_center.check("slow@example.org").allowed  # nothing was done


def test_an_endless_header_gets_431(guarded: LiveSidecar) -> None:
    with guarded.raw(PATIENCE) as sock:
        # Just past the limit, in one write: the server reads it all, so its close is a
        # FIN after the answer (with bytes left unread, the kernel would reset instead).
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"z" * 8 * 1024)
        assert _answer(sock).startswith(b"HTTP/1.1 431 ")
    with guarded.client() as client:  # the server is fine
        assert client.get("/healthz").status_code == 200


def test_endless_trailers_of_a_chunked_body_get_413(guarded: LiveSidecar) -> None:
    # uvicorn keeps a chunked body's trailers as headers, after the head is complete.
    head = b"POST /v1/check HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
    trailers = (b"X-T: " + b"t" * 2040 + b"\r\n") * 34  # 68 KiB, past the 64 KiB limit
    with guarded.raw(PATIENCE) as sock:
        sock.sendall(head + trailers)  # in one write, read whole: a FIN, not a reset
        assert _answer(sock).startswith(b"HTTP/1.1 413 ")
    with guarded.client() as client:  # and the server is fine
        assert client.get("/healthz").status_code == 200


def test_keep_alive_pauses_and_slow_commits_are_not_cut(guarded: LiveSidecar) -> None:
    # The deadline covers a request's arrival only: not the pause between requests on a
    # kept-alive connection, and not the time the answer takes (a slow commit).
    path = unsubscribe_path(guarded.real_center, "patient@example.org")
    guarded.faults.commit_delay = 2 * DEADLINE
    with guarded.client() as client:
        assert client.get("/healthz").status_code == 200
        time.sleep(2 * DEADLINE)
        response = client.post(
            path, content=ONE_CLICK, headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert response.status_code == 200
    assert not guarded.real_center.check("patient@example.org").allowed
