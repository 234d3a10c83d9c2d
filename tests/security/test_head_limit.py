"""Issue 20 item 8: the head limit holds however the bytes of a head arrive.

Before the fix a head was counted only while it was still arriving: a head over the
limit that arrived in one read (or whose last read carried most of it) was dispatched
and answered 200. Here the same oversized head is cut at every place hypothesis picks
and sent piece by piece over a raw socket; the answer is always 431.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sidecar.conftest import LiveSidecar, live_sidecar, sidecar_settings

LIMIT = 8 * 1024
PATIENCE = 10.0


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSidecar]:
    settings_ = sidecar_settings(tmp_path_factory.mktemp("head"))
    with live_sidecar(settings_, max_head_bytes=LIMIT, max_request_bytes=64 * 1024) as server:
        yield server


def _head(size: int) -> bytes:
    start = b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: "
    return start + b"z" * (size - len(start) - 4) + b"\r\n\r\n"


def _answer(sock: socket.socket) -> bytes:
    received = b""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk or b"\r\n\r\n" in received + chunk:
            return received + chunk
        received += chunk
    raise AssertionError(f"no answer; the server sent {received!r}")


def _send(server: LiveSidecar, data: bytes, cuts: list[int]) -> bytes:
    with server.raw(PATIENCE) as sock:
        last = 0
        for cut in [*sorted(set(cuts)), len(data)]:
            if cut <= last:
                continue
            try:
                sock.sendall(data[last:cut])
            except (BrokenPipeError, ConnectionResetError):
                break  # refused already: the server closed after its answer
            last = cut
        return _answer(sock)


def test_an_oversized_head_in_one_read_gets_431(guarded: LiveSidecar) -> None:
    assert _send(guarded, _head(LIMIT + 2000), []).startswith(b"HTTP/1.1 431 ")
    assert _send(guarded, _head(LIMIT - 200), []).startswith(b"HTTP/1.1 200 ")


def test_an_oversized_head_pipelined_behind_a_small_one_is_not_served(
    guarded: LiveSidecar,
) -> None:
    # Both heads in one read: the second is refused (the connection closes; the first
    # request's answer may be cut with it, as a pipelining client must expect).
    with guarded.raw(PATIENCE) as sock:
        sock.sendall(_head(200) + _head(LIMIT + 2000))
        received = b""
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        else:
            raise AssertionError("the server kept the connection open")
    assert received.count(b"HTTP/1.1 200 ") <= 1


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    size=st.integers(LIMIT + 100, LIMIT + 3000),
    cuts=st.lists(st.integers(0, LIMIT + 3000), max_size=4),
)
def test_an_oversized_head_split_anywhere_gets_431(
    guarded: LiveSidecar, size: int, cuts: list[int]
) -> None:
    data = _head(size)
    assert _send(guarded, data, [c for c in cuts if c < len(data)]).startswith(b"HTTP/1.1 431 ")
