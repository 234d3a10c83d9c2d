"""A real HTTP sidecar on 127.0.0.1: uvicorn in its own thread, a center on a temp SQLite file.

The server runs in a background thread with its own event loop so that tests (and
Playwright's sync API) can drive it from the main thread like any other client.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.config import Settings
from prefcenter.sidecar.http.server import HttpSidecar
from tests.conftest import make_settings
from tests.faults import FaultyStore
from tests.loop_thread import LoopThread

API_KEY = "test-api-key-plain"
HASHED_API_KEY = "test-api-key-stored-as-hash"
TOPICS = "news=Newsletter;deals=Deals and offers;events=Events near you"
TOPIC_DESCRIPTIONS = "news=What is new, once a week;deals=Discounts for members;events=Invitations"


def sidecar_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings with branding, topics and two API keys (one configured only as its hash)."""
    digest = hashlib.sha256(HASHED_API_KEY.encode()).hexdigest()
    values: dict[str, Any] = {
        "topics": TOPICS,
        "topic_descriptions": TOPIC_DESCRIPTIONS,
        "api_keys": f"{API_KEY},sha256:{digest}",
        "brand_color": "#0f5132",
    }
    values.update(overrides)
    return make_settings(tmp_path, **values)


def fast_transport() -> httpx.HTTPTransport:
    """A client transport with TCP_NODELAY: h11 writes a request's head and body apart,
    and Nagle plus delayed ACKs would add ~40 ms to every request with a body."""
    return httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])


@dataclass
class LiveSidecar:
    """A running sidecar: its base URL, the center behind it and its settings.

    ``center`` is the sidecar's, on ``faults`` (the real store, which tests can make fail);
    ``real_center`` reads the same store directly.
    """

    url: str
    center: PreferenceCenter
    real_center: PreferenceCenter
    settings: Settings
    sidecar: HttpSidecar
    faults: FaultyStore

    def client(self, **kwargs: Any) -> httpx.Client:
        """An HTTP client for this server: no cookies kept, never follows redirects."""
        kwargs.setdefault("timeout", 10.0)
        return httpx.Client(
            base_url=self.url, follow_redirects=False, transport=fast_transport(), **kwargs
        )

    def api(self, key: str = API_KEY) -> httpx.Client:
        """A client that sends the bearer key."""
        return self.client(headers={"authorization": f"Bearer {key}"})

    def raw(self, timeout: float = 10.0) -> socket.socket:
        """A raw TCP connection to this server, Nagle off (each send goes out at once)."""
        sock = socket.create_connection(("127.0.0.1", self.sidecar.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


@contextlib.contextmanager
def live_sidecar(settings: Settings, **options: Any) -> Iterator[LiveSidecar]:
    """Start a sidecar on 127.0.0.1:0 for ``settings`` (``options`` go to HttpSidecar);
    stop it and close the center after."""
    real = PreferenceCenter(settings)
    faults = FaultyStore(real.store)
    center = PreferenceCenter(settings, store=faults)
    options.setdefault("graceful_timeout", 5)
    sidecar = HttpSidecar(center, settings, host="127.0.0.1", port=0, **options)
    runner = LoopThread().start()
    try:
        runner.call(sidecar.start(), timeout=10)
        yield LiveSidecar(sidecar.url, center, real, settings, sidecar, faults)
    finally:
        try:
            runner.call(sidecar.stop(), timeout=30)
        finally:
            runner.close()
            real.close()


#: Chromium's flags for this machine: headless, no sandbox (containers), nothing online.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    """Debian's Chromium under Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> None:
    """Keep a full-page screenshot in test-output/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveSidecar]:
    """A running sidecar with topics, branding and API keys configured."""
    with live_sidecar(sidecar_settings(tmp_path)) as server:
        yield server
