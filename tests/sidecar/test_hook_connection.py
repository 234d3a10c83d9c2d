"""/hooks answered on the connection (sidecar/http/connection.py), and their rate limits.

The protocol takes ``POST /hooks/{provider}`` itself, as it takes one-clicks, and hands
the request to ``HooksEndpoint.answer`` without an ASGI cycle. Over raw sockets: the
ASGI path is not used, pipelined requests are answered in order, a body split across
segments or chunked is read whole, one past the limit still gets the 413, a client that
leaves before the commit still has its event recorded, HTTP/1.0 is closed after the
answer. Over HTTP: an address that keeps failing verification gets 429 with
``Retry-After`` (a genuine request from it included), others do not; ``HOOK_RATE``
limits every request; a trusted proxy's ``X-Forwarded-For`` names the client.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import Receive, Scope, Send

from prefcenter.model import Reason
from prefcenter.sidecar.http import hooks
from prefcenter.sidecar.http.app import SidecarApp
from prefcenter.sidecar.http.hooks import HooksEndpoint
from tests.sidecar.conftest import LiveSidecar, live_sidecar, sidecar_settings
from tests.sidecar.test_connection import PATIENCE, _read

USER, PASSWORD = "postmark", "a-long-postmark-password"


class _Counting:
    """Stands in for the app's hook endpoint: counts the requests that came the ASGI way."""

    def __init__(self, endpoint: HooksEndpoint) -> None:
        self.endpoint = endpoint
        self.asgi_calls = 0
        self.handles = endpoint.handles
        self.serves = endpoint.serves
        self.answer = endpoint.answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.asgi_calls += 1
        await self.endpoint(scope, receive, send)


def _settings(tmp_path: Path, **overrides: Any) -> Any:
    values = {"postmark_webhook_user": USER, "postmark_webhook_password": PASSWORD}
    return sidecar_settings(tmp_path, **(values | overrides))


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[tuple[LiveSidecar, _Counting]]:
    with live_sidecar(_settings(tmp_path)) as server:
        app = server.sidecar.app
        assert isinstance(app, SidecarApp) and app.hook_endpoint is not None
        counting = _Counting(app.hook_endpoint)
        app.hook_endpoint = counting  # type: ignore[assignment]
        yield server, counting


def _record(address: str, number: int) -> bytes:
    return json.dumps(
        {"RecordType": "SpamComplaint", "Type": "SpamComplaint", "ID": number, "Email": address}
    ).encode()


def _post(body: bytes, *, password: str = PASSWORD, version: str = "1.1", extra: str = "") -> bytes:
    credentials = base64.b64encode(f"{USER}:{password}".encode()).decode()
    head = (
        f"POST /hooks/postmark HTTP/{version}\r\nHost: a\r\nContent-Type: application/json\r\n"
        f"Authorization: Basic {credentials}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


def test_hooks_are_answered_on_the_connection_in_order(
    hooked: tuple[LiveSidecar, _Counting],
) -> None:
    live, counting = hooked
    live.faults.commit_delay = 0.2  # the second arrives while the first waits for its commit
    health = b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    with live.raw(PATIENCE) as sock:
        first, second = _post(_record("a@example.org", 1)), _post(_record("b@example.org", 2))
        sock.sendall(first + second + _post(b"{}", password="wrong-password") + health)
        answers, closed = _read(sock, 4)
    assert [a.status for a in answers] == [200, 200, 401, 200]
    assert json.loads(answers[0].body)["changed"] == 1
    assert answers[2].headers["www-authenticate"].startswith("basic")  # (read lower-cased)
    assert closed
    assert len({a.headers["x-request-id"] for a in answers[:3]}) == 3
    for address in ("a@example.org", "b@example.org"):
        assert live.real_center.check(address).reason is Reason.HARD_SUPPRESSED
    # Pipelined behind the first, the second and third waited in uvicorn's queue and
    # took the ASGI way; the first was answered on the connection.
    assert counting.asgi_calls == 2


def test_keep_alive_serves_hook_after_hook_without_asgi(
    hooked: tuple[LiveSidecar, _Counting],
) -> None:
    live, counting = hooked
    with live.raw(PATIENCE) as sock:
        for n in range(3):
            sock.sendall(_post(_record(f"k{n}@example.org", 10 + n)))
            [answer], closed = _read(sock, 1)
            assert answer.status == 200 and not closed
            assert answer.headers["content-type"] == "application/json"
    assert counting.asgi_calls == 0
    with live.client() as client:
        metrics = client.get("/metrics").text
    assert 'route="/hooks/postmark",method="POST",status="200"} 3' in metrics


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=4), chunked=st.booleans())
def test_however_the_bytes_arrive_the_hook_reads_the_whole_body(
    hooked: tuple[LiveSidecar, _Counting], cuts: list[int], chunked: bool
) -> None:
    live, counting = hooked
    number = time.monotonic_ns()
    address = f"split-{number}@example.org"
    body = _record(address, number)
    request = _post(body)
    if chunked:
        head = request[: -len(body)].replace(
            f"Content-Length: {len(body)}".encode(), b"Transfer-Encoding: chunked"
        )
        request = head + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (
            9,
            body[:9],
            len(body) - 9,
            body[9:],
        )
    edges = [0, *sorted({cut % len(request) for cut in cuts} - {0}), len(request)]
    with live.raw(PATIENCE) as sock:
        for start, end in itertools.pairwise(edges):
            sock.sendall(request[start:end])
            time.sleep(0.003)  # a segment of its own
        [answer], _ = _read(sock, 1, wait_for_close=0.01)
    assert answer.status == 200
    assert live.real_center.check(address).reason is Reason.HARD_SUPPRESSED
    assert counting.asgi_calls == 0


def test_a_body_past_the_limit_still_gets_413(hooked: tuple[LiveSidecar, _Counting]) -> None:
    live, counting = hooked
    body = b"[" + b" " * hooks.MAX_BODY + b"]"
    head = b"POST /hooks/postmark HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    with live.raw(PATIENCE) as sock:
        sock.sendall(head)
        for start in range(0, len(body), 1 << 20):
            piece = body[start : start + (1 << 20)]
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            except OSError:
                break  # answered and closed before all of it was sent
        [answer], _ = _read(sock, 1)
    assert answer.status == 413
    assert counting.asgi_calls == 1  # handed over to uvicorn, whose ASGI path refuses it


def test_http_1_0_is_closed_and_a_client_that_leaves_is_still_recorded(
    hooked: tuple[LiveSidecar, _Counting],
) -> None:
    live, _ = hooked
    with live.raw(PATIENCE) as sock:
        sock.sendall(_post(_record("old@example.org", 30), version="1.0"))
        [answer], closed = _read(sock, 1)
    assert answer.status == 200 and answer.headers["connection"] == "close" and closed
    live.faults.commit_delay = 0.3
    with live.raw(PATIENCE) as sock:
        sock.sendall(_post(_record("gone@example.org", 31)))
        assert live.faults.entered.wait(PATIENCE)
    live.faults.commit_delay = 0.0
    deadline = time.monotonic() + PATIENCE
    while live.real_center.check("gone@example.org").allowed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live.real_center.check("gone@example.org").reason is Reason.HARD_SUPPRESSED


def test_an_address_that_keeps_failing_gets_429(tmp_path: Path) -> None:
    settings = _settings(tmp_path, hook_failure_rate="3/1m", trusted_proxies="127.0.0.1")
    with live_sidecar(settings) as live, live.client() as client:
        auth = (USER, PASSWORD)

        def post(address: str, number: int, **kwargs: Any) -> int:
            body = _record(address, number)
            return client.post("/hooks/postmark", content=body, **kwargs).status_code

        for n in range(3):
            assert post("x@example.org", n, auth=(USER, "wrong-password")) == 401
        refused = client.post("/hooks/postmark", content=_record("y@example.org", 9), auth=auth)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "retry after" in refused.json()["error"]["message"]
        assert live.real_center.check("y@example.org").allowed  # nothing was read or changed
        # Behind the trusted proxy, another client is not held back by that one.
        other = {"x-forwarded-for": "203.0.113.9"}
        assert post("z@example.org", 10, auth=auth, headers=other) == 200
        assert live.real_center.check("z@example.org").reason is Reason.HARD_SUPPRESSED
        metrics = client.get("/metrics").text
    assert 'prefcenter_webhook_failures_total{provider="postmark",status="429"} 1' in metrics


def test_hook_rate_limits_every_request_from_an_address(tmp_path: Path) -> None:
    settings = _settings(tmp_path, hook_rate="2/1m")
    with live_sidecar(settings) as live, live.client() as client:
        statuses = [
            client.post(
                "/hooks/postmark", content=_record(f"r{n}@example.org", n), auth=(USER, PASSWORD)
            ).status_code
            for n in range(3)
        ]
        assert statuses == [200, 200, 429]
        assert live.real_center.check("r2@example.org").allowed
