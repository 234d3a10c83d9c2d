"""Issue 20 items 6 and 7: no outsider can ask without limit or hold a slot for ever.

Against the real HTTP sidecar (uvicorn on loopback) and the real SMTP sidecar
(aiosmtpd, smtplib and raw sockets): pages and the API answer 429 with Retry-After
past their rate, a guessed API key slows its address down, X-Forwarded-For counts only
from a trusted proxy, SMTP connections past their rate get 421 and messages 452; an
SMTP session busy with NOOPs ends at its time limit, and a body sent slowly (but never
silent for the idle timeout) is not cut.
"""

from __future__ import annotations

import hashlib
import smtplib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefcenter.sidecar.ratelimit import TokenBuckets, client_address, parse_networks
from tests.sidecar.conftest import (
    API_KEY,
    HASHED_API_KEY,
    LiveSidecar,
    live_sidecar,
    sidecar_settings,
)
from tests.sidecar.helpers import ONE_CLICK, unsubscribe_path
from tests.sidecar.smtp_fixtures import DOMAIN, mailto, running

PATIENCE = 10.0


@pytest.fixture
def http(tmp_path: Path) -> Iterator[LiveSidecar]:
    settings = sidecar_settings(
        tmp_path, page_rate="5/1m", api_rate="3/1m", api_failure_rate="4/1m"
    )
    with live_sidecar(settings) as server:
        yield server


def _until_429(client: httpx.Client, path: str, limit: int, **kwargs: Any) -> httpx.Response:
    for _ in range(limit):
        assert client.get(path, **kwargs).status_code != 429
    return client.get(path, **kwargs)


def test_pages_past_their_rate_get_429_with_retry_after(http: LiveSidecar) -> None:
    with http.client() as client:
        refused = _until_429(client, "/p/not-a-token", 5)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "Too many requests" in refused.text
        assert client.get("/healthz").status_code == 200  # probes are never limited
        # A forwarded address from an untrusted peer is no way out.
        spoofed = client.get("/p/not-a-token", headers={"x-forwarded-for": "192.0.2.7"})
        assert spoofed.status_code == 429


def test_genuine_one_clicks_are_never_limited(http: LiveSidecar) -> None:
    with http.client() as client:
        for n in range(12):  # over twice the page rate
            path = unsubscribe_path(http.real_center, f"reader{n}@example.org")
            assert client.post(path, content=ONE_CLICK).status_code == 200


def test_api_keys_have_their_own_buckets(http: LiveSidecar) -> None:
    body = {"recipient": "someone@example.org"}
    with http.api(API_KEY) as first, http.api(HASHED_API_KEY) as second:
        for _ in range(3):
            assert first.post("/v1/check", json=body).status_code == 200
        refused = first.post("/v1/check", json=body)
        assert refused.status_code == 429
        assert refused.json()["error"]["status"] == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert second.post("/v1/check", json=body).status_code == 200


def test_the_change_feed_has_its_own_bucket_per_key(tmp_path: Path) -> None:
    """A consumer catching up reads past API_RATE (FEED_RATE), and its pages leave the
    key's API_RATE for its other calls; past FEED_RATE it gets 429 too."""
    settings = sidecar_settings(tmp_path, api_rate="3/1m", feed_rate="8/1m")
    body = {"recipient": "someone@example.org"}
    with live_sidecar(settings) as server, server.api(API_KEY) as api:
        for _ in range(8):
            assert api.get("/v1/events", params={"limit": 1000}).status_code == 200
        refused = api.get("/v1/events")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        for _ in range(3):  # the key's API_RATE is untouched by the feed
            assert api.post("/v1/check", json=body).status_code == 200
        assert api.post("/v1/check", json=body).status_code == 429


def test_a_consumer_catching_up_reads_past_the_default_api_rate(tmp_path: Path) -> None:
    """With the defaults (API_RATE 1200/1m, FEED_RATE 12000/1m) a consumer reading page
    after page gets no 429 where API_RATE alone would stop it."""
    settings = sidecar_settings(tmp_path, api_rate="1200/1m")  # the default, named
    assert settings.feed_rate is not None and settings.feed_rate.count == 12000
    with live_sidecar(settings) as server, server.api(API_KEY) as api:
        statuses = {api.get("/v1/events").status_code for _ in range(1300)}
    assert statuses == {200}


def test_guessing_api_keys_slows_the_address_down(http: LiveSidecar) -> None:
    body = {"recipient": "someone@example.org"}
    with http.client() as client:
        for guess in range(4):
            headers = {"authorization": f"Bearer guess-{guess}-0123456789abcdef"}
            assert client.post("/v1/check", json=body, headers=headers).status_code == 401
        headers = {"authorization": "Bearer guess-5-0123456789abcdef"}
        assert client.post("/v1/check", json=body, headers=headers).status_code == 429
        # Now even the right key waits: a guesser cannot tell a hit by the answer.
        right = {"authorization": f"Bearer {API_KEY}"}
        assert client.post("/v1/check", json=body, headers=right).status_code == 429


def test_forwarded_address_counts_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    settings = sidecar_settings(tmp_path, page_rate="3/1m", trusted_proxies="127.0.0.1")
    with live_sidecar(settings) as server, server.client() as client:
        first = {"x-forwarded-for": "198.51.100.1"}
        assert _until_429(client, "/p/x", 3, headers=first).status_code == 429
        # The client in front of the proxy is the nearest untrusted hop, not one it wrote.
        chained = {"x-forwarded-for": "203.0.113.9, 198.51.100.1"}
        assert client.get("/p/x", headers=chained).status_code == 429
        other = {"x-forwarded-for": "198.51.100.2"}
        assert client.get("/p/x", headers=other).status_code == 400


def test_smtp_connections_past_their_rate_get_421(tmp_path: Path) -> None:
    with running(tmp_path, smtp_connection_rate="3/1m") as smtp:
        for _ in range(3):
            with smtplib.SMTP("127.0.0.1", smtp.port, timeout=PATIENCE) as client:
                assert client.noop()[0] == 250
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            smtplib.SMTP("127.0.0.1", smtp.port, timeout=PATIENCE)
        assert refused.value.smtp_code == 421


def test_smtp_messages_past_their_rate_get_452(tmp_path: Path) -> None:
    with running(tmp_path, smtp_message_rate="2/1m") as smtp, smtp.client() as client:
        for _ in range(2):
            assert client.mail("a@example.org")[0] == 250
            client.rset()
        code, text = client.mail("a@example.org")
        assert code == 452 and b"Too many messages" in text


def _replies_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, TimeoutError):
            return received
        if not chunk:
            return received
        received += chunk


def test_an_smtp_session_kept_busy_with_noop_ends_at_its_limit(tmp_path: Path) -> None:
    with running(tmp_path, smtp_timeout="1s", smtp_session_limit="2s") as smtp:
        with socket.create_connection(("127.0.0.1", smtp.port), timeout=PATIENCE) as sock:
            sock.settimeout(0.3)
            deadline = time.monotonic() + PATIENCE
            received = b""
            while time.monotonic() < deadline:
                try:
                    time.sleep(0.25)  # pacing only: a NOOP well within the idle timeout
                    sock.sendall(b"NOOP\r\n")
                    chunk = sock.recv(4096)
                except (BrokenPipeError, ConnectionResetError):
                    break
                except TimeoutError:
                    continue
                if not chunk:
                    break
                received += chunk
            else:
                raise AssertionError("the session outlived its limit")
        assert b"421 4.4.2 Session time limit reached" in received


def test_a_slowly_sent_body_is_not_cut_by_the_idle_timeout(tmp_path: Path) -> None:
    with (
        running(tmp_path, smtp_timeout="1s", smtp_session_limit="1m") as smtp,
        socket.create_connection(("127.0.0.1", smtp.port), timeout=PATIENCE) as sock,
    ):
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220")
        for command in (b"HELO x", b"MAIL FROM:<a@example.org>",
                        f"RCPT TO:<{mailto(smtp.center)}>".encode(), b"DATA"):  # fmt: skip
            sock.sendall(command + b"\r\n")
            reply = reader.readline()
            assert reply[:1] in (b"2", b"3"), reply
        sock.sendall(b"Subject: unsubscribe\r\nMessage-ID: <slow@x>\r\n\r\n")
        for n in range(6):  # 2.4 s in all: past the idle timeout, never silent for it
            time.sleep(0.4)
            sock.sendall(b"line %d\r\n" % n)
        sock.sendall(b".\r\n")
        assert reader.readline().startswith(b"250 "), "the body was cut"
    assert DOMAIN  # the mailbox domain the fixture serves


@given(
    count=st.integers(1, 20),
    steps=st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=60),
)
def test_a_bucket_never_gives_more_than_its_burst_and_refill(
    count: int, steps: list[float]
) -> None:
    now = [0.0]
    bucket = TokenBuckets(count, 10.0, clock=lambda: now[0])
    taken = 0
    for step in steps:
        now[0] += step
        wait = bucket.take("client")
        if wait == 0.0:
            taken += 1
        else:
            assert 0 < wait <= 10.0 / count + 1e-9
    assert taken <= count + now[0] * count / 10.0 + 1e-9


def test_buckets_stay_bounded_and_forget_full_ones_first() -> None:
    now = [0.0]
    bucket = TokenBuckets(2, 1.0, max_keys=100, clock=lambda: now[0])
    for n in range(1000):
        bucket.take(n)
    assert bucket.keys <= 100


def test_client_address_trusts_only_configured_proxies() -> None:
    proxies = parse_networks(["10.0.0.0/8"])
    assert client_address("192.0.2.1", "198.51.100.1", proxies) == "192.0.2.1"
    assert client_address("10.1.1.1", "198.51.100.1, 10.2.2.2", proxies) == "198.51.100.1"
    assert client_address("10.1.1.1", None, proxies) == "10.1.1.1"
    assert client_address("10.1.1.1", "198.51.100.1", ()) == "10.1.1.1"
    assert hashlib  # (keys are bucketed by their hash in the throttle)
