"""One-click answered on the connection (sidecar/http/connection.py), spoken to over raw sockets.

The protocol takes a genuine one-click itself and leaves everything else to uvicorn, so
these tests look at what only a raw connection shows: pipelined requests answered in
order, ``Connection: close`` and HTTP/1.0, chunked bodies, ``Expect: 100-continue``,
bodies handed back to the route, a client that leaves before the commit, a client that
never reads, a graceful stop while a body is on its way.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefcenter.center import PreferenceCenter
from prefcenter.sidecar.http import oneclick
from prefcenter.sidecar.http.app import SidecarApp
from prefcenter.sidecar.http.server import HttpSidecar
from tests.sidecar.conftest import LiveSidecar, sidecar_settings
from tests.sidecar.helpers import ONE_CLICK, unsubscribe_path

#: Longest a test waits for the server (bounded loops on 127.0.0.1).
PATIENCE = 10.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _one_click(path: str, *, headers: str = "", version: str = "1.1") -> bytes:
    return (
        f"POST {path} HTTP/{version}\r\nHost: a\r\nContent-Type: "
        f"application/x-www-form-urlencoded\r\nContent-Length: {len(ONE_CLICK)}\r\n{headers}\r\n"
    ).encode() + ONE_CLICK


def _read(
    sock: socket.socket, count: int, *, wait_for_close: float = 0.5
) -> tuple[list[Answer], bool]:
    """``count`` responses (each with a Content-Length), and whether the server then closed."""
    data = b""
    answers: list[Answer] = []
    deadline = time.monotonic() + PATIENCE
    while len(answers) < count and time.monotonic() < deadline:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            lines = data[:head_end].decode().split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in lines[1:])
            length = int(headers.get("content-length", "0"))
            if len(data) >= head_end + 4 + length:
                body = data[head_end + 4 : head_end + 4 + length]
                answers.append(Answer(int(lines[0].split()[1]), headers, body))
                data = data[head_end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    assert len(answers) == count, f"got {len(answers)} of {count} answers; then {data!r}"
    sock.settimeout(wait_for_close)
    try:
        closed = sock.recv(1) == b""
    except TimeoutError:
        closed = False
    return answers, closed


def test_pipelined_requests_are_answered_in_order(live: LiveSidecar) -> None:
    live.faults.commit_delay = 0.2  # the second arrives while the first waits for its commit
    first = unsubscribe_path(live.real_center, "first@example.org")
    second = unsubscribe_path(live.real_center, "second@example.org")
    health = b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    with live.raw(PATIENCE) as sock:
        sock.sendall(_one_click(first) + _one_click(second) + health)
        answers, closed = _read(sock, 3)
    assert [a.status for a in answers] == [200, 200, 200]
    assert b"unsubscribed" in answers[0].body and b"unsubscribed" in answers[1].body
    assert answers[2].body == b'{"status":"ok"}'
    assert closed
    for address, answer in (("first@example.org", answers[0]), ("second@example.org", answers[1])):
        assert not live.real_center.check(address).allowed
        [event] = live.real_center.history(address)
        assert event.evidence == answer.headers["x-request-id"]


def _framed(path: str, body: bytes, chunked: bool) -> bytes:
    if not chunked:
        head = f"POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body
    first, rest = body[:10], body[10:]
    chunks = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(first), first, len(rest), rest)
    return (
        f"POST {path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + chunks
    )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=300), max_size=4),
    chunked=st.booleans(),
    one_click=st.booleans(),
)
def test_however_the_bytes_arrive_the_answer_is_the_same(
    live: LiveSidecar, cuts: list[int], chunked: bool, one_click: bool
) -> None:
    """Head and body split anywhere across TCP segments: the same answer and change."""
    address = f"split-{time.monotonic_ns()}@example.org"
    body = ONE_CLICK if one_click else b"List-Unsubscribe=Later"
    request = _framed(unsubscribe_path(live.real_center, address), body, chunked)
    edges = [0, *sorted({cut % len(request) for cut in cuts} - {0}), len(request)]
    with live.raw(PATIENCE) as sock:
        for start, end in itertools.pairwise(edges):
            sock.sendall(request[start:end])
            time.sleep(0.003)  # a segment of its own
        [answer], _ = _read(sock, 1, wait_for_close=0.01)
    assert answer.status == (200 if one_click else 400)
    assert live.real_center.check(address).allowed is not one_click


def test_keep_alive_serves_one_click_after_one_click(live: LiveSidecar) -> None:
    with live.raw(PATIENCE) as sock:
        for n in range(3):
            sock.sendall(_one_click(unsubscribe_path(live.real_center, f"k{n}@example.org")))
            [answer], closed = _read(sock, 1)
            assert answer.status == 200 and "connection" not in answer.headers
            assert not closed
    assert not any(live.real_center.check(f"k{n}@example.org").allowed for n in range(3))


def test_connection_close_and_http_1_0_are_honoured(live: LiveSidecar) -> None:
    for address, request in (
        ("close@example.org", {"headers": "Connection: close\r\n"}),
        ("old@example.org", {"version": "1.0"}),
    ):
        path = unsubscribe_path(live.real_center, address)
        with live.raw(PATIENCE) as sock:
            sock.sendall(_one_click(path, **request))
            [answer], closed = _read(sock, 1)
        assert answer.status == 200
        assert answer.headers["connection"] == "close"
        assert closed
        assert not live.real_center.check(address).allowed


def test_a_chunked_body_is_read_whole(live: LiveSidecar) -> None:
    path = unsubscribe_path(live.real_center, "chunked@example.org")
    head = f"POST {path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    with live.raw(PATIENCE) as sock:
        sock.sendall(head + b"5\r\nList-\r\n")
        time.sleep(0.05)  # the rest in another segment
        sock.sendall(b"15\r\nUnsubscribe=One-Click\r\n0\r\n\r\n")
        [answer], _ = _read(sock, 1)
    assert answer.status == 200
    assert not live.real_center.check("chunked@example.org").allowed


def test_expect_100_continue_gets_its_interim_answer(live: LiveSidecar) -> None:
    path = unsubscribe_path(live.real_center, "expect@example.org")
    with live.raw(PATIENCE) as sock:
        sock.sendall(_one_click(path, headers="Expect: 100-continue\r\n")[: -len(ONE_CLICK)])
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 ")
        sock.sendall(ONE_CLICK)
        [answer], _ = _read(sock, 1)
    assert answer.status == 200
    assert not live.real_center.check("expect@example.org").allowed


def test_bodies_it_does_not_take_get_the_routes_answer(live: LiveSidecar) -> None:
    """Another body, and one past MAX_BODY, are handed back: the route's 400 page."""
    bodies = [b"List-Unsubscribe=Later", b"x=" + b"a" * (oneclick.MAX_BODY + 100)]
    answers = []
    for index, body in enumerate(bodies):
        path = unsubscribe_path(live.real_center, f"other{index}@example.org")
        head = f"POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {len(body)}\r\n\r\n"
        with live.raw(PATIENCE) as sock:
            sock.sendall(head.encode() + body)
            [answer], _ = _read(sock, 1)
        answers.append(answer)
    with live.client() as client:  # the same through the whole stack
        routed = client.post(unsubscribe_path(live.real_center, "r@example.org"), content=b"x=y")
    for answer in answers:
        assert answer.status == routed.status_code == 400
        assert b"Unsubscribe" in answer.body  # the confirm page's button, as the route has it
    assert all(live.real_center.check(f"other{n}@example.org").allowed for n in range(2))


def test_a_client_that_leaves_before_the_commit_still_unsubscribes(live: LiveSidecar) -> None:
    live.faults.commit_delay = 0.3
    path = unsubscribe_path(live.real_center, "gone@example.org")
    with live.raw(PATIENCE) as sock:
        sock.sendall(_one_click(path))
        assert live.faults.entered.wait(PATIENCE)
    live.faults.commit_delay = 0.0
    deadline = time.monotonic() + PATIENCE
    while live.real_center.check("gone@example.org").allowed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not live.real_center.check("gone@example.org").allowed
    with live.raw(PATIENCE) as sock:  # and the server goes on serving
        sock.sendall(_one_click(unsubscribe_path(live.real_center, "next@example.org")))
        [answer], _ = _read(sock, 1)
    assert answer.status == 200


def test_a_client_that_never_reads_cannot_pile_up_answers(live: LiveSidecar) -> None:
    """Answers wait for the client to read once its buffers are full, as uvicorn's do."""
    path = unsubscribe_path(live.real_center, "reads-nothing@example.org")
    assert live.sidecar._server is not None
    server = live.sidecar._server.server_state  # uvicorn's connections and answer count
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(PATIENCE)
        sock.connect(("127.0.0.1", live.sidecar.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        deadline = time.monotonic() + PATIENCE
        while not server.connections and time.monotonic() < deadline:
            time.sleep(0.01)  # the server's loop accepts it
        [protocol] = list(server.connections)
        stalled = False
        for _ in range(3000):  # about 9 MB of answers: far more than the socket buffers
            answered = server.total_requests
            sock.sendall(_one_click(path))
            deadline = time.monotonic() + 1.0
            while server.total_requests == answered and time.monotonic() < deadline:
                time.sleep(0.0005)
            if server.total_requests == answered:
                stalled = True  # the answer waits for the client to read
                break
        held = protocol.transport.get_write_buffer_size()
    assert stalled
    assert held < 256 * 1024, f"the server holds {held} bytes of answers nobody reads"


def test_a_graceful_stop_answers_a_one_click_whose_body_is_on_its_way(tmp_path: Path) -> None:
    settings = sidecar_settings(tmp_path)
    with PreferenceCenter(settings) as real:
        request = _one_click(unsubscribe_path(real, "midway@example.org"))
        head, body = request[: -len(ONE_CLICK)], ONE_CLICK

        async def scenario() -> tuple[list[Answer], bool]:
            sidecar = HttpSidecar(real, settings, host="127.0.0.1", port=0)
            await sidecar.start()
            with socket.create_connection(("127.0.0.1", sidecar.port), timeout=PATIENCE) as sock:
                sock.sendall(head)
                await asyncio.sleep(0.2)  # the head is read: the request is taken
                stopping = asyncio.create_task(sidecar.stop())
                await asyncio.sleep(0.05)
                sock.sendall(body)
                answered = await asyncio.to_thread(_read, sock, 1)
                await stopping
            return answered

        [answer], closed = asyncio.run(scenario())
        assert answer.status == 200 and answer.headers["connection"] == "close"
        assert closed
        assert not real.check("midway@example.org").allowed


def test_when_even_the_error_page_fails_the_answer_is_a_counted_500(live: LiveSidecar) -> None:
    app = live.sidecar.app
    assert isinstance(app, SidecarApp)
    assert app.fast_path is not None

    def broken_error_page(request: object, error: BaseException) -> NoReturn:
        raise RuntimeError("the error template is broken")

    app.fast_path.errors = broken_error_page
    live.faults.fail = True  # the commit fails, and the error page with it
    path = unsubscribe_path(live.real_center, "worst@example.org")
    with live.raw(PATIENCE) as sock:
        sock.sendall(_one_click(path))
        [answer], closed = _read(sock, 1)
    assert answer.status == 500 and closed
    assert answer.headers["x-request-id"] and "date" in answer.headers
    with live.client() as client:
        assert 'route="/u/{token}",method="POST",status="500"} 1' in client.get("/metrics").text
